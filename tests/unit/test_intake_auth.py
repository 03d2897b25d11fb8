from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from pagerbot.intake.auth import SeenSignatures, check_grafana_signature, check_token

TOKEN = "s3cret-token"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {TOKEN}",
        f"bearer {TOKEN}",
        f"  Bearer   {TOKEN}  ",
        basic("alertmanager", TOKEN),
        basic("", TOKEN),
    ],
)
def test_token_accepted(header: str) -> None:
    assert check_token(header, TOKEN)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer wrong",
        f"Bearer {TOKEN}x",
        f"Token {TOKEN}",
        TOKEN,
        basic(TOKEN, "wrong"),
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(TOKEN.encode()).decode(),
        f"Bearer {TOKEN[:-1]}",
    ],
)
def test_token_rejected(header: str | None) -> None:
    assert not check_token(header, TOKEN)


def test_empty_configured_token_never_matches() -> None:
    assert not check_token("Bearer ", "")
    assert not check_token(basic("u", ""), "")


def test_basic_password_may_contain_colons() -> None:
    assert check_token(basic("u", "a:b"), "a:b")


def test_non_ascii_header_does_not_crash() -> None:
    assert not check_token("Bearer jalapeño", TOKEN)


BODY = b'{"receiver":"pagerbot","status":"firing","alerts":[]}'
SECRET = "grafana-hmac-secret"


def sign(message: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def test_grafana_signature_over_the_body() -> None:
    assert check_grafana_signature(BODY, {"X-Grafana-Alerting-Signature": sign(BODY)}, SECRET)
    # header names are case-insensitive, as HTTP says
    assert check_grafana_signature(BODY, {"x-grafana-alerting-signature": sign(BODY)}, SECRET)
    assert check_grafana_signature(BODY, {"X-Grafana-Alerting-Signature": sign(BODY).upper()}, SECRET)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Grafana-Alerting-Signature": ""},
        {"X-Grafana-Alerting-Signature": "sha256=" + sign(BODY)},
        {"X-Grafana-Alerting-Signature": sign(BODY + b" ")},
        {"X-Grafana-Alerting-Signature": sign(BODY, "other")},
        {"X-Other": sign(BODY)},
    ],
)
def test_grafana_signature_rejected(headers: dict[str, str]) -> None:
    assert not check_grafana_signature(BODY, headers, SECRET)


def test_grafana_signature_needs_a_secret() -> None:
    assert not check_grafana_signature(BODY, {"X-Grafana-Alerting-Signature": sign(BODY, "")}, "")


def test_grafana_custom_header_name() -> None:
    headers = {"X-Pagerbot-Sig": sign(BODY)}
    assert check_grafana_signature(BODY, headers, SECRET, header="X-Pagerbot-Sig")


def test_grafana_signature_with_timestamp() -> None:
    now = 1_700_000_000.0
    stamp = "1700000000"
    headers = {
        "X-Grafana-Alerting-Signature": sign(stamp.encode() + b":" + BODY),
        "X-Grafana-Alerting-Timestamp": stamp,
    }
    ts = "X-Grafana-Alerting-Timestamp"
    assert check_grafana_signature(BODY, headers, SECRET, now=now, timestamp_header=ts)
    assert check_grafana_signature(BODY, headers, SECRET, now=now + 299, timestamp_header=ts)
    assert not check_grafana_signature(BODY, headers, SECRET, now=now + 301, timestamp_header=ts)  # a replay
    assert not check_grafana_signature(BODY, headers, SECRET, now=now - 301, timestamp_header=ts)
    # the body alone is not what was signed once a timestamp is configured
    plain = {"X-Grafana-Alerting-Signature": sign(BODY), "X-Grafana-Alerting-Timestamp": stamp}
    assert not check_grafana_signature(BODY, plain, SECRET, now=now, timestamp_header=ts)
    # a configured timestamp header that is missing or not a number fails
    assert not check_grafana_signature(
        BODY,
        {"X-Grafana-Alerting-Signature": headers["X-Grafana-Alerting-Signature"]},
        SECRET,
        now=now,
        timestamp_header=ts,
    )
    bad = {**headers, ts: "nan"}
    assert not check_grafana_signature(BODY, bad, SECRET, now=now, timestamp_header=ts)


def test_a_signature_is_accepted_once_within_the_window() -> None:
    seen = SeenSignatures(window=300)
    assert seen.first_time("AB12", 1000.0)
    assert not seen.first_time("ab12", 1100.0)  # the same signature again: a replay
    assert seen.first_time("cd34", 1100.0)
    assert seen.first_time("ab12", 1301.0)  # past the window the timestamp check refuses it anyway
