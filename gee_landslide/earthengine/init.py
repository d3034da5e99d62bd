"""Earth Engine initialisation: real credentials (user OAuth, service account, ADC) or offline.

Online
    :func:`resolve_credentials` finds which credentials would be used and describes them
    without secrets (:class:`CredentialInfo`); :func:`initialize` then calls
    ``ee.Initialize``, optionally on the high-volume endpoint. Order of precedence:

    1. a service-account key file (``--service-account-key`` or ``$EARTHENGINE_SERVICE_ACCOUNT_KEY``);
    2. the user OAuth token written by ``earthengine authenticate`` (``~/.config/earthengine/credentials``);
    3. application-default credentials (``gcloud auth application-default login``,
       ``$GOOGLE_APPLICATION_CREDENTIALS``, or the metadata server of a Google Cloud VM).

    The Cloud project is ``--project``, else ``$EARTHENGINE_PROJECT``, ``$EE_PROJECT_ID``,
    ``$GOOGLE_CLOUD_PROJECT``, else the credentials' quota project / the key's project.
    ``$EARTHENGINE_HIGH_VOLUME=1`` selects the high-volume endpoint, which suits
    ``computePixels`` exports.

Offline
    :func:`initialize_offline` initialises the real client with the algorithm signatures the
    earthengine-api wheel ships (``ee/tests/algorithms.json``): graphs build and serialize
    exactly as they would live, misspelt methods and arguments fail, and nothing touches the
    network. ``gee-landslide stacks plan`` and the tests use it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import ee

from gee_landslide.core.errors import GeeLandslideError
from gee_landslide.core.settings import get_settings

OFFLINE_PROJECT = "gee-landslide-offline"
HIGH_VOLUME_URL = "https://earthengine-highvolume.googleapis.com"
KEY_ENV_VAR = "EARTHENGINE_SERVICE_ACCOUNT_KEY"
HIGH_VOLUME_ENV_VAR = "EARTHENGINE_HIGH_VOLUME"
SCOPES = (
    "https://www.googleapis.com/auth/earthengine",
    "https://www.googleapis.com/auth/cloud-platform",
)

CredentialKind = Literal["service_account_key", "user_oauth", "application_default", "none"]


class AuthError(GeeLandslideError, RuntimeError):
    """No usable Earth Engine credentials or project; the message says what to do."""


@dataclass(frozen=True)
class CredentialInfo:
    """Which credentials and project are in use, safe to print (no tokens, no key material)."""

    kind: CredentialKind
    principal: str | None = None  # service-account e-mail or "user" / ADC type
    project: str | None = None
    project_source: str | None = None
    endpoint: str = "https://earthengine.googleapis.com"
    high_volume: bool = False
    source_file: str | None = None  # where the credentials came from (path only)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----------------------------------------------------------------------------- offline
_ORIGINALS: dict[str, Any] = {}


def initialize_offline(project: str = OFFLINE_PROJECT) -> None:
    """Initialise the real ``ee`` client with no network (algorithm list from the wheel).

    Patches ``ee.data.getAlgorithms`` (to ``ee.apitestcase.GetAlgorithms``), stubs
    ``ee.data._install_cloud_api_resource`` and the deprecated-asset catalog fetch, then calls
    ``ee.Initialize(credentials=None, project=project)``. :func:`reset_offline` undoes it.
    """
    from ee import apitestcase

    if not _ORIGINALS:
        _ORIGINALS.update(
            getAlgorithms=ee.data.getAlgorithms,
            install=ee.data._install_cloud_api_resource,
            stac=ee.deprecation._FetchDataCatalogStac,
        )
    ee.Reset()
    ee.data.getAlgorithms = apitestcase.GetAlgorithms
    ee.data._install_cloud_api_resource = lambda: None
    ee.deprecation._FetchDataCatalogStac = lambda: {}
    ee.Initialize(credentials=None, project=project)


def reset_offline() -> None:
    """Undo :func:`initialize_offline`: ``ee.Reset()`` and restore the patched functions."""
    ee.Reset()
    if _ORIGINALS:
        ee.data.getAlgorithms = _ORIGINALS["getAlgorithms"]
        ee.data._install_cloud_api_resource = _ORIGINALS["install"]
        ee.deprecation._FetchDataCatalogStac = _ORIGINALS["stac"]
        _ORIGINALS.clear()


@contextlib.contextmanager
def offline(project: str = OFFLINE_PROJECT) -> Iterator[None]:
    """``with offline(): ...`` builds graphs with no network, then restores the client."""
    initialize_offline(project)
    try:
        yield
    finally:
        reset_offline()


# ----------------------------------------------------------------------------- online
def _env_project() -> tuple[str | None, str | None]:
    s = get_settings()
    return s.earthengine_project, s.earthengine_project_source


def _user_oauth_arguments() -> dict[str, Any]:
    try:
        return ee.oauth.get_credentials_arguments()
    except (OSError, ValueError, json.JSONDecodeError):
        return {}


MAX_KEY_BYTES = 64 * 1024  # a service-account key is ~2.4 KB


def _read_key_file(key_path: Path) -> dict[str, Any]:
    """A service-account key as a JSON object; errors name the file and never quote its contents."""
    try:
        data = key_path.read_bytes()[: MAX_KEY_BYTES + 1]
        info = json.loads(data) if len(data) <= MAX_KEY_BYTES else None
    except (OSError, ValueError) as exc:
        where = f" at line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise AuthError(f"{key_path} is not a service-account key file: not readable JSON{where}",
                        file=key_path, hint="download a JSON key from the Cloud console") from None
    if not isinstance(info, dict):
        what = "larger than a key file can be" if info is None else f"JSON {type(info).__name__}, not an object"
        raise AuthError(f"{key_path} is not a service-account key file: {what}", file=key_path,
                        hint="download a JSON key from the Cloud console") from None
    return info


def resolve_credentials(
    project: str | None = None,
    service_account_key: str | Path | None = None,
    high_volume: bool | None = None,
) -> tuple[Any, CredentialInfo]:
    """Find the credentials and project :func:`initialize` would use (no network call).

    Returns ``(credentials, info)``; raises :class:`AuthError` when nothing usable is found.
    """
    if high_volume is None:
        high_volume = get_settings().earthengine_high_volume
    endpoint = HIGH_VOLUME_URL if high_volume else "https://earthengine.googleapis.com"
    key = service_account_key or get_settings().earthengine_service_account_key
    notes: list[str] = []
    proj, proj_src = (project, "--project") if project else _env_project()

    if key:
        from google.oauth2 import service_account

        key_path = Path(key).expanduser()
        if key_path.is_dir():
            raise AuthError(f"service-account key file {key_path} is a directory, not a JSON key file",
                            file=key_path)
        if not key_path.is_file():
            raise AuthError(f"service-account key file {key_path} does not exist")
        info = _read_key_file(key_path)
        try:
            creds = service_account.Credentials.from_service_account_info(info, scopes=list(SCOPES))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # google-auth's messages name missing fields, never values; the type is enough otherwise
            why = str(exc) if isinstance(exc, ValueError) else type(exc).__name__
            raise AuthError(f"{key_path} is not a valid service-account key file: {why}",
                            file=key_path) from None
        if not proj and info.get("project_id"):
            proj, proj_src = info["project_id"], "key file project_id"
        return creds, CredentialInfo(
            "service_account_key", creds.service_account_email, proj, proj_src, endpoint,
            high_volume, str(key_path), notes,
        )

    args = _user_oauth_arguments()
    if args.get("refresh_token"):
        from google.oauth2 import credentials as user_credentials

        creds = user_credentials.Credentials(None, **args)
        if not proj and args.get("quota_project_id"):
            proj, proj_src = args["quota_project_id"], "earthengine set_project"
        return creds, CredentialInfo(
            "user_oauth", "user (earthengine authenticate)", proj, proj_src, endpoint, high_volume,
            ee.oauth.get_credentials_path(), notes,
        )

    import google.auth
    import google.auth.exceptions

    try:
        creds, adc_project = google.auth.default(scopes=list(SCOPES))
    except google.auth.exceptions.DefaultCredentialsError:
        raise AuthError(
            "no Earth Engine credentials found. Use one of:\n"
            "  earthengine authenticate            (user OAuth)\n"
            "  gcloud auth application-default login --scopes=" + ",".join(SCOPES) + "\n"
            f"  --service-account-key KEY.json      (or ${KEY_ENV_VAR})"
        ) from None
    if not proj:
        proj = getattr(creds, "quota_project_id", None) or adc_project
        proj_src = "application-default credentials" if proj else None
    principal = getattr(creds, "service_account_email", None) or type(creds).__name__
    src = get_settings().google_application_credentials or "gcloud ADC / metadata server"
    return creds, CredentialInfo(
        "application_default", principal, proj, proj_src, endpoint, high_volume, src, notes
    )


def initialize(
    project: str | None = None,
    service_account_key: str | Path | None = None,
    high_volume: bool | None = None,
) -> CredentialInfo:
    """``ee.Initialize`` with the resolved credentials; returns what was used (no secrets)."""
    creds, info = resolve_credentials(project, service_account_key, high_volume)
    if not info.project and info.kind != "service_account_key":
        raise AuthError(
            "no Cloud project for Earth Engine: pass --project, set $EARTHENGINE_PROJECT or run "
            "`earthengine set_project PROJECT`"
        )
    ee.Initialize(
        credentials=creds,
        project=info.project,
        url=HIGH_VOLUME_URL if info.high_volume else None,
    )
    return info


def verify() -> str:
    """One cheap server round trip proving the session works; returns the server's answer."""
    return str(ee.String("gee-landslide ok").getInfo())


def ensure_initialized() -> None:
    """Initialise from the environment unless ``ee`` is already initialised (online or offline)."""
    if not ee.data.is_initialized():
        initialize()


def credentials_configured() -> bool:
    """True when Earth Engine credentials are configured in a file or the environment.

    Used to pick the default stack source for scheduled runs. It only looks at files and
    environment variables (never the network, never the GCE metadata server), so it is cheap and
    safe to call on every flow run.
    """
    s = get_settings()
    if s.earthengine_service_account_key and Path(s.earthengine_service_account_key).expanduser().is_file():
        return True
    if _user_oauth_arguments().get("refresh_token"):
        return True
    adc = s.google_application_credentials
    if adc and Path(adc).expanduser().is_file():
        return True
    gcloud_adc = Path(s.cloudsdk_config).expanduser()
    return (gcloud_adc / "application_default_credentials.json").is_file()
