"""The errors intake raises for a body it cannot accept: not JSON (400) or not a body of its format (422)."""

from __future__ import annotations

__all__ = ["MalformedBody", "PayloadError"]


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


class MalformedBody(ValueError):
    """A body that is not a JSON document at all (a 400, where a PayloadError is a 422).

    ``problem`` is the short error ("malformed JSON"), ``detail`` where and why.
    """

    def __init__(self, problem: str, detail: str) -> None:
        super().__init__(problem, detail)
        self.problem = problem
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.problem}: {self.detail}"
