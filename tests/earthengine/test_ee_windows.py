"""Seasonal windows (catalog window_rule, earthengine/seasons.py), shared by recipe and simulator."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from gee_landslide.core.catalog import CatalogError, Window, WindowRule, parse_catalog


def test_rule_picks_1_2_or_12_months(catalog):
    from gee_landslide.earthengine.seasons import choose_windows

    months = {ev.id: choose_windows(ev, catalog.defaults).months for ev in catalog.events}
    assert set(months.values()) == {1, 2, 12}
    assert months["norway-5"] == 1  # summer event, two S1 satellites, no cold day in either window
    assert months["indonesia-29"] == 2  # tropical: few cloud-free S2 days
    assert months["new-zealand-3"] == 2  # 2022: one Sentinel-1 satellite
    assert months["iceland-15"] == 12  # a February event in Iceland: snow either side
    assert months["italy-22"] == 12  # November in the Alps: autumn pre, winter post


def test_twelve_month_windows_hold_the_same_green_months_a_year_apart(catalog):
    from gee_landslide.earthengine.seasons import choose_windows, dormant_fraction, site_climate

    ev = catalog.event("italy-22")
    c = choose_windows(ev, catalog.defaults)
    assert (c.pre.start, c.pre.end) == (dt.date(2017, 11, 2), dt.date(2018, 11, 1))
    assert (c.post.start, c.post.end) == (dt.date(2018, 11, 3), dt.date(2019, 11, 2))
    assert "snow/leaf-off" in c.reason and "a year apart" in c.reason
    clim, z, _ = site_climate(ev)
    assert abs(dormant_fraction(clim, z, c.pre) - dormant_fraction(clim, z, c.post)) < 0.05
    d_pre, d_post = c.dormant  # what the +-2-month windows would have been
    assert abs(d_pre - d_post) > 0.25 or max(d_pre, d_post) > 0.5


def test_per_event_override_and_explicit_windows(catalog):
    from gee_landslide.earthengine.seasons import choose_windows, event_windows

    ev = catalog.event("norway-5").model_copy(update={"window_rule": WindowRule(mode="months", months=12)})
    c = choose_windows(ev, catalog.defaults)
    assert c.months == 12 and c.rule == "months" and c.pre.start == dt.date(2018, 7, 30)
    days = catalog.event("norway-5").model_copy(update={"window_rule": WindowRule(mode="days")})
    pre, post = event_windows(days, catalog.defaults)
    assert pre.days == catalog.defaults.pre_days == 60 and post.days == catalog.defaults.post_days
    own = catalog.event("norway-5").model_copy(update={
        "pre": Window(start=dt.date(2019, 7, 1), end=dt.date(2019, 7, 20))})
    c = choose_windows(own, catalog.defaults)
    assert c.pre.start == dt.date(2019, 7, 1) and c.post.end == dt.date(2019, 8, 30)


def test_bad_window_rule_names_file_field_and_value(request):
    text = (request.config.rootpath / "case_studies.yaml").read_text()
    bad = text.replace("  window_rule: {mode: auto}", "  window_rule: {mode: months, months: 3}")
    with pytest.raises(CatalogError) as info:
        parse_catalog(bad, "broken.yaml")
    issue = info.value.issues[0]
    assert issue.file == "broken.yaml" and issue.field.startswith("defaults.window_rule.months")
    assert issue.value == 3 and issue.line is not None
    missing = text.replace("  window_rule: {mode: auto}", "  window_rule: {mode: months}")
    with pytest.raises(CatalogError, match="mode: months needs months: 1, 2 or 12"):
        parse_catalog(missing, "broken.yaml")


def test_simulator_and_recipe_use_the_same_windows(catalog):
    from gee_landslide.earthengine.context import EventContext
    from gee_landslide.simulate import simulate_event

    ev = catalog.event("iceland-15")
    ctx = EventContext.of(ev, catalog.defaults)
    sc = simulate_event(ev, catalog.defaults)
    assert sc.meta["windows"] == {"pre": list(ctx.pre.as_strings()), "post": list(ctx.post.as_strings())}
    assert "a year apart" in ctx.window_reason
    # snow is computed per window: 12-month windows a year apart both reach summer, so neither
    # greenest-pixel composite shows snow and the scars lose vegetation as they should
    lines, zmax = sc.meta["snowline_m"], float(np.nanmax(sc.data[9]))
    assert min(lines["s2_pre"], lines["s2_post"]) > zmax
    scars = sc.labels.astype(bool)
    assert scars.any()
    assert float(np.nanmean(sc.data[14][scars])) < -0.2
    assert abs(float(np.nanmean(sc.data[14][~scars]))) < 0.05
    # the +-60-day windows of the issue: snow in one window only, scars look greener (+0.13)
    days = catalog.defaults.model_copy(update={"window_rule": WindowRule(mode="days")})
    old = simulate_event(ev, days)
    assert old.meta["snowline_m"]["s2_pre"] < zmax
    assert float(np.nanmean(old.data[14][old.labels.astype(bool)])) > 0


# ------------------------------------------------------------------ stacks plan
def _plan(request, *args):
    from typer.testing import CliRunner

    from gee_landslide.cli import app

    return CliRunner().invoke(app, ["stacks", "plan", *args, "--catalog",
                                    str(request.config.rootpath / "case_studies.yaml")])


def test_plan_all_prints_every_event_within_80_columns(request, catalog):
    res = _plan(request, "--all")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    body = "\n".join(lines)
    for ev in catalog.events:
        assert ev.id in body, ev.id
    row = next(line for line in lines if line.lstrip().startswith("iceland-15"))
    assert "GLO30" in row and "12m" in row and "2021-02-02" in row and "L2A/L1C" in row
    row = next(line for line in lines if line.lstrip().startswith("indonesia-29"))
    assert "2m" in row and "L2A17-18" in row
    assert "L2A17-18: S2 L2A not global" in body


def test_plan_all_json_has_windows_collections_fallbacks_risks(request, catalog, tmp_path):
    out = tmp_path / "plan.json"
    res = _plan(request, "--all", "--json", str(out))
    assert res.exit_code == 0, res.output
    rows = {r["event_id"]: r for r in json.loads(out.read_text())}
    assert set(rows) == set(catalog.ids)
    r = rows["kyrgyzstan-21"]
    assert r["windows"]["months"] == 12 and "snow/leaf-off" in r["windows"]["reason"]
    assert r["collections"]["sentinel2"] == "COPERNICUS/S2_SR_HARMONIZED"
    assert r["fallbacks"] and "COPERNICUS/S2_HARMONIZED" in r["fallbacks"][0]
    assert any("2017-2018" in x for x in r["risks"]) and r["dem"] == "USGS/SRTMGL1_003"
    assert rows["norway-5"]["collections"]["landcover_labels"] == "GOOGLE/DYNAMICWORLD/V1"


def test_plan_event_says_windows_reason_and_fallback(request):
    res = _plan(request, "--event", "iceland-15")
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "a year apart" in text and "COPERNICUS/S2_HARMONIZED (both windows)" in text
    assert "GOOGLE/DYNAMICWORLD/V1" in text
    assert _plan(request).exit_code == 2  # neither --event nor --all
