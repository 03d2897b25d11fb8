"""Waves and how the channel's messages word them (pure: core/waves.py and chat/blocks.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from pagerbot.chat import blocks
from pagerbot.core.records import AlertRecord, AlertTally, IncidentRecord
from pagerbot.core.waves import (
    WaveStart,
    alerts_by_name,
    starts_wave,
    wave_label,
    wave_times,
    waves,
    waves_by_name,
)

TZ = ZoneInfo("America/Los_Angeles")
OPENED = datetime(2026, 3, 10, 14, 4, tzinfo=UTC)
LULL = datetime(2026, 3, 10, 16, 14, tzinfo=UTC)
SECOND = datetime(2026, 3, 10, 17, 36, tzinfo=UTC)
INCIDENT = IncidentRecord(id=7, title="db1 <waits> on disk", severity=2, status="investigating", lead=None,
                          channel_id="C1", channel_name="inc-x", opened_at=OPENED)
TALLY = AlertTally(by_name=[("HostDown", 2, 1)], busiest_hosts=[("db1", 2)], hosts=["db1"], started=OPENED,
                   first=[], last_change=LULL)


def _text(rendered: list[dict[str, object]]) -> str:
    return json.dumps(rendered, ensure_ascii=False)


def test_a_wave_starts_only_when_an_alert_fires_in_a_lull() -> None:
    assert starts_wave(lull_since=LULL, alert_fires=True)
    assert not starts_wave(lull_since=None, alert_fires=True)  # something was still firing
    assert not starts_wave(lull_since=LULL, alert_fires=False)  # only resolves


def test_alerts_are_named_once_with_their_hosts() -> None:
    fired = [("HostDown", "db1"), ("HighLoad", "web2"), ("HostDown", "db2"), ("HighLoad", None),
             ("HostDown", "db1")]
    assert alerts_by_name(fired) == [("HostDown", ["db1", "db2"]), ("HighLoad", ["web2"])]


def test_the_wave_message_says_which_when_what_and_the_lull() -> None:
    wave = WaveStart(number=2, began_at=SECOND, lull_since=LULL, alerts=[("HostDown", ["db1", "db2"])],
                     reopened=False)
    assert wave.lull == timedelta(hours=1, minutes=22) and wave.lull_text == "1 h 22 min"
    assert wave.timeline_text == "Wave 2 began: HostDown fired again after a lull of 1 h 22 min"
    text, rendered = blocks.wave_started(wave, INCIDENT, TZ)
    assert text == "Wave 2 of INC-7 began at 10:36, after a lull of 1 h 22 min"
    shown = _text(rendered)
    assert "*Wave 2 began at 10:36*" in shown and "*HostDown* on db1, db2" in shown
    assert "every alert had resolved at 09:14; the incident is still open" in shown
    reopened = replace(wave, reopened=True)
    assert reopened.timeline_text.endswith("; the incident is reopened")
    assert "the incident is reopened" in _text(blocks.wave_started(reopened, INCIDENT, TZ)[1])


def test_header_and_topic_name_the_wave_while_the_incident_is_open() -> None:
    assert wave_label(1, None, "") == ""
    second = replace(INCIDENT, wave=2, wave_started_at=SECOND)
    assert blocks.topic(INCIDENT, TZ) == "SEV2 · investigating · no lead yet · db1 &lt;waits&gt; on disk"
    assert blocks.topic(second, TZ).startswith("SEV2 · investigating · wave 2 since 10:36 · no lead yet")
    assert "wave 2 since 10:36" in _text(blocks.header(second, TALLY, tz=TZ))
    resolved = replace(second, status="resolved")
    assert "wave" not in blocks.topic(resolved, TZ) and "wave 2" not in _text(blocks.header(resolved, TALLY, tz=TZ))


def test_acknowledged_header_says_who_instead_of_the_button() -> None:
    def buttons(incident: IncidentRecord) -> list[str]:
        return [e["action_id"] for b in blocks.header(incident, TALLY, tz=TZ) if b["type"] == "actions"
                for e in b["elements"]]

    assert buttons(INCIDENT)[0] == blocks.ACK
    acked = replace(INCIDENT, status="acknowledged", acknowledged_at=OPENED + timedelta(minutes=2),
                    acknowledged_by="U0ALICE")
    assert blocks.ACK not in buttons(acked)
    assert ":eyes: Acknowledged by <@U0ALICE> at 07:06" in _text(blocks.header(acked, TALLY, tz=TZ))


def test_the_resolve_offer_names_its_wave_and_is_withdrawn_with_a_reason() -> None:
    second = replace(INCIDENT, wave=2, wave_started_at=SECOND)
    _, offer = blocks.offer_resolve(second)
    [button] = [e for b in offer if b["type"] == "actions" for e in b["elements"]]
    assert (button["action_id"], button["value"]) == (blocks.RESOLVE_OFFER, "7:2")
    assert blocks.offered_wave("7:2") == (7, 2) and blocks.offered_wave("7") == (7, None)
    text, withdrawn = blocks.offer_withdrawn(replace(second, wave=3), SECOND, TZ)
    assert "alerts fired again at 10:36 (wave 3): the incident stays open" in text
    assert not [b for b in withdrawn if b["type"] == "actions"]
    text, _ = blocks.offer_withdrawn(second, SECOND, TZ, resolved_by="<@U0BOB>")
    assert text == "Every alert of INC-7 had resolved; <@U0BOB> resolved the incident at 10:36."


def test_digests_say_their_wave_and_when_they_were_last_updated() -> None:
    text, live = blocks.digest(TALLY, wave=2, updated_at=SECOND, tz=TZ)
    assert text == "Alert digest, wave 2: 2 firing, 1 resolved"
    assert "Wave 2, last updated 10:36" in _text(live) and "closed" not in _text(live)
    _, closed = blocks.digest(TALLY, wave=1, updated_at=LULL, tz=TZ, closed=True)
    assert "Wave 1, last updated 09:14 · closed: wave 2 has a digest of its own" in _text(closed)


def test_the_announcement_follows_severity_and_status() -> None:
    assert blocks.announcement(INCIDENT, "C1") == \
        ":rotating_light: SEV2 INC-7 · investigating: db1 &lt;waits&gt; on disk → <#C1>"
    done = replace(INCIDENT, severity=1, status="resolved")
    assert blocks.announcement(done, "C1").startswith(":white_check_mark: SEV1 INC-7 · resolved: ")


# --- counted afterwards, for the postmortem: fire, resolve, fire again is two waves, per incident and name

T0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def alert(name: str, host: str, fired: float, ended: float | None, *, starts_at: datetime | None = None) -> AlertRecord:
    return AlertRecord(fingerprint=f"{name}-{host}", source="alertmanager", name=name, title=name, severity=2,
                       state="resolved" if ended is not None else "firing", host=host, labels={},
                       starts_at=starts_at if starts_at is not None else at(fired),
                       ends_at=at(ended) if ended is not None else None, wave=1, received_count=1,
                       first_received_at=at(fired + 1), last_received_at=at((ended or fired) + 1))


def test_fire_resolve_fire_is_two_waves() -> None:
    found = waves([alert("DBHighIOWait", "db1", 0, 120), alert("DBHighIOWait", "db1", 150, 400)])
    assert [(w.start, w.end) for w in found] == [(at(0), at(120)), (at(150), at(400))]


def test_overlapping_alerts_make_one_wave_that_ends_when_the_last_resolves() -> None:
    found = waves([alert("A", "web1", 0, 30), alert("B", "web2", 20, 90), alert("A", "web3", 90, 100)])
    assert len(found) == 1
    assert (found[0].start, found[0].end, found[0].hosts, found[0].first_hosts) == (
        at(0), at(100), ("web1", "web2", "web3"), ("web1",))
    assert found[0].duration(at(500)) == timedelta(minutes=100)


def test_a_wave_still_firing_has_no_end_and_swallows_later_alerts() -> None:
    found = waves([alert("A", "db1", 0, None), alert("A", "db1", 300, 310)])
    assert len(found) == 1 and found[0].end is None
    assert found[0].duration(at(60)) == timedelta(minutes=60)


def test_per_alert_name_in_the_order_names_first_fired() -> None:
    alerts = [
        alert("HTTPLatencyHigh", "web1", 3, 118), alert("DBHighIOWait", "db1", 0, 126),
        alert("HTTPLatencyHigh", "web2", 3, 118), alert("DBHighIOWait", "db1", 152, 418),
        alert("HTTPLatencyHigh", "web1", 156, 419),
    ]
    by_name = waves_by_name(alerts)
    assert [(a.name, len(a.waves), a.hosts) for a in by_name] == [
        ("DBHighIOWait", 2, ("db1",)), ("HTTPLatencyHigh", 2, ("web1", "web2"))]
    assert by_name[0].firing_for(at(500)) == timedelta(minutes=126 + 266)
    assert len(waves(alerts)) == 2  # the incident's waves: both names quiet between 126 and 152


def test_a_start_before_2000_counts_from_when_the_alert_arrived() -> None:
    zero = alert("A", "h", 10, 20, starts_at=datetime(1, 1, 1, tzinfo=UTC))
    epoch = alert("A", "h", 10, 20, starts_at=datetime(1970, 1, 1, tzinfo=UTC))
    assert zero.fired_at == epoch.fired_at == at(11)
    assert waves([zero])[0].start == at(11)


def test_a_wave_begins_and_its_lull_ends_by_the_alerts_own_clocks() -> None:
    """Alertmanager delivers minutes late: the wave began when its alerts began (10:31), after a lull that began
    when the earlier alerts ended (09:10), as the postmortem counts it, not when the deliveries arrived."""
    ended, started = datetime(2026, 3, 10, 16, 10, tzinfo=UTC), datetime(2026, 3, 10, 17, 31, tzinfo=UTC)
    began, lull = wave_times(fired_since=[started + timedelta(minutes=4), started], resolved_until=ended,
                             lull_noticed=LULL, now=SECOND)
    assert (began, lull) == (started, ended)
    assert WaveStart(2, began, lull, [], reopened=False).lull_text == "1 h 21 min"


def test_a_wave_without_believable_alert_times_is_dated_by_what_pagerbot_saw() -> None:
    # no startsAt, one before the lull, one in the future; an endsAt after the lull was noticed
    began, lull = wave_times(fired_since=[None, LULL - timedelta(minutes=1), SECOND + timedelta(minutes=1)],
                             resolved_until=SECOND, lull_noticed=LULL, now=SECOND)
    assert (began, lull) == (SECOND, LULL)
    assert wave_times(fired_since=[], resolved_until=None, lull_noticed=LULL, now=SECOND) == (SECOND, LULL)
