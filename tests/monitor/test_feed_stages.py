"""Feeds of one alert stage (``?stage=confirmed``): what an agency that acts only on confirmed alerts
subscribes to, with the retractions it must still receive."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading

import feedparser
import httpx
import pytest
from helpers_alerts import RUN_1, merge
from typer.testing import CliRunner

from gee_landslide.monitor.alert_gpkg import read_alerts
from gee_landslide.monitor.alert_record import CONFIRMED_BY_PERSISTENCE
from gee_landslide.monitor.feeds import FeedQueryError, select_alerts
from gee_landslide.monitor.server import make_server


@pytest.fixture(scope="module")
def one_of_each(tmp_path_factory):
    """Four alerts, one per case a stage feed must decide: a candidate, a confirmed alert, a
    cancelled candidate and a cancellation of a confirmed alert."""
    first = merge(tmp_path_factory.mktemp("stages") / "alerts", RUN_1, "S1").new[0]
    assert first.stage == "candidate"
    return {
        "candidate": first,
        "confirmed": dataclasses.replace(first, alert_id="b", stage="confirmed", confirmed_by=CONFIRMED_BY_PERSISTENCE),
        "cancelled candidate": dataclasses.replace(first, alert_id="c", stage="cancelled"),
        "cancelled confirmed": dataclasses.replace(first, alert_id="d", stage="cancelled",
                                                   confirmed_by=CONFIRMED_BY_PERSISTENCE),
    }


def _ids(alerts):
    return {a.alert_id for a in alerts}


def test_a_confirmed_feed_carries_the_retractions_of_confirmed_alerts_only(one_of_each):
    every = list(one_of_each.values())
    ids = {k: a.alert_id for k, a in one_of_each.items()}
    assert _ids(select_alerts(every, stage="confirmed")) == {ids["confirmed"], ids["cancelled confirmed"]}
    assert _ids(select_alerts(every, stage="candidate")) == {ids["candidate"]}
    assert _ids(select_alerts(every, stage="cancelled")) == {ids["cancelled candidate"], ids["cancelled confirmed"]}
    assert _ids(select_alerts(every, stage=" Candidate , confirmed")) == _ids(every) - {ids["cancelled candidate"]}
    assert _ids(select_alerts(every)) == _ids(every)  # no stage asked: every alert
    assert select_alerts(every, region="iceland", stage="confirmed") == []


@pytest.mark.parametrize("value", ["likely", "confirmed,maybe", "", " , "])
def test_an_unknown_stage_is_a_clear_error(one_of_each, value):
    with pytest.raises(FeedQueryError) as err:
        select_alerts(list(one_of_each.values()), stage=value)
    assert err.value.field == "stage" and err.value.value == value
    assert "candidate, confirmed, cancelled" in str(err.value)


def test_served_stage_feeds_follow_the_lifecycle(tmp_path):
    d = tmp_path / "alerts"
    first = merge(d, RUN_1, "S1")
    server = make_server(d, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        def served(**params):
            r = httpx.get(url + "/alerts.geojson", params=params)
            assert r.status_code == 200, r.text
            return {f["id"]: f["properties"]["stage"] for f in r.json()["features"]}

        assert served(stage="confirmed") == {}
        assert served(stage="candidate") == {a.alert_id: "candidate" for a in first.new}
        # a clear Sentinel-2 view 12 days later confirms both: the confirmed feed now carries them
        merge(d, RUN_1 + dt.timedelta(days=12), "S1+S2")
        assert served(stage="confirmed", region="norway") == {a.alert_id: "confirmed" for a in first.new}
        assert served(stage="candidate") == {}
        atom = feedparser.parse(httpx.get(url + "/alerts.atom", params={"stage": "confirmed"}).content)
        assert not atom.bozo and len(atom.entries) == len(first.new)
        bad = httpx.get(url + "/alerts.geojson", params={"stage": "likely"})
        assert bad.status_code == 400 and "stage='likely'" in bad.text
    finally:
        server.shutdown()
        server.server_close()


def test_cli_lists_one_stage(tmp_path):
    from gee_landslide.cli import app

    d = tmp_path / "artifacts" / "alerts"
    first = merge(d, RUN_1, "S1")
    assert {a.stage for a in read_alerts(d / "alerts.gpkg")} == {"candidate"}
    runner = CliRunner()
    out = runner.invoke(app, ["feed", "list", "--root", str(tmp_path), "--stage", "candidate", "--json"])
    assert out.exit_code == 0, out.output
    assert {r["id"] for r in json.loads(out.stdout)} == {a.alert_id for a in first.new}
    none = runner.invoke(app, ["feed", "list", "--root", str(tmp_path), "--stage", "confirmed", "--json"])
    assert none.exit_code == 0 and json.loads(none.stdout) == []
    bad = runner.invoke(app, ["feed", "list", "--root", str(tmp_path), "--stage", "likely"])
    assert bad.exit_code != 0 and "stage" in bad.output
