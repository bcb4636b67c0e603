"""Who is calling and where they may look: the one value every request, stream and job carries.

A principal is made from a user's session or a machine token (backend/api/deps.py) and bound to a
database session (backend/core/jurisdiction.py), which hands its scope to PostgreSQL's row-level
security for every transaction of that session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from backend.domain.kinds import ROLE_PERMS, Perm, Role


class Scope(StrEnum):
    all = "all"  # the whole platform: machine tokens without an organisation, and the platform's own jobs
    region = "region"  # a regulator: every row whose region code starts with `region`
    enterprise = "enterprise"  # an enterprise user: the rows of `enterprise_id` only
    public = "public"  # nobody signed in: only what RISKMAP_PUBLIC_MAP opens


@dataclass(frozen=True)
class Principal:
    actor: str  # the audit log's actor: "user:<login>", "token:<name>", "platform:<job>"
    name: str
    roles: frozenset[Role] = field(default_factory=frozenset)
    scope: Scope = Scope.public
    region: str = ""  # GB/T 2260 prefix (kinds.region_prefix): "22" province, "2202" 吉林市, "220283" 舒兰市
    enterprise_id: int | None = None
    org_id: int | None = None
    user_id: int | None = None

    def can(self, perm: Perm) -> bool:
        return any(perm in ROLE_PERMS[r] for r in self.roles)

    @property
    def role(self) -> Role:
        """The strongest role held (for display and for single-role tokens)."""
        order = list(Role)
        return max(self.roles, key=order.index) if self.roles else Role.viewer


PUBLIC = Principal(actor="public", name="public")


def platform(job: str) -> Principal:
    """The platform's own work (ingester, grading, delivery): sees everything, by design."""
    return Principal(actor=f"platform:{job}", name=job, roles=frozenset({Role.admin}), scope=Scope.all)
