"""Build the simulated scenes of every catalog event and print per-band statistics.

    python scripts/simulator_stats.py [case_studies.yaml]

For each of the 15 bands: the min / median / max over the events of each event's own
min / median / max (NaN ignored), then per event the landslide count and pixel count.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from gee_landslide.core.bands import BAND_NAMES
from gee_landslide.core.catalog import load_catalog
from gee_landslide.simulate import simulate_event
from gee_landslide.simulate.climate import koppen_name


def main(path: str = "case_studies.yaml") -> None:
    catalog = load_catalog(Path(path))
    stats = []  # (event, band, [min, median, max])
    rows = []
    times = []
    for ev in catalog.events:
        t0 = time.perf_counter()
        sc = simulate_event(ev, catalog.defaults)
        times.append(time.perf_counter() - t0)
        stats.append(
            [[np.nanmin(b), np.nanmedian(b), np.nanmax(b)] for b in sc.data.astype(np.float64)]
        )
        veg = np.isin(sc.data[13], (2, 3, 4, 7))
        lab = sc.labels == 1
        rows.append(
            (
                ev.id,
                koppen_name(int(sc.data[11][0, 0])),
                sc.meta["relief_m"],
                len(sc.inventory),
                int(lab.sum()),
                100.0 * lab.mean(),
                float(np.nanmean(sc.data[14][lab])),
                float(np.nanmean(sc.data[14][~lab])),
                float(np.nanmean(sc.data[5][lab & veg])) if (lab & veg).any() else float("nan"),
                float(np.nanmean(sc.data[2][lab])),
            )
        )
    a = np.asarray(stats)  # (events, bands, 3)
    print(f"{len(catalog.events)} events, {np.mean(times):.2f} s per scene (max {np.max(times):.2f} s)\n")
    print(f"{'#':>2} {'band':<20}{'min: min':>10}{'med':>9}{'max':>9} |{'median: min':>12}{'med':>9}{'max':>9} |"
          f"{'max: min':>10}{'med':>9}{'max':>9}")
    for i, name in enumerate(BAND_NAMES):
        cells = []
        for j in range(3):
            col = a[:, i, j]
            cells.append(f"{np.min(col):9.2f}{np.median(col):9.2f}{np.max(col):9.2f}")
        print(f"{i:>2} {name:<20}{cells[0]} |   {cells[1]} | {cells[2]}")
    print()
    print(f"{'event':<16}{'KG':<5}{'relief_m':>9}{'slides':>7}{'px':>7}{'%AOI':>6}"
          f"{'dNDVI in':>9}{'out':>7}{'dVH veg-in':>11}{'dVV in':>8}")
    for r in rows:
        print(f"{r[0]:<16}{r[1]:<5}{r[2]:>9.0f}{r[3]:>7}{r[4]:>7}{r[5]:>6.1f}{r[6]:>9.3f}{r[7]:>7.3f}"
              f"{r[8]:>11.2f}{r[9]:>8.2f}")
    px = np.array([r[4] for r in rows])
    print(f"\nlandslide px per event: min {px.min()}, median {int(np.median(px))}, max {px.max()}, total {px.sum()}")


if __name__ == "__main__":
    main(*sys.argv[1:])
