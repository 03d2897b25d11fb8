"""The one error every intake parser raises for a body it cannot accept."""

from __future__ import annotations

__all__ = ["PayloadError"]


class PayloadError(ValueError):
    """A sender's body is not acceptable.

    ``field`` is a JSON path into the decoded body (``alerts[3].labels``, ``payload.summary``;
    ``""`` for the body itself) and ``message`` says what was expected, in one short phrase.
    ``str()`` gives ``"alerts[3].labels: expected an object of strings"``.
    """

    field: str
    message: str

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return f"{self.field or 'body'}: {self.message}"

    def to_dict(self) -> dict[str, str]:
        """The ``detail`` of a 422 answer: ``{"field": ..., "message": ...}``."""
        return {"field": self.field or "body", "message": self.message}
