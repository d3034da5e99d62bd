"""``gee-landslide auth check`` resolves credentials offline and never prints secrets."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from gee_landslide.cli import app

SECRET = "1//super-secret-refresh-token"


@pytest.fixture
def no_ambient_credentials(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("GOOGLE_APPLICATION_CREDENTIALS", "EARTHENGINE_PROJECT", "EE_PROJECT_ID",
                "GOOGLE_CLOUD_PROJECT", "EARTHENGINE_SERVICE_ACCOUNT_KEY", "EARTHENGINE_HIGH_VOLUME",
                "CLOUDSDK_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")  # no metadata server either
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    return tmp_path


def service_account_key(path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    info = {
        "type": "service_account", "project_id": "landslide-sa-project", "private_key_id": "abc123",
        "private_key": pem, "client_email": "ingest@landslide-sa-project.iam.gserviceaccount.com",
        "client_id": "1234", "token_uri": "https://oauth2.googleapis.com/token",
    }
    path.write_text(json.dumps(info))
    return pem


def test_service_account_key(no_ambient_credentials):
    key = no_ambient_credentials / "key.json"
    pem = service_account_key(key)
    res = CliRunner().invoke(app, ["auth", "check", "--offline", "--json", "--high-volume",
                                   "--service-account-key", str(key)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["kind"] == "service_account_key"
    assert out["principal"] == "ingest@landslide-sa-project.iam.gserviceaccount.com"
    assert out["project"] == "landslide-sa-project" and out["project_source"] == "key file project_id"
    assert out["endpoint"] == "https://earthengine-highvolume.googleapis.com" and out["high_volume"]
    assert "PRIVATE KEY" not in res.output and pem.splitlines()[1] not in res.output


def test_user_oauth_with_project_flag(no_ambient_credentials):
    cred = no_ambient_credentials / ".config" / "earthengine" / "credentials"
    cred.parent.mkdir(parents=True)
    cred.write_text(json.dumps({"refresh_token": SECRET, "project": "stored-project"}))
    res = CliRunner().invoke(app, ["auth", "check", "--offline", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["kind"] == "user_oauth" and out["project"] == "stored-project"
    assert out["endpoint"] == "https://earthengine.googleapis.com"
    res = CliRunner().invoke(app, ["auth", "check", "--offline", "--project", "other"])
    assert res.exit_code == 0 and "other" in res.output and "--project" in res.output
    assert SECRET not in res.output


def test_application_default_credentials(no_ambient_credentials, monkeypatch):
    adc = no_ambient_credentials / "adc.json"
    adc.write_text(json.dumps({"type": "authorized_user", "client_id": "x.apps.googleusercontent.com",
                               "client_secret": "shh-client-secret", "refresh_token": SECRET,
                               "quota_project_id": "adc-project"}))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    res = CliRunner().invoke(app, ["auth", "check", "--offline", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["kind"] == "application_default" and out["project"] == "adc-project"
    assert SECRET not in res.output and "shh-client-secret" not in res.output


def test_env_project_wins_over_credentials(no_ambient_credentials, monkeypatch):
    key = no_ambient_credentials / "key.json"
    service_account_key(key)
    monkeypatch.setenv("EARTHENGINE_SERVICE_ACCOUNT_KEY", str(key))
    monkeypatch.setenv("EARTHENGINE_PROJECT", "env-project")
    from gee_landslide.earthengine.init import resolve_credentials

    _, info = resolve_credentials()
    assert info.kind == "service_account_key" and info.project == "env-project"
    assert info.project_source == "$EARTHENGINE_PROJECT"


def test_no_credentials_says_what_to_do(no_ambient_credentials):
    res = CliRunner().invoke(app, ["auth", "check", "--offline"])
    assert res.exit_code == 2
    res = CliRunner().invoke(app, ["auth", "check", "--offline", "--service-account-key", "/nope.json"])
    assert res.exit_code == 2


def test_failed_verification_exits_1(no_ambient_credentials, monkeypatch):
    import gee_landslide.earthengine.init as init

    key = no_ambient_credentials / "key.json"
    service_account_key(key)
    monkeypatch.setattr(init.ee, "Initialize", lambda **kw: None)
    monkeypatch.setattr(init, "verify", lambda: (_ for _ in ()).throw(RuntimeError("network is unreachable")))
    res = CliRunner().invoke(app, ["auth", "check", "--service-account-key", str(key)])
    assert res.exit_code == 1 and "network is unreachable" in res.output
