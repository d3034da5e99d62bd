"""The event catalog: the shipped file, broken files, the split, appending events."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gee_landslide.cli import app
from gee_landslide.core.catalog import (
    CatalogError,
    WindowRule,
    append_event,
    draw_split,
    load_catalog,
    parse_catalog,
    validate_event,
)

runner = CliRunner()


def _line_of(text: str, needle: str, after: str | None = None) -> int:
    """1-based line number of the first line equal to ``needle`` (after the line ``after``)."""
    lines = text.splitlines()
    start = lines.index(after) if after else 0
    return start + lines[start:].index(needle) + 1


def _broken(catalog_path: Path, old: str, new: str, after: str = "  - id: norway-5") -> tuple[str, int]:
    text = catalog_path.read_text()
    line = _line_of(text, old, after)
    lines = text.splitlines()
    lines[line - 1] = new
    return "\n".join(lines) + "\n", line


def _single_issue(text: str):
    with pytest.raises(CatalogError) as info:
        parse_catalog(text, "broken.yaml")
    assert len(info.value.issues) == 1, info.value.issues
    return info.value.issues[0]


def test_shipped_catalog_has_the_papers_21_events(catalog_path: Path) -> None:
    cat = load_catalog(catalog_path)
    assert len(cat.events) == 21
    numbers = sorted(e.number for e in cat.events)
    assert numbers == [1, 2, 3, 4, 5, 8, 9, 10, 12, 14, 15, 19, 20, 21, 22, 23, 24, 25, 26, 28, 29]
    assert [e.id for e in cat.split("test")] == ["norway-5"]
    assert len(cat.split("train")) == 16 and len(cat.split("val")) == 4
    assert all(e.approximate for e in cat.events), "the paper gives no coordinates"
    norway = cat.event("norway-5")
    assert norway.types == [22, 25] and norway.size_km == (0.11, 0.03)
    assert norway.date == dt.date(2019, 7, 30) and norway.rainfall_mm_yr == 2285
    assert "norway" in cat.regions


def test_split_is_the_one_the_seed_draws(catalog_path: Path) -> None:
    cat = load_catalog(catalog_path)
    non_test = [e.id for e in cat.events if e.split != "test"]
    expected = draw_split(non_test, cat.split_seed, n_val=4)
    assert {e.id: e.split for e in cat.events if e.split != "test"} == expected
    assert draw_split(non_test, cat.split_seed + 1) != expected  # the seed matters


def test_default_windows_surround_the_event(catalog_path: Path) -> None:
    from gee_landslide.earthengine.seasons import event_windows

    cat = load_catalog(catalog_path)
    pre, post = event_windows(cat.event("norway-5"), cat.defaults)
    assert pre.end < dt.date(2019, 7, 30) < post.start
    # window_rule auto: one summer month either side (earthengine/seasons.py)
    assert (pre.start, post.end) == (dt.date(2019, 6, 30), dt.date(2019, 8, 30))
    days = cat.defaults.model_copy(update={"window_rule": WindowRule(mode="days")})
    pre, post = event_windows(cat.event("norway-5"), days)
    assert pre.days == cat.defaults.pre_days and post.days == cat.defaults.post_days


def test_latitude_out_of_range_names_file_line_field_value(catalog_path: Path) -> None:
    text, line = _broken(catalog_path, "    lat: 61.48", "    lat: 95")
    issue = _single_issue(text)
    assert (issue.file, issue.line, issue.value) == ("broken.yaml", line, 95)
    assert issue.field == "events[4] (norway-5).lat"
    assert "90" in issue.message
    assert str(issue).startswith(f"broken.yaml:{line}: events[4] (norway-5).lat = 95")


def test_post_window_before_the_event_is_refused(catalog_path: Path) -> None:
    text, line = _broken(
        catalog_path, "    split: test", "    split: test\n    post: {start: 2019-07-01, end: 2019-08-30}"
    )
    issue = _single_issue(text)
    assert issue.field == "events[4] (norway-5).post"
    assert issue.line == line + 1
    assert "before the event date 2019-07-30" in issue.message


def test_duplicate_event_id(catalog_path: Path) -> None:
    text, line = _broken(catalog_path, "  - id: norway-5", "  - id: ireland-2", after=None)
    issue = _single_issue(text)
    assert issue.value == "ireland-2" and issue.line == line
    assert "duplicate event id" in issue.message and "events[1]" in issue.message


def test_id_must_be_a_safe_slug(catalog_path: Path) -> None:
    text, line = _broken(catalog_path, "  - id: norway-5", "  - id: Norway 5/../x", after=None)
    issue = _single_issue(text)
    assert (issue.line, issue.value) == (line, "Norway 5/../x")
    assert "slug" in issue.message


def test_unknown_split(catalog_path: Path) -> None:
    text, line = _broken(catalog_path, "    split: test", "    split: holdout")
    issue = _single_issue(text)
    assert (issue.line, issue.value, issue.field) == (line, "holdout", "events[4] (norway-5).split")
    assert "train" in issue.message and "val" in issue.message


def test_missing_field_and_several_errors_are_all_reported(catalog_path: Path) -> None:
    text = catalog_path.read_text().replace("    trigger: E\n", "", 1).replace("    lat: 61.48", "    lat: -95")
    with pytest.raises(CatalogError) as info:
        parse_catalog(text, "broken.yaml")
    fields = {i.field for i in info.value.issues}
    assert "events[4] (norway-5).lat" in fields
    assert any(f.endswith(".trigger") for f in fields)


def test_invalid_yaml_and_duplicate_keys(catalog_path: Path) -> None:
    issue = _single_issue("version: 1\nevents: [\n")
    assert "not valid YAML" in issue.message
    text, line = _broken(catalog_path, "    lat: 61.48", "    lat: 61.48\n    lat: 61.5")
    issue = _single_issue(text)
    assert "duplicate key" in issue.message and issue.line == line + 1


def test_bad_region_fields(catalog_path: Path) -> None:
    text = catalog_path.read_text().replace('schedule: "0 6 * * *"', 'schedule: "every day"')
    issue = _single_issue(text)
    assert issue.field == "regions.norway.schedule" and issue.value == "every day"
    text = catalog_path.read_text().replace("bbox: [6.055, 61.458, 6.145, 61.502]", "bbox: [6.2, 61.458, 6.1, 61.502]")
    issue = _single_issue(text)
    assert issue.field == "regions.norway.bbox"


def test_unknown_field_is_refused(catalog_path: Path) -> None:
    text, line = _broken(catalog_path, "    split: test", "    split: test\n    lattitude: 3")
    issue = _single_issue(text)
    assert issue.field == "events[4] (norway-5).lattitude" and issue.line == line + 1


def test_append_event_keeps_comments_and_validates(tmp_path: Path, catalog_path: Path) -> None:
    path = tmp_path / "case_studies.yaml"
    shutil.copy(catalog_path, path)
    before = path.read_text()
    event = validate_event(
        {"id": "colombia-mesetas", "name": "Mesetas", "country": "Colombia", "lat": 3.49, "lon": -74.16,
         "trigger": "E", "size_km": (0.3, 0.1), "date": dt.date(2019, 12, 24), "split": "train"}
    )
    cat = append_event(path, event)
    after = path.read_text()
    head, tail = before.split("\n\n# Regions watched by")
    assert after.startswith(head + "\n  - id: colombia-mesetas\n"), "the event goes at the end of the list"
    assert after.endswith("\n\n# Regions watched by" + tail), "the rest, with its comments, is kept"
    assert cat.event("colombia-mesetas").lat == 3.49 and len(cat.events) == 22
    assert load_catalog(path).event("colombia-mesetas").split == "train"


def test_append_duplicate_leaves_file_untouched(tmp_path: Path, catalog_path: Path) -> None:
    path = tmp_path / "case_studies.yaml"
    shutil.copy(catalog_path, path)
    before = path.read_bytes()
    dup = load_catalog(path).event("norway-5")
    with pytest.raises(CatalogError, match="duplicate event id"):
        append_event(path, dup)
    assert path.read_bytes() == before


def test_cli_validate_exit_codes(tmp_path: Path, catalog_path: Path) -> None:
    ok = runner.invoke(app, ["events", "validate", str(catalog_path)])
    assert ok.exit_code == 0, ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(catalog_path.read_text().replace("    lat: 61.48", "    lat: 95"))
    res = runner.invoke(app, ["events", "validate", str(bad)])
    assert res.exit_code == 1
    assert "lat = 95" in res.output and "bad.yaml:" in res.output


def test_cli_add_and_list(tmp_path: Path, catalog_path: Path) -> None:
    path = tmp_path / "case_studies.yaml"
    shutil.copy(catalog_path, path)
    res = runner.invoke(app, ["events", "add", "--catalog", str(path), "--id", "test-slide", "--name", "Somewhere",
                              "--country", "Norway", "--date", "2024-05-01", "--trigger", "R", "--lat", "61.0",
                              "--lon", "7.0", "--size", "0.2x0.05", "--types", "22"])
    assert res.exit_code == 0, res.output
    assert load_catalog(path).event("test-slide").size_km == (0.2, 0.05)
    bad = runner.invoke(app, ["events", "add", "--catalog", str(path), "--id", "bad-lat", "--name", "X",
                              "--country", "Y", "--date", "2024-05-01", "--trigger", "R", "--lat", "95",
                              "--lon", "7.0", "--size", "0.2x0.05"])
    assert bad.exit_code == 1 and "lat = 95.0" in bad.output
    assert "bad-lat" not in path.read_text()
    listed = runner.invoke(app, ["events", "list", "--catalog", str(path)], env={"COLUMNS": "250"})
    assert listed.exit_code == 0 and "test-slide" in listed.output and "norway-5" in listed.output


def test_cli_add_from_inventory_derives_location(tmp_path: Path, catalog_path: Path, shared_dir: Path) -> None:
    inventory = shared_dir / "data/inventories/colombia_mesetas_2019.gpkg"
    path = tmp_path / "case_studies.yaml"
    shutil.copy(catalog_path, path)
    res = runner.invoke(app, ["events", "add", "--catalog", str(path), "--id", "colombia-mesetas", "--name",
                              "Mesetas", "--country", "Colombia", "--date", "2019-12-24", "--trigger", "E",
                              "--labels", str(inventory)])
    assert res.exit_code == 0, res.output
    ev = load_catalog(path).event("colombia-mesetas")
    assert 3.37 < ev.lat < 3.62 and -74.26 < ev.lon < -74.06  # inside the inventory's extent
    assert ev.size_km[0] >= ev.size_km[1] > 0 and ev.labels == str(inventory)


@pytest.mark.parametrize("expr", ["0 6 * * *", "*/15 0-5 * * MON-FRI", "0 0 1 JAN,jul *", "0 0 * * 7",
                                  "5,10-20/5 */2 1-31/3 2-11 sun-sat", "99 77 45 13 9", "0 0 0 * *",
                                  "0 0 * 13 *", "*/0 * * * *", "1-60 * * * *", "0 24 * * *"])
def test_cron_check_agrees_with_prefects_croniter(expr: str) -> None:
    """The catalog's own cron check (cheap to import) accepts exactly what Prefect's scheduler does."""
    from prefect._vendor.croniter import croniter

    from gee_landslide.core.catalog import cron_problem

    assert (cron_problem(expr) is None) == croniter.is_valid(expr), expr
    assert "5 fields" in (cron_problem(expr + " 0") or "")  # croniter's seconds field: not in a catalog


def test_sentinel1_windows_hold_at_least_one_repeat_and_the_s1_ensemble_may_have_its_own() -> None:
    """A region's Sentinel-1 post windows are never shorter than the constellation's repeat on the
    pass date (a 6-day window with one satellite would hold no look every other pass), and
    ``s1_ensemble_post_days`` gives the S1 ensemble its own window only where it differs from the stack's."""
    from gee_landslide.core.catalog import Region, Window

    def post(year: int) -> Window:
        return Window(start=dt.date(year, 7, 2), end=dt.date(year, 7, 31))

    both = Region(name="r", bbox=(6.0, 61.0, 6.1, 61.1), s1_post_days=12, s1_ensemble_post_days=6)
    # 2025: S1A and S1C, a 6-day repeat
    assert both.s1_post_window(post(2025)) == Window(start=dt.date(2025, 7, 20), end=dt.date(2025, 7, 31))
    assert both.s1_ensemble_post_window(post(2025)) == Window(start=dt.date(2025, 7, 26), end=dt.date(2025, 7, 31))
    # 2023: S1A alone, a 12-day repeat: 6 days become 12, the same as the stack's window, so no second stack
    assert both.s1_ensemble_post_window(post(2023)) is None
    short = Region(name="r", bbox=(6.0, 61.0, 6.1, 61.1), s1_post_days=6)
    assert short.s1_post_window(post(2023)).days == 12 and short.s1_post_window(post(2025)).days == 6
    # unset, or as long as the whole post window the stack already covers: one stack serves both
    assert Region(name="r", bbox=(6.0, 61.0, 6.1, 61.1)).s1_ensemble_post_window(post(2025)) is None
    assert Region(name="r", bbox=(6.0, 61.0, 6.1, 61.1), s1_ensemble_post_days=45).s1_ensemble_post_window(
        post(2025)) is None
    # longer than the stack's short window: the S1 ensemble gets the whole post window
    longer = Region(name="r", bbox=(6.0, 61.0, 6.1, 61.1), s1_post_days=6, s1_ensemble_post_days=30)
    assert longer.s1_ensemble_post_window(post(2025)) == post(2025)
