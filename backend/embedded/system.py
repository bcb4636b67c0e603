"""What the private services need from the machine: Debian packages, a service user, a port."""

from __future__ import annotations

import logging
import os
import random
import shutil
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger("riskmap.services")


class ServiceError(RuntimeError):
    pass


def is_root() -> bool:
    return os.geteuid() == 0


def ensure_debian_packages(packages: Sequence[str], present: Sequence[Path]) -> None:
    """Install the packages when any of the files they provide is missing (root only)."""
    if all(p.exists() for p in present):
        return
    if not is_root() or not shutil.which("apt-get"):
        missing = ", ".join(str(p) for p in present if not p.exists())
        raise ServiceError(f"missing {missing}: install the Debian packages {' '.join(packages)} (as root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lists = Path("/var/lib/apt/lists")
    if not any(lists.glob("*Packages*")):
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", *packages], check=True, env=env)


def as_user(user: str, argv: Sequence[str]) -> list[str]:
    """Run as `user` when we are root (PostgreSQL refuses root), else as ourselves."""
    return ["runuser", "-u", user, "--", *argv] if is_root() else list(argv)


def give_to(user: str, path: Path) -> None:
    if is_root():
        shutil.chown(path, user, user)
        for p in path.rglob("*"):
            shutil.chown(p, user, user)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def bindable(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on the port now, tried as PostgreSQL and Mosquitto do it
    (SO_REUSEADDR): their own previous run's TIME-WAIT sockets do not count; a listener, or a
    connection of another program whose local port it is (open or in TIME-WAIT), does."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            s.listen()
        except OSError:
            return False
    return True


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port(host: str = "127.0.0.1") -> int:
    """A port that can be bound now, chosen below the ephemeral range where there is room: ports
    in that range are lent to outgoing connections, and one of those (or its TIME-WAIT) on a
    service's saved port keeps the service from starting again."""
    low, _ = _ephemeral_range()
    if low > 21_000:
        for port in random.sample(range(20_000, low), 64):
            if bindable(port, host):
                return port
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


_TCP_STATES = {"01": "ESTABLISHED", "06": "TIME_WAIT", "08": "CLOSE_WAIT", "0A": "LISTEN"}


def _tcp_sockets(port: int) -> list[tuple[str, int]]:
    """(state, inode) of the TCP sockets whose local port is `port`, from /proc/net/tcp{,6}."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                found.append((_TCP_STATES.get(fields[3], f"state {fields[3]}"), int(fields[9])))
    return found


def port_user(port: int) -> str:
    """What keeps the port from being bound, in words, for the log."""
    states = sorted({state for state, _ in _tcp_sockets(port)})
    if "LISTEN" in states:
        return "another program listens on it"
    if states:
        return f"a connection uses it as its local port ({', '.join(states)})"
    return "it cannot be bound"


def listens(pid: int, port: int) -> bool:
    """Whether process `pid` itself holds a listening socket on the port (not some other program)."""
    inodes = {inode for state, inode in _tcp_sockets(port) if state == "LISTEN"}
    if not inodes:
        return False
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        for fd in fd_dir.iterdir():
            try:
                link = os.readlink(fd)
            except OSError:
                continue
            if link.startswith("socket:[") and int(link[8:-1]) in inodes:
                return True
    except OSError:
        return False
    return False


def choose_port(saved: int | None, service: str) -> int:
    """The saved port when a server can still bind it, else a new free one (said in the log, so
    that whoever reads a URL knows why it changed)."""
    if saved is not None and bindable(saved):
        return saved
    port = free_port()
    if saved is not None:
        log.warning("%s: port %d is not free (%s); using port %d", service, saved, port_user(saved), port)
    return port


def pid_alive(pid: int, name: str | None = None) -> bool:
    """Whether `pid` is a live process (not a zombie), and when `name` is given, one whose command
    line contains it: a pid file may outlive its process, and the number be reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    if stat.rsplit(")", 1)[1].split()[0] in {"Z", "X"}:
        return False
    return name is None or name.encode() in cmdline
