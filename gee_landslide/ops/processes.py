"""Process liveness, shared by the run locks of the training sweep and the local Prefect stack.

Built on psutil rather than ``/proc`` parsing, so it reads the same on Linux and macOS.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

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


def pid_file_owner(pid_file: Path, slack_s: float = 2.0) -> int | None:
    """The live process a pid file names, or None.

    A pid is only believed if that process started before the file was written (within
    ``slack_s``): after a reboot or a crash the number may belong to an unrelated, newer process,
    which must never be mistaken for ours (nor stopped by ``orchestrate down``).
    """
    try:
        pid = int(pid_file.read_text().strip())
        written = pid_file.stat().st_mtime
    except (OSError, ValueError):
        return None
    if not pid_alive(pid):
        return None
    try:
        started = psutil.Process(pid).create_time()
    except psutil.Error:
        return None
    return pid if started <= written + slack_s else None
