"""Engine and sessions. One engine per process and URL, created on first use."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from backend.core.config import DatabaseSettings, database_url


def sqlalchemy_url(url: str) -> str:
    """Use the psycopg 3 driver for plain postgresql:// URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@lru_cache
def _engine_for(url: str) -> Engine:
    return create_engine(sqlalchemy_url(url), pool_size=DatabaseSettings().pool_size, pool_pre_ping=True)


def engine() -> Engine:
    return _engine_for(database_url())


def session_factory() -> sessionmaker[Session]:
    return sessionmaker(engine(), expire_on_commit=False)


@contextmanager
def session_scope(actor: str) -> Iterator[Session]:
    """A transaction attributed to `actor` in the audit log; committed on success."""
    with session_factory()() as session:
        session.info["actor"] = actor
        with session.begin():
            yield session
