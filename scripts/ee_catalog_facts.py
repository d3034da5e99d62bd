"""Dev-only: print the STAC facts the asset registry relies on, from google/earthengine-catalog.

Why: :mod:`gee_landslide.earthengine.assets` records each asset's type, bands, properties and
temporal extent with its source; this script re-derives those facts from the official catalog so
a maintainer can re-check the registry when the catalog changes. It needs a checkout (or bare
git dir) of https://github.com/google/earthengine-catalog and the ``gojsonnet`` package, which
is *not* a runtime dependency of the project:

    pip install gojsonnet
    python scripts/ee_catalog_facts.py /path/to/earthengine-catalog[.git] > facts.json

Each ``catalog/<DIR>/<ID>.jsonnet`` evaluates to a STAC entry; imports are resolved inside the
catalog's ``catalog/`` tree (read with ``git show HEAD:<path>`` from a bare repository).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ENTRIES = {
    "COPERNICUS/S1_GRD_FLOAT": "catalog/COPERNICUS/COPERNICUS_S1_GRD.jsonnet",
    "COPERNICUS/S2_SR_HARMONIZED": "catalog/COPERNICUS/COPERNICUS_S2_SR_HARMONIZED.jsonnet",
    "COPERNICUS/S2_HARMONIZED": "catalog/COPERNICUS/COPERNICUS_S2_HARMONIZED.jsonnet",
    "GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED": "catalog/GOOGLE/GOOGLE_CLOUD_SCORE_PLUS_V1_S2_HARMONIZED.jsonnet",
    "COPERNICUS/DEM/GLO30": "catalog/COPERNICUS/COPERNICUS_DEM_GLO30.jsonnet",
    "USGS/SRTMGL1_003": "catalog/USGS/USGS_SRTMGL1_003.jsonnet",
    "ESA/WorldCover/v200": "catalog/ESA/ESA_WorldCover_v200.jsonnet",
    "ESA/WorldCover/v100": "catalog/ESA/ESA_WorldCover_v100.jsonnet",
    "GOOGLE/DYNAMICWORLD/V1": "catalog/GOOGLE/GOOGLE_DYNAMICWORLD_V1.jsonnet",
}


def reader(repo: Path):
    """A function path -> text for the checkout or bare git dir ``repo``."""
    if (repo / "catalog").is_dir():
        return lambda rel: (repo / rel).read_text(encoding="utf-8")

    def git_show(rel: str) -> str:
        out = subprocess.run(["git", "--git-dir", str(repo), "show", f"HEAD:{rel}"],
                             capture_output=True, text=True, check=False)
        if out.returncode:
            raise RuntimeError(out.stderr.strip())
        return out.stdout

    return git_show


def evaluate(repo: Path, rel: str) -> dict[str, Any]:
    import _gojsonnet

    read = reader(repo)

    def import_callback(base: str, name: str) -> tuple[str, bytes]:
        candidates = [str(Path(base) / name), str(Path("catalog") / name)]
        for cand in candidates:
            cand = str(Path(cand))
            try:
                return cand, read(cand).encode()
            except (OSError, RuntimeError):
                continue
        raise RuntimeError(f"cannot import {name} from {base}")

    text = read(rel)
    return json.loads(_gojsonnet.evaluate_snippet(rel, text, import_callback=import_callback,
                                                  jpathdir=[]))


def summary(stac: dict[str, Any]) -> dict[str, Any]:
    summ = stac.get("summaries", {})
    return {
        "id": stac.get("id"),
        "gee:type": stac.get("gee:type"),
        "temporal": stac.get("extent", {}).get("temporal", {}).get("interval"),
        "bands": [b.get("name") for b in summ.get("eo:bands", [])],
        "properties": [p.get("name") for p in summ.get("gee:schema", [])],
        "scale": {b.get("name"): b.get("gee:scale") for b in summ.get("eo:bands", []) if b.get("gee:scale")},
        "classes": {b.get("name"): [(c.get("value"), c.get("description")) for c in b.get("gee:classes", [])]
                    for b in summ.get("eo:bands", []) if b.get("gee:classes")},
    }


def main(argv: list[str]) -> int:
    repo = Path(argv[1] if len(argv) > 1 else ".")
    out = {}
    for asset, rel in ENTRIES.items():
        try:
            out[asset] = {"file": rel, **summary(evaluate(repo, rel))}
        except Exception as exc:  # report and continue: one broken entry must not hide the rest
            out[asset] = {"file": rel, "error": str(exc)}
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
