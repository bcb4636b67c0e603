"""Every insert, update and delete of an audited model is written to audit_log in the same
transaction, attributed to the session's actor. A change with no actor is refused, so nothing
reaches the register unattributed."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from geoalchemy2.elements import WKBElement
from geoalchemy2.shape import to_shape
from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session, UOWTransaction

from backend.models.admin import AuditEntry
from backend.models.base import Audited


class UnattributedChange(RuntimeError):
    pass


def _json(value: Any) -> Any:
    if isinstance(value, WKBElement):
        return to_shape(value).wkt
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list | tuple):  # ARRAY columns (e.g. an inspector's days away)
        return [_json(v) for v in value]
    return value


def _columns(obj: Audited, committed: bool) -> dict[str, Any]:
    state = inspect(obj)
    out: dict[str, Any] = {}
    for attr in state.mapper.column_attrs:
        if attr.key in obj.__audit_exclude__:
            continue
        hist = state.attrs[attr.key].history
        if committed:
            value = (hist.deleted or hist.unchanged or hist.added or [None])[0]
        else:
            value = (hist.added or hist.unchanged or [None])[0]
        out[attr.key] = _json(value)
    return out


def _key(obj: Audited) -> str:
    code = getattr(obj, "code", None)
    if code:
        return str(code)
    return ",".join(str(v) for v in inspect(obj).mapper.primary_key_from_instance(obj))


@event.listens_for(Session, "before_flush")
def _collect(session: Session, flush_context: UOWTransaction, instances: object) -> None:
    pending: list[tuple[str, Audited, dict[str, Any] | None]] = session.info.setdefault("_audit_pending", [])
    for obj in session.new:
        if isinstance(obj, Audited):
            pending.append(("insert", obj, None))
    for obj in session.dirty:
        if isinstance(obj, Audited) and session.is_modified(obj, include_collections=False):
            pending.append(("update", obj, _columns(obj, committed=True)))
    for obj in session.deleted:
        if isinstance(obj, Audited):
            pending.append(("delete", obj, _columns(obj, committed=True)))
    if pending and not session.info.get("actor"):
        raise UnattributedChange("a change to the register needs an actor (session.info['actor'])")


@event.listens_for(Session, "after_flush")
def _write(session: Session, flush_context: UOWTransaction) -> None:
    pending = session.info.pop("_audit_pending", [])
    if not pending:
        return
    rows = []
    for action, obj, before in pending:
        after = None if action == "delete" else _columns(obj, committed=False)
        if action == "update" and before is not None and after is not None:
            changed = {k for k in after if after[k] != before.get(k)} - {"updated_at"}
            if not changed:
                continue
            before = {k: before[k] for k in changed}
            after = {k: after[k] for k in changed}
        rows.append(
            {
                "actor": session.info["actor"],
                "action": action,
                "entity": obj.__tablename__,  # type: ignore[attr-defined]
                "entity_key": _key(obj),
                "before": before,
                "after": after,
            }
        )
    if rows:
        session.execute(insert(AuditEntry), rows)


def record(session: Session, action: str, entity: str, key: str, detail: dict[str, Any]) -> None:
    """An action that is not a row change (a token issued, an import run) goes to the log too."""
    actor = session.info.get("actor")
    if not actor:
        raise UnattributedChange(f"{action} on {entity} needs an actor")
    session.add(AuditEntry(actor=actor, action=action, entity=entity, entity_key=key, after=detail))
