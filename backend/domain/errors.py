"""Typed domain errors: the domain says what went wrong (not found, conflict, invalid field), the
API maps each kind to its HTTP status in one place (backend/api/errors.py) instead of reading
the message."""

from __future__ import annotations


class DomainError(ValueError):
    """A refusal the caller can act on; `field` names the input at fault when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(DomainError):
    """The thing asked for does not exist (HTTP 404)."""


class Forbidden(DomainError):
    """The caller may not do this here, e.g. an enterprise accepting its own hazard (HTTP 403)."""


class Conflict(DomainError):
    """The request clashes with the current state, e.g. a taken key or a closed workflow (HTTP 409)."""


class Invalid(DomainError):
    """The input is wrong; `field` names it (HTTP 422)."""


class Unavailable(DomainError):
    """Something the step needs (the file store) cannot be reached now; nothing was recorded and the
    same request may be retried later (HTTP 503)."""
