"""Where things live: the project root and its ``artifacts/`` and ``models/`` trees.

Everything is relative to one root so that a user can keep several projects side by side.
The root is, in order: an explicit argument, ``$GEE_LANDSLIDE_ROOT``, the current directory
(:attr:`gee_landslide.core.settings.Settings.project_root`, the one place it is resolved).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from gee_landslide.core.errors import GeeLandslideError
from gee_landslide.core.settings import get_settings

# an id or name that becomes one path component (event, region, ensemble): no '/', no leading '.'
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class UnsafeNameError(GeeLandslideError, ValueError):
    """An id or name that would not stay one plain directory inside its root."""


def safe_name(value: str, field: str) -> str:
    """``value`` if it is a safe name (lower-case letters, digits, '.', '_', '-'; at most 64)."""
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise UnsafeNameError(
            f"{field} {value!r} is not a safe name: use lower-case letters, digits, '.', '_' and '-' "
            "(at most 64, starting with a letter or digit)", field=field, value=value,
        )
    return value


def child_dir(root: str | os.PathLike[str], name: str, field: str) -> Path:
    """``root/name`` for a safe ``name``, checked to resolve inside ``root`` (symlinks included)."""
    root = Path(root)
    path = root / safe_name(name, field)
    if not path.resolve().is_relative_to(root.resolve()):
        raise UnsafeNameError(f"{field} {name!r}: {path} resolves outside {root}", field=field, value=name,
                              file=path)
    return path


@dataclass(frozen=True)
class ProjectPaths:
    root: Path

    @property
    def catalog(self) -> Path:
        return self.root / "case_studies.yaml"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def stacks(self) -> Path:
        return self.artifacts / "stacks"

    @property
    def monitor(self) -> Path:
        return self.artifacts / "monitor"

    @property
    def alerts(self) -> Path:
        return self.artifacts / "alerts"

    @property
    def reports(self) -> Path:
        return self.artifacts / "reports"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def runs(self) -> Path:
        return self.models / "runs"

    @property
    def ensembles(self) -> Path:
        return self.models / "ensembles"

    def stack_dir(self, event_id: str) -> Path:
        return child_dir(self.stacks, event_id, "event id")

    def ensemble_dir(self, name: str) -> Path:
        return child_dir(self.ensembles, name, "ensemble name")


def project_paths(root: str | os.PathLike[str] | None = None) -> ProjectPaths:
    if root is None:
        return ProjectPaths(get_settings().project_root)
    return ProjectPaths(Path(root).expanduser().resolve())
