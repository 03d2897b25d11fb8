"""Schemathesis against the running server's own /openapi.json, on SQLite and on PostgreSQL: no route
answers 5xx, whatever it is sent (bodies that fit the schema and bodies that do not), and a refused
request stores nothing (no alert, incident or outbox row appears)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode
from sqlalchemy import func, select

from pagerbot.store.tables import Alert, Incident, OutboxRow
from tests.fakes.slack_api import FakeSlack
from tests.harness import API_TOKEN, ServerThread, database, make_settings

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
FUZZ = SchemathesisConfig.from_dict({})
# Modest, so the whole run stays well under a minute; positive and negative (schema-violating) data.
EXAMPLES = 25
OPERATIONS = [
    "POST /alerts/alertmanager", "POST /alerts/grafana", "POST /alerts/pagerduty", "POST /alerts/generic",
    "GET /incidents", "GET /incidents/{incident_id}", "GET /incidents/{incident_id}/postmortem.md",
    "GET /healthz", "GET /readyz", "GET /oncall",
]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fuzzed_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    slack = FakeSlack().start()
    slack.add_channel("incidents")
    try:
        with database(request.param, tmp_path_factory.mktemp("fuzz")) as url:
            settings = make_settings(url, slack_api_url=slack.api_url,
                                     config={"slack": {"announce_channel": "incidents"}})
            with ServerThread(settings) as server:
                yield server
    finally:
        slack.stop()


@pytest.fixture(scope="module")
def api_schema(fuzzed_server: ServerThread) -> Any:
    return schemathesis.openapi.from_url(f"{fuzzed_server.url}/openapi.json", config=FUZZ)


def _rows(server: ServerThread) -> tuple[int, int, int]:
    assert server.runtime is not None
    store = server.runtime.ctx.store

    async def count() -> tuple[int, int, int]:
        async with store.sessions() as session:
            return tuple([int((await session.execute(select(func.count()).select_from(table))).scalar_one())
                          for table in (Alert, Incident, OutboxRow)])  # type: ignore[return-value]
    return server.call(count())  # type: ignore[no-any-return]


def test_the_schema_lists_every_route(api_schema: Any) -> None:
    """The fuzzed operations below are every operation of the schema: a new route cannot be missed."""
    listed = {f"{method.upper()} {path}" for path, methods in api_schema.raw_schema["paths"].items()
              for method in methods}
    assert listed == set(OPERATIONS)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_no_route_fails_and_refusals_store_nothing(operation: str, api_schema: Any,
                                                   fuzzed_server: ServerThread) -> None:
    method, path = operation.split(" ", 1)
    api_operation = api_schema[path][method]
    cases = st.one_of([api_operation.as_strategy(generation_mode=mode) for mode in GenerationMode])

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=cases)
    def check(case: Any) -> None:
        before = _rows(fuzzed_server)
        response = case.call(base_url=fuzzed_server.url, headers=AUTH, timeout=30)
        assert response.status_code < 500, (case.method, case.path, case.body, response.text)
        if response.status_code >= 400:
            assert _rows(fuzzed_server) == before, (case.path, case.body, response.status_code, response.text)
            # PagerDuty's route answers an invalid event in PagerDuty's shape as well (docs/intake.md, Bad input)
            pagerduty = path == "/alerts/pagerduty" and response.status_code == 400
            expected = {"error", "detail"} | ({"status", "message", "errors"} if pagerduty else set())
            assert set(response.json()) == expected, response.text

    check()
