"""Stopping a training run cleanly: signals, and the launcher's death.

SIGINT (Ctrl-C) or SIGTERM sets :attr:`StopRequest.requested`; the loop looks
at it after each optimizer step, saves a checkpoint there and exits 130, so an
interrupted run always resumes from a step boundary, bit-identically. A second
signal interrupts at once (``KeyboardInterrupt``) and saves nothing, unless the
parent process has gone meanwhile: a dying launcher sends one signal per thread
(and Ctrl-C reaches launcher and trainer both), which must not count as "again".

``accelerate launch`` runs the trainer as its child (directly for one process,
through torchrun's agent for several); killing the launcher with SIGKILL, or
with SIGTERM in the one-process case, used to leave the trainer running as an
orphan. :func:`stop_with_parent` asks Linux (``prctl(PR_SET_PDEATHSIG)``) to
send the trainer SIGTERM when its parent dies, which the handler above turns
into a clean stop. Elsewhere it does nothing: kill the trainer itself there.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
from types import FrameType

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
#: Set by ``accelerate launch`` (every launcher) and by torchrun in each worker.
LAUNCHER_ENV = ("ACCELERATE_MIXED_PRECISION", "TORCHELASTIC_RUN_ID")


class StopRequest(contextlib.AbstractContextManager):
    """Within the block, SIGINT/SIGTERM ask the loop to stop; the old handlers come back after it."""

    def __init__(self) -> None:
        self.requested: str | None = None  # the signal's name once one arrived
        self._previous: dict[int, object] = {}
        self._parent = os.getppid()

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread only
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested is not None:
            if os.getppid() == self._parent:
                raise KeyboardInterrupt
            return
        self.requested = signal.Signals(signum).name
        print(f"{self.requested}: stopping at the next optimizer step (again to stop at once)", file=sys.stderr)


def launched_by_accelerate() -> bool:
    return any(name in os.environ for name in LAUNCHER_ENV)


def stop_with_parent(sig: int = signal.SIGTERM) -> bool:
    """Have the kernel send ``sig`` to this process when its parent dies (Linux); whether it could."""
    if not sys.platform.startswith("linux"):
        return False
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent:  # the parent died before the request was in place
        os.kill(os.getpid(), sig)
    return True
