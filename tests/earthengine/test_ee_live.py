"""Live Earth Engine export of one small stack (skipped without credentials and a project).

Run with: EARTHENGINE_PROJECT=my-project python -m pytest tests/test_ee_live.py -m live
"""

from __future__ import annotations

import os

import numpy as np
import pytest

pytestmark = pytest.mark.live


def _credentials_available() -> bool:
    if not os.environ.get("EARTHENGINE_PROJECT"):
        return False
    try:
        from gee_landslide.earthengine.init import resolve_credentials

        resolve_credentials()
        return True
    except Exception:
        return False


@pytest.mark.skipif(not _credentials_available(), reason="needs Earth Engine credentials and $EARTHENGINE_PROJECT")
def test_live_export_one_small_stack(tmp_path, request):
    from gee_landslide.core.catalog import load_catalog
    from gee_landslide.core.stackio import read_stack
    from gee_landslide.earthengine.event_stack import build_event_stack
    from gee_landslide.earthengine.init import initialize

    initialize()
    cat = load_catalog(request.config.rootpath / "case_studies.yaml")
    ev = cat.event("italy-22")
    defaults = cat.defaults.model_copy(update={"aoi_size_m": 500.0})
    out = build_event_stack(ev, defaults, tmp_path / ev.id, progress=print)
    stack = read_stack(out)
    assert stack.data.shape == (15, 50, 50)
    assert np.isfinite(stack.band("elevation")).all()
    assert stack.meta["source"] == "gee" and stack.meta["relative_orbit"]
