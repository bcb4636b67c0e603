"""The private PostGIS and Mosquitto for the test session, the database migrated and seeded, and tokens.

The services live under .riskmap-test/; the database is dropped and made anew each session,
migrated and seeded with the sample register. If a service cannot start, every test that
needs it errors with the reason: nothing is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

from backend.core import config
from backend.core.db import sqlalchemy_url
from backend.core.migrate import upgrade
from backend.core.principal import Role
from backend.embedded.stack import Stack, sync_broker_auth
from backend.registry.seed import seed
from backend.registry.tokens import create_token
from backend.risk.engine import regrade
from tests.support.paths import DATA_DIR, TEST_DATABASE


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    config.paths.cache_clear()
    config.api_settings.cache_clear()
    s = Stack(DATA_DIR, database=TEST_DATABASE)
    s.postgres.up("postgres")
    s.postgres.drop_database(TEST_DATABASE)
    s.mosquitto.stop()
    # A fresh broker store too: no session or queue left over from an earlier run.
    for leftover in (DATA_DIR / "mqtt" / "data").glob("mosquitto.db*"):
        leftover.unlink()
    s.up()
    yield s
    s.down()


@pytest.fixture(scope="session")
def db_url(stack: Stack) -> str:
    url = stack.postgres.url(TEST_DATABASE)
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    eng = create_engine(sqlalchemy_url(db_url))
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def seeded(engine: Engine, stack: Stack) -> Engine:
    with Session(engine) as session, session.begin():
        session.info["actor"] = "test:seed"
        reports = seed(session, DATA_DIR)
        sync_broker_auth(session, stack)
        regrade(session)
    rejected = [(r.layer, e) for r in reports for e in r.errors]
    assert not rejected, rejected
    return engine


@pytest.fixture
def session(seeded: Engine) -> Iterator[Session]:
    with Session(seeded) as s:
        s.info["actor"] = "test"
        yield s


@pytest.fixture(scope="session")
def tokens(seeded: Engine) -> dict[Role, str]:
    with Session(seeded) as s, s.begin():
        s.info["actor"] = "test:setup"
        return {role: create_token(s, f"test-{role}", role) for role in Role}
