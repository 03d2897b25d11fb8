"""The demo scenario's data files tell the story, are valid, and are what the generator makes; the
recorded metrics source slices, resamples and shifts them correctly."""

from __future__ import annotations

import gzip
import json
import math
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from pagerbot.demo.scenario import generate
from pagerbot.metrics import series as m
from pagerbot.metrics.recorded import RecordedSource, scenario_metrics_path, scenario_path
from pagerbot.metrics.series import MetricsSource, MetricsUnavailable

DIR = scenario_path()
DAY = datetime(2026, 3, 10, tzinfo=UTC)
T0 = int(DAY.timestamp())
HOSTS = ["db1", "db2", "web1", "web2", "web3", "web4"]
WEB_BUSY = ["web1", "web2", "web3"]
GiB = 2.0**30
ZERO_TIME = "0001-01-01T00:00:00Z"


def utc(hhmm: str) -> datetime:
    hh, mm = (int(p) for p in hhmm.split(":"))
    return DAY.replace(hour=hh, minute=mm)


# ---------------------------------------------------------------------------------------------
# The CSV


@pytest.fixture(scope="module")
def data() -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    text = gzip.decompress((DIR / "metrics.csv.gz").read_bytes()).decode()
    lines = text.splitlines()
    assert lines[0] == "time,host,metric,value"
    rows: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for line in lines[1:]:
        t, host, metric, value = line.split(",")
        rows.setdefault((host, metric), []).append((int(t), float(value)))
    return {k: (np.array([t for t, _ in v]), np.array([x for _, x in v])) for k, v in rows.items()}


def window(data: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]], host: str, metric: str,
           start: str, end: str) -> np.ndarray:
    """Values in [start, end) (UTC HH:MM)."""
    times, values = data[host, metric]
    lo, hi = utc(start).timestamp(), utc(end).timestamp()
    return values[(times >= lo) & (times < hi)]


def test_the_csv_has_a_day_of_minutes_for_every_host_and_metric(data: Any) -> None:
    assert set(data) == {(h, metric) for h in HOSTS for metric in m.ALL_METRICS}
    expected = np.arange(T0, T0 + 86400, 60)
    for (host, metric), (times, values) in data.items():
        assert len(times) == 24 * 60, (host, metric)
        assert np.array_equal(times, expected), (host, metric)
        assert np.all(np.isfinite(values)), (host, metric)
        assert np.all(values >= 0), (host, metric)


def test_the_csv_is_small() -> None:
    assert (DIR / "metrics.csv.gz").stat().st_size < 2_000_000


def test_hardware_is_constant(data: Any) -> None:
    for host in HOSTS:
        cores = 8 if host.startswith("db") else 4
        mem = (32 if host.startswith("db") else 8) * GiB
        assert set(data[host, m.CPUS][1]) == {cores}
        assert set(data[host, m.MEM_TOTAL][1]) == {mem}
        assert np.all(data[host, m.MEM_AVAILABLE][1] < mem)
        busy, iowait = data[host, m.CPU_BUSY][1], data[host, m.IOWAIT][1]
        assert np.all(busy + iowait <= 100.0 + 1e-9)
        assert np.all(data[host, m.DISK_BUSY][1] <= 100.0)


def test_db1_starves_for_io_in_both_waves(data: Any) -> None:
    for start, end in [("14:10", "15:40"), ("17:45", "21:40")]:
        iowait = window(data, "db1", m.IOWAIT, start, end)
        assert 52 <= iowait.mean() <= 62, (start, iowait.mean())
        assert iowait.min() > 40
        assert window(data, "db1", m.DISK_BUSY, start, end).mean() > 90
        load = window(data, "db1", m.LOAD1, start, end).mean()
        assert 11 <= load <= 17, load  # on 8 cores
    # memory available drops a bit, a little swap
    mem_night = window(data, "db1", m.MEM_AVAILABLE, "08:00", "12:00").mean()
    mem_peak = window(data, "db1", m.MEM_AVAILABLE, "18:00", "21:00").mean()
    assert 1.5 * GiB < mem_night - mem_peak < 4 * GiB
    swap_before = window(data, "db1", m.SWAP_USED, "00:00", "13:00").max()
    swap_after = window(data, "db1", m.SWAP_USED, "22:00", "23:00").min()
    assert 100 * 2**20 < swap_after - swap_before < 1 * GiB


def test_the_waves_come_and_go(data: Any) -> None:
    iowait = lambda a, b: window(data, "db1", m.IOWAIT, a, b)  # noqa: E731
    assert iowait("16:20", "17:20").max() < 40  # between the waves
    assert iowait("09:00", "12:30").max() < 5  # night, before the rebuild starts
    assert iowait("22:30", "23:59").max() < 10  # after the vendor's fix
    assert iowait("13:00", "13:45").mean() < 25  # the rebuild alone: noticeable, no alert


def test_web_load_climbs_threefold_and_web4_gets_half(data: Any) -> None:
    def load(host: str, a: str, b: str) -> float:
        return float(window(data, host, m.LOAD5, a, b).mean())

    for host in WEB_BUSY:
        ratio = load(host, "14:15", "15:30") / load(host, "13:20", "13:45")
        assert 2.5 <= ratio <= 4.5, (host, ratio)
    for a, b in [("14:15", "15:30"), ("18:00", "21:30")]:
        others = np.mean([load(h, a, b) for h in WEB_BUSY])
        assert 0.4 <= load("web4", a, b) / others <= 0.65
    # after the vendor's fix the load balancer shares evenly
    others = np.mean([load(h, "22:30", "23:59") for h in WEB_BUSY])
    assert 0.85 <= load("web4", "22:30", "23:59") / others <= 1.15
    # at night everything is quiet
    for host in HOSTS:
        cores = 8 if host.startswith("db") else 4
        assert window(data, host, m.LOAD5, "09:00", "12:30").max() / cores < 0.4


def test_db2_stays_fine_and_network_follows_traffic(data: Any) -> None:
    assert data["db2", m.IOWAIT][1].max() < 10
    assert data["db2", m.LOAD5][1].max() < 4
    assert data["db2", m.SWAP_USED][1].max() == 0
    for host in ["web1", "db1"]:
        for metric in (m.NET_IN, m.NET_OUT):
            peak = window(data, host, metric, "14:15", "15:30").mean()
            before = window(data, host, metric, "13:00", "13:45").mean()
            night = window(data, host, metric, "09:00", "12:00").mean()
            assert peak > 2 * before > 2 * night * 0.9, (host, metric)


# ---------------------------------------------------------------------------------------------
# The notifications

NOTIFICATIONS = sorted((DIR / "notifications").glob("*.json"))


def bodies() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in NOTIFICATIONS:
        yield path.name, json.loads(path.read_text())


def fnv_fingerprint(labels: dict[str, str]) -> str:
    """Independent of the generator: Prometheus' LabelSet fingerprint."""
    h = 0xCBF29CE484222325
    for name in sorted(labels):
        for byte in name.encode() + b"\xff" + labels[name].encode() + b"\xff":
            h = ((h ^ byte) * 0x100000001B3) % 2**64
    return f"{h:016x}"


def test_fingerprint_matches_prometheus() -> None:
    # Expected values from prometheus/common, model/signature_test.go (labelSetToFingerprint).
    assert int(generate.fingerprint({}), 16) == 14695981039346656037
    assert int(generate.fingerprint({"name": "garland, briggs", "fear": "love is not enough"}), 16) \
        == 5799056148416392346
    assert int(generate.fingerprint({"first-label": "first-label-value"}), 16) == 5146282821936882169
    assert fnv_fingerprint({"name": "garland, briggs", "fear": "love is not enough"}) == f"{5799056148416392346:016x}"


def test_there_are_ten_to_twenty_numbered_notifications() -> None:
    assert 10 <= len(NOTIFICATIONS) <= 20
    for i, path in enumerate(NOTIFICATIONS, start=1):
        assert re.fullmatch(r"\d{3}-\d{4}-(firing|repeat|resolved)-(DBHighIOWait|HostHighLoad|HTTPLatencyHigh)\.json",
                            path.name)
        assert path.name.startswith(f"{i:03d}-")


GO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z")


def parse_go_time(text: str) -> datetime:
    assert GO_TIME.fullmatch(text), text
    return datetime.fromisoformat(text)


@pytest.mark.parametrize("path", NOTIFICATIONS, ids=lambda p: p.name)
def test_each_notification_is_a_valid_v4_body(path: Path) -> None:
    raw = path.read_text()
    assert "&" not in raw and "\\u0026" in raw  # Go's encoder escapes & in generatorURL
    body = json.loads(raw)
    assert list(body) == ["receiver", "status", "alerts", "groupLabels", "commonLabels", "commonAnnotations",
                          "externalURL", "version", "groupKey", "truncatedAlerts"]
    assert body["version"] == "4"
    assert body["receiver"] == "pagerbot"
    assert body["truncatedAlerts"] == 0
    assert body["externalURL"].startswith("http://")
    name = path.name.split("-")[3].removesuffix(".json")
    assert body["groupLabels"] == {"alertname": name, "cluster": "prod"}
    assert body["groupKey"] == f'{{}}:{{alertname="{name}", cluster="prod"}}'
    alerts = body["alerts"]
    assert alerts
    statuses = {a["status"] for a in alerts}
    assert body["status"] == ("firing" if "firing" in statuses else "resolved")
    for alert in alerts:
        assert list(alert) == ["status", "labels", "annotations", "startsAt", "endsAt", "generatorURL",
                               "fingerprint"]
        labels = alert["labels"]
        assert set(labels) == {"alertname", "cluster", "instance", "job", "severity"}
        assert labels["alertname"] == name and labels["cluster"] == "prod"
        assert re.fullmatch(r"(db[12]|web[1-4]):\d+", labels["instance"])
        assert labels["severity"] in {"critical", "warning"}
        assert set(alert["annotations"]) == {"summary", "description"}
        assert alert["fingerprint"] == fnv_fingerprint(labels)
        assert re.fullmatch(r"[0-9a-f]{16}", alert["fingerprint"])
        assert alert["generatorURL"].startswith("http://prometheus.prod.example:9090/graph?g0.expr=")
        starts = parse_go_time(alert["startsAt"])
        if alert["status"] == "firing":
            assert alert["endsAt"] == ZERO_TIME
        else:
            assert parse_go_time(alert["endsAt"]) > starts
    common = {k: v for k, v in alerts[0]["labels"].items() if all(a["labels"].get(k) == v for a in alerts)}
    assert body["commonLabels"] == common
    common_ann = {k: v for k, v in alerts[0]["annotations"].items()
                  if all(a["annotations"].get(k) == v for a in alerts)}
    assert body["commonAnnotations"] == common_ann
    instances = [(a["labels"]["job"], a["labels"]["instance"]) for a in alerts]
    assert instances == sorted(instances)  # Alertmanager sorts by job, then instance


def test_the_notifications_tell_the_story() -> None:
    seen: dict[tuple[str, str], str] = {}  # (fingerprint, startsAt) -> last status sent
    by_fingerprint: dict[str, dict[str, str]] = {}
    repeats = resolves = 0
    occurrences: dict[str, set[str]] = {}
    for name, body in bodies():
        keys = [(a["fingerprint"], a["startsAt"]) for a in body["alerts"]]
        if all(seen.get(k) == a["status"] == "firing" for k, a in zip(keys, body["alerts"], strict=True)):
            repeats += 1
            assert "-repeat-" in name
        for key, alert in zip(keys, body["alerts"], strict=True):
            fp = alert["fingerprint"]
            assert by_fingerprint.setdefault(fp, alert["labels"]) == alert["labels"]  # stable per label set
            assert seen.get(key) != "resolved"  # a resolved alert is sent once and dropped
            if alert["status"] == "resolved":
                resolves += 1
            seen[key] = alert["status"]
            occurrences.setdefault(f'{alert["labels"]["alertname"]} {alert["labels"]["instance"]}',
                                   set()).add(alert["startsAt"])
    assert repeats >= 2
    assert resolves >= 5
    assert all(status == "resolved" for status in seen.values())  # everything resolves by the end
    # who alerted: db1 iowait, db1 and web1-3 load, web1-3 latency; twice each (two waves); never web4/db2
    assert occurrences == {
        "DBHighIOWait db1:9100": occurrences["DBHighIOWait db1:9100"],
        **{f"HostHighLoad {h}:9100": occurrences[f"HostHighLoad {h}:9100"] for h in ["db1", *WEB_BUSY]},
        **{f"HTTPLatencyHigh {h}:8080": occurrences[f"HTTPLatencyHigh {h}:8080"] for h in WEB_BUSY},
    }
    assert all(len(starts) == 2 for starts in occurrences.values())
    first = json.loads(NOTIFICATIONS[0].read_text())
    assert first["commonLabels"]["alertname"] == "DBHighIOWait"
    assert first["commonLabels"]["severity"] == "critical"
    assert first["commonLabels"]["instance"] == "db1:9100"


def test_alerts_agree_with_the_metrics(data: Any) -> None:
    iowait = data["db1", m.IOWAIT]
    for _name, body in bodies():
        for alert in body["alerts"]:
            if alert["labels"]["alertname"] != "DBHighIOWait":
                continue
            starts = parse_go_time(alert["startsAt"]).timestamp()
            after = iowait[1][(iowait[0] >= starts) & (iowait[0] < starts + 300)]
            assert after.mean() > 40
            if alert["status"] == "resolved":
                ends = parse_go_time(alert["endsAt"]).timestamp()
                assert iowait[1][(iowait[0] >= ends) & (iowait[0] < ends + 300)].mean() < 40


# ---------------------------------------------------------------------------------------------
# The script

STEP_KEYS = {
    "alert": {"file"},
    "generic": {"alert"},
    "command": {"user", "text"},
    "click": {"user", "action"},
    "note": {"user", "text", "id"},
    "pin": {"user", "message"},
    "reply": {"file"},
    "wait": set(),
}
OPTIONAL_KEYS = {"click": {"in"}}  # in: dm (a page's button, in the user's direct messages)


def test_the_script_is_consistent() -> None:
    script = yaml.safe_load((DIR / "scenario.yaml").read_text())
    config = script["config"]
    assert config["metrics"]["pools"] == {"web": ["web1", "web2", "web3", "web4"], "db": ["db1", "db2"]}
    assert "hostwise" in config["vendors"]
    assert config["vendors"]["hostwise"]["to"] == ["support@hostwise.example"]
    assert config["timezone"] == "America/Los_Angeles"
    emails = {u["email"] for u in script["users"].values()}
    for responder in config["slack"]["responders"]:
        assert responder in script["users"] or responder in emails
    assert (DIR / script["metrics"]).is_file()

    sent = {name: at for name, at, _text in generate.notification_files(generate.simulate())}
    used: list[str] = []
    notes: set[str] = set()
    last = datetime.min.replace(tzinfo=UTC)
    commands = []
    for step in script["steps"]:
        at = datetime.fromisoformat(step["at"])
        assert at >= last, step
        last = at
        assert DAY <= at < DAY + timedelta(days=1)
        do = step["do"]
        required = {"at", "do", *STEP_KEYS[do]}
        assert required <= set(step) <= required | OPTIONAL_KEYS.get(do, set()), step
        if "user" in step:
            assert step["user"] in script["users"]
        if do == "alert":
            assert (DIR / "notifications" / step["file"]).is_file()
            assert at == sent[step["file"]].replace(microsecond=0)
            used.append(step["file"])
        elif do == "note":
            notes.add(step["id"])
        elif do == "pin":
            assert step["message"] in notes
        elif do == "command":
            commands.append(step["text"].split()[0])
        elif do == "reply":  # a reply to the email sent before it, as a mail client files it
            raw = (DIR / script["replies"] / step["file"]).read_bytes()
            assert b"In-Reply-To: {REPLY_TO_ID}" in raw and b"\r\n\r\n" in raw
            assert any(s["do"] == "click" and s["action"] == "send_email" and s["at"] < step["at"]
                       for s in script["steps"])
    assert used == [p.name for p in NOTIFICATIONS]  # every notification, once, in order
    assert commands[0] == "ack"
    assert commands[-2:] == ["resolve", "postmortem"]
    assert {"escalate", "note", "status", "graph", "hosts"} <= set(commands)
    assert any(s["do"] == "click" and s["action"] == "send_email" for s in script["steps"])


# ---------------------------------------------------------------------------------------------
# The generator


def test_the_generator_reproduces_the_committed_files(tmp_path: Path) -> None:
    generate.main(["--out", str(tmp_path)])
    made = gzip.decompress((tmp_path / "metrics.csv.gz").read_bytes())
    assert made == gzip.decompress((DIR / "metrics.csv.gz").read_bytes())
    assert sorted(p.name for p in (tmp_path / "notifications").iterdir()) == [p.name for p in NOTIFICATIONS]
    for path in NOTIFICATIONS:
        assert (tmp_path / "notifications" / path.name).read_bytes() == path.read_bytes(), path.name


def test_the_gzip_header_holds_no_name_or_time(tmp_path: Path) -> None:
    generate.write_gzip(tmp_path / "a.gz", "x\n")
    raw = (tmp_path / "a.gz").read_bytes()
    assert raw[3] == 0  # no FNAME flag
    assert raw[4:8] == b"\0\0\0\0"  # mtime 0


# ---------------------------------------------------------------------------------------------
# RecordedSource


def write_csv(path: Path, rows: Sequence[tuple[float, str, str, str]]) -> Path:
    text = "time,host,metric,value\n" + "".join(f"{t},{h},{mm},{v}\n" for t, h, mm, v in rows)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


@pytest.fixture
def small(tmp_path: Path) -> Path:
    # ten minutes of load1 on two hosts: a at 0..9, b at 100..109; one gap on a; rows shuffled
    rows = [(T0 + 60 * i, "a", "load1", "nan" if i == 4 else str(float(i))) for i in range(10)]
    rows += [(T0 + 60 * i, "b", "load1", str(100.0 + i)) for i in range(10)]
    rows += [(T0, "b", "cpus", "4")]
    rows.reverse()
    return write_csv(tmp_path / "small.csv.gz", rows)


def at(minutes: float) -> datetime:
    return DAY + timedelta(minutes=minutes)


async def test_recorded_source_implements_the_port(small: Path) -> None:
    source: MetricsSource = RecordedSource(small)
    assert source.name == "recorded"
    await source.close()


async def test_fetch_at_native_resolution_returns_the_samples(small: Path) -> None:
    source = RecordedSource(small)
    assert source.hosts() == ["a", "b"]
    [b] = await source.fetch(["load1"], at(2), at(5), 60, hosts=["b"])
    assert (b.host, b.metric) == ("b", "load1")
    assert list(b.times) == [T0 + 120.0, T0 + 180.0, T0 + 240.0, T0 + 300.0]
    assert list(b.values) == [102.0, 103.0, 104.0, 105.0]


async def test_fetch_resamples_to_the_step_with_means_looking_back(small: Path) -> None:
    source = RecordedSource(small)
    series = await source.fetch(["load1"], at(3), at(9), 180)
    assert [(s.host, s.metric) for s in series] == [("a", "load1"), ("b", "load1")]
    a, b = series
    assert list(a.times) == [T0 + 180.0, T0 + 360.0, T0 + 540.0]
    # buckets (t-180, t]: minutes {1,2,3}, {4,5,6}, {7,8,9}; minute 4 of a is a gap
    assert list(b.values) == pytest.approx([102.0, 105.0, 108.0])
    assert list(a.values) == pytest.approx([2.0, 5.5, 8.0])


async def test_fetch_marks_gaps_and_never_reads_the_future(small: Path) -> None:
    source = RecordedSource(small)
    [a] = await source.fetch(["load1"], at(-2), at(4.5), 60, hosts=["a"])
    values = list(a.values)
    assert math.isnan(values[0]) and math.isnan(values[1])  # before the recording
    assert values[2:6] == [0.0, 1.0, 2.0, 3.0]
    assert math.isnan(values[6])  # 04:00 is a gap; 04:30 only sees samples up to 04:00
    assert len(values) == 7


async def test_a_step_finer_than_the_recording_repeats_samples(small: Path) -> None:
    source = RecordedSource(small)
    [b] = await source.fetch(["load1"], at(1), at(2), 15, hosts=["b"])
    assert list(b.values) == [101.0, 101.0, 101.0, 101.0, 102.0]


async def test_shift_moves_the_recording_onto_the_demo_clock(small: Path) -> None:
    shift = timedelta(days=30, minutes=7)
    source = RecordedSource(small, shift=shift)
    [b] = await source.fetch(["load1"], at(2) + shift, at(4) + shift, 60, hosts=["b"])
    assert list(b.times) == [(at(n) + shift).timestamp() for n in (2, 3, 4)]
    assert list(b.values) == [102.0, 103.0, 104.0]
    assert source.span() == (DAY + shift, at(9) + shift)


async def test_unknown_hosts_and_metrics_give_no_series(small: Path) -> None:
    source = RecordedSource(small)
    assert await source.fetch(["load1", "nope"], at(0), at(3), 60, hosts=["zz"]) == []
    series = await source.fetch(["cpus", "nope"], at(0), at(3), 60)
    assert [(s.host, s.metric) for s in series] == [("b", "cpus")]


async def test_bad_arguments_and_bad_files(tmp_path: Path, small: Path) -> None:
    source = RecordedSource(small)
    with pytest.raises(ValueError):
        await source.fetch(["load1"], at(5), at(1), 60)
    with pytest.raises(ValueError):
        await source.fetch(["load1"], at(1), at(5), 0)
    with pytest.raises(MetricsUnavailable, match=r"missing\.csv"):
        await RecordedSource(tmp_path / "missing.csv").fetch(["load1"], at(0), at(1), 60)
    bad = tmp_path / "bad.csv"
    bad.write_text("when,who,what\n1,2,3\n")
    with pytest.raises(MetricsUnavailable, match="time,host,metric,value"):
        RecordedSource(bad).hosts()
    plain = write_csv(tmp_path / "plain.csv", [(T0, "h", "load1", "1.5")])
    [s] = await RecordedSource(plain).fetch(["load1"], at(0), at(0), 60)
    assert list(s.values) == [1.5]


async def test_the_scenario_through_the_source() -> None:
    assert (scenario_path() / "scenario.yaml").is_file()
    source = RecordedSource(scenario_metrics_path())
    assert source.hosts() == HOSTS
    assert source.span() == (DAY, DAY + timedelta(hours=23, minutes=59))
    series = await source.fetch([m.IOWAIT, m.LOAD1], utc("12:00"), utc("16:00"), 300, hosts=["db1", "db2"])
    assert [(s.host, s.metric) for s in series] == [("db1", "iowait"), ("db1", "load1"),
                                                    ("db2", "iowait"), ("db2", "load1")]
    assert all(len(s.times) == 49 for s in series)
    db1_iowait = dict(zip(series[0].times, series[0].values, strict=True))
    assert db1_iowait[utc("12:30").timestamp()] < 5
    assert db1_iowait[utc("14:30").timestamp()] > 50
    assert max(series[2].values) < 10
    # a six-hour graph a minute at a time on the demo clock, shifted to today
    now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    shifted = RecordedSource(scenario_metrics_path(), shift=now - utc("14:30"))
    [s] = await shifted.fetch([m.IOWAIT], now - timedelta(hours=6), now, 60, hosts=["db1"])
    assert len(s.times) == 361 and s.times[-1] == now.timestamp()
    [raw] = await source.fetch([m.IOWAIT], utc("08:30"), utc("14:30"), 60, hosts=["db1"])
    assert list(s.values) == list(raw.values)
