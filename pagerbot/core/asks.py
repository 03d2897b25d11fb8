"""What pagerbot asks the hosting vendor to check, from the findings: the asks an escalation email prefills."""

from __future__ import annotations

from collections.abc import Sequence

from pagerbot.core.escaping import one_line
from pagerbot.core.findings import Finding, FindingKind


def suggest_asks(findings: Sequence[Finding], limit: int = 5) -> list[str]:
    """Specific requests for the vendor, from the strongest findings first (one per host and kind)."""
    asks: list[str] = []
    seen: set[tuple[FindingKind, str]] = set()
    for f in sorted(findings, key=lambda f: -f.score):
        key = (f.kind, f.host)
        if key in seen:
            continue
        seen.add(key)
        ask = _ask_for(f)
        if ask and ask not in asks:
            asks.append(ask)
        if len(asks) >= limit:
            break
    return asks


def _ask_for(f: Finding) -> str | None:
    host = one_line(f.host, 80)
    pool = f" {one_line(f.pool, 80)}" if f.pool else ""
    match f.kind:
        case FindingKind.IMBALANCED_LOW:
            return (
                f"Please check the load balancer's weights and health checks: {host} is under-used "
                f"compared with the rest of the{pool} pool."
            )
        case FindingKind.IMBALANCED_HIGH:
            return (
                f"Please check the load balancer's weights: {host} is taking far more than its share "
                f"of the{pool} pool."
            )
        case FindingKind.IO_BOUND:
            return f"Please check the disks and storage behind {host}: it is waiting on I/O."
        case FindingKind.SWAPPING:
            return f"Please check memory on {host}: it is swapping."
        case FindingKind.OVERLOADED:
            return (
                f"Please tell us whether anything changed recently on or in front of {host}: "
                "it is overloaded."
            )
        case FindingKind.DOWN:
            return f"Please check whether {host} is up and reachable: we get no data from it."
        case FindingKind.STALE:
            return f"Please check {host}'s network connectivity: its monitoring reports have stopped."
    return None
