"""A JSON number Python will not read (an integer of more than 4,300 digits) is a malformed body (400), not a
crash (500), on every alert route."""

from __future__ import annotations

import pytest

from pagerbot.intake.bodies import PARSERS, parse_body
from pagerbot.intake.errors import MalformedBody

HUGE = "9" * 5000


@pytest.mark.parametrize("sender", sorted(PARSERS))
def test_an_integer_too_long_to_read_is_a_malformed_body(sender: str) -> None:
    with pytest.raises(MalformedBody) as raised:
        parse_body(sender, '{"version": "4", "alerts": [], "count": ' + HUGE + "}")
    assert raised.value.problem == "malformed JSON"
    assert "too long" in str(raised.value.detail)
