"""The forms a use case asks for, as the Slack adapter opens them: one modal per form, its callback id the
contract with the listener that reads the submission."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from pagerbot.services.reply import DeclareForm, EditEmailForm, ResolveForm
from pagerbot.slack import views


def _initial(modal: dict[str, object], block_id: str) -> object:
    blocks = modal["blocks"]
    assert isinstance(blocks, list)
    block = next(b for b in blocks if b["block_id"] == block_id)
    return block["element"].get("initial_value")


def test_each_form_opens_its_modal_with_what_the_submission_needs() -> None:
    declare = views.modal(DeclareForm("C0INCIDENTS"))
    assert declare["callback_id"] == views.DECLARE
    assert json.loads(declare["private_metadata"]) == {"channel": "C0INCIDENTS"}

    resolve = views.modal(ResolveForm(42, datetime(2026, 3, 5, 14, 30, tzinfo=UTC)))
    assert resolve["callback_id"] == views.RESOLVE and json.loads(resolve["private_metadata"]) == {"incident": 42}
    assert resolve["title"]["text"] == "Resolve INC-42"
    picker = next(b for b in resolve["blocks"] if b.get("block_id") == "mitigated")["element"]
    assert picker["initial_date_time"] == int(datetime(2026, 3, 5, 14, 30, tzinfo=UTC).timestamp())


def test_the_edit_form_is_prefilled_with_the_draft() -> None:
    form = EditEmailForm(7, ("noc@acme.example", "ops@acme.example"), ("me@example.com",), "INC-3: load",
                         "Hello,\nplease look.")
    modal = views.modal(form)
    assert modal["callback_id"] == views.EDIT_EMAIL and json.loads(modal["private_metadata"]) == {"email": 7}
    assert _initial(modal, "to") == "noc@acme.example, ops@acme.example"
    assert _initial(modal, "cc") == "me@example.com"
    assert (_initial(modal, "subject"), _initial(modal, "body")) == ("INC-3: load", "Hello,\nplease look.")
