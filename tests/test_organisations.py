"""Organisations follow the register: one 应急管理局 per region, one organisation per enterprise,
kept in step by triggers; a token scoped to an organisation acts in its jurisdiction."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from backend.accounts import users as accounts
from backend.accounts.users import roles_for
from backend.api.deps import token_principal
from backend.cli import app as cli
from backend.core.jurisdiction import bind
from backend.core.principal import ROLE_PERMS, Perm, Principal, Role, Scope
from backend.domain.errors import DomainError
from backend.models import ApiToken, Enterprise, Organisation, Region, User
from tests.support.accounts import make_user


def test_every_region_has_its_bureau_and_every_enterprise_its_organisation(session: Session) -> None:
    regions = session.scalar(select(func.count()).select_from(Region))
    bureaus = session.scalars(select(Organisation).where(Organisation.kind == "bureau")).all()
    assert regions == 70 and len(bureaus) == regions
    names = {b.code: b.name for b in bureaus}
    assert names["220000"] == "吉林省应急管理厅" and names["220283"] == "舒兰市应急管理局"
    enterprises = session.scalar(select(func.count()).select_from(Enterprise))
    orgs = session.scalar(select(func.count()).select_from(Organisation).where(Organisation.kind == "enterprise"))
    assert orgs == enterprises


def test_an_enterprise_renamed_or_moved_moves_its_organisation(session: Session) -> None:
    with session.begin():
        e = session.scalars(select(Enterprise).order_by(Enterprise.id)).first()
        assert e is not None
        e.name = e.name + "（更名）"
        session.flush()
        org = session.scalars(select(Organisation).where(Organisation.enterprise_id == e.id)).one()
        session.refresh(org)
        assert org.name == e.name and org.region_adcode == e.region_adcode
        session.rollback()


def test_a_token_acts_within_its_organisations_jurisdiction(session: Session) -> None:
    shulan = session.scalars(select(Organisation).where(Organisation.code == "220283")).one()
    jilin = session.scalars(select(Organisation).where(Organisation.code == "220200")).one()
    firm = session.scalars(select(Organisation).where(Organisation.kind == "enterprise")).first()
    assert firm is not None
    token = ApiToken(name="t", role=Role.regulator, token_hash="x", created_by="test")
    assert token_principal(token, None).scope == Scope.all
    county = token_principal(token, shulan)
    assert (county.scope, county.region, county.org_id) == (Scope.region, "220283", shulan.id)
    assert token_principal(token, jilin).region == "2202"
    own = token_principal(token, firm)
    assert (own.scope, own.enterprise_id) == (Scope.enterprise, firm.enterprise_id)


def test_roles_grant_what_their_names_say() -> None:
    assert ROLE_PERMS[Role.enterprise] == {Perm.read, Perm.answer}
    assert Perm.write not in ROLE_PERMS[Role.duty] and Perm.duty in ROLE_PERMS[Role.regulator]
    assert all(Perm.read in perms for perms in ROLE_PERMS.values())
    assert Perm.admin in ROLE_PERMS[Role.admin] and not any(
        Perm.admin in ROLE_PERMS[r] for r in Role if r != Role.admin
    )


def test_the_scope_reaches_postgresql_per_transaction(session: Session) -> None:
    bind(session, Principal(actor="user:t", name="t", scope=Scope.region, region="2202"))
    with session.begin():
        got = session.execute(
            text("SELECT current_setting('riskmap.scope', true) s, current_setting('riskmap.region', true) r")
        ).one()
        assert (got.s, got.r) == ("region", "2202")
    with session.begin():
        assert session.scalar(text("SELECT current_setting('riskmap.region', true)")) == "2202"


def test_the_visibility_predicates_follow_the_scope(session: Session) -> None:
    site = session.execute(text("SELECT id, enterprise_id FROM sites WHERE region_adcode = '220283' LIMIT 1")).one()
    session.rollback()
    probe = text(
        "SELECT riskmap_region_visible('220283') county, riskmap_region_visible('220102') elsewhere, "
        "riskmap_site_visible(:site) site"
    )
    cases = [
        (Principal(actor="a", name="a", scope=Scope.all), (True, True, True)),
        (Principal(actor="p", name="p", scope=Scope.region, region="22"), (True, True, True)),
        (Principal(actor="j", name="j", scope=Scope.region, region="2202"), (True, False, True)),
        (Principal(actor="c", name="c", scope=Scope.region, region="220283"), (True, False, True)),
        (Principal(actor="o", name="o", scope=Scope.region, region="220102"), (False, True, False)),
        (
            Principal(actor="e", name="e", scope=Scope.enterprise, enterprise_id=site.enterprise_id),
            (False, False, True),
        ),
        (Principal(actor="x", name="x", scope=Scope.enterprise, enterprise_id=-1), (False, False, False)),
        (Principal(actor="n", name="n"), (False, False, False)),
        (Principal(actor="r", name="r", scope=Scope.region, region=""), (False, False, False)),
    ]
    for principal, expected in cases:
        bind(session, principal)
        with session.begin():
            assert tuple(session.execute(probe, {"site": site.id}).one()) == expected, principal


def test_a_department_is_added_by_hand_and_its_users_only_read(seeded: Engine, session: Session) -> None:
    runner = CliRunner()
    added = runner.invoke(cli, ["org", "add", "--code", "SLT-220000", "--name", "吉林省水利厅", "--region", "220000"])
    assert added.exit_code == 0, added.output
    assert (
        runner.invoke(cli, ["org", "add", "--code", "SLT-220000", "--name", "重复", "--region", "220000"]).exit_code
        == 2
    )
    assert runner.invoke(cli, ["org", "add", "--code", "X-1", "--name", "无区划", "--region", "999999"]).exit_code == 2
    listed = runner.invoke(cli, ["org", "list", "--kind", "department"]).output
    assert "SLT-220000\tdepartment\t吉林省水利厅\t220000" in listed
    org = session.scalars(select(Organisation).where(Organisation.code == "SLT-220000")).one()
    assert roles_for(org) == [Role.viewer]
    login = make_user(seeded, "SLT-220000", ["viewer"], name="水利厅联络员")
    with pytest.raises(DomainError):
        make_user(seeded, "SLT-220000", ["regulator"], name="越权")
    user = session.scalars(select(User).where(User.login == login)).one()
    principal = accounts.principal_of(user, org)
    assert (principal.scope, principal.region, principal.can(Perm.write)) == (Scope.region, "22", False)
    audit = session.scalar(
        text("SELECT count(*) FROM audit_log WHERE entity = 'organisations' AND entity_key = 'SLT-220000'")
    )
    assert audit == 1
