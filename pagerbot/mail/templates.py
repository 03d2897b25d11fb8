"""Jinja2 templates that users can override by name: escalation emails here, postmortems elsewhere.

A :class:`TemplateSet` looks for a template first in the override directory named in the config,
then in each package's ``templates`` directory (or any extra directory). Rendering is strict
(``StrictUndefined``) and HTML templates (``*.html.j2``, ``*.htm.j2``, ``*.xml.j2``) are autoescaped;
text and Markdown are not. Text from alerts and people is only ever passed as data, never compiled.
A broken template raises :class:`TemplateProblem` naming the file and the line.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from pagerbot.core.timezones import aware, zone

_ESCAPED_SUFFIXES = (".html.j2", ".htm.j2", ".xml.j2", ".html", ".htm", ".xml")


class TemplateProblem(Exception):
    """A template that cannot be loaded or rendered: the message names the file and the line."""

    def __init__(self, template: str, filename: str | None, lineno: int | None, reason: str) -> None:
        self.template = template
        self.filename = filename
        self.lineno = lineno
        self.reason = reason
        where = filename or template
        if lineno is not None:
            where = f"{where}, line {lineno}"
        if filename and not filename.replace("\\", "/").endswith("/" + template) and filename != template:
            where = f"{where} (rendering {template})"
        super().__init__(f"template {where}: {reason}")


def autoescape_for(name: str | None) -> bool:
    """HTML and XML templates are autoescaped; text and Markdown templates are not."""
    return bool(name) and str(name).lower().endswith(_ESCAPED_SUFFIXES)


def _localtime(value: datetime | None, tz: str | None = None, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    """Filter: ``{{ incident.opened_at | localtime(tz) }}``; empty for None; naive means UTC."""
    if value is None:
        return ""
    return aware(value).astimezone(zone(tz)).strftime(fmt)


def _utctime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    return _localtime(value, "UTC", fmt)


class TemplateSet:
    """Templates looked up by name: ``override_dir`` first, then the packages' own templates.

    ``packages`` are importable package names whose ``templates`` directory holds the defaults
    (``("pagerbot.mail",)`` by default; the postmortem exporter passes ``("pagerbot.postmortem",)``).
    ``extra_dirs`` are further directories searched after the override dir and before the packages.
    """

    def __init__(
        self,
        override_dir: Path | None = None,
        *,
        packages: Sequence[str] = ("pagerbot.mail",),
        package_subdir: str = "templates",
        extra_dirs: Sequence[Path] = (),
        trim_blocks: bool = True,
        filters: Mapping[str, Callable[..., Any]] | None = None,
    ) -> None:
        if override_dir is not None and not Path(override_dir).is_dir():
            raise ValueError(f"template directory {override_dir} does not exist or is not a directory")
        self.override_dir = Path(override_dir) if override_dir is not None else None
        loaders: list[jinja2.BaseLoader] = []
        if self.override_dir is not None:
            loaders.append(jinja2.FileSystemLoader(str(self.override_dir)))
        loaders.extend(jinja2.FileSystemLoader(str(Path(d))) for d in extra_dirs)
        loaders.extend(jinja2.PackageLoader(p, package_subdir) for p in packages)
        # Sandboxed: override templates come from the config, but nothing in a template should reach
        # Python internals through the data it is given.
        self.env = SandboxedEnvironment(
            loader=jinja2.ChoiceLoader(loaders),
            undefined=jinja2.StrictUndefined,
            autoescape=autoescape_for,
            trim_blocks=trim_blocks,
            lstrip_blocks=trim_blocks,
            keep_trailing_newline=True,
            auto_reload=False,
        )
        self.env.filters["localtime"] = _localtime
        self.env.filters["utctime"] = _utctime
        if filters:
            self.env.filters.update(filters)

    def exists(self, name: str) -> bool:
        try:
            self.env.get_template(name)
        except jinja2.TemplateNotFound:
            return False
        except jinja2.TemplateSyntaxError:
            return True
        return True

    def first_existing(self, names: Iterable[str]) -> str:
        """The first of ``names`` that some loader has; TemplateProblem when none does."""
        candidates = list(names)
        for name in candidates:
            if self.exists(name):
                return name
        raise TemplateProblem(candidates[0] if candidates else "?", None, None, "template not found")

    def load(self, name: str) -> jinja2.Template:
        """Compile one template; a syntax error becomes a TemplateProblem with file and line."""
        try:
            return self.env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateProblem(
                exc.name or name, exc.filename, exc.lineno, exc.message or str(exc)
            ) from exc
        except jinja2.TemplateNotFound as exc:
            raise TemplateProblem(
                name, None, None, f"template not found ({exc.message or exc.name})"
            ) from exc
        except jinja2.TemplateError as exc:
            raise TemplateProblem(name, None, None, str(exc)) from exc

    def check(self, names: Iterable[str]) -> None:
        """Compile each template (for ``pagerbot check`` and start-up): raises the first problem."""
        for name in names:
            self.load(name)

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        """Render ``name`` with ``context`` (plain data). Any failure is a TemplateProblem."""
        template = self.load(name)
        try:
            return template.render(context)
        except jinja2.TemplateSyntaxError as exc:  # an {% include %} of a broken template
            raise TemplateProblem(
                exc.name or name, exc.filename, exc.lineno, exc.message or str(exc)
            ) from exc
        except jinja2.TemplateError as exc:
            filename, lineno = _template_frame(exc, template.filename)
            raise TemplateProblem(name, filename, lineno, _reason(exc)) from exc
        except Exception as exc:  # e.g. a division by zero or a bad filter argument in an override
            filename, lineno = _template_frame(exc, template.filename)
            if lineno is None:
                raise
            raise TemplateProblem(name, filename, lineno, _reason(exc)) from exc


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, jinja2.UndefinedError):
        return f"undefined variable: {text}"
    return text if isinstance(exc, jinja2.TemplateError) else f"{type(exc).__name__}: {text}"


def _template_frame(exc: BaseException, main_filename: str | None) -> tuple[str | None, int | None]:
    """Jinja rewrites tracebacks so template frames carry the template's file and line: find the last."""
    found: tuple[str | None, int | None] = (main_filename, None)
    for frame in traceback.extract_tb(exc.__traceback__):
        filename = frame.filename
        if filename == main_filename or filename.endswith(_TEMPLATE_SUFFIXES) or filename == "<template>":
            found = (filename, frame.lineno)
    return found


_TEMPLATE_SUFFIXES = (".j2", ".jinja", ".jinja2", ".html", ".txt", ".md")
