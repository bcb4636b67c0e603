"""Users of the caller's jurisdiction (administrators), and who the caller is (/me).

An administrator lists, creates and changes only the users of organisations within their own
jurisdiction; one outside it answers 404, as if it did not exist (backend/accounts/users.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from backend.accounts import users as accounts
from backend.api.deps import Admin, SessionDep, Viewer
from backend.api.edge import StrictJSONRoute
from backend.core.principal import ROLE_ZH, Role
from backend.models import Organisation, User

router = APIRouter(prefix="/api/v1", tags=["users"], route_class=StrictJSONRoute)


class OrganisationOut(BaseModel):
    code: str
    name: str
    kind: str
    region_adcode: str


class UserOut(BaseModel):
    login: str
    name: str
    mobile: str | None
    roles: list[Role]
    roles_zh: list[str]
    disabled: bool
    locked_until: datetime | None
    last_login_at: datetime | None
    created_at: datetime
    organisation: OrganisationOut


class UserCreatedOut(UserOut):
    initial_password: str = Field(description="shown once, never stored")


class UserIn(BaseModel):
    org: str = Field(min_length=1, max_length=32, description="the organisation's code: adcode or credit code")
    login: str = Field(min_length=3, max_length=64)
    name: str = Field(min_length=1, max_length=64)
    roles: list[Role] = Field(min_length=1, max_length=6)
    mobile: str | None = Field(default=None, max_length=20)
    password: str | None = Field(default=None, max_length=256, description="generated when omitted")


class UserPatch(BaseModel):
    roles: list[Role] | None = Field(default=None, min_length=1, max_length=6)
    disabled: bool | None = None


class MeOut(BaseModel):
    actor: str
    name: str
    roles: list[Role]
    scope: str
    region: str
    enterprise_id: int | None
    login: str | None = None
    organisation: OrganisationOut | None = None


def _org_out(org: Organisation) -> OrganisationOut:
    return OrganisationOut(code=org.code, name=org.name, kind=org.kind, region_adcode=org.region_adcode)


def user_out(user: User, org: Organisation) -> UserOut:
    roles = [Role(r) for r in user.roles]
    return UserOut(
        login=user.login,
        name=user.name,
        mobile=user.mobile,
        roles=roles,
        roles_zh=[ROLE_ZH[r] for r in roles],
        disabled=user.disabled,
        locked_until=user.locked_until,
        last_login_at=user.last_login_at,
        created_at=user.created_at,
        organisation=_org_out(org),
    )


@router.get("/me", response_model=MeOut)
def me(caller: Viewer, session: SessionDep) -> MeOut:
    """Who the caller is (a signed-in user or a token) and where they may look."""
    out = MeOut(
        actor=caller.actor,
        name=caller.name,
        roles=sorted(caller.roles, key=list(Role).index),
        scope=caller.scope.value,
        region=caller.region,
        enterprise_id=caller.enterprise_id,
    )
    if caller.user_id is not None:
        user = session.get(User, caller.user_id)
        out.login = user.login if user else None
    if caller.org_id is not None and (org := session.get(Organisation, caller.org_id)) is not None:
        out.organisation = _org_out(org)
    return out


@router.get("/users", response_model=list[UserOut])
def list_users(
    caller: Admin, session: SessionDep, org: str | None = Query(default=None, max_length=32)
) -> list[UserOut]:
    """The users of the caller's jurisdiction (of one organisation with `org`)."""
    return [user_out(u, o) for u, o in accounts.list_users(session, caller, org)]


@router.post("/users", response_model=UserCreatedOut, status_code=201)
def create_user(body: UserIn, caller: Admin, session: SessionDep) -> UserCreatedOut:
    """A new user of an organisation within the caller's jurisdiction; the initial password (given,
    or generated) is answered once."""
    user, password = accounts.create_user(
        session,
        caller,
        org_code=body.org,
        login=body.login,
        name=body.name,
        roles=body.roles,
        mobile=body.mobile,
        password=body.password,
    )
    org = session.get(Organisation, user.org_id)
    assert org is not None
    session.commit()
    return UserCreatedOut(**user_out(user, org).model_dump(), initial_password=password)


@router.patch("/users/{login}", response_model=UserOut)
def change_user(
    login: Annotated[str, Path(max_length=64)], body: UserPatch, caller: Admin, session: SessionDep
) -> UserOut:
    """Change a user's roles, or disable (enable) them; disabling ends their sessions."""
    if body.roles is not None:
        accounts.set_roles(session, caller, login, body.roles)
    if body.disabled is not None:
        accounts.set_disabled(session, caller, login, body.disabled)
    user, org = accounts.get_user(session, caller, login)
    session.commit()
    return user_out(user, org)
