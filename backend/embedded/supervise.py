"""Children of `riskmap up` (the ingester, the simulator) kept alive: a child that dies is
started again after a back-off that doubles up to a cap, and why it died is logged.

The children run `python -m backend.child …`, which makes them stop cleanly on any
signal from their very first instruction and die with `up` should it be killed outright.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence

log = logging.getLogger("riskmap.up")

PARENT_ENV = "RISKMAP_SUPERVISOR_PID"


def child_argv(*args: str) -> list[str]:
    """The command line of a `riskmap` subcommand run as a supervised child."""
    return [sys.executable, "-m", "backend.child", *args]


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


class Supervised:
    """A child process kept alive. Call `check()` often (from the thread that started it: the
    children's parent-death signal follows that thread); `stop()` ends it for good."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        min_backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        healthy_after_s: float = 60.0,
    ) -> None:
        self.name, self.argv = name, list(argv)
        self.min_backoff_s, self.max_backoff_s = min_backoff_s, max_backoff_s
        self.healthy_after_s = healthy_after_s  # a child that ran this long starts the back-off anew
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._backoff = min_backoff_s
        self._started_at = 0.0
        self._restart_at: float | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.poll() is None else None

    def start(self) -> None:
        env = {**os.environ, PARENT_ENV: str(os.getpid())}
        self.process = subprocess.Popen(self.argv, env=env)
        self._started_at = time.monotonic()
        log.info("%s started (pid %d)", self.name, self.process.pid)

    def check(self, now: float | None = None) -> None:
        """Notice a death and schedule a restart; start it again once its back-off has passed."""
        if self.process is None:
            return
        now = time.monotonic() if now is None else now
        if self._restart_at is None:
            code = self.process.poll()
            if code is None:
                return
            if now - self._started_at >= self.healthy_after_s:
                self._backoff = self.min_backoff_s
            delay = self._backoff
            self._backoff = min(self._backoff * 2, self.max_backoff_s)
            self._restart_at = now + delay
            log.warning(
                "%s (pid %d) %s after %.0f s; restarting it in %g s",
                self.name,
                self.process.pid,
                describe_exit(code),
                now - self._started_at,
                delay,
            )
        elif now >= self._restart_at:
            self._restart_at = None
            self.restarts += 1
            self.start()

    def terminate(self) -> None:
        """Ask it to stop (SIGTERM) and cancel any pending restart."""
        self._restart_at = None
        if self.process and self.process.poll() is None:
            self.process.terminate()

    def wait(self, deadline: float) -> None:
        """Wait until `deadline` (monotonic) for it to exit, then SIGKILL it."""
        if self.process is None:
            return
        try:
            self.process.wait(max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            log.warning("%s (pid %d) did not stop in time; killing it", self.name, self.process.pid)
            self.process.kill()
            self.process.wait()


def stop_all(children: Iterable[Supervised], timeout_s: float = 10.0) -> None:
    """Stop every child at once (SIGTERM), wait for them together, SIGKILL those still running."""
    children = list(children)
    for child in children:
        child.terminate()
    deadline = time.monotonic() + timeout_s
    for child in children:
        child.wait(deadline)
