"""/local in a real headless browser: Debian's chromium driven by Playwright, against a real server.

`pagerbot serve` without Slack credentials serves the local workspace at /local. The server here has no
Slack, the demo's recorded metrics (shifted so that the morning spike is happening now) and one
Alertmanager notification whose text is hostile. In the browser: the page renders with its channel
list, messages and pinned header; every image loads as a PNG; Acknowledge changes the status; a typed
`/incident note` appears; the alert's text shows as text; the console stays clean. The screenshot is
kept under pytest's tmp dir and copied to test-artifacts/local.png (gitignored).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from pagerbot.metrics.recorded import RecordedSource, scenario_metrics_path
from tests.harness import ServerThread, make_settings, wait_for
from tests.payloads import am_alert, am_notification
from tests.peers.ports import need

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PNG = b"\x89PNG\r\n\x1a\n"
# 14:10 UTC on the recorded day: db1 is in I/O wait, the web tier's load has climbed.
SPIKE = datetime(2026, 3, 10, 14, 10, tzinfo=UTC)
HOSTILE = "<script>alert(1)</script> *bold* &amp; <b>db1</b> starved"
HOSTILE_NOTE = "checked <img src=x onerror=alert(2)> & *not bold* `rm -rf`"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
CONFIG = {
    "timezone": "America/Los_Angeles",
    "slack": {"announce_channel": "incidents", "responders": ["U0ALICE", "bob@example.com"]},
    "metrics": {"source": "recorded", "path": str(scenario_metrics_path()), "refresh_minutes": 5,
                "pools": {"web": ["web1", "web2", "web3", "web4"], "db": ["db1", "db2"]}},
}


@pytest.fixture
def server(sqlite_url: str) -> Iterator[ServerThread]:
    shift = datetime.now(UTC).replace(microsecond=0) - SPIKE
    metrics = RecordedSource(scenario_metrics_path(), shift=shift)
    settings = make_settings(sqlite_url, config=CONFIG, slack=False)
    with ServerThread(settings, overrides={"metrics": metrics}) as running:
        yield running


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's chromium, never a browser Playwright downloads; Playwright gives it a new empty profile."""
    executable = need("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True,
                                              timeout=30_000)
        try:
            yield launched
        finally:
            launched.close()


def _open_incident(server: ServerThread) -> dict[str, Any]:
    alert = am_alert("DBHighIOWait", instance="db1:9100", starts_at=datetime.now(UTC) - timedelta(minutes=5))
    alert["annotations"] = {"summary": HOSTILE, "description": "iowait <b>54%</b> on db1 & *rising*"}
    response = server.post_alerts("alertmanager", am_notification([alert]))
    assert response.status_code == 202, response.text
    assert server.drain()
    assert [incident["id"] for incident in server.get("/incidents")] == [1]
    # the header's live graph is rendered off the event loop; wait until the pinned message shows it
    return wait_for(lambda: _with_graph(server), 30, what="the incident header with its graph")


def _with_graph(server: ServerThread) -> dict[str, Any] | None:
    incident = server.get("/incidents/1")
    page = httpx.get(f"{server.url}/local/{incident['channel_id']}", timeout=10).text
    return incident if "/local/files/" in page else None


def _left_behind(request: Any) -> bool:
    """The page's own polling, cut short because the browser went to another page (a form's answer)."""
    return bool(request.resource_type == "fetch" and "ERR_ABORTED" in (request.failure or ""))


class Watched:
    """A page whose console errors and warnings, uncaught exceptions, dialogs and failed requests are kept."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("console", lambda m: self.problems.append(f"console.{m.type}: {m.text}")
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: self.problems.append(f"pageerror: {e}"))
        page.on("dialog", lambda d: (self.problems.append(f"dialog: {d.message}"), d.dismiss()))
        page.on("requestfailed", lambda r: None if _left_behind(r) else self.problems.append(
            f"request failed: {r.url}: {r.failure}"))
        page.on("response", lambda r: self.problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400
                else None)

    def submit(self, action: Any) -> None:
        """Click or press what submits a form, and wait for the page it leads to."""
        with self.page.expect_navigation(wait_until="load"):
            action()


@pytest.fixture
def started() -> float:
    return time.monotonic()


def test_local_page_in_a_real_browser(started: float, server: ServerThread, browser: Any, tmp_path: Path) -> None:
    version = subprocess.run([need("chromium"), "--version"], capture_output=True, text=True, timeout=30).stdout
    assert browser.version in version, (browser.version, version)  # Debian's chromium, not a downloaded one
    incident = _open_incident(server)
    channel_id = incident["channel_id"]
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    watched = Watched(context.new_page())
    page = watched.page

    # /local opens the newest incident channel: channel list, messages, the pinned header and its buttons
    page.goto(f"{server.url}/local", wait_until="load")
    assert page.url == f"{server.url}/local/{channel_id}"
    channels = page.locator("nav a").all_inner_texts()
    assert channels[0] == "#incidents" and any(name.startswith("#inc-") for name in channels), channels
    assert page.locator("nav a[aria-current=page]").inner_text().startswith("#inc-")
    assert page.locator("nav a[aria-current=page] .badge").all_inner_texts() == ["SEV1", "investigating"]
    assert page.locator(".msg").count() >= 1  # the pinned header, which shows the live graph
    pinned = page.locator(".msg.pinned").first
    assert "INC-1" in pinned.locator(".header").inner_text()
    buttons = pinned.locator("button")
    assert buttons.all_inner_texts() == ["Acknowledge", "Escalate", "Graphs", "Resolve"]
    assert "investigating" in pinned.inner_text()
    assert "investigating · no lead yet" in page.locator("header .topic").inner_text()

    # every image has loaded, and is a PNG
    images = page.locator("img")
    assert images.count() >= 1 and pinned.locator("img.graph").count() == 1
    for index in range(images.count()):
        image = images.nth(index)
        assert image.evaluate("i => i.complete && i.naturalWidth > 0"), image.get_attribute("src")
        body = page.request.get(f"{server.url}{image.get_attribute('src')}")
        assert body.ok and body.body().startswith(PNG) and body.headers["content-type"] == "image/png"

    # the alert's text is data: shown literally, never parsed as markup or formatting
    header_text = pinned.inner_text()
    assert HOSTILE in header_text and "iowait <b>54%</b> on db1 & *rising*" in header_text
    assert HOSTILE in page.locator("header .topic").inner_text()
    assert page.locator("main script, main b:text-is('bold'), main b:text-is('db1'), main b:text-is('54%')"
                        ).count() == 0
    # one script, the page's own (it follows the channel): none from elsewhere, none from the alert
    assert page.evaluate("[...document.scripts].map(s => s.src)") == [""]

    # a click on Acknowledge: the pinned header, the topic and the channel show it
    watched.submit(buttons.filter(has_text="Acknowledge").click)
    pinned = page.locator(".msg.pinned").first
    assert "acknowledged" in pinned.inner_text() and "Acknowledged by @Alice at " in pinned.inner_text()
    assert pinned.locator("button").all_inner_texts() == ["Escalate", "Graphs", "Resolve"]
    assert page.locator(".msg:not(.ephemeral)", has_text="moved the incident to acknowledged").count() == 1
    assert page.locator(".msg.ephemeral").count() == 0  # the channel says it: no private echo
    assert "acknowledged · lead @Alice" in page.locator("header .topic").inner_text()

    # a typed command: /incident note … appears in the channel, as text
    box = page.get_by_label("command")
    box.fill(f"/incident note {HOSTILE_NOTE}")
    watched.submit(lambda: box.press("Enter"))
    assert page.locator(".msg.ephemeral").count() == 0
    note = page.locator(".msg:not(.ephemeral)", has_text="noted:")
    assert note.count() == 1 and f"@Alice noted: {HOSTILE_NOTE}" in note.inner_text()
    assert note.locator("img, code, b").count() == 0
    timeline = server.get("/incidents/1")["timeline"]
    assert any(entry["kind"] == "note" and entry["text"] == HOSTILE_NOTE for entry in timeline), timeline

    screenshot = tmp_path / "local.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.read_bytes().startswith(PNG)
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(screenshot, ARTIFACTS / "local.png")
    print(f"\nscreenshot of /local: {ARTIFACTS / 'local.png'} (and {screenshot})")
    context.close()
    assert not watched.problems, watched.problems
    assert time.monotonic() - started < 30


def test_local_page_follows_the_incident_without_a_reload(started: float, server: ServerThread,
                                                          browser: Any) -> None:
    """A message posted by an alert that arrives after the page loaded shows up, and so does a change of the
    header made elsewhere (its buttons follow), without the page being loaded again."""
    incident = _open_incident(server)
    channel_id = incident["channel_id"]
    context = browser.new_context()
    watched = Watched(context.new_page())
    page = watched.page
    page.goto(f"{server.url}/local/{channel_id}", wait_until="load")
    page.evaluate("window.loadedOnce = 'yes'")  # gone if the page were loaded again
    posted = page.locator(".msg:not(.pinned)", has_text="HostHighLoad")
    assert posted.count() == 0

    later = am_alert("HostHighLoad", instance="web1:9100", summary="load 14 on web1")
    response = server.post_alerts("alertmanager", am_notification([later]))
    assert response.status_code == 202, response.text
    posted.wait_for(timeout=15_000)
    assert "load 14 on web1" in posted.inner_text()
    assert "web1:9100" not in page.locator("main").inner_text()

    # Bob acknowledges from his own browser: here the header drops its button and says who, live
    posted = httpx.post(f"{server.url}/local/{channel_id}/command", data={"text": "/incident ack", "user": "U0BOB"},
                        headers={"Origin": server.url}, timeout=30)
    assert posted.status_code == 303
    page.locator(".msg.pinned", has_text="Acknowledged by @Bob").wait_for(timeout=15_000)
    assert page.locator(".msg.pinned button").all_inner_texts() == ["Escalate", "Graphs", "Resolve"]
    assert page.locator("nav a[aria-current=page] .badge").all_inner_texts() == ["SEV1", "acknowledged"]
    assert "acknowledged" in page.locator("header .topic").inner_text()
    assert page.evaluate("window.loadedOnce") == "yes"
    context.close()
    assert not watched.problems, watched.problems
    assert time.monotonic() - started < 60


def test_declare_from_an_empty_local_workspace(started: float, server: ServerThread, browser: Any) -> None:
    context = browser.new_context()
    watched = Watched(context.new_page())
    page = watched.page

    # before any incident, /local is the announce channel, saying what to do
    page.goto(f"{server.url}/local", wait_until="load")
    assert page.locator("h1").inner_text() == "#incidents"
    assert "No incident yet" in page.locator("main").inner_text()

    # Slack would open a form for a bare declare; this page says what to type instead
    page.get_by_label("command").fill("/incident declare")
    watched.submit(page.get_by_role("button", name="Send").click)
    assert "/incident declare TITLE" in page.locator(".msg.ephemeral").last.inner_text()

    box = page.get_by_label("command")
    box.fill("/incident declare Checkout <b>errors</b> for EU customers")
    watched.submit(page.get_by_role("button", name="Send").click)
    announcement = page.locator(".msg", has_text="SEV3 INC-1 · investigating")
    assert announcement.count() == 1 and "<b>errors</b>" in announcement.inner_text()

    # the announcement links to the new channel, whose header has the buttons
    watched.submit(announcement.locator("a.mention").click)
    assert page.locator("h1").inner_text().startswith("#inc-")
    assert page.locator(".msg.pinned button").all_inner_texts() == ["Acknowledge", "Escalate", "Graphs", "Resolve"]
    assert server.get("/incidents/1")["title"] == "Checkout <b>errors</b> for EU customers"
    context.close()
    assert not watched.problems, watched.problems
    assert time.monotonic() - started < 30


def test_another_site_cannot_post_the_forms(server: ServerThread) -> None:
    """The forms act as whoever is at the browser: a page elsewhere must not make it post them (CSRF)."""
    home = httpx.get(f"{server.url}/local", follow_redirects=True, timeout=10)
    channel = home.url.path.rsplit("/", 1)[-1]
    form = {"text": "/incident declare Planted", "user": "U0ALICE"}
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        refused = httpx.post(f"{server.url}/local/{channel}/command", data=form, headers=headers, timeout=10)
        assert refused.status_code == 403, refused.text
    assert server.get("/incidents") == []
    same = httpx.post(f"{server.url}/local/{channel}/command", data=form, headers={"Origin": server.url}, timeout=30)
    assert same.status_code == 303 and [i["title"] for i in server.get("/incidents")] == ["Planted"]
