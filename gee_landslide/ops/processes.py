"""Process liveness, shared by the run locks of the training sweep and the local Prefect stack.

Built on psutil rather than ``/proc`` parsing, so it reads the same on Linux and macOS.
"""

from __future__ import annotations

import contextlib
import os

import psutil


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` runs; an exited child of ours is reaped, a zombie counts as gone."""
    if pid <= 0:  # 0 / -1 would address process groups or every process, never one process
        return False
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)  # reap our own exited child, or it would linger as a zombie
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # someone else's process: it exists
        return True
