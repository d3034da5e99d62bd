"""Every bad input gets a clear error: one table, one row per input (issue #12, parts 5-6).

Each row runs the real CLI in a scratch project (a copy of the shipped catalog, nothing built)
and asserts: a non-zero exit with the expected code, no Python traceback and no uncaught
exception, the message names the file / field / value, and nothing was written anywhere (inside
or outside the project). Rows need no training and no Prefect server, so the table runs in
seconds. Bad inputs that need a built project (a pass, an ensemble) are tested beside the code
they exercise (``tests/monitor/test_monitor_pass.py``, ``tests/monitor/test_notify_redaction.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gee_landslide.cli import app

REPO = Path(__file__).resolve().parents[1]
# the catalog line the .nan row edits, read from the catalog (the error must name that line)
SIZE_LINE = 1 + next(i for i, line in enumerate((REPO / "case_studies.yaml").read_text().splitlines())
                     if "size_km: [0.11, 0.03]" in line)
CATALOG = REPO / "case_studies.yaml"
ADD = ["events", "add", "--id", "new-event", "--name", "X", "--country", "Y", "--trigger", "R",
       "--lat", "10", "--lon", "10", "--size", "0.1x0.1", "--date"]
MONITOR = ["monitor", "run", "--region", "norway", "--date", "2025-08-01", "--source", "simulated"]
# the one-ensemble pass: norway is SAR-first, and these rows are about the S2 ensemble's manifest
MONITOR_S2 = [*MONITOR, "--strategy", "single"]

BOMB = "".join(
    f"{c}: &{c} [" + ",".join([f"*{p}"] * 9 if p else ['"lol"'] * 9) + "]\n"
    for p, c in zip([None, "a", "b", "c", "d", "e", "f", "g"], "abcdefgh", strict=True)
)


# ----------------------------------------------------------------------------- setups
def _edit_catalog(old: str, new: str, count: int = 1) -> Callable[[Path], None]:
    """A setup that replaces ``old`` by ``new`` in the scratch catalog (it must be there)."""

    def setup(root: Path) -> None:
        text = (root / "case_studies.yaml").read_text()
        assert old in text, old
        (root / "case_studies.yaml").write_text(text.replace(old, new, count))

    return setup


def _write(name: str, data: str | bytes) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data if isinstance(data, bytes) else data.encode())

    return setup


def _mkdir(name: str) -> Callable[[Path], None]:
    return lambda root: (root / name).mkdir(parents=True)


def _manifest(text: str) -> Callable[[Path], None]:
    return _write("models/ensembles/s2/manifest.json", text)


PROFILE_OK = (REPO / "gee_landslide/profiles/smoke.yaml").read_text()


@dataclass(frozen=True)
class Row:
    """One bad input: how to give it, and what the clear error must say."""

    what: str
    args: list[str]
    code: int
    says: str
    setup: Callable[[Path], None] | None = None
    secret: str | None = None  # a string the output must never show


ROWS = [
    # --- YAML: every file the project parses goes through core/yamlsafe.py
    Row("catalog: alias bomb (10 KB -> 43M nodes)", ["events", "list"], 2, "alias",
        _write("case_studies.yaml", BOMB)),
    Row("catalog: over 2 MB", ["events", "list"], 2, "bytes",
        _write("case_studies.yaml", "# " + "x" * (2 * 1024 * 1024) + "\nversion: 1\n")),
    Row("catalog: nested 200 deep", ["events", "list"], 2, "nested more than 50",
        _write("case_studies.yaml", "x: " + "[" * 200 + "]" * 200 + "\n")),
    Row("catalog: not UTF-8 (Latin-1)", ["events", "list"], 2, "offset",
        _write("case_studies.yaml", CATALOG.read_bytes().replace(b"Jolster", "J\xf8lster".encode("latin-1")))),
    Row("catalog: a directory", ["events", "list", "--catalog", "adir"], 2, "is a directory", _mkdir("adir")),
    Row("events validate: a directory", ["events", "validate", "adir"], 1, "is a directory", _mkdir("adir")),
    Row("catalog: a Python tag", ["events", "list"], 2, "python/object",
        _write("case_studies.yaml", "version: !!python/object/apply:os.system ['touch pwned']\n")),
    Row("catalog: duplicate key", ["events", "list"], 2, "duplicate key",
        _write("case_studies.yaml", "version: 1\nversion: 2\n")),
    Row("profile: alias bomb", ["train", "--profile", "bomb.yaml", "--dry-run"], 2, "alias",
        _write("bomb.yaml", BOMB)),
    Row("profile: a directory", ["train", "--profile", "adir", "--dry-run"], 2, "is a directory", _mkdir("adir")),
    Row("profile: not UTF-8", ["train", "--profile", "p.yaml", "--dry-run"], 2, "offset 5",
        _write("p.yaml", b"name:\xff\xfe x\n" + PROFILE_OK.encode())),
    Row("profile: a Python tag", ["train", "--profile", "p.yaml", "--dry-run"], 2, "python/object",
        _write("p.yaml", "name: !!python/object/apply:os.system ['touch pwned']\n")),
    # --- ids and names that become paths
    Row("stacks show: path traversal", ["stacks", "show", "../../../../x"], 2, "'../../../../x'"),
    Row("stacks show: unknown id", ["stacks", "show", "atlantis-1"], 2, "atlantis-1"),
    Row("ensemble build --name: path traversal", ["ensemble", "build", "--name", "../../x"], 2, "--name"),
    Row("ensemble build --name: absolute", ["ensemble", "build", "--name", "/tmp/x"], 2, "--name"),
    Row("monitor run --ensemble: path traversal", [*MONITOR, "--ensemble", "../../../x"], 2, "--ensemble"),
    Row("labels rasterize --like: outside, not a stack", ["labels", "rasterize", "inv.gpkg", "--like",
                                                          "../../../../x"], 2, "stack not found"),
    Row("events add --id: not a slug", ["events", "add", "--id", "../x", "--name", "X", "--country", "Y",
                                        "--trigger", "R", "--lat", "1", "--lon", "1", "--size", "1x1",
                                        "--date", "2020-01-01"], 1, "safe slug"),
    Row("catalog: region id not a slug", ["events", "list"], 2, "safe slug",
        _edit_catalog("\n  norway:\n", "\n  ../norway:\n")),
    Row("catalog: region ensemble '../../x'", ["events", "list"], 2, "ensemble must be a safe name",
        _edit_catalog("    ensemble: s2\n", "    ensemble: ../../x\n")),
    Row("stacks build --event: unknown", ["stacks", "build", "--event", "../x"], 2, "no event '../x'"),
    # --- values checked where they are read
    Row("catalog: a date that does not exist", ["events", "list"], 2, "2019-02-30",
        _edit_catalog("date: 2019-07-30", "date: 2019-02-30")),
    Row("catalog: an event in the future", ["events", "list"], 2, "in the future",
        _edit_catalog("date: 2019-07-30", "date: 2999-07-30")),
    Row("catalog: type code 999", ["events", "list"], 2, "999", _edit_catalog("types: [22, 25]", "types: [22, 999]")),
    Row(f"catalog: size .nan (line {SIZE_LINE}: no emoji)", ["events", "list"], 2, f"case_studies.yaml:{SIZE_LINE}: ",
        _edit_catalog("size_km: [0.11, 0.03]", "size_km: [.nan, .inf]")),
    Row("catalog: a Sentinel-1 variant of 0 looks", ["events", "list"], 2, "defaults.s1_post_variant_looks[0] = 0",
        _edit_catalog("  # s1_post_variant_looks: [2]", "  s1_post_variant_looks: [0]")),
    Row("events add --date 2021-02-30", [*ADD, "2021-02-30"], 2, "2021-02-30"),
    Row("events add --date in the future", [*ADD, "2999-01-01"], 1, "in the future"),
    Row("events add --types 999", [*ADD, "2020-01-01", "--types", "999"], 1, "999"),
    Row("events add --types -5", [*ADD, "2020-01-01", "--types", "-5"], 1, "-5"),
    Row("events add --types abc", [*ADD, "2020-01-01", "--types", "abc"], 2, "abc"),
    Row("events add --size nan x inf", [*ADD, "2020-01-01", "--size", "nanxinf"], 1, "finite"),
    Row("events add --size 0x1", [*ADD, "2020-01-01", "--size", "0x1"], 1, "positive"),
    Row("events add --lat nan", [*ADD, "2020-01-01", "--lat", "nan"], 1, "lat"),
    Row("catalog: globe-sized region", ["events", "list"], 2, "km2",
        _edit_catalog("bbox: [6.055, 61.458, 6.145, 61.502]", "bbox: [-180, -80, 180, 84]")),
    Row("catalog: region west >= east", ["events", "list"], 2, "west < east",
        _edit_catalog("bbox: [6.055, 61.458, 6.145, 61.502]", "bbox: [6.2, 61.458, 6.145, 61.502]")),
    Row("catalog: region latitude 95", ["events", "list"], 2, "bbox",
        _edit_catalog("bbox: [6.055, 61.458, 6.145, 61.502]", "bbox: [6.055, 61.458, 6.145, 95]")),
    Row("catalog: cron 99 77 45 13 9", ["events", "list"], 2, "99 77 45 13 9",
        _edit_catalog('schedule: "0 6 * * *"', 'schedule: "99 77 45 13 9"')),
    Row("catalog: timezone Mars/Olympus", ["events", "list"], 2, "Mars/Olympus",
        _edit_catalog("timezone: UTC", "timezone: Mars/Olympus")),
    Row("catalog: region threshold 1.5", ["events", "list"], 2, "threshold",
        _edit_catalog("    min_area_m2: 400\n", "    min_area_m2: 400\n    threshold: 1.5\n")),
    Row("monitor run --threshold 1.5", [*MONITOR, "--threshold", "1.5"], 2, "--threshold"),
    Row("monitor run --threshold -1", [*MONITOR, "--threshold", "-1"], 2, "--threshold"),
    Row("monitor run --threshold nan", [*MONITOR, "--threshold", "nan"], 2, "--threshold"),
    Row("monitor run --date 2021-02-30", [*MONITOR[:4], "--date", "2021-02-30"], 2, "2021-02-30"),
    Row("monitor run --date in the future", [*MONITOR[:4], "--date", "2999-01-01"], 2, "in the future"),
    Row("monitor run --region unknown", ["monitor", "run", "--region", "atlantis"], 2, "no region 'atlantis'"),
    Row("ensemble build --threshold 5", ["ensemble", "build", "--threshold", "5"], 2, "--threshold"),
    Row("ensemble build --threshold -1", ["ensemble", "build", "--threshold", "-1"], 2, "--threshold"),
    Row("ensemble build --threshold 0", ["ensemble", "build", "--threshold", "0"], 2, "--threshold"),
    Row("ensemble build --k 0", ["ensemble", "build", "--k", "0"], 2, "--k"),
    Row("train --max-runs -3", ["train", "--profile", "smoke", "--max-runs", "-3", "--dry-run"], 2, "--max-runs"),
    Row("train --threads 0", ["train", "--profile", "smoke", "--threads", "0", "--dry-run"], 2, "--threads"),
    Row("train --threads -2", ["train", "--profile", "smoke", "--threads", "-2", "--dry-run"], 2, "--threads"),
    Row("feed publish --base-url javascript:", ["feed", "publish", "--base-url", "javascript:alert(1)"], 2,
        "--base-url"),
    Row("feed publish --base-url ftp://", ["feed", "publish", "--base-url", "ftp://example.org/feeds"], 2,
        "http"),
    Row("EE key: a JSON list", ["auth", "check", "--offline", "--service-account-key", "key.json"], 2,
        "key.json", _write("key.json", '["-----BEGIN PRIVATE KEY-----SECRETKEYBYTES"]'), secret="SECRETKEYBYTES"),
    Row("EE key: a JSON string", ["auth", "check", "--offline", "--service-account-key", "key.json"], 2,
        "key.json", _write("key.json", '"-----BEGIN PRIVATE KEY-----SECRETKEYBYTES"'), secret="SECRETKEYBYTES"),
    Row("EE key: not JSON", ["auth", "check", "--offline", "--service-account-key", "key.json"], 2,
        "key.json", _write("key.json", "-----BEGIN PRIVATE KEY-----SECRETKEYBYTES"), secret="SECRETKEYBYTES"),
    Row("EE key: a directory", ["auth", "check", "--offline", "--service-account-key", "adir"], 2,
        "is a directory", _mkdir("adir")),
    Row("message with Rich markup", ["stacks", "show", "[bold]x"], 2, "'[bold]x'"),
    Row("ensemble manifest: not JSON", MONITOR_S2, 2, "not valid JSON", _manifest("{not json")),
    Row("ensemble manifest: a list", MONITOR_S2, 2, "not an ensemble manifest", _manifest("[1, 2]")),
    Row("ensemble manifest: weights outside models/", MONITOR_S2, 2, "outside", _manifest(json.dumps({
        "format": "gee-landslide-ensemble/1", "name": "s2", "setting": "s2", "threshold": 0.5,
        "members": [{"run_id": "r", "architecture": "Unet", "loss": "Dice", "learning_rate": 0.001,
                     "encoder": "resnet34", "val_f1": 0.5, "weights": "../../../../../../etc/passwd",
                     "sha256": "0" * 64, "normalisation": {}, "in_channels": 7}]}))),
    Row("ensemble manifest: threshold 5", MONITOR_S2, 2, "threshold", _manifest(json.dumps({
        "format": "gee-landslide-ensemble/1", "name": "s2", "setting": "s2", "threshold": 5, "members": []}))),
    Row("settings: $GEE_LANDSLIDE_EE_WORKERS=0", ["events", "list"], 2, "GEE_LANDSLIDE_EE_WORKERS"),
]
ENV = {"settings: $GEE_LANDSLIDE_EE_WORKERS=0": {"GEE_LANDSLIDE_EE_WORKERS": "0"}}


def _tree(top: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(top)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(top.rglob("*")) if not p.is_dir() or not any(p.iterdir())}


@pytest.mark.parametrize("row", ROWS, ids=[r.what for r in ROWS])
def test_bad_input_gets_a_clear_error(row: Row, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "a" / "b" / "c" / "project"  # deep, so '../../..' stays inside tmp_path
    root.mkdir(parents=True)
    (root / "case_studies.yaml").write_text(CATALOG.read_text())
    if row.setup:
        row.setup(root)
    monkeypatch.chdir(root)
    monkeypatch.setenv("GEE_LANDSLIDE_ROOT", str(root))
    for k, v in ENV.get(row.what, {}).items():
        monkeypatch.setenv(k, v)
    before = _tree(tmp_path)
    res = CliRunner().invoke(app, row.args, env={"COLUMNS": "200"})
    out = " ".join(res.output.split())  # the message as one line, however the console wrapped it
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in out
    assert res.exit_code == row.code, out
    assert row.says in out, out
    if row.secret:
        assert row.secret not in out
    assert _tree(tmp_path) == before, "a refused input wrote or changed a file"
    assert not re.search(r"\bpwned\b", " ".join(p.name for p in tmp_path.rglob("*")))
