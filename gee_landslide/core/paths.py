"""Where things live: the project root and its ``artifacts/`` and ``models/`` trees.

Everything is relative to one root so that a user can keep several projects side by side.
The root is, in order: an explicit argument, ``$GEE_LANDSLIDE_ROOT``, the current directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


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
        root = os.environ.get("GEE_LANDSLIDE_ROOT") or os.getcwd()
    return ProjectPaths(Path(root).resolve())
