"""Training, evaluation and ensembles of segmentation models (the paper's section 3).

The public API the monitoring code uses is :func:`load_ensemble` and :class:`Ensemble`
(``Ensemble.predict(stack15) -> EnsemblePrediction``). Everything else is reached through
the ``gee-landslide train|leaderboard|ensemble`` commands and the Prefect flows in ``flows/``.
Imports are lazy so ``import gee_landslide.train`` does not pull in torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gee_landslide.train.ensemble import Ensemble, EnsemblePrediction, TamperedWeightsError, load_ensemble
    from gee_landslide.train.profile import Profile, load_profile

__all__ = ["Ensemble", "EnsemblePrediction", "Profile", "TamperedWeightsError", "load_ensemble", "load_profile"]

_LAZY = {
    "Ensemble": "gee_landslide.train.ensemble",
    "EnsemblePrediction": "gee_landslide.train.ensemble",
    "TamperedWeightsError": "gee_landslide.train.ensemble",
    "load_ensemble": "gee_landslide.train.ensemble",
    "Profile": "gee_landslide.train.profile",
    "load_profile": "gee_landslide.train.profile",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
