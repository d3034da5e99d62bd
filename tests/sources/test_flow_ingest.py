"""The Prefect ``ingest`` flow on the simulated source, under Prefect's test harness.

If the simulated source (gee_landslide.simulate.build_event_stack) is not importable yet, a tiny
builder that writes a valid stack through stackio.write_stack stands in for it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers_project import HARNESS_STARTUP_S

from gee_landslide.core.bands import N_BANDS
from gee_landslide.core.grid import grid_around
from gee_landslide.core.stackio import read_meta, read_stack, write_stack

EVENTS = ["norway-5", "india-19"]


@pytest.fixture(scope="module")
def harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=HARNESS_STARTUP_S):
        yield


def tiny_builder(calls):
    def build(event, defaults, out_dir, *, force=False, progress=None):
        calls.append(event.id)
        grid = grid_around(event.lat, event.lon, 200, 10)
        data = np.random.default_rng(0).normal(size=(N_BANDS, *grid.shape)).astype(np.float32)
        write_stack(out_dir, data, grid, np.zeros(grid.shape, np.uint8),
                    {"source": "simulated", "event_id": event.id})
        return Path(out_dir)

    return build


@pytest.fixture
def project(tmp_path, request, monkeypatch):
    shutil.copy(request.config.rootpath / "case_studies.yaml", tmp_path / "case_studies.yaml")
    monkeypatch.setenv("GEE_LANDSLIDE_ROOT", str(tmp_path))
    calls: list[str] = []
    try:
        from gee_landslide.simulate import build_event_stack  # noqa: F401

        real = True
    except ImportError:
        real = False
    if not real:
        from types import SimpleNamespace

        import gee_landslide.sources.build as ingest_mod

        monkeypatch.setattr(
            ingest_mod, "get_source", lambda source: SimpleNamespace(build_event_stack=tiny_builder(calls))
        )
    return tmp_path, calls, real


def test_ingest_flow_builds_skips_and_rebuilds(harness, project):
    from prefect.client.orchestration import get_client  # noqa: F401

    from flows.ingest import ingest

    root, calls, real = project
    tmp_path = root
    text = (tmp_path / "case_studies.yaml").read_text()
    assert "  # s1_post_variant_looks: [2]\n" in text
    (tmp_path / "case_studies.yaml").write_text(text.replace("  # s1_post_variant_looks: [2]\n", "  s1_post_variant_looks: [2]\n"))
    rows = ingest(source="simulated", events=EVENTS, root=str(root))
    # each event, then its variant with the catalog's two Sentinel-1 post looks
    stacks = [s for e in EVENTS for s in (e, f"{e}.s1looks2")]
    assert [r["event_id"] for r in rows] == stacks
    assert all(r["status"] == "built" for r in rows)
    for sid in stacks:
        stack = read_stack(root / "artifacts" / "stacks" / sid)
        assert stack.data.shape[0] == N_BANDS
        assert read_meta(root / "artifacts" / "stacks" / sid)["source"] == "simulated"
    assert read_meta(root / "artifacts" / "stacks" / "norway-5.s1looks2")["s1_post_looks"] == 2
    if not real:
        assert calls == EVENTS or sorted(calls) == sorted(EVENTS)

    # second run: cached (or skipped), nothing rebuilt
    n = len(calls)
    rows = ingest(source="simulated", events=EVENTS, root=str(root))
    assert all(r["status"] in ("cached", "skipped") for r in rows)
    assert len(calls) == n

    # a deleted stack is rebuilt even though its cache key existed
    shutil.rmtree(root / "artifacts" / "stacks" / "india-19")
    shutil.rmtree(root / "artifacts" / "stacks" / "norway-5.s1looks2")
    rows = ingest(source="simulated", events=EVENTS, root=str(root))
    status = {r["event_id"]: r["status"] for r in rows}
    assert status["india-19"] == "built" and status["norway-5"] in ("cached", "skipped")
    assert status["norway-5.s1looks2"] == "built" and status["india-19.s1looks2"] in ("cached", "skipped")

    # force rebuilds everything
    rows = ingest(source="simulated", events=["norway-5"], force=True, root=str(root))
    assert rows[0]["status"] == "built"


def test_ingest_flow_writes_a_table_artifact(harness, project, monkeypatch):
    import uuid

    import flows.ingest as flow_mod

    root, _, _ = project
    made = []
    real_create = flow_mod.create_table_artifact

    def spy(table, key=None, description=None):
        artifact_id = real_create(table=table, key=key, description=description)
        made.append((artifact_id, key, table))
        return artifact_id

    monkeypatch.setattr(flow_mod, "create_table_artifact", spy)
    flow_mod.ingest(source="simulated", events=["norway-5"], root=str(root))
    assert len(made) == 1
    artifact_id, key, table = made[0]
    assert isinstance(artifact_id, uuid.UUID)  # accepted by the (test) Prefect server
    assert key == "ingest-simulated"
    assert table[0]["event_id"] == "norway-5" and table[0]["status"] in ("built", "cached", "skipped")


def test_unknown_event_fails_fast(harness, project):
    from flows.ingest import ingest

    root, _, _ = project
    with pytest.raises(KeyError, match="no event 'nope'"):
        ingest(source="simulated", events=["nope"], root=str(root))
