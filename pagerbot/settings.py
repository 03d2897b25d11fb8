"""Settings from the environment and the YAML config, validated before anything starts.

A bad config raises ``ConfigError`` naming the file, the key and what was expected.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pagerbot.core.alerts import Severity
from pagerbot.core.series import ALL_METRICS

DEFAULT_DATABASE_URL = "sqlite:///pagerbot.db"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8080"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"


class ConfigError(Exception):
    """A user-fixable configuration problem; the message is one sentence naming what to fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SlackConfig(_Strict):
    announce_channel: str | None = "incidents"
    channel_prefix: str = "inc"
    responders: list[str] = Field(default_factory=list)
    # Who may resolve or reopen, escalate (every email action), change the severity or the lead: empty means
    # anyone in the channel (docs/security.md).
    resolvers: list[str] = Field(default_factory=list)
    escalators: list[str] = Field(default_factory=list)
    coordinators: list[str] = Field(default_factory=list)
    # Slack's own requests are a few kilobytes: a bigger body at /slack/events is refused unread (413).
    max_body_bytes: int = Field(default=256 * 1024, ge=16 * 1024, le=16 * 1024 * 1024)

    @field_validator("channel_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,20}", value):
            raise ValueError("expected lowercase letters, digits, '-' or '_', at most 21 characters")
        return value


class GroupingConfig(_Strict):
    labels: list[str] = Field(default_factory=lambda: ["cluster"])
    window_minutes: int = Field(default=120, ge=0, le=7 * 24 * 60)
    auto_resolve_minutes: int | None = Field(default=None, ge=1)


class WatchConfig(_Strict):
    """A threshold rule evaluated by the scheduler, for shops without Alertmanager."""

    name: str = Field(min_length=1, max_length=100)
    metric: str  # a canonical metric name (docs/graphs.md), e.g. load1, iowait, cpu_busy
    above: float
    per_core: bool = False  # divide by the host's core count first
    for_minutes: float = Field(default=5, ge=0, le=24 * 60)
    pool: str | None = None
    hosts: list[str] = Field(default_factory=list)
    severity: str = "sev3"

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        if value not in ALL_METRICS:
            raise ValueError(f"expected one of {', '.join(ALL_METRICS)}, got {value!r}")
        return value

    @field_validator("severity")
    @classmethod
    def _severity(cls, value: str) -> str:
        return Severity.parse(value).label


class MetricsConfig(_Strict):
    source: Literal["prometheus", "ganglia", "graphite", "recorded", "none"] = "none"
    url: str | None = None
    refresh_minutes: int = Field(default=5, ge=1)
    window_hours: float = Field(default=24.0, gt=0, le=168)
    pools: dict[str, list[str]] = Field(default_factory=dict)
    queries: dict[str, str] = Field(default_factory=dict)
    rrd_root: str | None = None
    path: str | None = None  # recorded: the CSV file
    watches: list[WatchConfig] = Field(default_factory=list)
    timeout_seconds: float = Field(default=5.0, gt=0, le=120)  # a slower answer counts as unreachable

    @model_validator(mode="after")
    def _url_needed(self) -> MetricsConfig:
        if self.source in {"prometheus", "ganglia", "graphite"} and not self.url:
            raise ValueError(f"metrics.url is required when metrics.source is {self.source}")
        return self

    @field_validator("queries")
    @classmethod
    def _queries(cls, value: dict[str, str]) -> dict[str, str]:
        for metric in value:
            if metric not in ALL_METRICS:
                raise ValueError(f"{metric!r} is not a metric: expected some of {', '.join(ALL_METRICS)}")
        return value

    @model_validator(mode="after")
    def _watches_make_sense(self) -> MetricsConfig:
        names: set[str] = set()
        for i, watch in enumerate(self.watches):
            if watch.name in names:
                raise ValueError(f"watches.{i}.name: {watch.name!r} is the name of another watch")
            names.add(watch.name)
            if watch.pool is not None and watch.pool not in self.pools:
                raise ValueError(f"watches.{i}.pool: {watch.pool!r} is not one of the pools")
        return self


def _address(value: str) -> str:
    """One bare address (name@domain) on one line, or a ValueError naming it."""
    if "\r" in value or "\n" in value or not re.fullmatch(r"[^@\s]+@[^@\s]+", value):
        raise ValueError(f"{value!r} is not an email address")
    return value


class VendorConfig(_Strict):
    name: str
    to: list[str]
    cc: list[str] = Field(default_factory=list)
    account: str | None = None
    template: str | None = None
    phone: str | None = None
    portal_url: str | None = None
    # finds the vendor's ticket number in a reply's subject or body, e.g. HW-\d+ (the whole match is the ticket)
    ticket_pattern: str | None = None

    @field_validator("ticket_pattern")
    @classmethod
    def _ticket_pattern(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"{value!r} is not a regular expression: {exc}") from None
        if compiled.match(""):
            raise ValueError(f"{value!r} matches empty text; it must match a ticket number such as HW-\\d+")
        return value

    @field_validator("to")
    @classmethod
    def _to(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("expected at least one email address")
        return value

    @field_validator("to", "cc")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            _address(address)
        return value


class SmtpConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    tls: bool = False
    username: str | None = None
    password: str | None = None
    sender: str = Field(default="pagerbot@localhost", alias="from")
    timeout_seconds: float = Field(default=20.0, gt=0)
    # the team's shared address: in Reply-To beside the lead's, so the vendor's answer reaches everyone
    team_address: str | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("team_address")
    @classmethod
    def _team_address(cls, value: str | None) -> str | None:
        return None if value is None else _address(value)


class ImapConfig(_Strict):
    """The mailbox the vendor's replies arrive in (docs/escalation.md, Replies)."""

    host: str
    port: int = Field(default=993, ge=1, le=65535)
    tls: bool = True  # implicit TLS (port 993)
    starttls: bool = False  # or upgrade a plain connection (port 143)
    username: str
    password: str = Field(repr=False)  # an app password, for providers that offer them
    mailbox: str = "INBOX"
    timeout_seconds: float = Field(default=20.0, gt=0, le=300)

    @model_validator(mode="after")
    def _one_tls(self) -> ImapConfig:
        if self.tls and self.starttls:
            raise ValueError("choose either tls (port 993) or starttls (port 143), not both")
        return self


class PersonConfig(_Strict):
    """How the vendor reaches one person (a Slack user ID's entry under ``people``); Slack's profile fills gaps."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return None if value is None else _address(value)

    @field_validator("name", "phone")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        if value is not None and ("\r" in value or "\n" in value):
            raise ValueError("expected one line")
        return value


class RemindersConfig(_Strict):
    # Minutes without a status update before a nudge, per severity.
    status_minutes: dict[str, int] = Field(
        default_factory=lambda: {"sev1": 15, "sev2": 30, "sev3": 60, "sev4": 120}
    )
    no_lead_minutes: int = Field(default=10, ge=1)


class IntakeConfig(_Strict):
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    grafana_secret: str | None = None
    # Grafana's contact point lets the user name both headers (HMAC Signature → Header, Timestamp Header).
    grafana_signature_header: str = Field(default="X-Grafana-Alerting-Signature", min_length=1)
    # null: signatures without a timestamp are accepted (no replay protection; not recommended)
    grafana_timestamp_header: str | None = Field(default="X-Grafana-Alerting-Timestamp", min_length=1)
    storm_threshold: int = Field(default=5, ge=0)  # alerts posted one by one before the digest takes over
    digest_seconds: float = Field(default=5.0, ge=0)


class ServerConfig(_Strict):
    """How `pagerbot serve` runs its background work (README, Production)."""

    tick_seconds: float = Field(default=30.0, gt=0, le=3600)  # the scheduler's tick: reminders, graphs, watches
    # a worker renews its claims every third of this; a dead worker's rows are claimed again after it
    outbox_lease_seconds: float = Field(default=120.0, gt=0, le=3600)
    shutdown_seconds: float = Field(default=8.0, gt=0, le=60)  # SIGTERM: in-flight requests and the outbox batch
    # slow clients (docs/security.md): a request's headers must arrive within this; connections and requests
    # beyond max_connections at once are answered 503 (senders retry) instead of queueing without bound
    header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    max_connections: int = Field(default=1000, ge=10, le=100_000)
    # a pooled PostgreSQL connection idle this long is tested before use (store/db.create_engine says why)
    db_ping_after_idle_seconds: float = Field(default=10.0, ge=0, le=3600)


class PostmortemConfig(_Strict):
    # Alert names users feel (slow pages, errors): the postmortem's Impact lists these first, as the impact
    user_facing_alerts: list[str] = Field(default_factory=list)


class OncallRotationConfig(_Strict):
    members: list[str] = Field(default_factory=list)  # Slack user IDs or emails, in turn
    every: Literal["day", "week"] = "week"
    handoff: str = "mon 09:00"  # local time in `timezone`; "09:00" for a daily rotation
    start: date | None = None  # the day members[0] is (or was) on call; the rotation counts turns from it
    ical_url: str | None = None  # an iCalendar feed of shifts: its events' summaries name the person

    @model_validator(mode="after")
    def _check(self) -> OncallRotationConfig:
        from pagerbot.core.oncall import OncallSyntaxError, parse_handoff

        try:
            parse_handoff(self.handoff, self.every)
        except OncallSyntaxError as exc:
            raise ValueError(f"handoff: {exc}") from None
        if not self.members and not self.ical_url:
            raise ValueError("a rotation needs members or an ical_url")
        if self.ical_url and not re.match(r"^https?://", self.ical_url):
            raise ValueError(f"ical_url: expected an http(s) URL, got {self.ical_url!r}")
        return self


class OncallStepConfig(_Strict):
    page: str | None = None  # a rotation: its on-call person gets a page
    everyone: bool = False  # with page: every member of the rotation
    vendor: str | None = None  # draft the vendor escalation email in the incident channel
    after_minutes: float = Field(default=0, ge=0, le=7 * 24 * 60)
    when: Literal["always", "working_hours"] = "always"
    repeat_minutes: float | None = Field(default=None, gt=0, le=24 * 60)  # page again until acknowledged
    repeats: int = Field(default=2, ge=0, le=20)  # how many times at most, with repeat_minutes

    @model_validator(mode="after")
    def _one_action(self) -> OncallStepConfig:
        if (self.page is None) == (self.vendor is None):
            raise ValueError("a step either pages a rotation (page: NAME) or drafts to a vendor (vendor: NAME)")
        return self


class OncallWebhookConfig(_Strict):
    url: str
    # The JSON body: every string in it is a Jinja2 template over the page (README: ref, title, severity,
    # status, channel, url, who); the result stays JSON whatever the alert's text holds.
    body: dict[str, Any] | None = None
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://", value):
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value


class OncallContactConfig(_Strict):
    """One more way to reach a person when they are paged: exactly one of the keys."""

    email: str | None = None  # e.g. a carrier's email-to-SMS gateway, sent over `smtp`
    webhook: OncallWebhookConfig | None = None
    pagerduty: str | None = None  # an Events API v2 routing (integration) key

    @model_validator(mode="after")
    def _one(self) -> OncallContactConfig:
        given = [name for name in ("email", "webhook", "pagerduty") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("a contact is one of email: ADDRESS, webhook: {url: …}, pagerduty: ROUTING_KEY")
        if self.email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+", self.email):
            raise ValueError(f"{self.email!r} is not an email address")
        return self


class OncallConfig(_Strict):
    rotations: dict[str, OncallRotationConfig] = Field(default_factory=dict)
    working_hours: str = "mon-fri 09:00-18:00"
    policies: dict[Literal["sev1", "sev2", "sev3", "sev4"], list[OncallStepConfig]] = Field(default_factory=dict)
    contacts: dict[str, list[OncallContactConfig]] = Field(default_factory=dict)  # per member (ID or email)
    pagerduty_url: str = "https://events.pagerduty.com/v2/enqueue"
    ical_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # Slack user IDs allowed to record overrides (`oncall take`, `oncall override`); empty: anyone.
    schedulers: list[str] = Field(default_factory=list)

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        from pagerbot.core.oncall import OncallSyntaxError, parse_working_hours

        try:
            parse_working_hours(value)
        except OncallSyntaxError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _steps_name_rotations(self) -> OncallConfig:
        for severity, steps in self.policies.items():
            for i, step in enumerate(steps):
                if step.page is not None and step.page not in self.rotations:
                    raise ValueError(f"policies.{severity}.{i}.page: {step.page!r} is not one of the rotations")
        return self


class FileConfig(_Strict):
    timezone: str = "UTC"
    slack: SlackConfig = Field(default_factory=SlackConfig)
    grouping: GroupingConfig = Field(default_factory=GroupingConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    vendors: dict[str, VendorConfig] = Field(default_factory=dict)
    smtp: SmtpConfig = Field(default_factory=SmtpConfig)
    imap: ImapConfig | None = None
    people: dict[str, PersonConfig] = Field(default_factory=dict)  # keyed by Slack user ID
    reminders: RemindersConfig = Field(default_factory=RemindersConfig)
    intake: IntakeConfig = Field(default_factory=IntakeConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    postmortem: PostmortemConfig = Field(default_factory=PostmortemConfig)
    oncall: OncallConfig = Field(default_factory=OncallConfig)
    templates_dir: str | None = None

    @model_validator(mode="after")
    def _steps_name_vendors(self) -> FileConfig:
        for severity, steps in self.oncall.policies.items():
            for i, step in enumerate(steps):
                if step.vendor is not None and step.vendor not in self.vendors:
                    raise ValueError(
                        f"oncall.policies.{severity}.{i}.vendor: {step.vendor!r} is not one of the vendors")
        return self

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"expected an IANA time zone name such as Europe/Berlin, got {value!r}") from exc
        return value


@dataclass(frozen=True)
class Settings:
    """Everything pagerbot needs to run, from the environment and the config file."""

    database_url: str = DEFAULT_DATABASE_URL
    config_path: Path | None = None
    api_token: str | None = None
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = DEFAULT_SLACK_API_URL
    public_url: str = DEFAULT_PUBLIC_URL
    local_password: str | None = None  # /local's login (docs/security.md)
    metrics_token: str | None = None  # when set, GET /metrics wants it as a bearer token
    config: FileConfig = field(default_factory=FileConfig)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.config.timezone)

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token)

    def replace(self, **changes: Any) -> Settings:
        from dataclasses import replace

        return replace(self, **changes)


def _describe(error: Mapping[str, Any]) -> str:
    location = ".".join(str(part) for part in error.get("loc", ()) if part != "__root__")
    message = str(error.get("msg", "invalid value"))
    message = message.removeprefix("Value error, ")
    if error.get("type") == "extra_forbidden":
        message = "unknown key"
    return f"{location or '(top level)'}: {message}"


def parse_config(data: object, source: str) -> FileConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return FileConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = len(exc.errors()) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise ConfigError(f"{source}: {_describe(first)}{suffix}") from None


def load_config_file(path: Path) -> FileConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    return parse_config(data, str(path))


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the environment and the config file it names (docs/configuration.md lists both)."""
    env = os.environ if environ is None else environ
    config_path: Path | None = None
    if env.get("PAGERBOT_CONFIG"):
        config_path = Path(env["PAGERBOT_CONFIG"])
    elif Path("pagerbot.yaml").exists():
        config_path = Path("pagerbot.yaml")
    config = load_config_file(config_path) if config_path else FileConfig()
    database_url = env.get("PAGERBOT_DATABASE_URL") or DEFAULT_DATABASE_URL
    if not re.match(r"^(sqlite|postgres(ql)?)(\+\w+)?://", database_url):
        raise ConfigError(
            "PAGERBOT_DATABASE_URL: expected sqlite:///path.db or postgresql://user@host:port/db"
        )
    api_url = env.get("SLACK_API_URL") or DEFAULT_SLACK_API_URL
    if not api_url.endswith("/"):
        api_url += "/"
    return Settings(
        database_url=database_url,
        config_path=config_path,
        api_token=env.get("PAGERBOT_API_TOKEN") or None,
        slack_bot_token=env.get("SLACK_BOT_TOKEN") or None,
        slack_signing_secret=env.get("SLACK_SIGNING_SECRET") or None,
        slack_app_token=env.get("SLACK_APP_TOKEN") or None,
        slack_api_url=api_url,
        public_url=(env.get("PAGERBOT_PUBLIC_URL") or DEFAULT_PUBLIC_URL).rstrip("/"),
        local_password=env.get("PAGERBOT_LOCAL_PASSWORD") or None,
        metrics_token=env.get("PAGERBOT_METRICS_TOKEN") or None,
        config=config,
    )
