"""Atomic file writes: write to a temporary file beside the target, then rename over it.

A reader (or a crash) therefore sees either the old file or the complete new one, never a
half-written file. The temporary file lives in the target's directory so ``os.replace`` is a
same-filesystem rename, which POSIX guarantees to be atomic.

A process killed mid-write (SIGKILL, power loss) cannot remove its temporary file, so temps are
named ``.<target>.<pid>-<random>.tmp<suffix>`` and :func:`remove_stale_temps` (called by the next
stack build or monitoring pass) deletes those whose writer is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success rename it onto ``target``.

    On an exception the temporary file is removed and ``target`` is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.{os.getpid()}-", suffix=".tmp" + target.suffix, dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates 0600 files; give the result the permissions a plain open() would have
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


# ".<name>.<pid>-<random>.tmp<suffix>" (this module), ".<name>.<random>.tmp<suffix>" (before the pid),
# "<name>.partial-<pid>" / "<name>.old-<pid>" (directories a monitoring pass renames into place)
_TEMP_RE = re.compile(r"^\..+\.(?:(?P<pid>\d+)-)?[A-Za-z0-9_]{8}\.tmp(?:\.[A-Za-z0-9]+)?$")
_DIR_TEMP_RE = re.compile(r"^.+\.(?:partial|old)-(?P<pid>\d+)$")
STALE_AFTER_S = 60.0  # a writer this long gone (or dead) is not about to rename its temp
ABANDONED_AFTER_S = 24 * 3600.0  # whatever the pid says (reused pids, other hosts)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temps(directory: str | os.PathLike[str], now: float | None = None) -> list[Path]:
    """Delete the temporary files and ``.partial-``/``.old-`` directories a killed writer left.

    A temp is stale when its writer's pid is not running and it is over a minute old (a temp
    without a pid, from older versions: over a minute old), or when it is over a day old. Only
    names this project's writers produce are touched. Returns what was removed.
    """
    directory = Path(directory)
    now = time.time() if now is None else now
    removed: list[Path] = []
    if not directory.is_dir():
        return removed
    for p in directory.iterdir():
        m = (_TEMP_RE if p.name.startswith(".") else _DIR_TEMP_RE).match(p.name)
        if m is None:
            continue
        try:
            age = now - p.lstat().st_mtime
        except FileNotFoundError:
            continue
        pid = m.group("pid")
        stale = age > ABANDONED_AFTER_S or (age > STALE_AFTER_S and (pid is None or not _alive(int(pid))))
        if not stale:
            continue
        with contextlib.suppress(FileNotFoundError):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
    return removed


def write_bytes_atomic(target: str | os.PathLike[str], data: bytes) -> Path:
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(target)


def write_text_atomic(target: str | os.PathLike[str], text: str) -> Path:
    return write_bytes_atomic(target, text.encode("utf-8"))


def write_json_atomic(target: str | os.PathLike[str], obj: Any, indent: int = 2) -> Path:
    return write_text_atomic(target, json.dumps(obj, indent=indent, default=str) + "\n")
