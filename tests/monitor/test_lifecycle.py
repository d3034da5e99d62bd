"""The SAR-first alert lifecycle (issue #10): candidate -> confirmed or cancelled, ids kept."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers_alerts import GRID, RUN_1, SLIDES_A, candidates_of, merge, snapshot, windows
from synthetic_pass import Slide, synthetic_pass

from gee_landslide.monitor import store as store_mod
from gee_landslide.monitor.alert_gpkg import alert_from_row, read_alerts
from gee_landslide.monitor.alert_merge import OpticalLook, can_confirm, can_judge, optical_look_date
from gee_landslide.monitor.alert_record import ALERT_COLUMNS, Alert
from gee_landslide.monitor.alerts import SENSORS_CODE_S1, SENSORS_CODE_S1S2, detections_to_candidates

CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"
ATOM = "{http://www.w3.org/2005/Atom}"


class RecordingNotifier:
    def __init__(self) -> None:
        self.sent: list[list[Alert]] = []

    def notify(self, alerts, *, base_url):
        self.sent.append(list(alerts))


def _cap(store_dir: Path, alert_id: str) -> ET.Element:
    return ET.fromstring((store_dir / "cap" / f"{alert_id}.xml").read_bytes())


def test_sar_only_detection_is_a_candidate_then_confirmed_with_the_same_id(tmp_path):
    d = tmp_path / "alerts"
    notes = RecordingNotifier()
    first = merge(d, RUN_1, "S1", notifier=notes)
    assert len(first.new) == 2 and {a.stage for a in first.new} == {"candidate"}
    assert {a.sensors for a in first.new} == {"S1"}
    aid = first.new[0].alert_id
    root = _cap(d, aid)
    assert root.findtext(f"{CAP}msgType") == "Alert"
    assert root.find(f"{CAP}info").findtext(f"{CAP}certainty") == "Possible"
    assert "Sentinel-1 only" in root.find(f"{CAP}info").findtext(f"{CAP}headline")

    # 12 days later a clear Sentinel-2 view: the same landslides seen with S1+S2
    later = RUN_1 + dt.timedelta(days=12)
    second = merge(d, later, "S1+S2", notifier=notes)
    assert second.new == [] and sorted(second.confirmed) == sorted(a.alert_id for a in first.new)
    conf = {a.alert_id: a for a in second.updated}[aid]
    assert (conf.stage, conf.sensors, conf.revision, conf.status) == ("confirmed", "S1+S2", 2, "updated")
    assert conf.first_seen == first.new[0].first_seen
    root = _cap(d, aid)
    assert root.findtext(f"{CAP}msgType") == "Update"
    assert root.find(f"{CAP}info").findtext(f"{CAP}certainty") == "Likely"
    params = {p.findtext(f"{CAP}valueName"): p.findtext(f"{CAP}value")
              for p in root.find(f"{CAP}info").findall(f"{CAP}parameter")}
    assert params["alert_stage"] == "confirmed" and params["sensors"] == "S1+S2"
    feed = json.loads((d / "alerts.geojson").read_text())
    assert {f["properties"]["stage"] for f in feed["features"]} == {"confirmed"}
    assert read_alerts(d / "alerts.gpkg") == second.alerts  # the GeoPackage keeps stage and sensors
    # notified: two new candidates, then the two confirmations
    assert [len(n) for n in notes.sent] == [2, 2] and {a.stage for a in notes.sent[1]} == {"confirmed"}

    # SAR alone seeing it again later does not demote it
    third = merge(d, later + dt.timedelta(days=12), "S1")
    assert {a.stage for a in third.alerts} == {"confirmed"}


def test_candidate_without_optical_change_is_cancelled(tmp_path):
    d = tmp_path / "alerts"
    first = merge(d, RUN_1, "S1")
    ids = sorted(a.alert_id for a in first.new)
    # too early: the post window still holds dates from before the landslide, silence means nothing
    early = merge(d, RUN_1 + dt.timedelta(days=12), None, coverage=lambda a: 1.0)
    assert early.cancelled == [] and early.updated == []
    # cloudy: Sentinel-2 saw too little of the footprint to judge
    cloudy = merge(d, RUN_1 + dt.timedelta(days=40), None, coverage=lambda a: 0.2)
    assert cloudy.cancelled == []
    before_cancel = snapshot(d)

    notes = RecordingNotifier()
    run = RUN_1 + dt.timedelta(days=40)
    res = merge(d, run, None, coverage=lambda a: 0.9, notifier=notes)
    assert sorted(res.cancelled) == ids and res.new == []
    gone = {a.alert_id: a for a in res.updated}
    assert {a.stage for a in gone.values()} == {"cancelled"} and {a.revision for a in gone.values()} == {2}
    assert [sorted(a.alert_id for a in n) for n in notes.sent] == [ids]
    root = _cap(d, ids[0])
    assert root.findtext(f"{CAP}msgType") == "Cancel"
    assert f"gee-landslide.{ids[0]}.r1" in root.findtext(f"{CAP}references")
    assert root.find(f"{CAP}info").findtext(f"{CAP}certainty") == "Unlikely"
    atom = ET.fromstring((d / "alerts.atom").read_bytes())
    entry = next(e for e in atom.findall(f"{ATOM}entry") if ids[0] in e.findtext(f"{ATOM}title"))
    assert entry.findtext(f"{ATOM}title").startswith("Cancelled")
    assert "cancelled" in {c.get("term") for c in entry.findall(f"{ATOM}category")}
    assert "Retracted" in entry.findtext(f"{ATOM}summary")
    props = {f["id"]: f["properties"] for f in json.loads((d / "alerts.geojson").read_text())["features"]}
    assert props[ids[0]]["stage"] == "cancelled" and props[ids[0]]["sensors"] == "S1"

    # the same pass again: nothing changes; SAR seeing the spot again does not revive it
    snap = snapshot(d)
    again = merge(d, run, None, coverage=lambda a: 0.9)
    assert again.updated == [] and snapshot(d) == snap
    revived = merge(d, run + dt.timedelta(days=6), "S1")
    assert revived.updated == [] and revived.new == []
    assert snapshot(d) != before_cancel


def test_with_two_looks_an_optical_detection_is_confirmed_only_by_a_later_pass(tmp_path):
    """``confirm_looks=2``: a Sentinel-2 detection is a candidate; the same pass re-run is no second
    look; a later pass that sees it with Sentinel-2 confirms it, keeping its id."""
    d = tmp_path / "alerts"
    first = merge(d, RUN_1, "S1+S2", confirm_looks=2)
    assert len(first.new) == 2 and {(a.stage, a.sensors) for a in first.new} == {("candidate", "S1+S2")}
    info = _cap(d, first.new[0].alert_id).find(f"{CAP}info")
    assert info.findtext(f"{CAP}certainty") == "Possible"
    assert "awaiting a second pass" in info.findtext(f"{CAP}headline")
    assert "to be confirmed by a later pass" in info.findtext(f"{CAP}description")
    again = merge(d, RUN_1, "S1+S2", confirm_looks=2)
    assert again.confirmed == [] and {a.stage for a in again.alerts} == {"candidate"}
    sar = merge(d, RUN_1 + dt.timedelta(days=6), "S1", confirm_looks=2)  # SAR again: still a candidate
    assert sar.confirmed == [] and {a.stage for a in sar.alerts} == {"candidate"}
    later = merge(d, RUN_1 + dt.timedelta(days=12), "S1+S2", confirm_looks=2)
    assert sorted(later.confirmed) == sorted(a.alert_id for a in first.new) and later.new == []
    assert {a.stage for a in later.alerts} == {"confirmed"}


def test_a_detection_the_object_filter_held_back_alerts_but_never_confirms(tmp_path):
    """``objects_stage: confirm``: an optical detection the object filter rejected still raises (and
    keeps alive) a candidate, but confirms nothing, at one look or two; a later object the filter
    accepts confirms the same alert."""
    d = tmp_path / "alerts"
    first = merge(d, RUN_1, "S1+S2", confirmable=False)  # confirm_looks 1 would confirm at once
    assert len(first.new) == 2 and {(a.stage, a.sensors) for a in first.new} == {("candidate", "S1+S2")}
    held = merge(d, RUN_1 + dt.timedelta(days=12), "S1+S2", confirmable=False, coverage=lambda a: 1.0)
    assert held.confirmed == [] and held.cancelled == [] and {a.stage for a in held.alerts} == {"candidate"}
    ok = merge(d, RUN_1 + dt.timedelta(days=24), "S1+S2", confirm_looks=2)
    assert sorted(ok.confirmed) == sorted(a.alert_id for a in first.new) and ok.new == []


def test_sentinel1_persistence_confirms_when_the_region_asks(tmp_path):
    """``sar_confirm`` (a region's ``sar_confirm_passes``): a candidate that N passes detected with
    Sentinel-1, the latest at least one S1 post window after the first, is confirmed without
    Sentinel-2; without the option it stays a candidate; a re-run of a pass is not another detection."""
    rule = (3, 12)
    d, off = tmp_path / "on", tmp_path / "off"
    for day in (0, 6):
        on = merge(d, RUN_1 + dt.timedelta(days=day), "S1", sar_confirm=rule)
        merge(off, RUN_1 + dt.timedelta(days=day), "S1")
        assert on.confirmed == [] and {a.stage for a in on.alerts} == {"candidate"}
    rerun = merge(d, RUN_1 + dt.timedelta(days=6), "S1", sar_confirm=rule)  # the same pass again
    assert rerun.confirmed == [] and {a.detections for a in rerun.alerts} == {2}
    third = merge(d, RUN_1 + dt.timedelta(days=12), "S1", sar_confirm=rule)
    assert sorted(third.confirmed) == sorted(a.alert_id for a in third.alerts)
    assert {(a.stage, a.sensors, a.detections) for a in third.alerts} == {("confirmed", "S1", 3)}
    assert {(a.stage, a.detections) for a in merge(off, RUN_1 + dt.timedelta(days=12), "S1").alerts} == {("candidate", 3)}
    info = _cap(d, third.alerts[0].alert_id).find(f"{CAP}info")
    assert info.findtext(f"{CAP}certainty") == "Likely"
    assert "confirmed by Sentinel-1 in 3 passes" in info.findtext(f"{CAP}headline")
    assert read_alerts(d / "alerts.gpkg") == third.alerts  # the GeoPackage keeps the count

    # three detections within less than one S1 post window are not independent: not yet
    close = tmp_path / "close"
    for day in (0, 5, 10):
        res = merge(close, RUN_1 + dt.timedelta(days=day), "S1", sar_confirm=rule)
    assert res.confirmed == [] and {(a.stage, a.detections) for a in res.alerts} == {("candidate", 3)}
    # where Sentinel-2 saw the place and did not confirm it (here its object filter held it back),
    # Sentinel-1's persistence does not stand in for it
    seen = tmp_path / "seen"
    merge(seen, RUN_1, "S1+S2", confirmable=False, sar_confirm=rule)
    for day in (6, 12, 18):
        res = merge(seen, RUN_1 + dt.timedelta(days=day), "S1", sar_confirm=rule)
    assert res.confirmed == [] and {(a.stage, a.sensors, a.detections) for a in res.alerts} == {("candidate", "S1+S2", 4)}
    # the same place, not just a neighbour: detections that match the alert (inside it) but cover
    # little of its footprint (IoU under the store's 0.2) are no persistence of that change
    from synthetic_pass import Slide

    wide, small = [Slide(20, 20, 40, 70, 0.92)], [Slide(24, 22, 32, 30, 0.92)]
    part = tmp_path / "part"
    merge(part, RUN_1, "S1", slides=wide, sar_confirm=rule)
    for day in (6, 12, 18):
        res = merge(part, RUN_1 + dt.timedelta(days=day), "S1", slides=small, sar_confirm=rule)
    assert len(res.alerts) == 1 and res.alerts[0].detections == 4 and res.alerts[0].stage == "candidate"
    # where the region's object filter judges Sentinel-1 decisions at confirmation, detections it held
    # back do not confirm by persistence; the first one it accepts does
    held = tmp_path / "held"
    for day in (0, 6, 12, 18):
        res = merge(held, RUN_1 + dt.timedelta(days=day), "S1", confirmable=False, sar_confirm=rule)
    assert res.confirmed == [] and {(a.stage, a.detections) for a in res.alerts} == {("candidate", 4)}
    res = merge(held, RUN_1 + dt.timedelta(days=24), "S1", sar_confirm=rule)
    assert {(a.stage, a.sensors, a.detections) for a in res.alerts} == {("confirmed", "S1", 5)}
    # and Sentinel-2's verdict outranks SAR: a cancelled alert stays cancelled
    gone = tmp_path / "gone"
    first = merge(gone, RUN_1, "S1", sar_confirm=rule)
    merge(gone, RUN_1 + dt.timedelta(days=40), None, coverage=lambda a: 1.0, sar_confirm=rule)
    for day in (46, 52, 58):
        late = merge(gone, RUN_1 + dt.timedelta(days=day), "S1", sar_confirm=rule)
    assert {a.alert_id: a.stage for a in late.alerts if a.alert_id in {x.alert_id for x in first.new}} == {
        x.alert_id: "cancelled" for x in first.new}


def test_a_clear_view_without_a_detection_cancels_what_sentinel1_persistence_confirmed(tmp_path):
    """Persistence tells a lasting change from speckle, not a landslide from a clear-cut: a clear
    Sentinel-2 view that can show the change and sees none cancels an alert that only Sentinel-1
    confirmed (a CAP Cancel), as it cancels a candidate; an alert Sentinel-2 confirmed stays."""
    rule = (3, 12)
    d = tmp_path / "sar"
    for day in (0, 6, 12):
        res = merge(d, RUN_1 + dt.timedelta(days=day), "S1", sar_confirm=rule)
    ids = sorted(a.alert_id for a in res.alerts)
    assert {(a.stage, a.sensors) for a in res.alerts} == {("confirmed", "S1")}
    # cloudy over the footprint, or too early to show the change: it stays confirmed
    assert merge(d, RUN_1 + dt.timedelta(days=40), None, coverage=lambda a: 0.2, sar_confirm=rule).cancelled == []
    assert {a.confirmed_by for a in res.alerts} == {"Sentinel-1 persistence"}
    params = {p.findtext(f"{CAP}valueName"): p.findtext(f"{CAP}value")
              for p in _cap(d, ids[0]).find(f"{CAP}info").findall(f"{CAP}parameter")}
    assert params["confirmed_by"] == "Sentinel-1 persistence"
    assert read_alerts(d / "alerts.gpkg") == res.alerts  # the GeoPackage keeps how it was confirmed
    # a later detection Sentinel-2 saw in part, which its object filter held back: the sensors are
    # S1+S2 now, but it did not confirm the alert, so its headline and its judge stay the same
    partial = merge(d, RUN_1 + dt.timedelta(days=18), "S1+S2", confirmable=False, sar_confirm=rule)
    assert {(a.sensors, a.confirmed_by) for a in partial.alerts} == {("S1+S2", "Sentinel-1 persistence")}
    assert "confirmed by Sentinel-1 in 4 passes" in _cap(d, ids[0]).find(f"{CAP}info").findtext(f"{CAP}headline")
    gone = merge(d, RUN_1 + dt.timedelta(days=46), None, coverage=lambda a: 0.9, sar_confirm=rule)
    assert sorted(gone.cancelled) == ids and {a.stage for a in gone.alerts} == {"cancelled"}
    assert _cap(d, ids[0]).findtext(f"{CAP}msgType") == "Cancel"
    assert {a.confirmed_by for a in gone.alerts} == {"Sentinel-1 persistence"}  # what had confirmed it
    # Sentinel-2 seeing a change there again reopens it as a candidate: nothing confirms it now
    reopened = merge(d, RUN_1 + dt.timedelta(days=52), "S1+S2", confirmable=False, sar_confirm=rule)
    assert {(a.stage, a.confirmed_by) for a in reopened.alerts} == {("candidate", "")}

    # Sentinel-2 confirming it after persistence did: now Sentinel-2's confirmation, and it stays
    upgraded = tmp_path / "upgraded"
    for day in (0, 6, 12):
        merge(upgraded, RUN_1 + dt.timedelta(days=day), "S1", sar_confirm=rule)
    seen = merge(upgraded, RUN_1 + dt.timedelta(days=18), "S1+S2", sar_confirm=rule)
    assert {(a.stage, a.confirmed_by) for a in seen.alerts} == {("confirmed", "Sentinel-2")}
    assert merge(upgraded, RUN_1 + dt.timedelta(days=46), None, coverage=lambda a: 0.9).cancelled == []

    optical = tmp_path / "optical"
    merge(optical, RUN_1, "S1")
    merge(optical, RUN_1 + dt.timedelta(days=12), "S1+S2")  # confirmed by Sentinel-2
    kept = merge(optical, RUN_1 + dt.timedelta(days=46), None, coverage=lambda a: 0.9)
    assert kept.cancelled == [] and {(a.stage, a.sensors, a.confirmed_by) for a in kept.alerts} == {
        ("confirmed", "S1+S2", "Sentinel-2")}


def test_with_two_looks_a_sentinel1_candidate_is_an_earlier_look_once_two_passes_detected_it(tmp_path):
    """``confirm_looks=2``: a candidate one pass detected with Sentinel-1 alone is too often speckle to
    be the first of two looks, so its first optical detection makes it ``S1+S2`` and the next one
    confirms it; once a second pass has detected it with Sentinel-1, the first optical detection
    confirms it. With one look the first optical detection confirms either way."""
    day = dt.timedelta(days=1)
    once = tmp_path / "once"
    ids = sorted(a.alert_id for a in merge(once, RUN_1, "S1", confirm_looks=2).new)
    seen = merge(once, RUN_1 + 12 * day, "S1+S2", confirm_looks=2)
    assert seen.confirmed == [] and {(a.stage, a.sensors, a.detections) for a in seen.alerts} == {
        ("candidate", "S1+S2", 2)}
    assert sorted(merge(once, RUN_1 + 18 * day, "S1+S2", confirm_looks=2).confirmed) == ids

    twice = tmp_path / "twice"
    merge(twice, RUN_1, "S1", confirm_looks=2)
    again = merge(twice, RUN_1 + 6 * day, "S1", confirm_looks=2)
    assert again.confirmed == [] and {(a.stage, a.detections) for a in again.alerts} == {("candidate", 2)}
    assert sorted(merge(twice, RUN_1 + 12 * day, "S1+S2", confirm_looks=2).confirmed) == ids

    one = tmp_path / "one"
    merge(one, RUN_1, "S1")
    assert sorted(merge(one, RUN_1 + 12 * day, "S1+S2").confirmed) == ids


def test_with_two_looks_a_cancelled_alert_seen_again_is_reopened_and_only_a_later_look_confirms_it(tmp_path):
    """``confirm_looks=2``: a cancellation was a clear look that saw nothing. An optical detection
    after it is one look against one, so the alert reopens as a candidate (same id, ``Possible``);
    the next pass that detects it with Sentinel-2 confirms it. With one look it confirms at once."""
    day = dt.timedelta(days=1)
    d = tmp_path / "two"
    ids = sorted(a.alert_id for a in merge(d, RUN_1, "S1", confirm_looks=2).new)
    assert sorted(merge(d, RUN_1 + 40 * day, None, coverage=lambda a: 0.9, confirm_looks=2).cancelled) == ids
    reopened = merge(d, RUN_1 + 46 * day, "S1+S2", confirm_looks=2)
    assert reopened.confirmed == [] and reopened.new == []
    assert {(a.alert_id, a.stage, a.sensors) for a in reopened.alerts} == {(i, "candidate", "S1+S2") for i in ids}
    info = _cap(d, ids[0]).find(f"{CAP}info")
    assert info.findtext(f"{CAP}certainty") == "Possible"
    # subscribers saw a Cancel: the alert says it is back, when, and why
    assert {a.reopened_on for a in reopened.alerts} == {"2024-07-17T06:00:00Z"}
    assert "again after a cancellation" in info.findtext(f"{CAP}headline")
    assert "reopened on 2024-07-17" in info.findtext(f"{CAP}description")
    params = {p.findtext(f"{CAP}valueName"): p.findtext(f"{CAP}value") for p in info.iter(f"{CAP}parameter")}
    assert params["reopened_on"] == "2024-07-17T06:00:00-00:00"
    assert [a.reopened_on for a in read_alerts(d / "alerts.gpkg")] == ["2024-07-17T06:00:00Z"] * len(ids)
    later = merge(d, RUN_1 + 52 * day, "S1+S2", confirm_looks=2)
    assert sorted(later.confirmed) == ids
    assert {(a.stage, a.confirmed_by) for a in later.alerts} == {("confirmed", "Sentinel-2")}
    assert "again after a cancellation" not in _cap(d, ids[0]).find(f"{CAP}info").findtext(f"{CAP}headline")

    one = tmp_path / "one"
    merge(one, RUN_1, "S1")
    assert sorted(merge(one, RUN_1 + 40 * day, None, coverage=lambda a: 0.9).cancelled) == ids
    assert sorted(merge(one, RUN_1 + 46 * day, "S1+S2").confirmed) == ids


def test_with_two_looks_an_optical_detection_not_seen_again_is_cancelled(tmp_path):
    d = tmp_path / "alerts"
    first = merge(d, RUN_1, "S1+S2", confirm_looks=2)
    res = merge(d, RUN_1 + dt.timedelta(days=40), None, coverage=lambda a: 0.9, confirm_looks=2)
    assert sorted(res.cancelled) == sorted(a.alert_id for a in first.new)
    with pytest.raises(ValueError, match="confirm_looks 3"):
        merge(d, RUN_1 + dt.timedelta(days=46), "S1+S2", confirm_looks=3)


def test_a_failed_commit_keeps_the_candidates(tmp_path, monkeypatch):
    d = tmp_path / "alerts"
    merge(d, RUN_1, "S1")
    before = snapshot(d)

    def dies() -> None:
        raise OSError("disk full")

    monkeypatch.setattr(store_mod, "_before_commit", dies)
    with pytest.raises(OSError):
        merge(d, RUN_1 + dt.timedelta(days=40), None, coverage=lambda a: 1.0)
    assert snapshot(d) == before
    assert {a.stage for a in read_alerts(d / "alerts.gpkg")} == {"candidate"}


def _candidate_of_june_1st() -> Alert:
    """A Sentinel-1 candidate first seen on 2024-06-01 (geometry not used)."""
    return Alert(
        alert_id="x", region="r", status="new", stage="candidate", sensors="S1", revision=1,
        first_seen="2024-06-01T06:00:00Z", last_seen="2024-06-01T06:00:00Z", pre_start="", pre_end="",
        post_start="", post_end="2024-06-01", area_m2=1.0, mean_prob=0.9, peak_prob=0.9, agreement=None,
        spread=None, mean_slope_deg=None, landcover=None, centroid_lon=0.0, centroid_lat=0.0, model_version="",
        threshold=None, quicklook="", geometry=None,  # type: ignore[arg-type]
    )


def window_strings(run: dt.date) -> tuple[tuple[str, str], tuple[str, str]]:
    pre, post = windows(run)
    return (pre[0].isoformat(), pre[1].isoformat()), (post[0].isoformat(), post[1].isoformat())


def test_judging_window():
    a = _candidate_of_june_1st()
    w = window_strings
    assert not can_judge(a, *w(dt.date(2024, 6, 30)))  # post window starts on the first detection day
    assert can_judge(a, *w(dt.date(2024, 7, 1)))
    assert can_judge(a, *w(dt.date(2024, 7, 30)))
    assert not can_judge(a, *w(dt.date(2024, 7, 31)))  # the pre window no longer reaches back far enough
    # grown over new ground on 06-20: a view must also start after that second change
    grown = dataclasses.replace(a, grown_on="2024-06-20T06:00:00Z")
    assert not can_judge(grown, *w(dt.date(2024, 7, 1)))
    assert not can_judge(grown, *w(dt.date(2024, 7, 19)))  # post window starts on 06-20
    assert can_judge(grown, *w(dt.date(2024, 7, 20)))
    assert can_judge(grown, *w(dt.date(2024, 7, 30)))
    assert not can_judge(grown, *w(dt.date(2024, 7, 31)))
    # grown a month or more after its first pass, no view shows both changes: it stays a candidate
    later = dataclasses.replace(a, grown_on="2024-07-10T06:00:00Z")
    assert not any(can_judge(later, *w(dt.date(2024, 6, 1) + dt.timedelta(days=k))) for k in range(120))


def test_confirming_window_follows_the_change_date():
    """A pass confirms only while its pre window starts one post window before the change was
    first seen; a detection that grew the alert over new ground dates that change anew."""
    a = _candidate_of_june_1st()
    w = window_strings  # pre window from run - 89 days, post window 30 days
    assert can_confirm(a, *w(dt.date(2024, 6, 13)))
    assert can_confirm(a, *w(dt.date(2024, 7, 30)))  # pre window starts 05-02 = 06-01 - 30 days
    assert not can_confirm(a, *w(dt.date(2024, 7, 31)))  # it starts after any change the candidate saw
    grown = dataclasses.replace(a, grown_on="2024-07-20T06:00:00Z")
    assert can_confirm(grown, *w(dt.date(2024, 7, 31)))
    assert can_confirm(grown, *w(dt.date(2024, 9, 17)))
    assert not can_confirm(grown, *w(dt.date(2024, 9, 18)))


def test_a_late_optical_detection_confirms_only_a_change_it_can_show(tmp_path):
    """Two months after a Sentinel-1 candidate, an optical detection at the same place compares
    composites that both postdate the candidate's change: it is some newer change, and the candidate
    stays one. A new landslide beside it (the footprint grows by more than half) dates the alert's
    change anew, subscribers are told, and the next optical look confirms it. The footprint's edges
    seen again do neither."""
    small = [Slide(20, 20, 36, 30, 0.92)]  # 160 px
    edges = [Slide(20, 20, 37, 31, 0.92)]  # +27 px: the same landslide's edges
    beside = [Slide(20, 20, 36, 45, 0.92)]  # +240 px: a second landslide next to it
    late, later = RUN_1 + dt.timedelta(days=66), RUN_1 + dt.timedelta(days=72)
    same, grew = tmp_path / "same", tmp_path / "grew"
    for d in (same, grew):
        first = merge(d, RUN_1, "S1", slides=small)
        assert [a.stage for a in first.new] == ["candidate"] and first.new[0].grown_on == ""
    aid = first.new[0].alert_id

    notes = RecordingNotifier()
    r = merge(same, late, "S1+S2", slides=edges, notifier=notes)
    assert r.confirmed == [] and [(a.alert_id, a.stage, a.grown_on) for a in r.updated] == [(aid, "candidate", "")]
    assert r.grown == [] and notes.sent == []
    assert merge(same, later, "S1+S2", slides=edges).confirmed == []

    r = merge(grew, late, "S1+S2", slides=beside, notifier=notes)
    (a,) = r.updated
    assert (a.alert_id, a.stage, a.grown_on) == (aid, "candidate", "2024-08-06T06:00:00Z") and r.grown == [aid]
    assert read_alerts(grew / "alerts.gpkg") == r.alerts  # the GeoPackage keeps the date
    assert [[x.alert_id for x in n] for n in notes.sent] == [[aid]]
    info = _cap(grew, aid).find(f"{CAP}info")
    assert f"grown to {a.area_m2:,.0f} m² over new ground" in info.findtext(f"{CAP}headline")
    assert "grew over new ground on 2024-08-06T06:00:00Z" in info.findtext(f"{CAP}description")
    r = merge(grew, later, "S1+S2", slides=beside)
    assert r.confirmed == [aid]
    # within the window of the first pass, an optical look confirms as before
    assert merge(tmp_path / "early", RUN_1, "S1", slides=small).new
    assert merge(tmp_path / "early", RUN_1 + dt.timedelta(days=59), "S1+S2", slides=small).confirmed == [aid]


def test_sensors_raster_and_per_pixel_thresholds():
    p = synthetic_pass(SLIDES_A, grid=GRID, seed=0)
    sensors = p.mean * 0 + SENSORS_CODE_S1S2
    sensors[:, :50] = SENSORS_CODE_S1  # slide 1 (cols 20-30) seen by SAR only
    thr = sensors * 0 + 0.5
    thr[:, :50] = 0.95  # ... by a model with a stricter threshold
    kw = dict(slope=p.slope, landcover=p.landcover, min_area_m2=400.0, min_slope_deg=10.0)
    cands = detections_to_candidates(p.mean, p.std, p.agreement, GRID, threshold=0.5, sensors=sensors, **kw)
    assert sorted(c.sensors for c in cands) == ["S1", "S1+S2"]
    strict = detections_to_candidates(p.mean, p.std, p.agreement, GRID, threshold=thr, sensors=sensors, **kw)
    assert [c.sensors for c in strict] == ["S1+S2"]


def test_old_store_rows_read_as_confirmed():
    row = {c: None for c in ALERT_COLUMNS}
    row.update(alert_id="a", region="r", status="new", revision=1, area_m2=1.0, mean_prob=0.5, peak_prob=0.5,
               centroid_lon=0.0, centroid_lat=0.0)
    del row["stage"], row["sensors"]
    a = alert_from_row(row, None)
    assert (a.stage, a.sensors) == ("confirmed", "")


def test_sentinel1_persistence_needs_as_many_repeats_as_looks_not_just_passes():
    """A daily schedule re-detects the same Sentinel-1 median between two scenes: the rule asks the
    N detections to span N - 1 repeats of the constellation on the date (6 days with two satellites,
    12 with one), and at least one post window."""
    from gee_landslide.core.catalog import Region
    from gee_landslide.monitor.confirm_rules import sar_confirm_rule

    region = Region(name="r", bbox=(6.0, 61.0, 6.1, 61.1), s1_post_days=12, sar_confirm_passes=4)
    assert sar_confirm_rule(region, dt.date(2025, 8, 1))[:2] == (4, 18)  # S1A + S1C: 6-day repeat
    assert sar_confirm_rule(region, dt.date(2020, 8, 1))[:2] == (4, 18)  # S1A + S1B
    assert sar_confirm_rule(region, dt.date(2023, 8, 1))[:2] == (4, 36)  # S1A alone: 12 days
    assert sar_confirm_rule(region.model_copy(update={"sar_confirm_passes": 2}), dt.date(2025, 8, 1))[:2] == (2, 12)
    assert sar_confirm_rule(region.model_copy(update={"sar_confirm_passes": None}), dt.date(2025, 8, 1)) is None
    # the post window persistence waits for is the S1 ensemble's own where it has one
    two = region.model_copy(update={"sar_confirm_passes": 2})
    assert sar_confirm_rule(two.model_copy(update={"s1_ensemble_post_days": 6}), dt.date(2025, 8, 1))[:2] == (2, 6)
    assert sar_confirm_rule(two.model_copy(update={"s1_ensemble_post_days": 24}), dt.date(2025, 8, 1))[:2] == (2, 24)


def test_sentinel1_persistence_asks_the_detections_change_to_hold_over_the_full_window(tmp_path):
    """``sar_holds`` (a region whose S1 ensemble reads a one-look window): persistence confirms only
    when this pass's detections show their change in the full Sentinel-1 post window too; until then
    the detections count, and the first pass whose detections hold confirms."""
    rule = (3, 12)
    d = tmp_path / "alerts"
    asked: list[list] = []

    def never(cands):
        asked.append(list(cands))
        return False

    for day in (0, 6, 12, 18):
        res = merge(d, RUN_1 + dt.timedelta(days=day), "S1", sar_confirm=rule, sar_holds=never)
    assert res.confirmed == [] and {(a.stage, a.detections) for a in res.alerts} == {("candidate", 4)}
    # asked only where everything else confirms (from the third detection on), with that alert's detections
    assert len(asked) == 2 * len(res.alerts) and all(len(c) == 1 and c[0].sensors == "S1" for c in asked)
    ok = merge(d, RUN_1 + dt.timedelta(days=24), "S1", sar_confirm=rule, sar_holds=lambda cands: True)
    assert sorted(ok.confirmed) == sorted(a.alert_id for a in res.alerts)
    assert {a.confirmed_by for a in ok.alerts} == {"Sentinel-1 persistence"}
    # an optical confirmation does not ask it
    optical = tmp_path / "optical"
    merge(optical, RUN_1, "S1", sar_confirm=rule, sar_holds=never)
    assert len(merge(optical, RUN_1 + dt.timedelta(days=6), "S1+S2", sar_confirm=rule, sar_holds=never).confirmed) == 2


def test_the_full_window_check_reads_the_detections_median_change_against_the_evidence_limit():
    """confirm_rules.sar_holds_of: the median dVH under a pass's detections in its own stack, against the S1
    ensemble's ``max_object_median``; no check where that stack is the S1 ensemble's (all NaN) or the
    ensemble has no dVH evidence."""
    import numpy as np
    from synthetic_pass import Slide

    from gee_landslide.monitor.confirm_rules import sar_holds_of

    p = synthetic_pass([Slide(20, 20, 40, 40, 0.92), Slide(70, 70, 90, 95, 0.92)], grid=GRID, seed=0)
    cands = sorted(candidates_of(p), key=lambda c: c.window)
    assert len(cands) == 2
    evidence = {"band": "dVH", "max_object_median": -0.52}
    dvh = np.zeros(GRID.shape, np.float32)
    dvh[20:40, 20:40] = -2.0  # the first detection's change holds, the second's does not
    holds = sar_holds_of(dvh, GRID, evidence)
    assert holds([cands[0]]) and not holds([cands[1]])
    # the median over both: the second is the larger, so together they do not hold
    assert not holds(cands)
    dvh[70:90, 70:95] = -0.6
    assert sar_holds_of(dvh, GRID, evidence)(cands)
    gap = dvh.copy()
    gap[20:40, 20:40] = np.nan  # no Sentinel-1 value under it: nothing shows the change
    assert not sar_holds_of(gap, GRID, evidence)([cands[0]])
    assert sar_holds_of(np.full(GRID.shape, np.nan, np.float32), GRID, evidence) is None
    assert sar_holds_of(dvh, GRID, None) is None
    assert sar_holds_of(dvh, GRID, {"band": "dNDVI", "max_object_median": -0.13}) is None


def test_sentinel1_persistence_confirms_only_on_land_cover_its_ensemble_saw_landslides_on(tmp_path):
    """The S1 ensemble's evidence counts its training landslides by land cover; persistence alone
    confirms only on classes with at least MIN_PERSISTENCE_OBJECTS of them (a manifest without the
    counts restricts nothing)."""
    from gee_landslide.core.catalog import Region
    from gee_landslide.monitor.alert_merge import SarConfirm
    from gee_landslide.monitor.confirm_rules import (
        MIN_PERSISTENCE_OBJECTS,
        persistence_landcover,
        sar_confirm_rule,
    )

    counts = {"2": 87, "3": 72, "4": MIN_PERSISTENCE_OBJECTS, "5": MIN_PERSISTENCE_OBJECTS - 1, "8": 1}
    assert persistence_landcover({"objects_by_landcover": counts}) == frozenset({2, 3, 4})
    assert persistence_landcover({"band": "dVH"}) is None and persistence_landcover(None) is None
    region = Region(name="r", bbox=(6.0, 61.0, 6.1, 61.1), s1_post_days=12, sar_confirm_passes=3)
    assert sar_confirm_rule(region, dt.date(2025, 8, 1), {"objects_by_landcover": counts}) == SarConfirm(
        3, 12, frozenset({2, 3, 4}))

    # the synthetic pass's slides lie on forest (class 2)
    for name, classes, stage in (("seen", frozenset({2, 3}), "confirmed"), ("unseen", frozenset({3, 8}), "candidate")):
        d = tmp_path / name
        for day in (0, 6, 12):
            res = merge(d, RUN_1 + dt.timedelta(days=day), "S1", sar_confirm=SarConfirm(3, 12, classes))
        assert {(a.landcover, a.stage, a.detections) for a in res.alerts} == {(2, stage, 3)}, name


def test_daily_passes_over_the_same_scenes_do_not_confirm_by_persistence(tmp_path):
    rule = (4, 18)
    d = tmp_path / "daily"
    for day in range(4):  # four detections in four days: one or two Sentinel-1 scenes
        res = merge(d, RUN_1 + dt.timedelta(days=day), "S1", sar_confirm=rule)
    assert res.confirmed == [] and {(a.stage, a.detections) for a in res.alerts} == {("candidate", 4)}
    res = merge(d, RUN_1 + dt.timedelta(days=18), "S1", sar_confirm=rule)  # three repeats after the first
    assert {(a.stage, a.detections) for a in res.alerts} == {("confirmed", 5)}


# ----------------------------------------------------------------------------- a look of its own
def _look(fresh: bool, span_days: int = 12) -> OpticalLook:
    """The store's optical_look rule with this pass's detections seen clear recently, or not."""
    return OpticalLook(span_days, lambda cands: fresh)


def test_with_two_looks_an_optical_detection_confirms_only_as_a_look_of_its_own(tmp_path):
    """``optical_look``: a second Sentinel-2 detection confirms only when its pass runs the rule's span
    after the first and saw the pixels clear within it (a new image); without the rule, any later pass does."""
    day = dt.timedelta(days=1)
    d = tmp_path / "alerts"
    first = merge(d, RUN_1, "S1+S2", confirm_looks=2, optical_look=_look(True))
    ids = sorted(a.alert_id for a in first.new)
    assert {a.optical_look_on[:10] for a in first.new} == {RUN_1.isoformat()}
    soon = merge(d, RUN_1 + 6 * day, "S1+S2", confirm_looks=2, optical_look=_look(True))
    assert soon.confirmed == [] and {a.stage for a in soon.alerts} == {"candidate"}
    stale = merge(d, RUN_1 + 12 * day, "S1+S2", confirm_looks=2, optical_look=_look(False))
    assert stale.confirmed == [] and {a.stage for a in stale.alerts} == {"candidate"}
    assert {a.optical_look_on[:10] for a in stale.alerts} == {RUN_1.isoformat()}  # still the first look
    new = merge(d, RUN_1 + 18 * day, "S1+S2", confirm_looks=2, optical_look=_look(True))
    assert sorted(new.confirmed) == ids and {a.confirmed_by for a in new.alerts} == {"Sentinel-2"}

    without = tmp_path / "without"
    merge(without, RUN_1, "S1+S2", confirm_looks=2)
    assert sorted(merge(without, RUN_1 + 6 * day, "S1+S2", confirm_looks=2).confirmed) == ids
    one_look = tmp_path / "one-look"  # one look confirms at once: the rule has nothing to pair
    assert {a.stage for a in merge(one_look, RUN_1, "S1+S2", optical_look=_look(False)).new} == {"confirmed"}


def test_a_first_optical_detection_after_sentinel1_looks_confirms_whatever_its_images(tmp_path):
    """The rule pairs Sentinel-2 detections only: after two Sentinel-1 detections the first optical one
    is a look of another sensor and confirms, even from images older than the span."""
    day = dt.timedelta(days=1)
    d = tmp_path / "alerts"
    ids = sorted(a.alert_id for a in merge(d, RUN_1, "S1", confirm_looks=2, optical_look=_look(False)).new)
    merge(d, RUN_1 + 6 * day, "S1", confirm_looks=2, optical_look=_look(False))
    res = merge(d, RUN_1 + 12 * day, "S1+S2", confirm_looks=2, optical_look=_look(False))
    assert sorted(res.confirmed) == ids
    assert {a.optical_look_on[:10] for a in res.alerts} == {(RUN_1 + 12 * day).isoformat()}


def test_a_reopening_detection_is_the_look_the_confirmation_must_be_independent_of(tmp_path):
    """After a cancellation the optical detection that reopens an alert becomes its earlier look: the
    next pass confirms it only the span later, whatever the alert's first Sentinel-2 detection was."""
    day = dt.timedelta(days=1)
    d = tmp_path / "alerts"
    ids = sorted(a.alert_id for a in merge(d, RUN_1, "S1+S2", confirm_looks=2, optical_look=_look(True)).new)
    assert sorted(merge(d, RUN_1 + 40 * day, None, coverage=lambda a: 0.9, confirm_looks=2).cancelled) == ids
    reopened = merge(d, RUN_1 + 46 * day, "S1+S2", confirm_looks=2, optical_look=_look(True))
    assert {a.stage for a in reopened.alerts} == {"candidate"}
    assert {a.optical_look_on[:10] for a in reopened.alerts} == {(RUN_1 + 46 * day).isoformat()}
    assert merge(d, RUN_1 + 52 * day, "S1+S2", confirm_looks=2, optical_look=_look(True)).confirmed == []
    assert sorted(merge(d, RUN_1 + 58 * day, "S1+S2", confirm_looks=2, optical_look=_look(True)).confirmed) == ids


def test_old_store_rows_pair_with_their_first_pass_when_sentinel2_has_seen_them(tmp_path):
    """A store written before ``optical_look_on`` existed: an alert Sentinel-2 has seen reads its first
    pass as the earlier look (and keeps it when a later detection updates it); one only Sentinel-1 saw has none."""
    d = tmp_path / "alerts"
    merge(d, RUN_1, "S1+S2", confirm_looks=2)
    optical = read_alerts(d / "alerts.gpkg")[0]
    row = {c: getattr(optical, c) for c in ALERT_COLUMNS if c != "optical_look_on"}
    old = alert_from_row(row, optical.geometry)
    assert old.optical_look_on == "" and optical_look_date(old) == RUN_1
    assert optical_look_date(dataclasses.replace(old, sensors="S1")) is None
    store_mod.write_alerts(d / "alerts.gpkg", [dataclasses.replace(a, optical_look_on="")
                                               for a in read_alerts(d / "alerts.gpkg")])
    later = merge(d, RUN_1 + dt.timedelta(days=6), "S1+S2", confirm_looks=2, optical_look=_look(True))
    assert later.confirmed == [] and {a.optical_look_on[:10] for a in later.alerts} == {RUN_1.isoformat()}


def test_with_the_recent_rule_a_stale_detection_keeps_the_alert_a_candidate(tmp_path):
    """``optical_confirm_look: recent`` (span 0): the next pass's detection confirms when its pixels had a
    recent clear image, and never when its composite fell back to older ones."""
    day = dt.timedelta(days=1)
    d = tmp_path / "alerts"
    ids = sorted(a.alert_id for a in merge(d, RUN_1, "S1+S2", confirm_looks=2, optical_look=_look(True, 0)).new)
    assert merge(d, RUN_1 + 6 * day, "S1+S2", confirm_looks=2, optical_look=_look(False, 0)).confirmed == []
    assert sorted(merge(d, RUN_1 + 12 * day, "S1+S2", confirm_looks=2, optical_look=_look(True, 0)).confirmed) == ids
