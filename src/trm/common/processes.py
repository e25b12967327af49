"""Child processes that do not outlive their parent (Linux)."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

#: ``prctl(2)`` option: the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1


def die_with_parent() -> Callable[[], None] | None:
    """Return a function to call in a child, right after ``fork``, that makes
    it get SIGTERM when the process that forked it dies, however it dies
    (SIGKILL too): Linux ``prctl(PR_SET_PDEATHSIG)``. Usable as a
    ``subprocess.Popen`` ``preexec_fn``. None elsewhere (nothing to call).

    The signal comes when the *thread* that forked the child ends: children
    forked from a worker thread must end before that thread does.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong] + [ctypes.c_ulong] * 3
    prctl.restype = ctypes.c_int
    parent = os.getpid()
    term = int(signal.SIGTERM)

    def in_child() -> None:
        prctl(PR_SET_PDEATHSIG, term, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl
            os.kill(os.getpid(), term)

    return in_child
