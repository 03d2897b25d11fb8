"""pagerbot's own Ganglia history (no readable RRD files): what poll() keeps from successive XML dumps.

A small TCP server on loopback plays gmetad's xml port, one crafted dump per connection. A report's time is
LOCALTIME - TN, both whole seconds taken at different moments, so it wobbles: a dump whose report looks a
second older than the last one is skipped, not taken for a clock going back (which used to empty the history
at every other poll against a real gmetad)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from pagerbot.metrics import series as m
from pagerbot.metrics.ganglia import GangliaSource
from pagerbot.metrics.series import MetricsUnreachable


def dump(localtime: int, tn: int, load: float) -> bytes:
    return (f'<?xml version="1.0" encoding="ISO-8859-1" standalone="yes"?>\n'
            f'<GANGLIA_XML VERSION="3.7.2" SOURCE="gmetad"><GRID NAME="test" AUTHORITY="" LOCALTIME="{localtime}">'
            f'<CLUSTER NAME="prod" LOCALTIME="{localtime}" OWNER="" LATLONG="" URL="">'
            f'<HOST NAME="db1" IP="10.0.0.11" REPORTED="{localtime - tn}" TN="{tn}" TMAX="20" DMAX="0">'
            f'<METRIC NAME="load_one" VAL="{load}" TYPE="float" UNITS=" " TN="{tn}" TMAX="60" DMAX="0" SLOPE="both"/>'
            f'<METRIC NAME="cpu_num" VAL="8" TYPE="uint16" UNITS="CPUs" TN="{tn}" TMAX="1200" DMAX="0" SLOPE="zero"/>'
            f'</HOST></CLUSTER></GRID></GANGLIA_XML>\n').encode()


class Gmetad:
    def __init__(self) -> None:
        self.dumps: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(self.dumps.pop(0))
        await writer.drain()
        writer.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"tcp://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"


@pytest.fixture
async def gmetad() -> AsyncIterator[Gmetad]:
    g = Gmetad()
    g.server = await asyncio.start_server(g._serve, "127.0.0.1", 0)
    try:
        yield g
    finally:
        g.server.close()
        await g.server.wait_closed()


async def history(src: GangliaSource) -> list[tuple[float, float]]:
    end = datetime.fromtimestamp(10_000, UTC)
    [series] = await src.fetch([m.LOAD1], datetime.fromtimestamp(0, UTC), end, 60)
    return list(zip(series.times, series.values, strict=True))


async def test_poll_keeps_a_history_through_the_wobble(gmetad: Gmetad) -> None:
    src = GangliaSource(gmetad.url, poll_max_age=3600)
    gmetad.dumps = [dump(100, 0, 1.0),  # reported at 100
                    dump(101, 2, 1.0),  # 99: a second older than the last one (whole-second TN): skipped
                    dump(102, 0, 2.0),  # 102
                    dump(103, 1, 2.0),  # 102 again: the same report
                    dump(160, 0, 3.0)]  # 160
    for _ in range(5):
        await src.poll()
    assert await history(src) == [(100, 1.0), (102, 2.0), (160, 3.0)]
    # gmetad's clock went back by more than a minute (restarted elsewhere): start over, never unordered
    gmetad.dumps = [dump(90, 0, 4.0)]
    await src.poll()
    assert await history(src) == [(90, 4.0)]


async def test_fetch_polls_when_the_last_poll_is_old(gmetad: Gmetad) -> None:
    eager = GangliaSource(gmetad.url, poll_max_age=0)  # every fetch polls first
    lazy = GangliaSource(gmetad.url, poll_max_age=3600)  # the scheduler's tick polled a moment ago
    gmetad.dumps = [dump(100, 0, 1.0), dump(160, 0, 5.0), dump(160, 0, 5.0)]
    assert await history(eager) == [(100, 1.0)]  # fetched without any poll before: it polled
    assert await history(eager) == [(100, 1.0), (160, 5.0)]
    await lazy.poll()
    # gmetad gone: a fetch that has to poll says so instead of drawing old samples; one that need not, serves them
    assert gmetad.server is not None
    gmetad.server.close()
    await gmetad.server.wait_closed()
    with pytest.raises(MetricsUnreachable, match="refused the connection"):
        await history(eager)
    assert await history(lazy) == [(160, 5.0)]
