"""What the private services need from the machine: Debian packages, a service user, a port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0
