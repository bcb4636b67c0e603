"""The API app over the seeded database: in-process (TestClient) and served on a loopback port."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from backend.core.principal import Role
from tests.support.accounts import make_user
from tests.support.net import free_port


@pytest.fixture(scope="session")
def app(seeded: Engine) -> FastAPI:
    # Imported here: the app reads its settings when made, after the services are up.
    from backend.api.main import create_app

    return create_app()


class ReaderClient(TestClient):
    """Reads (GET) carry a province-wide viewer's token unless they send their own: site details
    need a login (RISKMAP_PUBLIC_MAP = county). Other methods go as written, so the tests of who
    may write still send no token, or theirs."""

    reader_token = ""

    def request(self, method: str, url: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if method.upper() == "GET":
            headers = dict(kwargs.pop("headers", None) or {})
            if not any(k.lower() == "authorization" for k in headers):
                headers["Authorization"] = f"Bearer {self.reader_token}"
            kwargs["headers"] = headers
        return super().request(method, url, **kwargs)


@pytest.fixture(scope="session")
def client(app: FastAPI, tokens: dict[Role, str]) -> Iterator[TestClient]:
    """The API, reading as a province-wide viewer (see ReaderClient)."""
    with ReaderClient(app) as c:
        c.reader_token = tokens[Role.viewer]
        yield c


@pytest.fixture(scope="session")
def anonymous(app: FastAPI) -> Iterator[TestClient]:
    """The API with no token: what the public reaches."""
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="session")
def live_server(app: FastAPI) -> Iterator[str]:
    """The app served by uvicorn on a loopback port, for the browser."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test web server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="session")
def logins(seeded: Engine) -> dict[Role, str]:
    """Users of 吉林省应急管理厅 (the whole province) who sign in through the login page, by role."""
    return {
        role: make_user(seeded, "220000", [role.value], name=f"全省{role.value}", prefix=f"p{role.value[:3]}")
        for role in (Role.viewer, Role.duty, Role.regulator, Role.admin)
    }
