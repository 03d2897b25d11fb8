"""docs/configuration.md stays complete and true: every key of the settings models and every environment
variable the code reads has a row, and no row names a key or variable that does not exist."""

from __future__ import annotations

import re
import typing
from pathlib import Path
from types import UnionType
from typing import Any

from pydantic import BaseModel

from pagerbot.settings import FileConfig

ROOT = Path(__file__).parents[2]
DOC = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")
ROW = re.compile(r"^\| `([^`]+)` \|", re.M)
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]+$")
# How the code reads a variable: env.get("X"), env["X"], os.environ.get("X"), os.environ["X"], os.getenv("X").
ENV_READ = re.compile(r"""(?:\benv|\benviron|\bgetenv)(?:\.get\(|\[|\()\s*["']([A-Z][A-Z0-9_]+)["']""")


def _model_in(annotation: Any) -> tuple[str, type[BaseModel]] | None:
    """("", Model) for a nested model, (".<key>", Model) for a mapping of them, ("[]", Model) for a list."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "", annotation
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, UnionType):
        for arg in args:
            if arg is not type(None) and (found := _model_in(arg)) is not None:
                return found
        return None
    if origin is dict and len(args) == 2 and _model_in(args[1]) is not None:
        return ".<key>", _model_in(args[1])[1]  # type: ignore[index]
    if origin is list and args and _model_in(args[0]) is not None:
        return "[]", _model_in(args[0])[1]  # type: ignore[index]
    return None


def config_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every key a config file may set, by its path; a mapping or list of models is a key itself too."""
    keys: set[str] = set()
    for name, info in model.model_fields.items():
        key = prefix + (info.alias or name)
        nested = _model_in(info.annotation)
        if nested is None:
            keys.add(key)
            continue
        suffix, inner = nested
        if suffix:
            keys.add(key)  # `vendors`, `metrics.watches`: the collection has a row of its own
            keys |= config_keys(inner, f"{key}{suffix}.")
        else:
            keys |= config_keys(inner, f"{key}.")
    return keys


def environment_variables() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "pagerbot").rglob("*.py"):
        names |= set(ENV_READ.findall(path.read_text(encoding="utf-8")))
    return names


def documented() -> tuple[set[str], set[str]]:
    rows = ROW.findall(DOC)
    return {r for r in rows if not ENV_NAME.match(r)}, {r for r in rows if ENV_NAME.match(r)}


def test_the_model_walk_sees_nested_keys() -> None:
    keys = config_keys(FileConfig)
    assert {"timezone", "slack.channel_prefix", "vendors", "vendors.<key>.to", "smtp.from",
            "metrics.watches", "metrics.watches[].metric"} <= keys
    assert "slack" not in keys and "smtp.sender" not in keys


def test_every_config_key_is_documented() -> None:
    keys, _ = documented()
    assert sorted(config_keys(FileConfig) - keys) == []


def test_no_documented_key_is_missing_from_the_settings() -> None:
    keys, _ = documented()
    assert sorted(keys - config_keys(FileConfig)) == []


def test_every_environment_variable_is_documented_and_exists() -> None:
    _, variables = documented()
    read = environment_variables()
    assert {"PAGERBOT_DATABASE_URL", "SLACK_BOT_TOKEN"} <= read  # the scan finds what the settings read
    assert sorted(read - variables) == [], "read by the code, not documented"
    assert sorted(variables - read) == [], "documented, not read by the code"


def test_each_key_has_one_row() -> None:
    rows = ROW.findall(DOC)
    assert sorted({r for r in rows if rows.count(r) > 1}) == []


def test_linked_from_the_readme() -> None:
    assert "[docs/configuration.md](docs/configuration.md)" in README
