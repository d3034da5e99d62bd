"""Probability maps of finished runs on any scenes: from the maps saved at training, else predicted.

Shared by the report and ensemble building (the threshold search on validation events), so
neither has to import the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gee_landslide.train.data import Normalisation, Scene
from gee_landslide.train.runs import EVAL_PROBS_FILE


def run_probs(rec: dict, scenes: Sequence[Scene]) -> dict[str, np.ndarray]:
    """A run's probability maps of ``scenes``: from its ``eval_probs.npz`` (validation and test
    events, saved at the end of training) when it holds them all, else predicted from its weights."""
    p = Path(rec["_dir"]) / EVAL_PROBS_FILE
    ids = [s.event_id for s in scenes]
    if p.exists():
        with np.load(p) as z:
            if all(e in z for e in ids):
                return {e: z[e].astype(np.float32) for e in ids}
    import torch
    from safetensors.torch import load_file

    from gee_landslide.train.architectures import create_model
    from gee_landslide.train.constraints import min_side
    from gee_landslide.train.inference import predict, ready_for_inference

    c = rec["config"]
    norm = Normalisation.from_dict(rec["normalisation"])
    model = create_model(c["architecture"], norm.out_channels, c["encoder"], None,
                         c.get("norm", "batch"), bool(c.get("refine", False)),
                         c.get("decoder", "default"))
    model.load_state_dict(load_file(str(Path(rec["_dir"]) / rec["weights"]["file"])))
    model = ready_for_inference(model, torch.device("cpu"))
    return {s.event_id: predict([model], norm.select(s.stack), norm, min_size=min_side(c["architecture"]))[0]
            for s in scenes}


def member_probs(runs: Sequence[dict], scenes: Sequence[Scene]) -> dict[str, np.ndarray]:
    """(M,H,W) probabilities of the runs, per scene."""
    per_run = [run_probs(r, scenes) for r in runs]
    return {s.event_id: np.stack([p[s.event_id] for p in per_run]) for s in scenes}
