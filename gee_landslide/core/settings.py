"""The project's settings: one object, read from the environment in one place.

Every ``GEE_LANDSLIDE_*`` variable (and the Google variables the Earth Engine client honours)
is declared here, with its type and default, and read through :func:`get_settings`; no other
module reads ``os.environ``. Settings are read afresh on every call (cheap), so a test or a
long-running process that changes the environment sees the change.

=================================  ==============================================================
variable                           meaning
=================================  ==============================================================
``GEE_LANDSLIDE_ROOT``             project root (``artifacts/``, ``models/``); default: cwd
``GEE_LANDSLIDE_EE_WORKERS``       concurrent Earth Engine requests per export (default 4)
``GEE_LANDSLIDE_EE_TILE_PX``       export tile side in px (default: as large as the limit allows)
``GEE_LANDSLIDE_KG_ASSET``         Köppen-Geiger asset id
``GEE_LANDSLIDE_TREE_HEIGHT_ASSET`` canopy-height asset id
``GEE_LANDSLIDE_FEED_BASE_URL``    public URL the feeds are served from
``GEE_LANDSLIDE_TILE_URL``         XYZ tile URL for the web map's basemap (default: offline hillshade)
``GEE_LANDSLIDE_WEBHOOK_URL``      webhook told about new alerts
``GEE_LANDSLIDE_APPRISE_URLS``     Apprise URLs told about new alerts (comma or space separated)
``GEE_LANDSLIDE_NOTIFY_URL``       one webhook/Apprise URL for scheduled monitoring passes
``GEE_LANDSLIDE_DASK_ADDRESS``     Dask scheduler for monitoring tiles
``EARTHENGINE_PROJECT``            Cloud project for Earth Engine (also ``EE_PROJECT_ID``,
                                   ``GOOGLE_CLOUD_PROJECT``)
``EARTHENGINE_SERVICE_ACCOUNT_KEY`` service-account JSON key file
``EARTHENGINE_HIGH_VOLUME``        use the high-volume endpoint (1/true/yes)
``GOOGLE_APPLICATION_CREDENTIALS`` application-default credentials file
``CLOUDSDK_CONFIG``                gcloud configuration directory
=================================  ==============================================================
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gee_landslide.core.errors import GeeLandslideError

ENV_PREFIX = "GEE_LANDSLIDE_"
PROJECT_ENV_VARS = ("EARTHENGINE_PROJECT", "EE_PROJECT_ID", "GOOGLE_CLOUD_PROJECT")


class SettingsError(GeeLandslideError, ValueError):
    """An environment variable with a value that cannot be used."""


class Settings(BaseSettings):
    """Everything configurable from the environment (see the module docstring for the table)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", populate_by_name=True)

    root: Path | None = None
    ee_workers: int = Field(4, ge=1, le=64)
    ee_tile_px: int | None = Field(None, ge=16)
    kg_asset: str | None = None
    tree_height_asset: str | None = None
    feed_base_url: str | None = None
    tile_url: str | None = None
    webhook_url: str | None = None
    apprise_urls: str = ""
    notify_url: str | None = None
    dask_address: str | None = None

    # the Google / Earth Engine client's own variables (no prefix)
    earthengine_project: str | None = Field(None, validation_alias=AliasChoices(*PROJECT_ENV_VARS))
    earthengine_service_account_key: str | None = Field(
        None, validation_alias=AliasChoices("EARTHENGINE_SERVICE_ACCOUNT_KEY")
    )
    earthengine_high_volume: bool = Field(False, validation_alias=AliasChoices("EARTHENGINE_HIGH_VOLUME"))
    google_application_credentials: str | None = Field(
        None, validation_alias=AliasChoices("GOOGLE_APPLICATION_CREDENTIALS")
    )
    cloudsdk_config: str = Field("~/.config/gcloud", validation_alias=AliasChoices("CLOUDSDK_CONFIG"))

    @field_validator(
        "root", "ee_tile_px", "kg_asset", "tree_height_asset", "feed_base_url", "tile_url", "webhook_url",
        "notify_url", "dask_address", "earthengine_project", "earthengine_service_account_key",
        "google_application_credentials", mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, v: object) -> object:
        # `export GEE_LANDSLIDE_ROOT=` means "not set", as it did before
        return None if v == "" else v

    @field_validator("earthengine_high_volume", mode="before")
    @classmethod
    def _truthy(cls, v: object) -> object:
        if isinstance(v, str):
            return v.strip().lower() in ("1", "true", "yes")
        return v

    # -- derived values
    @property
    def project_root(self) -> Path:
        """The project root: ``$GEE_LANDSLIDE_ROOT`` or the current directory, resolved."""
        return (self.root or Path.cwd()).expanduser().resolve()

    @property
    def apprise_url_list(self) -> tuple[str, ...]:
        return tuple(u for u in re.split(r"[\s,]+", self.apprise_urls) if u)

    @property
    def earthengine_project_source(self) -> str | None:
        """Which variable the Earth Engine project came from (``$EARTHENGINE_PROJECT``, ...)."""
        for var in PROJECT_ENV_VARS:
            if os.environ.get(var):
                return f"${var}"
        return None


def get_settings() -> Settings:
    """The settings from the current environment; a bad value raises :class:`SettingsError`."""
    try:
        return Settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err.get("loc") else "?"
        var = field.upper() if field.startswith(("earthengine", "google", "cloudsdk")) else ENV_PREFIX + field.upper()
        value = err.get("input")
        if "url" in field and isinstance(value, str):  # a webhook URL holds its token: never print it
            from gee_landslide.core.urls import redact_urls

            value = redact_urls(value)
        raise SettingsError(f"environment variable ${var} = {value!r}: {err['msg']}", field=var, value=value) from None


def resolve_path(path: str | os.PathLike[str]) -> Path:
    """A catalog path: absolute as given, relative to the project root otherwise."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else get_settings().project_root / p
