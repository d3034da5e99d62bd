"""``monitor backfill``: the passes of a period, in order, resumable."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from helpers_project import copy_project
from typer.testing import CliRunner

from gee_landslide.cli import app
from gee_landslide.monitor.backfill import backfill_dates, parse_every, run_backfill
from gee_landslide.monitor.pass_context import MonitoringError


def test_dates_and_steps():
    assert parse_every("6d") == parse_every("6 days") == parse_every("6") == parse_every(6) == 6
    for bad in ("0d", "six", "-1d"):
        with pytest.raises(MonitoringError):
            parse_every(bad)
    d = dt.date(2025, 7, 1)
    assert backfill_dates(d, d + dt.timedelta(days=13), 6) == [d, d + dt.timedelta(days=6), d + dt.timedelta(days=12)]
    assert backfill_dates(d, d, 6) == [d]
    with pytest.raises(MonitoringError, match="before"):
        backfill_dates(d, d - dt.timedelta(days=1), 6)


def test_a_killed_backfill_resumes_where_it_stopped(tmp_path):
    from gee_landslide.core.paths import project_paths

    paths = project_paths(tmp_path)
    ran: list[dt.date] = []

    class Killed(Exception):
        pass

    def one(day: dt.date):
        if day == dt.date(2025, 7, 13) and not ran.count(day):
            ran.append(day)
            raise Killed  # dies inside the third pass: nothing of it was finished
        ran.append(day)
        out = paths.monitor / "norway" / day.isoformat()
        out.mkdir(parents=True)
        (out / "pass.json").write_text("{}")
        return type("R", (), {"to_dict": lambda self: {}})()

    with pytest.raises(Killed):
        run_backfill(paths, "norway", dt.date(2025, 7, 1), dt.date(2025, 7, 19), 6, one)
    assert ran == [dt.date(2025, 7, 1), dt.date(2025, 7, 7), dt.date(2025, 7, 13)]
    again = run_backfill(paths, "norway", dt.date(2025, 7, 1), dt.date(2025, 7, 19), 6, one)
    assert again.skipped == [dt.date(2025, 7, 1), dt.date(2025, 7, 7)]
    assert ran[3:] == [dt.date(2025, 7, 13), dt.date(2025, 7, 19)]


def test_backfill_cli_runs_real_passes_and_skips_finished_ones(small_project, tmp_path):
    project = copy_project(small_project, tmp_path / "p")
    args = ["monitor", "backfill", "--region", "norway", "--from", "2025-07-25", "--to", "2025-08-06",
            "--every", "12d", "--source", "simulated", "--threshold", "0.05", "--root", str(project.root), "--json"]
    runner = CliRunner()
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout[r.stdout.index("{"):])
    assert out["dates"] == ["2025-07-25", "2025-08-06"] and out["skipped"] == []
    assert [p["run_date"] for p in out["passes"]] == out["dates"]
    for d in out["dates"]:
        assert (project.monitor / "norway" / d / "pass.json").is_file()
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout[r.stdout.index("{"):])["skipped"] == out["dates"]

    # `monitor history`: the trail of each alert, read from the passes, agrees with the store
    from gee_landslide.monitor.alert_gpkg import read_alerts

    alerts = read_alerts(project.alerts / "alerts.gpkg")
    assert alerts
    for a in alerts:
        h = runner.invoke(app, ["monitor", "history", a.alert_id, "--root", str(project.root), "--json"])
        assert h.exit_code == 0, h.output
        trail = json.loads(h.stdout[h.stdout.index("{"):])
        assert trail["alert"]["id"] == a.alert_id and trail["alert"]["confirmed_by"] == a.confirmed_by
        human = runner.invoke(app, ["monitor", "history", a.alert_id, "--root", str(project.root)]).output
        assert f"{a.stage}{' by ' + a.confirmed_by if a.stage == 'confirmed' and a.confirmed_by else ''}," in human
        passes = trail["passes"]
        assert [p["run_date"] for p in passes] == sorted(p["run_date"] for p in passes)
        assert set(p["run_date"] for p in passes) <= set(out["dates"])
        assert passes[0]["change"] == "new" and passes[0]["run_date"] == a.first_seen[:10]
        # every revision after the first is one pass that changed the alert
        assert sum(p["change"] != "unchanged" for p in passes) == a.revision
        for p in passes:
            shares = [x for x in (p["s1_share"], p["optical_share"]) if x is not None]
            assert all(0.0 <= x <= 1.0 for x in shares) and sum(shares) <= 1.0 + 1e-9
            assert p["post"][1] == p["run_date"]
    missing = runner.invoke(app, ["monitor", "history", "norway-nosuchid-20250101", "--root", str(project.root)])
    assert missing.exit_code != 0 and "norway-nosuchid-20250101" in missing.output and "alerts.gpkg" in missing.output
