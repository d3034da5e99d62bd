"""Prefect flow ``ensemble``: build the top-K ensemble of a setting, check it loads, report.

Calls the same library code as ``gee-landslide ensemble build|report``: writes
``models/ensembles/<name>/manifest.json`` (name defaults to the setting, e.g. ``s1s2``, the
ensemble the monitoring regions refer to), loads it back through :func:`load_ensemble` (which
verifies every member's SHA-256) and, with ``report=True``, writes Table 7/8 and Figures 5-7
under ``artifacts/reports/``. An ensemble or report whose inputs (runs, weights, stacks, options,
code) are unchanged is kept as it is (``rebuild=True`` redoes both).

    python -m flows.ensemble --setting s1s2 --k 20
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from gee_landslide.core.paths import project_paths
from gee_landslide.train.ensemble import build_ensemble_if_changed, load_ensemble
from gee_landslide.train.report import write_report_if_changed


@task(name="build-ensemble", cache_policy=NO_CACHE)
def build_task(root: str, setting: str, k: int, name: str | None, rebuild: bool = False,
               choose_k: bool = False) -> str:
    paths = project_paths(root)
    out, written = build_ensemble_if_changed(paths.runs, paths.ensembles, setting, k, name, stacks_dir=paths.stacks,
                                             rebuild=rebuild, choose_k=choose_k)
    if not written:
        print(f"{out}: members, weights, stacks, options and code unchanged - kept (rebuild=True rebuilds)")
    return str(out)


@task(name="verify-ensemble", cache_policy=NO_CACHE)
def verify_task(manifest: str) -> dict[str, Any]:
    ens = load_ensemble(Path(manifest), device="cpu")
    return {"name": ens.name, "setting": ens.setting, "members": len(ens.members), "version": ens.version,
            "note": ens.note}


@task(name="ensemble-report", cache_policy=NO_CACHE)
def report_task(root: str, rebuild: bool = False) -> str:
    paths = project_paths(root)
    from gee_landslide.core.catalog import load_catalog

    md, written = write_report_if_changed(paths.runs, paths.stacks, paths.reports, rebuild,
                                          catalog=load_catalog(paths.catalog))
    if not written:
        print(f"{md}: runs, stacks, held-out events, options and code unchanged - kept (rebuild=True rebuilds)")
    return str(md)


@flow(name="ensemble", log_prints=True)
def ensemble(setting: str = "s1s2", k: int = 20, name: str | None = None, report: bool = True,
             root: str | None = None, rebuild: bool = False, choose_k: bool = False) -> dict[str, Any]:
    """``choose_k``: ``k`` is the largest size, and the build takes the top-K with the best validation F1."""
    logger = get_run_logger()
    root = str(project_paths(root).root)
    manifest = build_task(root, setting, k, name, rebuild, choose_k)
    info = verify_task(manifest)
    if info["note"]:
        logger.warning(info["note"])
    logger.info("ensemble %s (%s): %d members, version %s", info["name"], info["setting"], info["members"],
                info["version"])
    out = {"manifest": manifest, **info}
    if report:
        md = report_task(root, rebuild)
        out["report"] = md
        create_markdown_artifact(key="ensemble-report", markdown=Path(md).read_text(),
                                 description=f"ensemble {info['name']}")
    man = json.loads(Path(manifest).read_text())
    out["member_ids"] = [m["run_id"] for m in man["members"]]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--setting", default="s1s2")
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--name")
    ap.add_argument("--no-report", action="store_true")
    ap.add_argument("--root")
    ap.add_argument("--rebuild", action="store_true", help="rebuild even if nothing the build reads changed")
    ap.add_argument("--choose-k", action="store_true", help="--k is the largest size: choose K on validation")
    a = ap.parse_args()
    ensemble(setting=a.setting, k=a.k, name=a.name, report=not a.no_report, root=a.root or str(Path.cwd()),
             rebuild=a.rebuild, choose_k=a.choose_k)


if __name__ == "__main__":
    main()
