"""Digests of everything a derived artefact (an ensemble, the report) was computed from.

Why: ensembles and the report are pure functions of the runs' weights, the stacks, the options
and the code. A second ``make demo`` (or a scheduled rebuild) with none of those changed spent
about two minutes recomputing identical ensembles, object filters and figures. The builder
stores the digest of its inputs beside its output and skips the work when a new digest equals
it. The code counts as an input: a changed feature or threshold rule must rebuild, so the digest
covers the source of the packages the result depends on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import gee_landslide

PACKAGE_DIR = Path(gee_landslide.__file__).resolve().parent


def digest(obj: Any) -> str:
    """SHA-256 of the canonical JSON of ``obj`` (sorted keys, no whitespace)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


@lru_cache(maxsize=8)
def code_digest(subpackages: tuple[str, ...] = ("core", "train", "simulate", "sources")) -> str:
    """SHA-256 over the source files of ``gee_landslide.<subpackage>`` (paths and contents)."""
    h = hashlib.sha256()
    for sub in subpackages:
        for f in sorted((PACKAGE_DIR / sub).rglob("*.py")):
            h.update(str(f.relative_to(PACKAGE_DIR)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def _update_file(h: Any, p: Path) -> None:
    h.update(p.name.encode() + b"\0")
    with open(p, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    h.update(b"\0")


def stacks_digest(stacks_dir: Path, event_ids: Sequence[str]) -> str:
    """The content of the events' stack directories (every file in each), in event order."""
    h = hashlib.sha256()
    for e in event_ids:
        h.update(f"<event {e}>".encode())
        for p in sorted(q for q in (Path(stacks_dir) / e).glob("*") if q.is_file()):
            _update_file(h, p)
    return h.hexdigest()


def runs_digest(runs: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Run ids with the SHA-256 of their weights, as recorded at training."""
    return [[r["run_id"], r["weights"]["sha256"]] for r in runs]
