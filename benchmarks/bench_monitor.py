"""Monitoring-pass cost and quality on simulated scenes (prints figures; not a test).

Runs the ``norway`` region's ensemble on:

- the 2 km x 2 km event AOI of norway-5 (at its event date),
- a region of at least 100 km2 around it, with landslides injected before the run date,

with and without the change gate, and prints seconds per km2 (the whole pass, and of it the
ensemble's inference alone: the rest is drawing the simulated scene, merging alerts and writing
feeds and maps), object-level precision / recall against the simulator's truth, and what the gate
skipped and missed.

A single pass over a region; the cost over a season of passes, per ensemble, with its ratio to a bare
forward pass, is ``bench_time_to_alert.py``'s (issue #10's "time-to-alert benchmark").

    python benchmarks/bench_monitor.py --root . --ensemble s1s2 --date 2025-08-01
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from gee_landslide.core.catalog import Region, RegionSimulation, load_catalog
from gee_landslide.core.paths import project_paths
from gee_landslide.monitor.pass_context import GateConfig, load_pass_ensemble, prepare_pass
from gee_landslide.monitor.runner import run_pass


def bbox_around(lat: float, lon: float, km: float) -> tuple[float, float, float, float]:
    import math

    dlat = km / 2 / 111.32
    dlon = km / 2 / (111.32 * math.cos(math.radians(lat)))
    return (lon - dlon, lat - dlat, lon + dlon, lat + dlat)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=".")
    ap.add_argument("--ensemble", default="s1s2")
    ap.add_argument("--date", default="2025-08-01")
    ap.add_argument("--region-km", type=float, default=10.2)
    ap.add_argument("--landslides", type=int, default=40, help="injected per date in the big region")
    a = ap.parse_args()

    src = project_paths(a.root)
    cat = load_catalog(src.catalog)
    run_date = dt.date.fromisoformat(a.date)
    norway = cat.event("norway-5")
    work = Path(tempfile.mkdtemp(prefix="bench-monitor-"))
    try:
        # a scratch project sharing the models, so the benchmark never touches the real alert store
        (work / "models").symlink_to(src.models.resolve())
        shutil.copy(src.catalog, work / "case_studies.yaml")
        paths = project_paths(work)
        inject = run_date - dt.timedelta(days=12)
        regions = {
            "aoi-2km": Region(name="norway-5 AOI", bbox=bbox_around(norway.lat, norway.lon, 2.0),
                              ensemble=a.ensemble, tile_px=256,
                              simulation=RegionSimulation(seed=5, landslide_dates=[inject], landslides_per_date=4)),
            "region-100km2": Region(name="Sunnfjord 100+ km2", bbox=bbox_around(norway.lat, norway.lon, a.region_km),
                                    ensemble=a.ensemble, tile_px=512,
                                    simulation=RegionSimulation(seed=5, landslide_dates=[inject],
                                                                landslides_per_date=a.landslides)),
        }
        cat = cat.model_copy(update={"regions": {**cat.regions, **regions}})
        ens = load_pass_ensemble(prepare_pass(cat, paths, "aoi-2km", run_date))
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
              f"ensemble {a.ensemble}: K = {len(ens.members)}, version {ens.version}")
        print(f"{'region':<15} {'gate':<5} {'km2':>7} {'tiles':>6} {'gated':>6} {'s':>7} {'s/km2':>7} "
              f"{'model s/km2':>11} {'dets':>5} {'P':>5} {'R':>5} {'truth':>6} {'missed_by_gate':>14}")
        for rid in regions:
            for gate in (False, True):
                shutil.rmtree(paths.alerts, ignore_errors=True)
                r = run_pass(cat, paths, rid, run_date, "simulated", gate=GateConfig(enabled=gate))
                s = r.scores
                print(f"{rid:<15} {'on' if gate else 'off':<5} {r.area_km2:7.1f} {r.tiles:6d} {r.gated_tiles:6d} "
                      f"{r.seconds:7.1f} {r.seconds_per_km2:7.2f} {r.predict_seconds_per_km2:11.3f} {s.detections:5d} {s.precision:5.2f} "
                      f"{s.recall:5.2f} {s.truth_objects:6d} {r.gate_missed_objects:14d}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
