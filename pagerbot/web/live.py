"""/local follows the incident live: a page asks, every moment, whether its channel changed (a tiny request
answered 304 while nothing did, by ETag) and, when it did, fetches itself again and swaps the messages, the
channel list and the topic in place: no reload, no lost half-typed command, no JavaScript from elsewhere."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import func, select

from pagerbot.store.repository import Store
from pagerbot.store.tables import Incident, LocalChannel, LocalMessage

POLL_MS = 1500


async def channel_version(store: Store, channel_id: str) -> str:
    """A fingerprint of what the channel page shows: its messages (new, edited, pinned), its topic, and the
    channel list with each incident's severity and status. It changes whenever the page would."""
    async with store.sessions() as session:
        messages = (await session.execute(
            select(func.count(), func.max(LocalMessage.id), func.max(LocalMessage.edited_at),
                   func.sum(LocalMessage.pinned)).where(LocalMessage.channel_id == channel_id))).one()
        channels = (await session.execute(select(LocalChannel.id, LocalChannel.topic)
                                          .order_by(LocalChannel.id))).all()
        incidents = (await session.execute(select(Incident.channel_id, Incident.severity, Incident.status)
                                           .where(Incident.channel_id.is_not(None))
                                           .order_by(Incident.id))).all()
    seen: list[Any] = [[str(v) for v in messages], [list(c) for c in channels], [list(i) for i in incidents]]
    return '"' + hashlib.sha256(json.dumps(seen).encode()).hexdigest()[:20] + '"'


def follow_script(version_url: str, version: str) -> str:
    """The page's own script: poll ``version_url`` with If-None-Match; on a change, swap the parts in place."""
    return ("<script>(function(){"
            f"var etag={json.dumps(version)},versionUrl={json.dumps(version_url)};"
            "function swap(html){var doc=new DOMParser().parseFromString(html,'text/html');"
            "['#messages','nav','header .topic'].forEach(function(sel){var now=document.querySelector(sel),"
            "next=doc.querySelector(sel);if(now&&next){now.replaceWith(next);}});}"
            "function poll(){fetch(versionUrl,{headers:{'If-None-Match':etag},cache:'no-store'})"
            ".then(function(r){if(r.status!==200){return null;}etag=r.headers.get('ETag')||etag;"
            "return fetch(location.pathname,{cache:'no-store'}).then(function(p){return p.ok?p.text():null;});})"
            ".then(function(html){if(html){swap(html);}})"
            f".catch(function(){{}}).then(function(){{setTimeout(poll,{POLL_MS});}});}}"
            f"setTimeout(poll,{POLL_MS});}})();</script>")
