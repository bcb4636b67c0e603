"""`python -m backend.child ARGS…`: a `riskmap ARGS…` run as a child of `riskmap up`.

Before anything is imported (a second or two), a signal already ends it quietly: a Ctrl-C to
the whole process group right after `up` started it gives no KeyboardInterrupt traceback. The
command installs its own handlers for an orderly stop once it runs. The kernel sends it SIGTERM
when `up` dies, even by SIGKILL, so no ingester outlives its `up` and competes with the next.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from types import FrameType

PR_SET_PDEATHSIG = 1
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _leave(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    for sig in STOP_SIGNALS:
        signal.signal(sig, _leave)
    parent = os.environ.get("RISKMAP_SUPERVISOR_PID")
    if sys.platform == "linux" and parent:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != int(parent):  # `up` died before the line above took effect
            raise SystemExit(0)
    from backend.cli import app

    app(prog_name="riskmap")


if __name__ == "__main__":
    main()
