"""Who is calling and where they may look: the one value every request, stream and job carries.

A principal is made from a user's session or a machine token (backend/api/deps.py) and bound to a
database session (backend/core/jurisdiction.py), which hands its scope to PostgreSQL's row-level
security for every transaction of that session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    """What a user or a machine token may do; where it may do it is its organisation's jurisdiction."""

    viewer = "viewer"  # read within the jurisdiction
    enterprise = "enterprise"  # an enterprise's own staff: its sites only; answers 叫应, reports its hazards
    duty = "duty"  # 值班: acknowledge alarms, issue and follow broadcasts
    regulator = "regulator"  # read and write within the jurisdiction
    operator = "operator"  # a machine token's read-write role (= regulator with duty)
    admin = "admin"  # users, tokens and settings of the jurisdiction


class Perm(StrEnum):
    """The capabilities routes ask for; roles grant sets of them (ROLE_PERMS)."""

    read = "read"
    answer = "answer"  # answer 叫应 and report and rectify one's own enterprise's hazards
    duty = "duty"  # acknowledge alarms, issue, update and cancel broadcasts
    write = "write"  # change the register, decide workflow steps (confirm, accept, 挂牌督办)
    admin = "admin"  # manage users, tokens, webhooks and settings; read the audit log


ROLE_PERMS: dict[Role, frozenset[Perm]] = {
    Role.viewer: frozenset({Perm.read}),
    Role.enterprise: frozenset({Perm.read, Perm.answer}),
    Role.duty: frozenset({Perm.read, Perm.duty}),
    Role.regulator: frozenset({Perm.read, Perm.duty, Perm.write}),
    Role.operator: frozenset({Perm.read, Perm.duty, Perm.write}),
    Role.admin: frozenset({Perm.read, Perm.duty, Perm.write, Perm.admin}),
}

ROLE_ZH: dict[Role, str] = {
    Role.viewer: "只读",
    Role.enterprise: "企业用户",
    Role.duty: "值班员",
    Role.regulator: "监管人员",
    Role.operator: "操作（程序令牌）",
    Role.admin: "管理员",
}


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
# Who reads without signing in when RISKMAP_PUBLIC_MAP = sites: every site of the published register,
# read-only, in the database role riskmap_public that may read nothing else (migration 0018).
PUBLIC_READER = Principal(actor="public", name="public", roles=frozenset({Role.viewer}), scope=Scope.all)


def platform(job: str) -> Principal:
    """The platform's own work (ingester, grading, delivery): sees everything, by design."""
    return Principal(actor=f"platform:{job}", name=job, roles=frozenset({Role.admin}), scope=Scope.all)
