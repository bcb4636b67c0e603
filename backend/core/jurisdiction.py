"""A session's principal handed to PostgreSQL at the start of every transaction.

Row-level security policies read these settings (transaction-local, so a pooled connection never
carries one caller's scope into the next caller's transaction):

- `riskmap.scope`: all | region | enterprise | public (backend.core.principal.Scope)
- `riskmap.region`: the GB/T 2260 prefix of the caller's jurisdiction ("" unless scope = region)
- `riskmap.enterprise`: the caller's enterprise id ("" unless scope = enterprise)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import Session

from backend.core.principal import Principal

PRINCIPAL_KEY = "principal"

_SET_SCOPE = text(
    "SELECT set_config('riskmap.scope', :scope, true), set_config('riskmap.region', :region, true), "
    "set_config('riskmap.enterprise', :enterprise, true)"
)


def bind(session: Session, principal: Principal) -> None:
    """Make `principal` the caller of every transaction of `session`, including one already open."""
    session.info[PRINCIPAL_KEY] = principal
    session.info["actor"] = principal.actor
    if session.in_transaction():
        _apply(session.connection(), principal)


def bound(session: Session) -> Principal | None:
    return session.info.get(PRINCIPAL_KEY)


def _apply(connection: Any, principal: Principal) -> None:
    connection.execute(
        _SET_SCOPE,
        {
            "scope": principal.scope.value,
            "region": principal.region,
            "enterprise": "" if principal.enterprise_id is None else str(principal.enterprise_id),
        },
    )


@event.listens_for(Session, "after_begin")
def _on_begin(session: Session, transaction: Any, connection: Any) -> None:
    principal = bound(session)
    if principal is not None:
        _apply(connection, principal)
