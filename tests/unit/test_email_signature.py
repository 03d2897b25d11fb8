"""The Reply-To address built from a profile: a name only where a header can carry it as it is."""

from __future__ import annotations

from pagerbot.services.evidence import _named_address


def test_a_name_a_header_cannot_carry_leaves_the_bare_address() -> None:
    assert _named_address("Alice Nguyen", "alice@example.com") == "Alice Nguyen <alice@example.com>"
    assert _named_address("Nguyen, Alice", "alice@example.com") == "alice@example.com"
    assert _named_address(None, "alice@example.com") == "alice@example.com"
    assert _named_address("Alice", None) is None
    assert _named_address("Alice", "alice@example.com\r\nBcc: x@y") is None
