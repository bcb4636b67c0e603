"""API tokens: an expiry (default RISKMAP_TOKEN_DAYS), `riskmap token list` (never the secret),
`riskmap token revoke NAME|ID`; an expired or revoked token answers 401; every change audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from backend.cli import app
from backend.core.audit import UnattributedChange
from backend.core.principal import Role
from backend.models import ApiToken
from backend.registry.tokens import create_token

runner = CliRunner()
OPERATOR_ONLY = "/api/v1/broadcasts/999999/cancel"  # an operator endpoint: 404 once the token is accepted


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _create(*args: str) -> str:
    r = runner.invoke(app, ["token", "create", *args])
    assert r.exit_code == 0, r.output
    return r.output.strip()


def test_a_token_expires_after_its_days_and_then_answers_401(client: TestClient, seeded: Engine) -> None:
    token = _create("--role", "operator", "--name", "tok-expiry", "--days", "7")
    assert client.post(OPERATOR_ONLY, headers=_auth(token)).status_code == 404
    with seeded.connect() as c:
        expires, last_used = c.execute(
            text("SELECT expires_at, last_used_at FROM api_tokens WHERE name = 'tok-expiry'")
        ).one()
    assert abs(expires - (datetime.now(UTC) + timedelta(days=7))) < timedelta(minutes=1)
    assert last_used is not None and datetime.now(UTC) - last_used < timedelta(minutes=1)
    with Session(seeded) as s, s.begin():  # as if seven days had passed
        s.info["actor"] = "test"
        s.execute(text("UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE name = 'tok-expiry'"))
    r = client.post(OPERATOR_ONLY, headers=_auth(token))
    assert r.status_code == 401 and r.json()["detail"] == "token expired"
    assert runner.invoke(app, ["token", "create", "--name", "x", "--days", "0"]).exit_code != 0


def test_the_default_lifetime_is_the_setting(seeded: Engine, monkeypatch) -> None:
    monkeypatch.setenv("RISKMAP_TOKEN_DAYS", "30")
    with Session(seeded) as s, s.begin():
        s.info["actor"] = "test"
        create_token(s, "tok-default", Role.viewer)
    with seeded.connect() as c:
        expires = c.scalar(text("SELECT expires_at FROM api_tokens WHERE name = 'tok-default'"))
    assert abs(expires - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=1)


def test_list_shows_every_token_but_never_its_secret(seeded: Engine) -> None:
    token = _create("--role", "viewer", "--name", "tok-listed")
    r = runner.invoke(app, ["token", "list"])
    assert r.exit_code == 0
    line = next(x for x in r.output.splitlines() if "\ttok-listed\t" in x)
    fields = line.split("\t")
    assert fields[2] == "viewer" and fields[4] != "-" and fields[5] == "-" and fields[7] == "active"
    assert "id\tname\trole\tcreated\texpires\trevoked\tlast used" in r.output
    with seeded.connect() as c:
        digest = c.scalar(text("SELECT token_hash FROM api_tokens WHERE name = 'tok-listed'"))
    assert token not in r.output and digest not in r.output and "rmk_" not in r.output


def test_revoke_by_name_or_id_answers_401_and_is_audited(client: TestClient, seeded: Engine) -> None:
    first = _create("--role", "operator", "--name", "tok-revoked")
    second = _create("--role", "operator", "--name", "tok-by-id")
    assert client.post(OPERATOR_ONLY, headers=_auth(first)).status_code == 404
    r = runner.invoke(app, ["token", "revoke", "tok-revoked"])
    assert r.exit_code == 0 and "revoked 1 token" in r.output
    assert client.post(OPERATOR_ONLY, headers=_auth(first)).status_code == 401
    assert client.post(OPERATOR_ONLY, headers=_auth(second)).status_code == 404  # the other one still works
    with seeded.connect() as c:
        second_id = c.scalar(text("SELECT id FROM api_tokens WHERE name = 'tok-by-id'"))
    assert runner.invoke(app, ["token", "revoke", str(second_id)]).exit_code == 0
    assert client.post(OPERATOR_ONLY, headers=_auth(second)).status_code == 401
    again = runner.invoke(app, ["token", "revoke", "tok-revoked"])
    assert again.exit_code == 2 and "no unrevoked token" in again.output
    listed = runner.invoke(app, ["token", "list"]).output
    assert next(x for x in listed.splitlines() if "\ttok-revoked\t" in x).endswith("\trevoked")
    with seeded.connect() as c:
        audit = c.execute(
            text(
                "SELECT a.action, a.actor, a.after FROM audit_log a JOIN api_tokens t ON a.entity_key = t.id::text "
                "WHERE a.entity = 'api_tokens' AND t.name = 'tok-revoked' ORDER BY a.id"
            )
        ).all()
    assert [a for a, _, _ in audit] == ["insert", "update"]
    assert all(actor.startswith("cli:") for _, actor, _ in audit)
    assert audit[0][2]["role"] == "operator" and audit[0][2]["expires_at"]
    assert audit[1][2]["revoked_at"] and set(audit[1][2]) == {"revoked_at"}
    assert not any("token_hash" in (after or {}) for _, _, after in audit)


def test_a_revocation_without_an_actor_is_refused(seeded: Engine) -> None:
    with Session(seeded) as s, s.begin():
        s.info["actor"] = "test:orm"
        create_token(s, "tok-orm", Role.viewer)
    with Session(seeded) as s:
        s.scalar(select(ApiToken).where(ApiToken.name == "tok-orm")).revoked_at = datetime.now(UTC)
        with pytest.raises(UnattributedChange):
            s.commit()
