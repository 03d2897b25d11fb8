"""The `pagerbot` command. User mistakes end in one clear line on stderr and a non-zero exit."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from pagerbot.core.naming import parse_incident_ref
from pagerbot.settings import ConfigError, Settings, load_settings


class UserError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pagerbot", description="Incident-response ChatOps bot for Slack.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the bot: Slack endpoint, alert webhooks, API, scheduler")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--no-migrate", action="store_true", help="do not apply pending migrations on start")
    serve.add_argument("--insecure-no-auth", action="store_true",
                       help="accept alerts without PAGERBOT_API_TOKEN (local experiments only)")
    serve.add_argument("--insecure-public-bind", action="store_true",
                       help="allow --insecure-no-auth on an address that is not loopback (refused without it)")
    serve.add_argument("--log-format", choices=["json", "text"], default="json")
    serve.add_argument("--log-level", default="INFO")

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="SUBCOMMAND")
    db_commands.add_parser("upgrade", help="apply the migrations to PAGERBOT_DATABASE_URL (idempotent)")

    demo = commands.add_parser("demo", help="replay a scripted production incident offline")
    demo.add_argument("--out", default="demo-out", help="folder for the transcript, graphs, email, postmortem")
    demo.add_argument("--speed", type=float, default=0.0,
                      help="seconds to pause between steps (0: as fast as possible)")

    postmortem = commands.add_parser("postmortem", help="export an incident's postmortem as Markdown")
    postmortem.add_argument("incident", help="42 or INC-42")
    postmortem.add_argument("--out", default=".", help="folder to write into, or - for stdout")

    commands.add_parser("check", help="validate the config and reach the database, Slack, metrics and SMTP")

    send = commands.add_parser("send-alert", help="post one generic alert (Nagios/Icinga, cron)")
    send.add_argument("--url", required=True, help="pagerbot's base URL or its /alerts/generic URL")
    send.add_argument("--title", required=True)
    send.add_argument("--severity", default=None, help="1-4, sev1-sev4, critical, warning, …")
    send.add_argument("--host", default=None)
    send.add_argument("--resolve", action="store_true", help="resolve the alert instead of firing it")
    send.add_argument("--key", default=None, help="de-duplication key (default: from title and host)")
    send.add_argument("--description", default=None)
    send.add_argument("--token", default=None, help="API token (default: PAGERBOT_API_TOKEN)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except (ConfigError, UserError) as exc:
        print(f"pagerbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


# The commands import what they need when they run: `send-alert` (run by Nagios for every notification)
# and `--help` stay quick, loading neither the server, SQLAlchemy nor Slack's SDK.
def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "send-alert":
        return _send_alert(args)
    if args.command == "demo":
        from pagerbot.demo.runner import run_demo

        return asyncio.run(run_demo(Path(args.out), pause=args.speed))
    settings = load_settings()
    if args.command == "db":
        from pagerbot.store.migrate import upgrade

        try:
            asyncio.run(upgrade(settings.database_url))
        except OSError as exc:
            raise UserError(f"cannot reach the database: {exc}") from None
        print("database is up to date")
        return 0
    if args.command == "serve":
        from pagerbot.server import serve

        return serve(settings, host=args.host, port=args.port, migrate=not args.no_migrate,
                     insecure=args.insecure_no_auth,
                     insecure_public=args.insecure_public_bind, log_format=args.log_format, log_level=args.log_level)
    if args.command == "postmortem":
        return asyncio.run(export_postmortem(settings, args.incident, args.out))
    if args.command == "check":
        from pagerbot.check import run_checks

        return asyncio.run(run_checks(settings))
    raise UserError(f"unknown command {args.command}")


async def export_postmortem(settings: Settings, reference: str, out: str) -> int:
    """`pagerbot postmortem INCIDENT [--out DIR]`: write the Markdown and its graphs, or the Markdown to stdout."""
    from pagerbot.bootstrap import build  # per command, as in _dispatch
    from pagerbot.services.postmortem import NoSuchIncident, build_postmortem, export

    number = parse_incident_ref(reference)
    if number is None:
        raise UserError(f"{reference!r} is not an incident: give 42 or INC-42")
    runtime = build(settings, with_slack=False, with_scheduler=False)
    try:
        if out == "-":
            markdown, _ = await build_postmortem(runtime.ctx, number)
            sys.stdout.write(markdown)
            return 0
        path = await export(runtime.ctx, number, Path(out))
        print(path)
        return 0
    except NoSuchIncident:
        raise UserError(f"INC-{number} does not exist in {settings.database_url}") from None
    finally:
        await runtime.close()


def _send_alert(args: argparse.Namespace) -> int:
    import os

    from pagerbot.sendalert import send_alert  # per command, as in _dispatch

    token = args.token or os.environ.get("PAGERBOT_API_TOKEN")
    if not token:
        raise UserError("no token: pass --token or set PAGERBOT_API_TOKEN")
    url = args.url.rstrip("/")
    if not url.endswith("/alerts/generic"):
        url += "/alerts/generic"
    try:
        status, body = send_alert(url, token=token, title=args.title, severity=args.severity, host=args.host,
                                  resolve=args.resolve, key=args.key, description=args.description)
    except Exception as exc:
        raise UserError(f"cannot post to {url}: {exc}") from None
    if status >= 300:
        raise UserError(f"{url} answered {status}: {body.strip()[:300]}")
    print(f"sent ({status})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
