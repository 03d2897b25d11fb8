"""Modals: declare, resolve, edit an email draft. Callback ids are the contract with slack/app.py."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pagerbot.services.reply import DeclareForm, Form, ResolveForm

DECLARE = "declare_incident"
RESOLVE = "resolve_incident"
EDIT_EMAIL = "edit_email"


def _input(block_id: str, label: str, *, multiline: bool = False, initial: str | None = None,
           optional: bool = False, max_length: int = 3000) -> dict[str, Any]:
    # action_ids are unique within the view (Slack rejects a repeated one); submitted_values reads by block.
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": block_id, "multiline": multiline,
                               "max_length": max_length}
    if initial:
        element["initial_value"] = initial[:max_length]
    return {"type": "input", "block_id": block_id, "label": {"type": "plain_text", "text": label},
            "element": element, "optional": optional}


def declare_modal(channel_id: str) -> dict[str, Any]:
    options = [{"text": {"type": "plain_text", "text": f"SEV{n}"}, "value": str(n)} for n in range(1, 5)]
    return {
        "type": "modal", "callback_id": DECLARE, "private_metadata": json.dumps({"channel": channel_id}),
        "title": {"type": "plain_text", "text": "Declare an incident"},
        "submit": {"type": "plain_text", "text": "Declare"}, "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            _input("title", "Title", max_length=200),
            {"type": "input", "block_id": "severity", "label": {"type": "plain_text", "text": "Severity"},
             "element": {"type": "static_select", "action_id": "severity", "options": options,
                         "initial_option": options[2]}},
            _input("description", "Description", multiline=True, optional=True),
        ],
    }


def resolve_modal(incident_id: int, mitigated: datetime) -> dict[str, Any]:
    """Summary (the postmortem's Summary), impact (its Impact) and when the impact ended (its Mitigated),
    prefilled with ``mitigated``: the move to monitoring, else when the last alert stopped firing, else now."""
    picker = {"type": "datetimepicker", "action_id": "mitigated", "initial_date_time": int(mitigated.timestamp())}
    return {
        "type": "modal", "callback_id": RESOLVE, "private_metadata": json.dumps({"incident": incident_id}),
        "title": {"type": "plain_text", "text": f"Resolve INC-{incident_id}"[:24]},
        "submit": {"type": "plain_text", "text": "Resolve"}, "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            _input("summary", "Summary: what happened and what fixed it", multiline=True),
            _input("impact", "Impact: who or what was affected, and how", multiline=True, optional=True),
            {"type": "input", "block_id": "mitigated", "optional": True, "element": picker,
             "label": {"type": "plain_text", "text": "Mitigated at: when the impact ended"}},
        ],
    }


def edit_email_modal(email_id: int, to: list[str], cc: list[str], subject: str, body: str) -> dict[str, Any]:
    return {
        "type": "modal", "callback_id": EDIT_EMAIL, "private_metadata": json.dumps({"email": email_id}),
        "title": {"type": "plain_text", "text": "Edit the email"},
        "submit": {"type": "plain_text", "text": "Save draft"}, "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            _input("to", "To (comma-separated)", initial=", ".join(to), max_length=1000),
            _input("cc", "Cc (comma-separated)", initial=", ".join(cc), optional=True, max_length=1000),
            _input("subject", "Subject", initial=subject, max_length=250),
            _input("body", "Body", multiline=True, initial=body),
        ],
    }


def modal(form: Form) -> dict[str, Any]:
    """The Slack modal that asks for what a use case's form names."""
    if isinstance(form, DeclareForm):
        return declare_modal(form.channel_id)
    if isinstance(form, ResolveForm):
        return resolve_modal(form.incident_id, form.mitigated)
    return edit_email_modal(form.email_id, list(form.to), list(form.cc), form.subject, form.body)


def submitted_values(view: dict[str, Any]) -> dict[str, str]:
    """{block_id: value} from a view_submission's state."""
    values: dict[str, str] = {}
    for block_id, actions in (view.get("state") or {}).get("values", {}).items():
        for action in actions.values():
            if action.get("type") == "static_select":
                values[block_id] = ((action.get("selected_option") or {}).get("value")) or ""
            elif action.get("type") == "datetimepicker":
                chosen = action.get("selected_date_time")  # Unix seconds
                values[block_id] = str(chosen) if chosen is not None else ""
            else:
                values[block_id] = action.get("value") or ""
    return values
