"""A private PostGIS cluster under the data folder, for a machine with no database configured."""

from __future__ import annotations

import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from backend.embedded.system import (
    ServiceError,
    as_user,
    ensure_debian_packages,
    free_port,
    give_to,
    port_open,
)

PG_VERSION = "15"
BIN = Path(f"/usr/lib/postgresql/{PG_VERSION}/bin")
POSTGIS_CONTROL = Path(f"/usr/share/postgresql/{PG_VERSION}/extension/postgis.control")
SUPERUSER = "riskmap"
OS_USER = "postgres"


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
        if (self.data / "PG_VERSION").exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(24)
        self.password_file.write_text(password)
        self.password_file.chmod(0o600)
        pwfile = self.root / "initdb.pw"
        pwfile.write_text(password)
        self.data.mkdir(mode=0o700)
        give_to(OS_USER, self.data)
        give_to(OS_USER, pwfile)
        try:
            argv = [
                str(BIN / "initdb"),
                "-D",
                str(self.data.resolve()),
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
        finally:
            pwfile.unlink(missing_ok=True)

    def running(self) -> bool:
        return self._pg_ctl("status", check=False).returncode == 0

    def start(self) -> None:
        if self.running():
            return
        port = int(self.port_file.read_text()) if self.port_file.exists() else free_port()
        if port_open(port):
            port = free_port()
        self.port_file.write_text(str(port))
        run_dir = self.root / "run"
        run_dir.mkdir(exist_ok=True)
        give_to(OS_USER, run_dir)
        log = (self.root / "run" / "postgres.log").resolve()
        options = f"-p {port} -k {run_dir.resolve()} -c listen_addresses=127.0.0.1"
        done = self._pg_ctl("-l", str(log), "-o", options, "-w", "-t", "60", "start", check=False)
        if done.returncode != 0:
            tail = log.read_text()[-2000:] if log.exists() else done.stderr
            raise ServiceError(f"PostgreSQL did not start: {tail}")

    def stop(self) -> None:
        if self.running():
            self._pg_ctl("-m", "fast", "-w", "stop", check=False)

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
