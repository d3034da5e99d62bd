"""Fixtures shared by the Earth Engine tests: the real client offline, and the project catalog."""

from __future__ import annotations

import pytest

from gee_landslide.core.catalog import load_catalog


@pytest.fixture
def ee_offline():
    """The real earthengine-api client, initialised offline with the algorithms its wheel ships."""
    import ee

    from gee_landslide.earthengine.init import offline

    with offline():
        assert ee.data.is_initialized()
        yield ee
    assert not ee.data.is_initialized()


@pytest.fixture(scope="module")
def catalog(request):
    return load_catalog(request.config.rootpath / "case_studies.yaml")
