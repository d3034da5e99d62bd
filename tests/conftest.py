"""Test configuration: no network, no hub downloads, a throw-away project root per test."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# google-auth probes the GCE metadata server (a link-local address) when it finds no credentials:
# never let a test send traffic off this machine
os.environ["NO_GCE_CHECK"] = "true"
os.environ["GCE_METADATA_HOST"] = "127.0.0.1:9"
os.environ["GCE_METADATA_IP"] = "127.0.0.1:9"

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture
def catalog_path() -> Path:
    return REPO / "case_studies.yaml"


@pytest.fixture
def shared_dir() -> Path:
    return SHARED


@pytest.fixture(scope="session")
def small_project(tmp_path_factory):
    """A built 5-event project with a 2-model s1s2 ensemble (read-only: copy before writing)."""
    from helpers_project import build_small_project

    return build_small_project(tmp_path_factory.mktemp("project"), REPO / "case_studies.yaml")
