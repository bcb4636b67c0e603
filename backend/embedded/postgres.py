"""A private PostGIS cluster under the data folder, for a machine with no database configured."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from backend.embedded.system import (
    ServiceError,
    as_user,
    choose_port,
    ensure_debian_packages,
    give_to,
    log,
)

PG_VERSION = "15"
BIN = Path(f"/usr/lib/postgresql/{PG_VERSION}/bin")
POSTGIS_CONTROL = Path(f"/usr/share/postgresql/{PG_VERSION}/extension/postgis.control")
SUPERUSER = "riskmap"
OS_USER = "postgres"
START_ATTEMPTS = 3  # each on a new port if the last one was taken between the check and the bind
BIND_FAILED = ("could not bind", "could not create any TCP/IP sockets")


def _read_from(path: Path, offset: int) -> str:
    """What was appended to a log since `offset`."""
    if not path.exists():
        return ""
    with path.open("rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


@dataclass
class EmbeddedPostgres:
    root: Path  # e.g. .riskmap/pg

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def password_file(self) -> Path:
        return self.root / "password"

    @property
    def port_file(self) -> Path:
        return self.root / "port"

    def url(self, database: str = "riskmap") -> str:
        password = self.password_file.read_text().strip()
        return f"postgresql://{SUPERUSER}:{password}@127.0.0.1:{self.port}/{database}"

    @property
    def port(self) -> int:
        return int(self.port_file.read_text())

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = as_user(OS_USER, [str(BIN / "pg_ctl"), "-D", str(self.data.resolve()), *args])
        return subprocess.run(argv, check=check, capture_output=True, text=True)

    def install(self) -> None:
        ensure_debian_packages(
            [f"postgresql-{PG_VERSION}", f"postgresql-{PG_VERSION}-postgis-3"],
            [BIN / "postgres", POSTGIS_CONTROL],
        )

    def init(self) -> None:
        """Create the cluster. initdb works in a side folder renamed when it is complete, so that
        an initdb cut short (Ctrl-C during the first start) leaves nothing that looks like a cluster."""
        if (self.data / "PG_VERSION").exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(24)
        pwfile = self.root / "initdb.pw"
        pwfile.write_text(password)
        pending = self.root / "data.init"
        for leftover in (pending, self.data):
            if leftover.exists():
                shutil.rmtree(leftover)
        pending.mkdir(mode=0o700)
        give_to(OS_USER, pending)
        give_to(OS_USER, pwfile)
        try:
            argv = [
                str(BIN / "initdb"),
                "-D",
                str(pending.resolve()),
                "-U",
                SUPERUSER,
                "--auth=scram-sha-256",
                f"--pwfile={pwfile.resolve()}",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ]
            done = subprocess.run(as_user(OS_USER, argv), capture_output=True, text=True)
            if done.returncode != 0:
                raise ServiceError(f"initdb failed: {done.stderr.strip()}")
            self.password_file.write_text(password)
            self.password_file.chmod(0o600)
            pending.rename(self.data)
        finally:
            pwfile.unlink(missing_ok=True)

    def running(self) -> bool:
        return self._pg_ctl("status", check=False).returncode == 0

    def start(self) -> None:
        """Start on the saved port, or on a new one when the saved port cannot be bound now (a
        program listening there, a connection using it); the port used is saved for `url()`."""
        if self.running():
            if self._postmaster_status() != "stopping":
                return
            self._wait_stopped()  # a shutdown in progress (begun elsewhere): start after it
        run_dir = self.root / "run"
        run_dir.mkdir(exist_ok=True)
        give_to(OS_USER, run_dir)
        log_file = (self.root / "run" / "postgres.log").resolve()
        saved = int(self.port_file.read_text()) if self.port_file.exists() else None
        for _attempt in range(START_ATTEMPTS):
            port = choose_port(saved, "PostgreSQL")
            self.port_file.write_text(str(port))
            offset = log_file.stat().st_size if log_file.exists() else 0
            options = f"-p {port} -k {run_dir.resolve()} -c listen_addresses=127.0.0.1"
            done = self._pg_ctl("-l", str(log_file), "-o", options, "-w", "-t", "60", "start", check=False)
            if done.returncode == 0:
                return
            fresh = _read_from(log_file, offset)
            if not any(marker in fresh for marker in BIND_FAILED) or self.running():
                raise ServiceError(f"PostgreSQL did not start: {(fresh or done.stderr)[-2000:]}")
            log.warning("PostgreSQL could not bind port %d (taken meanwhile); trying another", port)
            saved = None
        raise ServiceError(f"PostgreSQL did not start: no port could be bound in {START_ATTEMPTS} attempts")

    def _postmaster_status(self) -> str | None:
        """The postmaster's own word on its state (postmaster.pid, line 8): starting, ready, stopping."""
        try:
            lines = (self.data / "postmaster.pid").read_text().splitlines()
        except OSError:
            return None
        return lines[7].strip() if len(lines) > 7 else None

    def _wait_stopped(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while self.running():
            if time.monotonic() > deadline:
                raise ServiceError(f"PostgreSQL in {self.data} is still shutting down after {timeout_s:.0f} s")
            time.sleep(0.2)

    def stop(self) -> None:
        """Fast shutdown (clients disconnected), waited for; immediate if that does not end it."""
        if not self.running():
            return
        if self._pg_ctl("-m", "fast", "-w", "-t", "30", "stop", check=False).returncode != 0 and self.running():
            self._pg_ctl("-m", "immediate", "-w", "-t", "30", "stop", check=False)

    def ensure_database(self, name: str) -> str:
        """Create the database with PostGIS if it does not exist; returns its URL."""
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def up(self, database: str = "riskmap") -> str:
        self.install()
        self.init()
        self.start()
        deadline = time.monotonic() + 30
        while True:
            try:
                return self.ensure_database(database)
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
