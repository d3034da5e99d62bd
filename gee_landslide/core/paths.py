"""Where things live: the project root and its ``artifacts/`` and ``models/`` trees.

Everything is relative to one root so that a user can keep several projects side by side.
The root is, in order: an explicit argument, ``$GEE_LANDSLIDE_ROOT``, the current directory
(:attr:`gee_landslide.core.settings.Settings.project_root`, the one place it is resolved).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gee_landslide.core.settings import get_settings


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
        return self.stacks / event_id


def project_paths(root: str | os.PathLike[str] | None = None) -> ProjectPaths:
    if root is None:
        return ProjectPaths(get_settings().project_root)
    return ProjectPaths(Path(root).expanduser().resolve())
