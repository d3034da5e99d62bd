"""Ensembles: the top-K runs of a setting by validation F1, combined by averaging.

Two aggregations, as in the paper: ``mean`` averages the member probabilities (the default);
``vote`` averages the members' classification maps (each member thresholded at its own
validation threshold), i.e. the share of members that call a pixel a landslide. Either way the
ensemble's threshold is chosen on the validation events (:func:`tune_threshold`) and stored in
the manifest; the report, the leaderboard and monitoring all use that stored threshold. With
the object filter (:mod:`gee_landslide.train.objects`) each member's objects are judged before
the members are combined, and that filtered ensemble has its own validation threshold
(:func:`objects_threshold`, ``objects.ensemble_threshold`` in the manifest), shared the same way.

``models/ensembles/<name>/manifest.json`` lists the members (run id, architecture, loss, learning
rate, encoder, validation F1, weights path relative to the manifest, SHA-256), the band setting,
the normalisation, the threshold and the inference tiling. :func:`load_ensemble` checks every
member's SHA-256 before loading it and refuses a changed file with :class:`TamperedWeightsError`.

Public API used by monitoring::

    ens = load_ensemble(Path("models/ensembles/s1s2/manifest.json"))
    pred = ens.predict(stack15)      # (15,H,W) float32 with NaN
    pred.mean, pred.std, pred.agreement, pred.threshold
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from safetensors.torch import load as st_load

from gee_landslide.core.atomic import write_json_atomic
from gee_landslide.core.bands import BAND_NAMES
from gee_landslide.core.bands import setting as get_setting
from gee_landslide.core.errors import GeeLandslideError
from gee_landslide.core.paths import child_dir
from gee_landslide.core.values import check_threshold
from gee_landslide.train.architectures import REFINE_DEPTH, REFINE_WIDTH, create_model
from gee_landslide.train.constraints import min_side
from gee_landslide.train.data import Normalisation
from gee_landslide.train.fingerprint import code_digest, runs_digest, stacks_digest
from gee_landslide.train.fingerprint import digest as inputs_sha
from gee_landslide.train.inference import pick_device, predict, ready_for_inference
from gee_landslide.train.runs import (
    MODEL_BUILD_FIELDS,
    WEIGHTS_FILE,
    list_runs,
    model_build_options,
    now_iso,
    sha256_bytes,
    training_events,
)

MANIFEST_FILE = "manifest.json"
FORMAT = "gee-landslide-ensemble/1"
DEFAULT_INFERENCE = {"tile": 256, "overlap": 32, "batch": 8}


class EnsembleError(GeeLandslideError, ValueError):
    """An ensemble cannot be built or loaded."""


class TamperedWeightsError(EnsembleError):
    """A member's weights file does not match the SHA-256 recorded in the manifest."""


AGGREGATIONS = ("mean", "vote")


@dataclass(frozen=True)
class Member:
    run_id: str
    architecture: str
    loss: str
    learning_rate: float
    encoder: str
    val_f1: float
    weights: str  # path relative to the manifest's directory
    sha256: str
    normalisation: dict[str, Any]
    in_channels: int
    threshold: float = 0.5  # the member's own (validation) threshold: its vote
    norm: str = "batch"  # BatchNorm or GroupNorm layers (train.architectures.to_group_norm)
    refine: bool = False  # full-resolution head (train.architectures.FullResRefine)
    decoder: str = "default"  # smp's decoder or the narrow one (train.architectures.Architecture.slim)
    decoder_norm: bool = True  # False: the decoder without its normalisation layers (create_model)
    refine_width: int = REFINE_WIDTH  # the full-resolution head's shape (train.architectures.FullResRefine)
    refine_depth: int = REFINE_DEPTH

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Member:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


@dataclass
class EnsemblePrediction:
    mean: np.ndarray  # (H,W) float32 mean member probability
    std: np.ndarray  # (H,W) float32 spread of member probabilities
    agreement: np.ndarray  # (H,W) float32 share of members voting landslide (own threshold)
    threshold: float
    aggregation: str = "mean"

    @property
    def score(self) -> np.ndarray:
        """What the ensemble's threshold applies to: the mean probability, or the vote share."""
        return self.agreement if self.aggregation == "vote" else self.mean

    @property
    def mask(self) -> np.ndarray:
        return self.score > self.threshold


def member_votes(probs: np.ndarray, member_thresholds: np.ndarray | float) -> np.ndarray:
    """(M,H,W) probabilities -> the share of members above their own threshold (H,W)."""
    t = np.asarray(member_thresholds, np.float32).reshape(-1, 1, 1) if np.ndim(member_thresholds) else member_thresholds
    return (np.asarray(probs) > t).mean(0).astype(np.float32)


def ensemble_score(probs: np.ndarray, aggregation: str, member_thresholds: np.ndarray | float) -> np.ndarray:
    """The score an ensemble thresholds: mean probability (``mean``) or vote share (``vote``)."""
    if aggregation not in AGGREGATIONS:
        raise EnsembleError(f"unknown aggregation {aggregation!r}; use one of {', '.join(AGGREGATIONS)}")
    if aggregation == "vote":
        return member_votes(probs, member_thresholds)
    return np.asarray(probs, np.float32).mean(0)


def combine(probs: np.ndarray, threshold: float, member_thresholds: np.ndarray | float = 0.5,
            aggregation: str = "mean") -> EnsemblePrediction:
    """Mean, spread and vote share of member probabilities (M,H,W)."""
    if aggregation not in AGGREGATIONS:
        raise EnsembleError(f"unknown aggregation {aggregation!r}; use one of {', '.join(AGGREGATIONS)}")
    probs = np.asarray(probs, np.float32)
    return EnsemblePrediction(
        mean=probs.mean(0).astype(np.float32),
        std=probs.std(0).astype(np.float32),
        agreement=member_votes(probs, member_thresholds),
        threshold=float(threshold),
        aggregation=aggregation,
    )


def _finite(x: Any) -> bool:
    return not isinstance(x, bool) and isinstance(x, int | float) and bool(np.isfinite(x))


def run_threshold(rec: dict[str, Any]) -> float:
    """A finished run's threshold: the one chosen on validation when the profile tuned it."""
    return float(rec.get("threshold", rec["config"].get("threshold", 0.5)))


# ----------------------------------------------------------------------------- selection / build
def select_top_k(runs_dir: Path, setting: str, k: int) -> tuple[list[dict[str, Any]], str | None]:
    """The ``k`` finished runs of a setting with the best validation F1 (ties: run id).

    Returns the records and a note when fewer than ``k`` exist.
    """
    if k < 1:
        raise EnsembleError(f"k must be >= 1, got {k}")
    s = get_setting(setting).name
    runs = list_runs(runs_dir, s)
    if not runs:
        raise EnsembleError(f"no finished runs for setting {s!r} in {runs_dir}: train first (gee-landslide train)")
    note = None
    if len(runs) < k:
        note = f"only {len(runs)} finished run(s) for setting {s!r}, fewer than K = {k}: using all of them"
    return runs[:k], note


def tune_threshold(members: list[dict[str, Any]], stacks_dir: Path, aggregation: str = "mean",
                   val_probs: dict[str, np.ndarray] | None = None) -> tuple[float, float]:
    """The threshold that maximises the ensemble's F1 on the VALIDATION events.

    Averaging members pulls probabilities towards the middle, so the members' own thresholds
    leave an ensemble under-predicting; the threshold is therefore chosen where the paper chose
    its models: on the validation events (never the test event). Returns (threshold, validation F1).
    ``val_probs``: the members' validation maps when the caller has them already.
    """
    from gee_landslide.train.data import load_scenes
    from gee_landslide.train.predictions import member_probs

    scenes = load_scenes(Path(stacks_dir), tuple(members[0]["config"]["val_events"]))
    probs = val_probs if val_probs is not None else member_probs(members, scenes)
    return _validation_threshold(members, scenes, probs, aggregation)


def _validation_threshold(members: list[dict[str, Any]], scenes: Sequence[Any], val_probs: dict[str, np.ndarray],
                          aggregation: str) -> tuple[float, float]:
    """(threshold, validation F1) of the ensemble of ``members`` (the first M of each map in
    ``val_probs``) over the validation ``scenes``: what :func:`tune_threshold` and
    :func:`k_on_validation` both choose."""
    from gee_landslide.train.metrics import PROB_CANDIDATES, best_threshold

    m = len(members)
    mt = np.array([run_threshold(r) for r in members], np.float32)
    scores = [ensemble_score(val_probs[sc.event_id][:m], aggregation, mt) for sc in scenes]
    t, counts = best_threshold(scores, scenes, PROB_CANDIDATES, members[0]["config"].get("eval_mask", "visible"))
    return t, counts.f1


def k_on_validation(members: list[dict[str, Any]], scenes: Sequence[Any], val_probs: dict[str, np.ndarray],
                    aggregation: str = "mean") -> tuple[int, dict[int, float]]:
    """The K (1 to ``len(members)``, members in order of validation F1) whose top-K ensemble has the
    best validation F1, each K at its own validation threshold (chosen as :func:`tune_threshold`
    chooses the manifest's), and that F1 for every K. Ties go to the smaller K (fewer members,
    cheaper monitoring).

    Why: with few runs a setting, a fixed K takes every run, weak ones included. On the demo's S1+S2
    runs (session 30) validation F1 peaked at K = 2-3 and fell steadily to K = 9, and the test event
    and the held-out scenes fell with it (docs/experiments.md). Choosing on validation needs neither.
    """
    curve = {k: _validation_threshold(members[:k], scenes, val_probs, aggregation)[1]
             for k in range(1, len(members) + 1)}
    return smallest_best_k(curve), curve


def smallest_best_k(val_f1_by_k: dict[int, float]) -> int:
    """The K with the best validation F1, ties to the smaller K: :func:`k_on_validation`'s choice, for a
    caller (the report) that has the curve already."""
    best = max(val_f1_by_k.values())
    return min(k for k, f in val_f1_by_k.items() if f == best)


class ThresholdChoice(NamedTuple):
    """A threshold chosen on the validation events, its validation F1, and the lowest and highest
    candidate within ``PLATEAU_F1`` of that F1 (:func:`gee_landslide.train.objects.plateau_range`)."""

    threshold: float
    f1: float
    plateau: tuple[float, float]

    def describe(self) -> str:
        """Which threshold, and how firmly the validation events chose it: the report's line."""
        from gee_landslide.train.metrics import PROB_CANDIDATES
        from gee_landslide.train.objects import PLATEAU_F1

        lo, hi = self.plateau
        text = f"threshold {self.threshold:.2f} (validation F1 {self.f1:.3f}"
        if hi > lo:
            text += f"; within {PLATEAU_F1} of it from {lo:.2f} to {hi:.2f}, which the validation events cannot rank"
        text += ")"
        if hi > lo and self.threshold == lo == PROB_CANDIDATES[0]:
            text += ("; at the lowest candidate, where a pixel counts when about one member's accepted "
                     "object covers it")
        return text


def objects_threshold(filtered: Sequence[np.ndarray], scenes: Sequence[Any], member_thresholds: Sequence[float],
                      aggregation: str, eval_mask: str) -> ThresholdChoice:
    """The threshold, validation F1 and plateau of an ensemble whose members' maps went through the
    object filter (``ObjectFilter.apply_members``; ``filtered``: one (K,H,W) array per validation scene).

    Filtering removes false objects from every member, so the combined score of what is left
    supports a different threshold than the unfiltered ensemble's: it is chosen again on the
    validation events (the argmax; sessions 35 and 36 measured the plateau's top instead, which
    confirmed fewer landslides over the monitored seasons). One member keeps its own run threshold
    (nothing is averaged). The report's "+ objects" rows and monitoring both use this function, so
    they share the threshold. The plateau says how loosely the validation events determine it: on
    the demo's draws the curve is often flat from 0.05 up to 0.15-0.45 (docs/experiments.md).
    """
    from gee_landslide.train.metrics import PROB_CANDIDATES, best_of_curve, threshold_curve
    from gee_landslide.train.objects import plateau_range

    mt = np.asarray(member_thresholds, np.float32)
    scores = [ensemble_score(f, aggregation, mt) for f in filtered]
    candidates = [float(mt[0])] if len(mt) == 1 else PROB_CANDIDATES
    curve = threshold_curve(scores, scenes, candidates, eval_mask)
    t, counts = best_of_curve(curve)
    return ThresholdChoice(float(t), counts.f1, plateau_range({c: n.f1 for c, n in curve}))


OBJECTS_FILE = "objects.npz"


def build_object_filter(members: list[dict[str, Any]], stacks_dir: Path, setting: str, out_dir: Path,
                        val_probs: dict[str, np.ndarray] | None = None,
                        aggregation: str = "mean") -> dict[str, Any] | None:
    """Fit the members' object filter (:mod:`gee_landslide.train.objects`) on their maps of the
    training events (threshold: out-of-fold train + validation), write its training table next to
    the manifest and return the manifest's ``objects`` entry; ``{"none": why}`` when there is
    nothing to learn (monitoring then runs without the filter).

    The entry also holds ``ensemble_threshold``: the threshold of the members' filtered maps
    combined (:func:`objects_threshold`, on the validation events), which monitoring applies
    where a region asks for the filter.
    """
    from gee_landslide.train.data import load_scenes
    from gee_landslide.train.filter_cache import cached_filter
    from gee_landslide.train.objects import (
        ObjectFilter,
        ObjectFilterError,
        feature_names,
        filter_maps,
        fit_object_filter,
    )
    from gee_landslide.train.predictions import member_probs, pair_probs

    c0 = members[0]["config"]
    mask = c0.get("eval_mask", "visible")
    val = load_scenes(stacks_dir, tuple(c0["val_events"]))
    val_probs = val_probs if val_probs is not None else member_probs(members, val)
    mt = [run_threshold(r) for r in members]

    def fit() -> ObjectFilter:
        train = load_scenes(stacks_dir, training_events(members))
        trained_on = [r["config"]["train_events"] for r in members]
        maps = pair_probs(members, filter_maps(trained_on, train, len(members)))
        return fit_object_filter(setting, mt, maps, train, val_probs, val, mask, trained_on=trained_on)

    try:
        flt = cached_filter(setting, members, mt, stacks_dir, mask).or_fit(fit)
    except ObjectFilterError as exc:
        return {"none": str(exc)}
    choice = objects_threshold([flt.apply_members(s.stack, val_probs[s.event_id], mt) for s in val], val,
                               mt, aggregation, mask)
    path = flt.save_table(Path(out_dir) / OBJECTS_FILE)
    return {"file": OBJECTS_FILE, "sha256": sha256_bytes(path.read_bytes()), "threshold": flt.threshold,
            "features": list(feature_names(setting)), "objects": flt.objects,
            "fit_f1": flt.fit_f1, "unfiltered_f1": flt.unfiltered_f1, "fitted_on": list(flt.fitted_on),
            "fitted_maps": flt.maps,  # every run's maps of the training events, or only their out-of-bag ones
            # thresholds whose fit F1 is within PLATEAU_F1 of the chosen one's: how loosely it is determined
            "threshold_plateau": list(flt.plateau() or ()),
            "ensemble_threshold": choice.threshold, "ensemble_val_f1": choice.f1,
            # the validation F1 curve of the filtered members combined is often flat: its plateau says how flat
            "ensemble_threshold_plateau": list(choice.plateau),
            "ensemble_threshold_note": "members' objects filtered one by one, then combined; chosen on validation"}


def build_ensemble(runs_dir: Path, ensembles_dir: Path, setting: str, k: int, name: str | None = None,
                   threshold: float | None = None, inference: dict[str, int] | None = None,
                   stacks_dir: Path | None = None, aggregation: str = "mean", rebuild: bool = False,
                   choose_k: bool = False) -> Path:
    """Write ``<ensembles_dir>/<name>/manifest.json`` for the top-K runs; returns its path.

    ``choose_k``: ``k`` is the largest size allowed, and the size is the one with the best
    validation F1 (:func:`k_on_validation`; needs ``stacks_dir``).

    The threshold is ``threshold`` if given; else, with ``stacks_dir``, the one that maximises the
    ensemble's validation F1 (:func:`tune_threshold`); else the runs' own (0.5).

    The manifest records the digest of its inputs (:func:`build_inputs`: members and their
    weights, options, the training and validation stacks, the code). When the manifest there
    already has the same digest and its files, it is kept as it is (``rebuild`` forces the work);
    :func:`build_ensemble_if_changed` also says which happened.
    """
    return build_ensemble_if_changed(runs_dir, ensembles_dir, setting, k, name, threshold, inference, stacks_dir,
                                     aggregation, rebuild, choose_k)[0]


def build_ensemble_if_changed(runs_dir: Path, ensembles_dir: Path, setting: str, k: int, name: str | None = None,
                              threshold: float | None = None, inference: dict[str, int] | None = None,
                              stacks_dir: Path | None = None, aggregation: str = "mean",
                              rebuild: bool = False, choose_k: bool = False) -> tuple[Path, bool]:
    """:func:`build_ensemble`, returning the manifest's path and whether it was written (False: kept)."""
    s = get_setting(setting)
    name = name or s.name
    out_dir = child_dir(ensembles_dir, name, "ensemble name")  # a safe name, inside ensembles_dir
    if aggregation not in AGGREGATIONS:
        raise EnsembleError(f"unknown aggregation {aggregation!r}; use one of {', '.join(AGGREGATIONS)}")
    if threshold is not None:
        check_threshold(threshold)
    if choose_k and stacks_dir is None:
        raise EnsembleError("choosing K on validation needs the stacks (stacks_dir): the validation events")
    members, note = select_top_k(runs_dir, s.name, k)
    inputs = build_inputs(members, s.name, k, name, threshold, inference, stacks_dir, aggregation)
    inputs_digest = inputs_sha({**inputs, "choose_k": True} if choose_k else inputs)
    if not rebuild and manifest_is_current(out_dir / MANIFEST_FILE, inputs_digest):
        return out_dir / MANIFEST_FILE, False
    out_dir.mkdir(parents=True, exist_ok=True)
    threshold_source = "given"
    val_f1 = None
    val_probs = None
    if stacks_dir is not None:  # the members' validation maps: for the threshold and the object filter
        from gee_landslide.train.data import load_scenes
        from gee_landslide.train.predictions import member_probs

        val_scenes = load_scenes(stacks_dir, tuple(members[0]["config"]["val_events"]))
        val_probs = member_probs(members, val_scenes)
    k_choice = None
    if choose_k:
        chosen, curve = k_on_validation(members, val_scenes, val_probs, aggregation)
        k_choice = {"on": "validation", "largest_allowed": len(members), "chosen": chosen,
                    "val_f1_by_k": {str(i): f for i, f in curve.items()},
                    "note": "the top-K ensemble with the best validation F1, ties to the smaller K"}
        # replaces select_top_k's note ("fewer than K: using all of them"), which no longer holds
        note = f"K chosen on validation: {chosen} of the top {len(members)} {s.name} runs (asked for at most {k})"
        members = members[:chosen]
        val_probs = {e: p[:chosen] for e, p in val_probs.items()}
    if threshold is not None:
        thr = float(threshold)
    elif stacks_dir is not None:
        thr, val_f1 = tune_threshold(members, stacks_dir, aggregation, val_probs)
        threshold_source = "validation"
    elif aggregation == "vote":
        thr, threshold_source = 0.5, "majority"
    else:
        thr = float(np.mean([run_threshold(r) for r in members]))
        threshold_source = "runs"
    entries = []
    for rec in members:
        wpath = Path(rec["_dir"]) / rec["weights"]["file"]
        sha = sha256_bytes(wpath.read_bytes())
        if sha != rec["weights"]["sha256"]:
            raise TamperedWeightsError(
                f"{wpath}: SHA-256 {sha[:16]}... differs from run.json ({rec['weights']['sha256'][:16]}...); "
                "the weights were changed after training - retrain the run or restore the file")
        c = rec["config"]
        entries.append({
            "run_id": rec["run_id"], "architecture": c["architecture"], "loss": c["loss"],
            "learning_rate": c["learning_rate"], "encoder": c["encoder"], "val_f1": rec["best_val_f1"],
            "test_f1": rec.get("test_metrics", {}).get("f1"),
            "weights": os.path.relpath(wpath, out_dir), "sha256": sha,
            "normalisation": rec["normalisation"],
            "in_channels": Normalisation.from_dict(rec["normalisation"]).out_channels,
            "threshold": run_threshold(rec), **model_build_options(c),
        })
    norms = {json.dumps(e["normalisation"], sort_keys=True) for e in entries}
    evidence = objects = None
    if stacks_dir is not None:  # the change an alert must show (train.evidence), on train+val only
        from gee_landslide.train.data import load_scenes
        from gee_landslide.train.evidence import fit_evidence

        c0 = members[0]["config"]
        evidence = fit_evidence(load_scenes(stacks_dir, [*training_events(members), *c0["val_events"]]), s.name)
        objects = build_object_filter(members, stacks_dir, s.name, out_dir, val_probs, aggregation)
    manifest = {
        "format": FORMAT,
        "name": name,
        "setting": s.name,
        "bands": list(s.band_names),
        "k_requested": k,
        "k": len(entries),
        "k_choice": k_choice,
        "note": note,
        "selection": "top-K finished runs of the setting by validation F1",
        "aggregation": aggregation,
        "aggregation_note": ("mean of member probabilities" if aggregation == "mean" else
                             "share of members above their own validation threshold (vote)")
                            + "; std = spread of probabilities; agreement = vote share",
        "threshold": thr,
        "threshold_source": threshold_source,
        "validation_f1_at_threshold": val_f1,
        "normalisation": entries[0]["normalisation"] if len(norms) == 1 else None,
        "evidence": evidence,
        "objects": objects,
        "inference": {**DEFAULT_INFERENCE, **members[0].get("inference", {}), **(inference or {})},
        "members": entries,
        "inputs_digest": inputs_digest,
        "created": now_iso(),
    }
    path = out_dir / MANIFEST_FILE
    write_json_atomic(path, manifest)
    return path, True


def build_inputs(members: Sequence[dict[str, Any]], setting: str, k: int, name: str, threshold: float | None,
                 inference: dict[str, int] | None, stacks_dir: Path | None, aggregation: str) -> dict[str, Any]:
    """Everything :func:`build_ensemble` computes a manifest from (its digest is stored in it)."""
    events = [*training_events(list(members)), *members[0]["config"]["val_events"]]
    return {"format": FORMAT, "code": code_digest(), "setting": setting, "k": k, "name": name,
            "threshold": threshold, "inference": inference, "aggregation": aggregation,
            "members": runs_digest(members),
            "stacks": stacks_digest(stacks_dir, events) if stacks_dir is not None else None}


def manifest_is_current(path: Path, inputs_digest: str) -> bool:
    """True when ``path`` is a readable manifest built from these inputs, with its object table."""
    try:
        man = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(man, dict) or man.get("inputs_digest") != inputs_digest:
        return False
    objects = man.get("objects")
    return not (isinstance(objects, dict) and "file" in objects and not (Path(path).parent / objects["file"]).is_file())


# ----------------------------------------------------------------------------- loading / predicting
@dataclass
class Ensemble:
    name: str
    setting: str
    members: list[Member]
    version: str
    threshold: float
    manifest_path: Path
    device: torch.device
    inference: dict[str, int]
    aggregation: str = "mean"
    models: list[torch.nn.Module] = field(repr=False, default_factory=list)
    note: str | None = None
    evidence: dict[str, Any] | None = None  # train.evidence: the change band and limit an alert must meet
    object_filter: Any = None  # train.objects.ObjectFilter refitted from the manifest's objects table
    filtered_threshold: float | None = None  # the threshold of the filtered members combined (objects_threshold)

    def __len__(self) -> int:
        return len(self.members)

    def predict_members(self, stack15: np.ndarray) -> np.ndarray:
        """Every member's probability map (M,H,W) for a (15,H,W) stack with NaN."""
        stack15 = np.asarray(stack15, np.float32)
        if stack15.ndim != 3 or stack15.shape[0] != len(BAND_NAMES):
            raise ValueError(f"expected a (15,H,W) stack in Table 2 band order, got shape {stack15.shape}")
        groups: dict[str, list[int]] = {}
        norms: dict[str, Normalisation] = {}
        for i, m in enumerate(self.members):
            n = Normalisation.from_dict(m.normalisation)
            norms.setdefault(n.digest, n)
            groups.setdefault(n.digest, []).append(i)
        out = np.empty((len(self.members), *stack15.shape[1:]), np.float32)
        inf = self.inference
        for digest, idx in groups.items():
            norm = norms[digest]
            probs = predict([self.models[i] for i in idx], norm.select(stack15), norm,
                            tile=inf["tile"], overlap=inf["overlap"], batch=inf["batch"], device=self.device,
                            min_size=max(min_side(self.members[i].architecture) for i in idx))
            out[idx] = probs
        return out

    def predict(self, stack15: np.ndarray) -> EnsemblePrediction:
        """Mean probability, spread and agreement of the members for a (15,H,W) stack with NaN."""
        return combine(self.predict_members(stack15), self.threshold,
                       np.array([m.threshold for m in self.members], np.float32), self.aggregation)

    def predict_with_objects(self, stack15: np.ndarray) -> tuple[EnsemblePrediction, np.ndarray]:
        """:meth:`predict` and the score of the members' maps after the object filter judged each
        member's objects (to compare with ``filtered_threshold``): the same members' forward pass
        gives both, as the report's "+ objects" rows are computed."""
        if self.object_filter is None:
            raise EnsembleError(f"ensemble {self.name!r} has no object filter (built without stacks?)")
        probs = self.predict_members(stack15)
        mt = np.array([m.threshold for m in self.members], np.float32)
        kept = self.object_filter.apply_members(stack15, probs, mt)
        return combine(probs, self.threshold, mt, self.aggregation), ensemble_score(kept, self.aggregation, mt)


def manifest_version(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


def load_ensemble(manifest_path: Path, device: str | None = None) -> Ensemble:
    """Load an ensemble, checking each member's SHA-256 (raises :class:`TamperedWeightsError`)."""
    manifest_path = Path(manifest_path)
    if manifest_path.is_dir():
        manifest_path = manifest_path / MANIFEST_FILE
    if not manifest_path.exists():
        raise EnsembleError(f"no ensemble manifest at {manifest_path}: build one with `gee-landslide ensemble build`")
    raw = manifest_path.read_bytes()
    try:
        man = json.loads(raw)
    except ValueError as exc:
        raise EnsembleError(f"{manifest_path}: not valid JSON ({exc})", file=manifest_path,
                            hint="rebuild it with `gee-landslide ensemble build`") from None
    if not isinstance(man, dict) or not isinstance(man.get("members", []), list):
        raise EnsembleError(f"{manifest_path}: not an ensemble manifest (a JSON object with a members list)",
                            file=manifest_path, hint="rebuild it with `gee-landslide ensemble build`")
    if man.get("format") != FORMAT:
        raise EnsembleError(f"{manifest_path}: unknown manifest format {man.get('format')!r}")
    dev = pick_device(device)
    thr = man.get("threshold")
    if isinstance(thr, bool) or not isinstance(thr, int | float) or not 0.0 < float(thr) < 1.0:
        raise EnsembleError(f"{manifest_path}: threshold = {thr!r}: must be a number within (0, 1)",
                            file=manifest_path, field="threshold", value=thr)
    aggregation = man.get("aggregation", "mean")
    if aggregation not in AGGREGATIONS:  # manifests before 'vote' held a sentence here
        aggregation = "mean" if str(aggregation).startswith("mean") else aggregation
    if aggregation not in AGGREGATIONS:
        raise EnsembleError(f"{manifest_path}: aggregation = {aggregation!r}: use one of {', '.join(AGGREGATIONS)}")
    try:
        members = [Member.from_dict(m) for m in man["members"]]
    except (KeyError, TypeError) as exc:
        raise EnsembleError(f"{manifest_path}: a member lacks a field or has a wrong one ({exc})",
                            file=manifest_path, field="members") from None
    evidence = man.get("evidence")
    if evidence is not None:
        lim = evidence.get("max_object_median") if isinstance(evidence, dict) else None
        if (not isinstance(evidence, dict) or evidence.get("band") not in BAND_NAMES
                or not _finite(lim) or not (evidence.get("max_object_contrast") is None
                                            or _finite(evidence.get("max_object_contrast")))):
            raise EnsembleError(f"{manifest_path}: evidence = {evidence!r}: expected a band name, a finite "
                                "max_object_median and a finite or null max_object_contrast", file=manifest_path,
                                field="evidence", value=evidence, hint="rebuild it with `gee-landslide ensemble build`")
    object_filter, filtered_threshold = _load_object_filter(manifest_path, man)
    # members' weights live in the models tree the manifest belongs to (models/ensembles/<name>/)
    models_root = manifest_path.resolve().parent.parent.parent
    models = []
    for m in members:
        wpath = (manifest_path.parent / m.weights).resolve()
        if not wpath.is_relative_to(models_root):
            raise EnsembleError(f"{manifest_path}: member {m.run_id} weights {m.weights!r} are outside {models_root}",
                                file=manifest_path, field="weights", value=m.weights)
        if not wpath.is_file():
            raise EnsembleError(f"{manifest_path}: member {m.run_id} weights missing at {wpath}")
        data = wpath.read_bytes()
        sha = sha256_bytes(data)
        if sha != m.sha256:
            raise TamperedWeightsError(
                f"{wpath}: SHA-256 {sha[:16]}... does not match the manifest's {m.sha256[:16]}... for member "
                f"{m.run_id}; refusing to load changed weights (retrain the run or rebuild the ensemble)")
        model = create_model(m.architecture, m.in_channels, m.encoder, None,
                             **{k: getattr(m, k) for k in MODEL_BUILD_FIELDS})
        model.load_state_dict(st_load(data))
        models.append(ready_for_inference(model, dev))
    return Ensemble(
        name=man["name"], setting=man["setting"], members=members, version=manifest_version(raw),
        threshold=float(thr), manifest_path=manifest_path, device=dev, aggregation=aggregation,
        inference={**DEFAULT_INFERENCE, **man.get("inference", {})}, models=models, note=man.get("note"),
        evidence=evidence, object_filter=object_filter, filtered_threshold=filtered_threshold,
    )


def _load_object_filter(manifest_path: Path, man: dict[str, Any]) -> tuple[Any, float | None]:
    """The manifest's object filter, refitted from its table after checking the table's SHA-256,
    and the threshold of the filtered ensemble (``ensemble_threshold``)."""
    from gee_landslide.train.objects import (
        ObjectFilter,
        ObjectFilterError,
        ObjectTableDigestError,
        feature_names,
    )

    entry = man.get("objects")
    if entry is None or (isinstance(entry, dict) and set(entry) == {"none"}):
        return None, None
    bad = lambda why, value: EnsembleError(  # noqa: E731
        f"{manifest_path}: objects = {value!r}: {why}", file=manifest_path, field="objects", value=value,
        hint="rebuild it with `gee-landslide ensemble build`")
    if not isinstance(entry, dict) or entry.get("file") != OBJECTS_FILE or not _finite(entry.get("threshold")):
        raise bad(f"expected file {OBJECTS_FILE!r}, a sha256 and a finite threshold", entry)
    ens_t = entry.get("ensemble_threshold")
    if isinstance(ens_t, bool) or not _finite(ens_t) or not 0.0 < float(ens_t) < 1.0:
        raise bad(f"ensemble_threshold = {ens_t!r}: expected a number within (0, 1) (manifests built before the "
                  "filtered ensemble had its own threshold lack it)", entry)
    if entry.get("features") != list(feature_names(man["setting"])):
        raise bad(f"features differ from this version's for setting {man['setting']!r}", entry.get("features"))
    path = manifest_path.parent / OBJECTS_FILE
    if not path.is_file():
        raise bad(f"the table {path} is missing", entry)
    try:
        flt = ObjectFilter.from_stored_table(man["setting"], path.read_bytes(), entry.get("sha256"), entry["threshold"])
        return flt, float(ens_t)
    except ObjectTableDigestError:
        raise TamperedWeightsError(f"{path}: SHA-256 does not match the manifest's; refusing a changed object "
                                   "table (rebuild the ensemble)") from None
    except (ObjectFilterError, ValueError, KeyError) as exc:
        raise bad(f"unreadable table ({exc})", entry) from None


def ensemble_dir(ensembles_dir: Path, name: str) -> Path:
    return Path(ensembles_dir) / name


__all__ = ["WEIGHTS_FILE", "Ensemble", "EnsembleError", "EnsemblePrediction", "Member",
           "TamperedWeightsError", "build_ensemble", "build_ensemble_if_changed", "combine", "load_ensemble",
           "select_top_k"]
