"""Every insert, update and delete of an audited model is written to audit_log in the same
transaction, attributed to the session's actor. A change with no actor is refused, so nothing
reaches the register unattributed."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from geoalchemy2.elements import WKBElement
from geoalchemy2.shape import to_shape
from sqlalchemy import event, insert, inspect, select
from sqlalchemy.orm import Session, UOWTransaction

from backend.core.principal import Scope
from backend.models.admin import AuditEntry, Organisation
from backend.models.base import Audited
from backend.models.registry import Site

Owner = tuple[str | None, int | None]  # (region_adcode, enterprise_id) an entry is about


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


def _owners(session: Session, objs: list[Audited]) -> dict[int, Owner]:
    """Whose rows these are (region, enterprise): read from the row itself, its site or its
    organisation, so that row-level security shows each audit entry only within its jurisdiction.
    Public geography (exposed places and features) has no owner: province-wide callers see it."""
    site_ids = {getattr(o, "site_id", None) for o in objs} - {None}
    org_ids = {o.org_id for o in objs if getattr(o, "org_id", None) is not None}  # type: ignore[attr-defined]
    sites: dict[int, Owner] = {}
    orgs: dict[int, Owner] = {}
    if site_ids:
        q = select(Site.id, Site.region_adcode, Site.enterprise_id).where(Site.id.in_(site_ids))
        sites = {r.id: (r.region_adcode, r.enterprise_id) for r in session.execute(q)}
    if org_ids:
        q = select(Organisation.id, Organisation.region_adcode, Organisation.enterprise_id)
        orgs = {
            r.id: (r.region_adcode, r.enterprise_id) for r in session.execute(q.where(Organisation.id.in_(org_ids)))
        }
    out: dict[int, Owner] = {}
    for o in objs:
        name = o.__tablename__  # type: ignore[attr-defined]
        if name == "enterprises":
            out[id(o)] = (o.region_adcode, o.id)  # type: ignore[attr-defined]
        elif name in ("sites", "organisations", "credit_list_entries"):
            out[id(o)] = (o.region_adcode, o.enterprise_id)  # type: ignore[attr-defined]
        elif getattr(o, "site_id", None) is not None:
            out[id(o)] = sites.get(o.site_id, (None, None))  # type: ignore[attr-defined]
        elif getattr(o, "org_id", None) is not None:
            out[id(o)] = orgs.get(o.org_id, (None, None))  # type: ignore[attr-defined]
        else:
            out[id(o)] = (None, None)
    return out


def _caller_owner(session: Session) -> Owner:
    """An action with no row of its own is about the caller's jurisdiction (a region prefix such as
    "2202" is seen by that prefecture and the province, not by its counties)."""
    principal = session.info.get("principal")
    if principal is None or principal.scope in (Scope.all, Scope.public):
        return (None, None)
    if principal.scope is Scope.enterprise:
        return (None, principal.enterprise_id)
    return (principal.region or None, None)


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
    owners = _owners(session, [obj for _, obj, _ in pending])
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
                "region_adcode": owners[id(obj)][0],
                "enterprise_id": owners[id(obj)][1],
            }
        )
    if rows:
        # Inline (no RETURNING): row-level security would check a returned entry against what the
        # caller may read, and an entry about a row of another county (an enterprise registered
        # elsewhere than the caller's site) is written, not read.
        session.execute(insert(AuditEntry).inline(), rows)


def record(
    session: Session,
    action: str,
    entity: str,
    key: str,
    detail: dict[str, Any],
    *,
    site_id: int | None = None,
    enterprise: tuple[str, int] | None = None,
) -> None:
    """An action that is not a row change (a token issued, an import run) goes to the log too: about
    `site_id`'s jurisdiction, or `enterprise` (its region and id), when given, else about the caller's."""
    actor = session.info.get("actor")
    if not actor:
        raise UnattributedChange(f"{action} on {entity} needs an actor")
    owner = enterprise or _caller_owner(session)
    if site_id is not None:
        row = session.execute(select(Site.region_adcode, Site.enterprise_id).where(Site.id == site_id)).first()
        owner = (row.region_adcode, row.enterprise_id) if row else owner
    session.execute(
        insert(AuditEntry).inline(),
        [
            {
                "actor": actor,
                "action": action,
                "entity": entity,
                "entity_key": key,
                "after": detail,
                "region_adcode": owner[0],
                "enterprise_id": owner[1],
            }
        ],
    )
