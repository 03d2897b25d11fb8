"""The postmortem as GitHub-flavoured Markdown, from what pagerbot recorded (no database, no Slack).

Everything from alerts and people reaches the template either already escaped (:class:`Md`, e.g. the
timeline rows, precomputed here because an incident can have 10,000 of them) or raw, to be escaped by the
``md`` / ``cell`` / ``block`` filters. A finalizer escapes (as ``md``) any plain string printed without a
filter, so an overriding template that forgets one still cannot inject Markdown. Nothing recorded is ever
compiled as a template.

Templates: ``postmortem.md.j2`` is looked up in ``template_dir`` first, then in the package; the package's
template is also reachable as ``pagerbot/postmortem.md.j2``, so an override can ``{% extends %}`` it and
replace only some blocks.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

import jinja2

from pagerbot.core.durations import KeyTimes, human_duration, key_times
from pagerbot.core.findings import Finding, FindingKind
from pagerbot.core.onset import Onset
from pagerbot.core.pages import pages_from_timeline
from pagerbot.core.people import actor_name, entry_text, humanize_incident
from pagerbot.core.records import AlertRecord, EscalationRecord, IncidentRecord, TimelineEntry
from pagerbot.core.timezones import aware
from pagerbot.core.timezones import zone as to_zone
from pagerbot.core.waves import waves, waves_by_name
from pagerbot.postmortem.markdown import Md, block, cell, inline
from pagerbot.postmortem.sections import action_rows, detection, impact_lines, key_events

__all__ = [
    "GraphFile",
    "PostmortemInput",
    "PostmortemRenderer",
    "render_postmortem",
    "write_postmortem",
]

TEMPLATE_NAME = "postmortem.md.j2"
MARKDOWN_NAME = "postmortem.md"
_PACKAGE_TEMPLATES = Path(__file__).resolve().parent / "templates"
_MAX_HOSTS_SHOWN = 12
_DASH = Md("—")


@dataclass(frozen=True, slots=True)
class GraphFile:
    """A graph exported beside the Markdown: its file name (``load-web.png``) and a caption."""

    file_name: str
    caption: str


@dataclass(frozen=True, slots=True)
class PostmortemInput:
    incident: IncidentRecord
    alerts: Sequence[AlertRecord]
    timeline: Sequence[TimelineEntry]
    escalations: Sequence[EscalationRecord]
    findings: Sequence[Finding]
    stands_out: Sequence[str]
    graphs: Sequence[GraphFile]
    tz: str
    generated_at: datetime
    # user ID -> name (from Slack's profiles): readers see names, not IDs or <@U123> mentions
    names: Mapping[str, str] = field(default_factory=dict)
    # the moment the cluster carried the most load (the findings are the hosts' state then), its summed load,
    # and where it was found: "metrics" (asked at export time) or "recorded" (a summary posted in the channel)
    peak_at: datetime | None = None
    peak_load: float | None = None
    peak_source: str | None = None
    user_facing: Sequence[str] = ()  # alert names users feel (postmortem.user_facing_alerts)
    onsets: Sequence[Onset] = ()  # where the metrics show the findings' trouble beginning
    # vendor config key -> the vendor's name (vendors.<key>.name): readers see "Hostwise Managed Hosting"
    vendor_names: Mapping[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True)
class TimeRow:
    label: str
    local: Md
    utc: Md
    since_start: Md


@dataclass(frozen=True, slots=True)
class DurationRow:
    label: str
    value: Md


@dataclass(frozen=True, slots=True)
class AlertGroup:
    name: str
    hosts: Md
    first_fired: Md
    last_fired: Md
    count: int
    deliveries: int
    waves: Md


@dataclass(frozen=True, slots=True)
class EscalationRow:
    vendor: str
    when: Md
    subject: str
    status: str
    replied: Md  # when the vendor first answered; "no" for a sent email without an answer
    ticket: str


class TimelineRow(NamedTuple):
    """One timeline entry, every field escaped for a table cell (a tuple: 10,000 of them are cheap)."""

    local: Md
    utc: Md
    kind: Md
    source: Md
    actor: Md
    text: Md


@dataclass(frozen=True, slots=True)
class PageRow:
    """A page in the key times: who (a name where known), as what, when, and who acknowledged after how long."""

    who: str
    role: str
    at: Md
    outcome: str


def _page_rows(data: PostmortemInput, acknowledged: datetime | None, zone: tzinfo) -> list[PageRow]:
    rows = []
    for page in pages_from_timeline(data.timeline, acknowledged):
        role = f"{page.rotation} on call" if page.rotation else "on call"
        if page.repeat:
            role += f", repeat {page.repeat}"
        if page.time_to_acknowledge is None:
            outcome = "not acknowledged"
        else:
            who = data.names.get(page.acknowledged_by or "", page.acknowledged_by or "someone")
            outcome = f"acknowledged by {who} after {human_duration(page.time_to_acknowledge)}"
        rows.append(PageRow(who=data.names.get(page.target, page.target), role=role, at=Md(_stamp(page.at, zone)),
                            outcome=outcome))
    return rows


@dataclass(frozen=True, slots=True)
class NoteItem:
    """A tagged note (``cause: ...``): the text after the tag, who wrote it and when (local time)."""

    text: str
    actor: str | None
    at: Md
    entry: TimelineEntry | None = None  # the note after its tag, as written (Slack's markup included)


_TAGS = {
    "cause": "causes",
    "trigger": "trigger",
    "lucky": "lucky",
    "resolution": "resolution",
    "went-well": "went_well",
    "went_well": "went_well",
    "went well": "went_well",
    "wentwell": "went_well",
    "went-badly": "went_badly",
    "went_badly": "went_badly",
    "went badly": "went_badly",
    "wentbadly": "went_badly",
    "action": "actions",
    "impact": "impact",
}
_TAG_RE = re.compile(r"\s*(cause|trigger|lucky|resolution|went[-_ ]?well|went[-_ ]?badly|action|impact)\s*:\s*",
                     re.IGNORECASE)

_FINDING_LABELS = {
    FindingKind.OVERLOADED: "overloaded",
    FindingKind.IO_BOUND: "I/O bound",
    FindingKind.IMBALANCED_LOW: "far below its pool",
    FindingKind.IMBALANCED_HIGH: "far above its pool",
    FindingKind.SWAPPING: "swapping",
    FindingKind.STALE: "stale data",
    FindingKind.DOWN: "no data",
}


def _stamp(dt: datetime, zone: tzinfo) -> str:
    """``YYYY-MM-DD HH:MM:SS`` of ``dt`` in ``zone`` (the fast way: isoformat is C)."""
    return aware(dt).astimezone(zone).isoformat(" ", "seconds")[:19]


def _safe_file_name(name: str) -> str:
    if not name or name != Path(name).name or name.startswith(".") or "\\" in name or "\x00" in name:
        raise ValueError(f"Graph file name {name!r} must be a plain file name such as load-web.png.")
    return name


def _url_path(value: object) -> Md:
    """A relative file name as a Markdown link destination (percent-encoded, so nothing breaks out)."""
    return Md(quote(_safe_file_name(str(value))))


def _md_join(values: Iterable[object], sep: str = ", ") -> Md:
    return Md(sep.join(v if isinstance(v, Md) else inline(str(v)) for v in values))


def _md_filter(value: object) -> Md:
    return value if isinstance(value, Md) else inline(str(value))


def _cell_filter(value: object) -> Md:
    return value if isinstance(value, Md) else cell(str(value))


def _block_filter(value: object) -> Md:
    return value if isinstance(value, Md) else block(str(value))


def _finalize(value: Any) -> Any:
    """Every ``{{ ... }}``: Markdown passes, plain strings are escaped, None prints as nothing."""
    if isinstance(value, Md):
        return value
    if isinstance(value, str):
        return inline(value)
    if value is None:
        return ""
    return value


# ------------------------------------------------------------------------------------------ context


def _notes(timeline: Sequence[TimelineEntry], zone: tzinfo, names: Mapping[str, str]) -> dict[str, list[NoteItem]]:
    """Tagged notes (``/incident note cause: …``, or a pinned message starting with a tag) by section. Action
    items keep their raw text too: the owner's mention is read from it before it becomes a name."""
    sections: dict[str, list[NoteItem]] = {key: [] for key in dict.fromkeys(_TAGS.values())}
    for entry in timeline:
        if entry.kind not in ("note", "pin"):
            continue
        m = _TAG_RE.match(entry.text)
        if m is None:
            continue
        key = _TAGS[re.sub(r"\s+", " ", m[1].lower())]
        tagged = dataclasses.replace(entry, text=entry.text[m.end() :].strip())
        if tagged.text:
            sections[key].append(NoteItem(text=entry_text(tagged, names), actor=actor_name(entry.actor, names),
                                          at=Md(_stamp(entry.at, zone)), entry=tagged))
    return sections


def _alert_groups(alerts: Sequence[AlertRecord], zone: tzinfo, wave_counts: Mapping[str, int]) -> list[AlertGroup]:
    by_name: dict[str, list[AlertRecord]] = {}
    for alert in alerts:
        by_name.setdefault(alert.name, []).append(alert)
    groups: list[tuple[datetime, str, AlertGroup]] = []
    for name, members in by_name.items():
        fired = [a.fired_at for a in members]
        hosts = sorted({a.host for a in members if a.host})
        shown = ", ".join(cell(h) for h in hosts[:_MAX_HOSTS_SHOWN])
        if len(hosts) > _MAX_HOSTS_SHOWN:
            shown += f" and {len(hosts) - _MAX_HOSTS_SHOWN} more"
        first, last = min(fired), max(fired)
        group = AlertGroup(
            name=name,
            hosts=Md(shown) if hosts else _DASH,
            first_fired=Md(_stamp(first, zone)),
            last_fired=Md(_stamp(last, zone)),
            count=len(members),
            deliveries=sum(a.received_count for a in members),
            waves=Md(str(wave_counts.get(name, 1))),
        )
        groups.append((first, name, group))
    groups.sort(key=lambda g: (g[0], g[1]))
    return [g for _, _, g in groups]


_MITIGATED_HOW = {
    "recorded": "the move to monitoring, or the time given when resolving",
    "status": "the move to monitoring",
    "alerts cleared": "when the last alert stopped firing; no mitigation was recorded",
    "resolved": "the resolve; no earlier mitigation was recorded",
}


def _time_rows(times: KeyTimes, zone: tzinfo) -> list[TimeRow]:
    """The key moments in the order they happened (those still to come at the end, as dashes)."""
    rows = []
    for label, moment in times.moments():
        if moment is None:
            rows.append(TimeRow(label, _DASH, _DASH, _DASH))
            continue
        since = max(moment - times.started, timedelta(0))
        rows.append(
            TimeRow(
                label,
                Md(_stamp(moment, zone)),
                Md(_stamp(moment, UTC)),
                _DASH if label == "Started" else Md(human_duration(since)),
            )
        )
    return rows


def _duration_rows(times: KeyTimes) -> list[DurationRow]:
    def show(td: timedelta | None) -> Md:
        return Md("not yet") if td is None else Md(human_duration(td))

    return [
        DurationRow("Time to detect", show(times.time_to_detect)),
        DurationRow("Time to acknowledge", show(times.time_to_acknowledge)),
        DurationRow("Time to mitigate", show(times.time_to_mitigate)),
        DurationRow("Time to resolve", show(times.time_to_resolve)),
    ]


def _entry_time(entry: TimelineEntry) -> datetime:
    return entry.at if entry.at.tzinfo is not None else entry.at.replace(tzinfo=UTC)


def _timeline_rows(
    entries: Sequence[TimelineEntry], zone: tzinfo, names: Mapping[str, str]
) -> tuple[list[TimelineRow], Md, list[TimelineEntry]]:
    """Rows and the whole table body (one line per entry), escaped once per distinct source/actor/kind;
    people as names (``names``), replaced before escaping; and the entries in the rows' order."""
    cells: dict[str | None, Md] = {None: _DASH, "": _DASH}
    rows: list[TimelineRow] = []
    lines: list[str] = []
    append_row, append_line = rows.append, lines.append
    ordered = sorted(entries, key=_entry_time)
    for entry in ordered:
        at = entry.at if entry.at.tzinfo is not None else entry.at.replace(tzinfo=UTC)
        local = Md(at.astimezone(zone).isoformat(" ", "seconds")[:19])
        utc = Md((at if at.tzinfo is UTC else at.astimezone(UTC)).isoformat(" ", "seconds")[:19])
        source = cells.get(entry.source)
        if source is None:
            source = cells[entry.source] = cell(entry.source)
        actor = cells.get(entry.actor)
        if actor is None:
            actor = cells[entry.actor] = cell(actor_name(entry.actor, names) or "")
        kind = cells.get(entry.kind)
        if kind is None:
            kind = cells[entry.kind] = cell(entry.kind)
        text = cell(entry_text(entry, names))
        append_row(TimelineRow(local, utc, kind, source, actor, text))
        append_line(f"| {local} | {utc} | {source} | {actor} | {text} |")
    return rows, Md("\n".join(lines)), ordered


def _summary_line(data: PostmortemInput, times: KeyTimes, groups: list[AlertGroup], zone: tzinfo,
                  wave_count: int) -> Md:
    inc = data.incident
    parts = [f"SEV{inc.severity} incident"]
    parts.append(f"started {_stamp(times.started, zone)} ({inline(data.tz)})")
    ttr = times.time_to_resolve
    if ttr is not None:
        parts.append(f"resolved after {human_duration(ttr)}")
    else:
        ttm = times.time_to_mitigate
        parts.append(f"mitigated after {human_duration(ttm)}, not yet resolved" if ttm else "not yet resolved")
    hosts = {a.host for a in data.alerts if a.host}
    if data.alerts:
        alerts = f"{len(data.alerts)} alert{'s' if len(data.alerts) != 1 else ''}"
        alerts += f" of {len(groups)} kind{'s' if len(groups) != 1 else ''}"
        if hosts:
            alerts += f" on {len(hosts)} host{'s' if len(hosts) != 1 else ''}"
        if wave_count > 1:
            alerts += f" in {wave_count} waves"
        parts.append(alerts)
    vendors = sorted({data.vendor_names.get(e.vendor, e.vendor) for e in data.escalations if e.status == "sent"})
    if vendors:
        parts.append("escalated to " + ", ".join(inline(v) for v in vendors))
    return Md("; ".join(parts) + ".")


def _authors(inc: IncidentRecord, timeline: Sequence[TimelineEntry], names: Mapping[str, str]) -> list[str]:
    """The lead, then whoever wrote a note or pinned a message, in the order they first did."""
    people = [inc.lead] if inc.lead else []
    people += [actor_name(e.actor, names) or "" for e in timeline if e.kind in ("note", "pin") and e.actor]
    return [p for p in dict.fromkeys(people) if p]


def _peak(data: PostmortemInput, zone: tzinfo) -> Md | None:
    if data.peak_at is None:
        return None
    load = (f", all hosts' load summed {data.peak_load:.1f} (5-minute averages, as the channel's host summary "
            "shows them)" if data.peak_load is not None else "")
    where = ("from the metrics, read when this was exported" if data.peak_source == "metrics"
             else "from the host summaries posted in the channel")
    return Md(f"{_stamp(data.peak_at, zone)} ({inline(data.tz)}){load}; {where}")


def build_context(data: PostmortemInput) -> dict[str, Any]:
    """What the template sees. Strings are either :class:`Md` or raw (the template escapes those)."""
    zone = to_zone(data.tz)
    inc = humanize_incident(data.incident, data.names)  # lead, participants and mentions as names
    times = key_times(data.incident, data.timeline, data.escalations, alerts=data.alerts)
    until = times.resolved or data.generated_at
    by_name = waves_by_name(data.alerts)
    incident_waves = waves(data.alerts)
    groups = _alert_groups(data.alerts, zone, {a.name: len(a.waves) for a in by_name})
    timeline_rows, timeline_table, ordered = _timeline_rows(data.timeline, zone, data.names)
    events, events_table = key_events(list(zip(ordered, timeline_rows, strict=True)), by_name, until, zone)
    notes = _notes(data.timeline, zone, data.names)
    escalations = [
        EscalationRow(
            vendor=data.vendor_names.get(e.vendor, e.vendor),
            when=Md(_stamp(e.sent_at or e.created_at, zone)),
            subject=e.subject,
            status=e.status,
            replied=Md(_stamp(e.replied_at, zone) if e.replied_at
                       else "yes" if e.replied else "no" if e.status == "sent" else "—"),
            ticket=e.ticket or "",
        )
        for e in sorted(data.escalations, key=lambda e: e.sent_at or e.created_at)
    ]
    participants = list(dict.fromkeys(p for p in ((inc.lead,) if inc.lead else ()) + tuple(inc.participants)))
    for graph in data.graphs:
        _safe_file_name(graph.file_name)
    impact = impact_lines(by_name, until, zone)
    facing = set(data.user_facing)
    first = min(data.alerts, key=lambda a: a.fired_at, default=None)
    return {
        "incident": inc,
        "ref": Md(inline(inc.ref)),
        "title": inc.title,
        "summary_line": _summary_line(data, times, groups, zone, len(incident_waves)),
        "severity": Md(f"SEV{inc.severity}"),
        "status": inc.status,
        "document_status": "draft",  # pagerbot writes the draft; the review makes it final (docs/postmortem.md)
        "authors": _authors(inc, data.timeline, data.names),
        "lead": inc.lead,
        "participants": participants,
        "channel": inc.channel_name,
        "tz": data.tz,
        "generated_local": Md(_stamp(data.generated_at, zone)),
        "generated_utc": Md(_stamp(data.generated_at, UTC)),
        "key_times": times,
        "times": _time_rows(times, zone),
        "mitigated_how": _MITIGATED_HOW.get(times.mitigated_how or ""),
        "mitigated_at": Md(_stamp(times.mitigated, zone)) if times.mitigated else None,
        "resolved_at": Md(_stamp(times.resolved, zone)) if times.resolved else None,
        "durations": _duration_rows(times),
        "pages": _page_rows(data, times.acknowledged, zone),
        "resolve_summary": inc.summary,
        "description": inc.description,
        "impact_notes": notes["impact"],
        "user_facing": [line for line in impact if line.name in facing],
        "other_alerts": [line for line in impact if line.name not in facing],
        "user_facing_configured": bool(facing),
        "wave_count": len(incident_waves),
        "trigger": notes["trigger"],
        "detection": detection(times, (first.name, first.fired_at) if first else None, zone, data.onsets),
        "resolution": notes["resolution"],
        "lucky": notes["lucky"],
        "alert_groups": groups,
        "alert_count": len(data.alerts),
        "peak": _peak(data, zone),
        "stands_out": list(data.stands_out),
        "findings": sorted(data.findings, key=lambda f: (-f.score, f.host)),
        "finding_labels": _FINDING_LABELS,
        "graphs": list(data.graphs),
        "escalations": escalations,
        "key_events": events,
        "key_events_table": events_table,
        "timeline_rows": timeline_rows,
        "timeline_table": timeline_table,
        "causes": notes["causes"],
        "went_well": notes["went_well"],
        "went_badly": notes["went_badly"],
        "actions": action_rows([(n.entry, n.actor, n.at) for n in notes["actions"] if n.entry], data.names),
    }


# ----------------------------------------------------------------------------------------- renderer


class PostmortemRenderer:
    """A Jinja2 environment for one template directory (override first, then the package's)."""

    def __init__(self, template_dir: Path | None = None) -> None:
        package = jinja2.FileSystemLoader(str(_PACKAGE_TEMPLATES))
        loaders: list[jinja2.BaseLoader] = []
        if template_dir is not None:
            loaders.append(jinja2.FileSystemLoader(str(template_dir)))
        loaders += [package, jinja2.PrefixLoader({"pagerbot": package})]
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # Markdown, not HTML: escaping is by the filters and the finalizer
            finalize=_finalize,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            auto_reload=True,
        )
        self.env.filters.update(
            md=_md_filter, cell=_cell_filter, block=_block_filter, urlpath=_url_path, mdjoin=_md_join
        )

    def render(self, data: PostmortemInput) -> str:
        template = self.env.get_template(TEMPLATE_NAME)  # cached by Jinja; re-read only when changed
        return template.render(build_context(data))


@functools.lru_cache(maxsize=8)
def _renderer(template_dir: Path | None) -> PostmortemRenderer:
    return PostmortemRenderer(template_dir)


def render_postmortem(data: PostmortemInput, *, template_dir: Path | None = None) -> str:
    """The postmortem of ``data.incident`` as GitHub-flavoured Markdown."""
    key = Path(template_dir).resolve() if template_dir is not None else None
    return _renderer(key).render(data)


def write_postmortem(
    data: PostmortemInput,
    graphs: Mapping[str, bytes],
    out_dir: Path,
    *,
    template_dir: Path | None = None,
) -> Path:
    """Write ``postmortem.md`` and the graphs' PNG files (``graphs``: file name to bytes) into ``out_dir``.

    Every graph the postmortem links to must be in ``graphs``; returns the Markdown file's path.
    """
    missing = [g.file_name for g in data.graphs if g.file_name not in graphs]
    if missing:
        raise ValueError(f"No PNG given for graph file {missing[0]!r}: pass its bytes or drop it from graphs.")
    names = [_safe_file_name(name) for name in graphs]
    if MARKDOWN_NAME in names:
        raise ValueError(f"A graph cannot be named {MARKDOWN_NAME!r}.")
    markdown = render_postmortem(data, template_dir=template_dir)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        (out_dir / name).write_bytes(graphs[name])
    target = out_dir / MARKDOWN_NAME
    target.write_text(markdown, encoding="utf-8")
    return target
