"""Probability maps of finished runs on any scenes: from the maps saved at training, else predicted.

Shared by the report and ensemble building (the threshold search on validation events), so
neither has to import the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gee_landslide.train.data import Normalisation, Scene
from gee_landslide.train.runs import EVAL_PROBS_FILE, model_build_options


def run_probs(rec: dict, scenes: Sequence[Scene]) -> dict[str, np.ndarray]:
    """A run's probability maps of ``scenes``: those its ``eval_probs.npz`` holds (validation and
    test events, saved at the end of training) read from it, the others predicted from its
    weights, loaded once for all of them (building the model costs more than a small scene)."""
    p = Path(rec["_dir"]) / EVAL_PROBS_FILE
    out: dict[str, np.ndarray] = {}
    if p.exists():
        with np.load(p) as z:
            out = {s.event_id: z[s.event_id].astype(np.float32) for s in scenes if s.event_id in z}
    todo = [s for s in scenes if s.event_id not in out]
    if not todo:
        return out
    import torch
    from safetensors.torch import load_file

    from gee_landslide.train.architectures import create_model
    from gee_landslide.train.constraints import min_side
    from gee_landslide.train.inference import predict, ready_for_inference

    c = rec["config"]
    norm = Normalisation.from_dict(rec["normalisation"])
    model = create_model(c["architecture"], norm.out_channels, c["encoder"], None, **model_build_options(c))
    model.load_state_dict(load_file(str(Path(rec["_dir"]) / rec["weights"]["file"])))
    model = ready_for_inference(model, torch.device("cpu"))
    for s in todo:
        out[s.event_id] = predict([model], norm.select(s.stack), norm, min_size=min_side(c["architecture"]))[0]
    return out


def member_probs(runs: Sequence[dict], scenes: Sequence[Scene]) -> dict[str, np.ndarray]:
    """(M,H,W) probabilities of the runs, per scene."""
    per_run = [run_probs(r, scenes) for r in runs]
    return {s.event_id: np.stack([p[s.event_id] for p in per_run]) for s in scenes}


def pair_probs(runs: Sequence[dict], pairs: Sequence[tuple[int, Scene]]) -> dict[tuple[int, str], np.ndarray]:
    """``{(run index, event id): (H,W) probabilities}`` of only the listed (run index, scene) pairs,
    each run's model built once. Why: an object filter of runs that left events out learns from
    their out-of-bag maps alone (:func:`gee_landslide.train.objects.filter_maps`), an eighth of
    what every run on every training event would predict."""
    out: dict[tuple[int, str], np.ndarray] = {}
    for i, rec in enumerate(runs):
        mine = [s for j, s in pairs if j == i]
        if mine:
            out.update({(i, eid): p for eid, p in run_probs(rec, mine).items()})
    return out
