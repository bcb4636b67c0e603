"""A session's principal handed to PostgreSQL at the start of every transaction.

Row-level security policies read these settings (transaction-local, so a pooled connection never
carries one caller's scope into the next caller's transaction):

- `riskmap.scope`: all | region | enterprise | public (backend.core.principal.Scope)
- `riskmap.region`: the GB/T 2260 prefix of the caller's jurisdiction ("" unless scope = region)
- `riskmap.enterprise`: the caller's enterprise id ("" unless scope = enterprise)

and switch the transaction to the role `riskmap_app` (SET LOCAL ROLE, migration 0012), which is
neither superuser nor the tables' owner, so those policies bind it; the anonymous reader of
RISKMAP_PUBLIC_MAP = sites runs as `riskmap_public` instead, which may read the published register
and nothing else (migration 0018). A session never bound (the
ingester, grading, the delivery worker, the CLI) runs as the connecting owner and bypasses them: the
platform's own jobs see everything, by design. A principal of the platform (`platform(job)`) bound
to a session is the audit actor but keeps the owner's role too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import Session

from backend.core.principal import PUBLIC_READER, Principal, platform

PRINCIPAL_KEY = "principal"

APP_ROLE = "riskmap_app"
PUBLIC_ROLE = "riskmap_public"  # the published register only (migration 0018)

_SET_SCOPE = text(
    "SELECT set_config('riskmap.scope', :scope, true), set_config('riskmap.region', :region, true), "
    "set_config('riskmap.enterprise', :enterprise, true), set_config('role', :role, true)"
)


def bind(session: Session, principal: Principal) -> None:
    """Make `principal` the caller of every transaction of `session`, including one already open."""
    session.info[PRINCIPAL_KEY] = principal
    session.info["actor"] = principal.actor
    if session.in_transaction():
        _apply(session.connection(), principal)


def is_platform(principal: Principal) -> bool:
    """The platform's own work (backend.core.principal.platform): unbound by row-level security."""
    return principal.actor.startswith("platform:")


def bound(session: Session) -> Principal | None:
    return session.info.get(PRINCIPAL_KEY)


def _apply(connection: Any, principal: Principal) -> None:
    connection.execute(
        _SET_SCOPE,
        {
            "scope": principal.scope.value,
            "region": principal.region,
            "enterprise": "" if principal.enterprise_id is None else str(principal.enterprise_id),
            "role": _role(principal),
        },
    )


def _role(principal: Principal) -> str:
    """The database role of a caller's transaction: the owner's own for the platform, the published
    register's for the anonymous reader of RISKMAP_PUBLIC_MAP = sites, riskmap_app for the rest."""
    if is_platform(principal):
        return "none"
    return PUBLIC_ROLE if principal == PUBLIC_READER else APP_ROLE


@event.listens_for(Session, "after_begin")
def _on_begin(session: Session, transaction: Any, connection: Any) -> None:
    principal = bound(session)
    if principal is not None:
        _apply(connection, principal)


@contextmanager
def as_platform(session: Session, job: str) -> Iterator[None]:
    """The platform's own work inside a caller's transaction (grading after a caller's change): it
    sees and writes every row it needs — an enterprise's status regrades its sites in every county —
    and the caller's scope is back as soon as it is done. A session never bound stays unbound."""
    caller = bound(session)
    if caller is None or is_platform(caller):
        yield
        return
    bind(session, platform(job))
    try:
        yield
    finally:
        bind(session, caller)
