"""A private Mosquitto 2 broker under the data folder, with authentication and an ACL."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from backend.core.config import IngestSettings
from backend.core.security import mosquitto_hash, new_secret
from backend.embedded.system import (
    ServiceError,
    choose_port,
    ensure_debian_packages,
    give_to,
    is_root,
    listens,
    log,
    pid_alive,
)
from backend.registry.gateways import BrokerUser, render_acl, render_guard_rules, render_password_file

MOSQUITTO = Path("/usr/sbin/mosquitto")
OS_USER = "mosquitto"
PLATFORM_USER = "riskmap-platform"
GUARD_SOURCE = Path(__file__).with_name("broker_guard.c")
# The plugin is compiled against the broker's own headers, from these Debian packages.
GUARD_BUILD_PACKAGES = ["mosquitto-dev", "libmosquitto-dev", "gcc", "libc6-dev"]
GUARD_HEADERS = [
    Path("/usr/include/mosquitto_broker.h"),
    Path("/usr/include/mosquitto.h"),
    Path("/usr/include/stdio.h"),  # gcc can be installed without the C library's headers
    Path("/usr/bin/gcc"),
]


def build_guard(target: Path) -> Path:
    """Compile the broker guard plugin (broker_guard.c) into `target`, unless it is up to date.

    The plugin enforces what Mosquitto's ACL file cannot: no share groups or foreign topics at
    subscribe time, client ids bound to gateway user names, retained messages only on status.
    """
    ensure_debian_packages(GUARD_BUILD_PACKAGES, GUARD_HEADERS)
    stamp = target.with_suffix(".sha256")
    # Rebuilt when the source or the broker's plugin headers change (a Mosquitto upgrade).
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in (GUARD_SOURCE, *GUARD_HEADERS[:2]))).hexdigest()
    if target.exists() and stamp.exists() and stamp.read_text() == digest:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp.so")
    built = subprocess.run(
        ["gcc", "-shared", "-fPIC", "-O2", "-Wall", "-o", str(tmp), str(GUARD_SOURCE)],
        capture_output=True,
        text=True,
    )
    if built.returncode != 0:
        raise ServiceError(f"could not build the broker guard plugin: {built.stderr[-2000:]}")
    tmp.replace(target)
    stamp.write_text(digest)
    return target


START_ATTEMPTS = 3  # each on a new port if the last one was taken between the check and the bind


@dataclass
class EmbeddedMosquitto:
    root: Path  # e.g. .riskmap/mqtt

    def _file(self, name: str) -> Path:
        return (self.root / name).resolve()

    @property
    def port(self) -> int:
        return int(self._file("port").read_text())

    def _platform_password(self) -> str:
        f = self._file("platform.password")
        if not f.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            f.write_text(new_secret())
            f.chmod(0o600)
        return f.read_text().strip()

    def url(self) -> str:
        return f"mqtt://{PLATFORM_USER}:{self._platform_password()}@127.0.0.1:{self.port}"

    def install(self) -> None:
        ensure_debian_packages(["mosquitto"], [MOSQUITTO])
        build_guard(self._file("broker_guard.so"))

    def write_auth(self, gateways: list[BrokerUser]) -> bool:
        """Write the password file, ACL and guard rules; a running broker reloads them on SIGHUP.
        Returns whether a running broker confirmed the reload."""
        self.root.mkdir(parents=True, exist_ok=True)
        platform = BrokerUser(PLATFORM_USER, mosquitto_hash(self._platform_password()), None)
        users = [platform, *gateways]
        files = (
            ("passwd", render_password_file(users)),
            ("acl", render_acl(users)),
            ("guard.rules", render_guard_rules(users)),
        )
        for name, text in files:
            tmp = self._file(name + ".tmp")
            tmp.write_text(text)
            tmp.chmod(0o600)
            give_to(OS_USER, tmp)
            tmp.replace(self._file(name))
        return self.reload()

    def reload(self, attempts: int = 5, wait_s: float = 2.0) -> bool:
        """SIGHUP the running broker and wait until it has reloaded after the signal.

        Mosquitto clears its reload flag after a reload, so a SIGHUP that arrives while an earlier
        reload is running is lost, and that reload may have read the files before we wrote them.
        A "Reloading config." line logged after our signal proves a reload that read our files;
        without one, signal again. Returns False when there is no broker or it never confirmed.
        """
        log_file = self._file("mosquitto.log")
        for _ in range(attempts):
            pid = self._pid()
            if not pid:
                return False
            offset = log_file.stat().st_size if log_file.exists() else 0
            os.kill(pid, signal.SIGHUP)
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                if log_file.exists():
                    size = log_file.stat().st_size
                    if size < offset:  # the log was reopened anew: read it from the start
                        offset = 0
                    with log_file.open("rb") as f:
                        f.seek(offset)
                        if b"Reloading config." in f.read():
                            return True
                time.sleep(0.02)
        return False

    def _config(self, port: int) -> str:
        data = self._file("data")
        return "\n".join(
            [
                "per_listener_settings false",
                f"listener {port} 127.0.0.1",
                "allow_anonymous false",
                f"password_file {self._file('passwd')}",
                f"acl_file {self._file('acl')}",
                f"plugin {self._file('broker_guard.so')}",
                f"plugin_opt_rules_file {self._file('guard.rules')}",
                # Larger packets are refused at the broker, and MQTT 5 clients are told the limit.
                f"max_packet_size {IngestSettings().max_packet_bytes}",
                "persistence true",
                f"persistence_location {data}/",
                "autosave_interval 10",
                "max_queued_messages 100000",
                f"log_dest file {self._file('mosquitto.log')}",
                "log_type error",
                "log_type warning",
                "log_type notice",
                "log_type information",
                "",
            ]
        )

    def _pid(self) -> int | None:
        """The running broker's pid: the pid file's, if that process is alive and a mosquitto."""
        f = self._file("pid")
        if not f.exists():
            return None
        pid = int(f.read_text())
        return pid if pid_alive(pid, "mosquitto") else None

    def start(self) -> None:
        """Start on the saved port, or on a new one when it cannot be bound now; a broker of an
        earlier run is stopped (and waited for) first, so its own socket never counts as taken."""
        if self._pid():
            self.stop()
        self._file("data").mkdir(parents=True, exist_ok=True)
        if not all(self._file(f).exists() for f in ("passwd", "acl", "guard.rules")):
            self.write_auth([])
        port_file = self._file("port")
        saved = int(port_file.read_text()) if port_file.exists() else None
        for _attempt in range(START_ATTEMPTS):
            port = choose_port(saved, "Mosquitto")
            if self._launch(port):
                return
            log.warning("Mosquitto could not bind port %d (taken meanwhile); trying another", port)
            saved = None
        raise ServiceError(f"Mosquitto did not start: no port could be bound in {START_ATTEMPTS} attempts")

    def _launch(self, port: int) -> bool:
        """Run the broker on `port` and wait until it (not another program) listens there; False
        when it could not bind the port."""
        self._file("port").write_text(str(port))
        conf = self._file("mosquitto.conf")
        conf.write_text(self._config(port))
        if is_root():
            give_to(OS_USER, self.root)
        log_file = self._file("mosquitto.log")
        offset = log_file.stat().st_size if log_file.exists() else 0
        process = subprocess.Popen(
            [str(MOSQUITTO), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self._file("pid").write_text(str(process.pid))
        deadline = time.monotonic() + 15
        while not listens(process.pid, port):
            if process.poll() is not None or time.monotonic() > deadline:
                if process.poll() is None:
                    process.kill()
                    process.wait()
                err = process.stderr.read().decode(errors="replace") if process.stderr else ""
                fresh = ""
                if log_file.exists():
                    with log_file.open("rb") as f:
                        f.seek(offset)
                        fresh = f.read().decode(errors="replace")
                if "Address already in use" in err + fresh:
                    return False
                raise ServiceError(f"Mosquitto did not start: {err}{fresh[-2000:]}")
            time.sleep(0.05)
        if process.stderr:
            process.stderr.close()
        return True

    def stop(self) -> None:
        """SIGTERM and wait for the broker to exit (it saves its store); SIGKILL after 10 s."""
        pid = self._pid()
        if not pid:
            self._file("pid").unlink(missing_ok=True)
            return
        for sig, wait_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)  # reap it when it is our child
                if not pid_alive(pid):
                    self._file("pid").unlink(missing_ok=True)
                    return
                time.sleep(0.05)
            log.warning("Mosquitto (pid %d) did not exit after %s", pid, sig.name)

    def up(self) -> str:
        self.install()
        self.start()
        return self.url()
