"""The event catalog ``case_studies.yaml``: events, defaults and monitoring regions.

Adding an event to this file is all it takes for ingest, training and evaluation to use it,
so the file is validated strictly and every error names the file, the line, the field and the
bad value (``case_studies.yaml:57: events[4] (norway-5).lat = 95: ...``). The file is read
with ruamel.yaml's round-trip loader, which keeps line numbers for the messages and lets
:func:`append_event` add an event without losing the file's comments and layout.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError

from gee_landslide.core.atomic import write_text_atomic
from gee_landslide.core.constellation import s1_repeat_days
from gee_landslide.core.errors import GeeLandslideError, UnknownIdError
from gee_landslide.core.paths import NAME_RE
from gee_landslide.core.yamlsafe import YamlLimitError, check_yaml_structure, read_yaml_text

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
CRON_FIELD_RE = re.compile(r"^[\d*/,\-A-Za-z?]+$")
Split = Literal["train", "val", "test"]
# the side of an event's square area: 50 km is 5000 px at 10 m, far inside computePixels' 32768 px
# per side (exports are tiled under the 48 MB request limit), and ~1.5 GB of float32 per stack
MAX_AOI_SIZE_M = 50_000.0
# a monitoring region's area: a pass mosaics its rasters in memory (8 float32 layers of the whole
# region: 2,500 km2 at 10 m is ~0.8 GB), so a globe-sized bbox is refused before anything is allocated
MAX_REGION_AREA_KM2 = 2_500.0
EARTH_RADIUS_KM = 6_371.0088
# Table 1's codes number the 32 landslide types of Hungr et al. (2014): 1 rock/ice fall ... 32 solifluction
LANDSLIDE_TYPE_CODES = range(1, 33)
# each cron field: (name, lowest, highest, names for the values)
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
CRON_FIELDS = (("minute", 0, 59, ()), ("hour", 0, 23, ()), ("day of month", 1, 31, ()),
               ("month", 1, 12, _MONTHS), ("day of week", 0, 7, _DAYS))


# ----------------------------------------------------------------------------- errors
@dataclass(frozen=True)
class CatalogIssue:
    """One problem in a catalog file, located to the line."""

    file: str
    line: int | None
    field: str
    value: Any
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field} = {self.value!r}: {self.message}"


class CatalogError(GeeLandslideError, ValueError):
    """Raised when a catalog file is invalid; holds every issue found, not just the first."""

    def __init__(self, issues: list[CatalogIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


# ----------------------------------------------------------------------------- models
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def cron_problem(expr: str) -> str | None:
    """Why a 5-field cron expression is invalid (each field's values and ranges), or None.

    Checked here rather than by Prefect's croniter so that loading the catalog stays cheap;
    ``tests/core/test_catalog.py`` checks that both agree.
    """
    parts = expr.split()
    if len(parts) != 5:
        return f"a cron schedule has 5 fields (minute hour day month weekday), got {len(parts)}"
    for part, (name, lo, hi, names) in zip(parts, CRON_FIELDS, strict=True):
        for item in part.split(","):
            rng, _, step = item.partition("/")
            if step and (not step.isdigit() or int(step) < 1):
                return f"{name} step {step!r} must be a whole number >= 1"
            if rng in ("*", "?") or (not rng and not step):
                if rng:
                    continue
                return f"{name} field {part!r} has an empty item"
            for bound in rng.split("-", 1):
                value = names.index(bound.upper()) + (lo if names is _MONTHS else 0) \
                    if bound.upper() in names else (int(bound) if bound.isdigit() else None)
                if value is None or not lo <= value <= hi:
                    return f"{name} {bound!r} is not within {lo}..{hi}"
    return None


def bbox_area_km2(bbox: tuple[float, float, float, float]) -> float:
    """The area of a lon/lat box on a sphere, km2."""
    w, s, e, n = bbox
    return EARTH_RADIUS_KM**2 * math.radians(e - w) * abs(math.sin(math.radians(n)) - math.sin(math.radians(s)))


class Window(_Strict):
    """An inclusive date window."""

    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end < self.start:
            raise ValueError(f"window end {self.end} is before its start {self.start}")
        return self

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def as_strings(self) -> tuple[str, str]:
        return (self.start.isoformat(), self.end.isoformat())


class WindowRule(_Strict):
    """How an event's pre/post windows are picked when it gives no explicit ``pre:``/``post:``.

    The paper used "periods of one, two, or 12 months before or after the event date ...
    ensuring comparison between temporally homogenous periods, depending on the local image
    acquisition frequency and seasonality". ``auto`` applies that rule
    (:mod:`gee_landslide.earthengine.seasons`); ``months`` forces 1, 2 or 12 months; ``days``
    keeps the fixed ``pre_days``/``post_days`` of the defaults.
    """

    mode: Literal["auto", "months", "days"] = "auto"
    months: Literal[1, 2, 12] | None = Field(None, description="window length for mode: months")

    @model_validator(mode="after")
    def _months_with_mode(self) -> WindowRule:
        if self.mode == "months" and self.months is None:
            raise ValueError("mode: months needs months: 1, 2 or 12")
        if self.mode != "months" and self.months is not None:
            raise ValueError(f"months: is only used with mode: months (mode is {self.mode!r})")
        return self


class Defaults(_Strict):
    """Values every event inherits unless it overrides them."""

    aoi_size_m: float = Field(2000.0, gt=0, le=MAX_AOI_SIZE_M)
    resolution_m: float = Field(10.0, gt=0)
    orbit_pass: Literal["DESCENDING", "ASCENDING"] = "DESCENDING"
    pre_days: int = Field(60, gt=0, le=730, description="pre window: the N days before the event")
    post_days: int = Field(60, gt=0, le=730, description="post window: the N days after the event")
    window_rule: WindowRule = Field(default_factory=WindowRule, description="how windows are picked")
    dem: str = Field("auto", description="'auto' = SRTM below 60N, Copernicus GLO-30 above")
    s2_clear_threshold: float = Field(0.6, ge=0, le=1, description="Cloud Score+ cs_cdf minimum")
    simulation_seed: int = 0
    s1_post_variant_looks: list[PositiveInt] = Field(
        default_factory=list, description="ingest also builds each event's variant whose Sentinel-1 post "
        "composite takes only its first N scenes, as few looks as a monitoring pass gets (core.variants)")


class Event(_Strict):
    """One landslide event (a row of the paper's Table 1, plus what ingest needs)."""

    id: str
    number: int | None = Field(None, description="the paper's Table 1 number")
    name: str
    country: str
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    approximate: bool = Field(False, description="True when the point is an estimate to check")
    location_note: str | None = None
    types: list[int] = Field(default_factory=list, description="landslide type codes (Table 1)")
    trigger: str = Field(pattern=r"^[REUS]+$", description="R rain, E earthquake, S snowmelt, U unknown")
    size_km: tuple[float, float] = Field(description="length x width of the event, km")
    rainfall_mm_yr: float | None = Field(None, gt=0)
    date: dt.date
    split: Split
    pre: Window | None = None
    post: Window | None = None
    window_rule: WindowRule | None = Field(None, description="overrides defaults.window_rule")
    orbit_pass: Literal["DESCENDING", "ASCENDING"] | None = None
    relative_orbit: int | None = Field(None, ge=1, le=175)
    dem: str | None = None
    labels: str | None = None
    landcover_points: str | None = None
    aoi_size_m: float | None = Field(
        None, gt=0, le=MAX_AOI_SIZE_M, description="side of the event's square area, m (default: defaults')"
    )

    @field_validator("id")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not SLUG_RE.match(v):
            raise ValueError("id must be a safe slug: lower-case letters, digits and single hyphens")
        return v

    @field_validator("lat")
    @classmethod
    def _utm_lat(cls, v: float) -> float:
        if not -80 <= v <= 84:
            raise ValueError("latitude must be within -80..84 (the UTM grids stacks are built on)")
        return v

    @field_validator("size_km")
    @classmethod
    def _size_positive(cls, v: tuple[float, float]) -> tuple[float, float]:
        if min(v) <= 0:
            raise ValueError("both length and width must be positive")
        return v

    @field_validator("types")
    @classmethod
    def _type_codes(cls, v: list[int]) -> list[int]:
        bad = [t for t in v if t not in LANDSLIDE_TYPE_CODES]
        if bad:
            raise ValueError(
                f"type code(s) {', '.join(map(str, bad))} unknown: Table 1's codes are "
                f"{LANDSLIDE_TYPE_CODES.start}..{LANDSLIDE_TYPE_CODES.stop - 1} (Hungr et al. 2014)"
            )
        return v

    @field_validator("date")
    @classmethod
    def _not_future(cls, v: dt.date) -> dt.date:
        if v > dt.date.today():
            raise ValueError(f"event date {v} is in the future")
        return v

    @field_validator("pre")
    @classmethod
    def _pre_before_event(cls, v: Window | None, info: ValidationInfo) -> Window | None:
        date = info.data.get("date")
        if v is not None and date is not None and v.end > date:
            raise ValueError(f"pre window ends {v.end}, after the event date {date}")
        return v

    @field_validator("post")
    @classmethod
    def _post_after_event(cls, v: Window | None, info: ValidationInfo) -> Window | None:
        date = info.data.get("date")
        if v is not None and date is not None and v.start < date:
            raise ValueError(f"post window starts {v.start}, before the event date {date}")
        return v

    def aoi_m(self, defaults: Defaults) -> float:
        """The side of the event's square area: its own (sized to its inventory) or the default."""
        return self.aoi_size_m if self.aoi_size_m is not None else defaults.aoi_size_m

    @property
    def size_area_km2(self) -> float:
        return self.size_km[0] * self.size_km[1]


class RegionSimulation(_Strict):
    """What the simulated source injects into a region (for demos and tests)."""

    seed: int = 0
    landslide_dates: list[dt.date] = Field(default_factory=list)
    landslides_per_date: int = Field(12, ge=0)
    acquisitions: bool = Field(
        True, description="build composites from dated S1/S2 acquisitions with per-date clouds "
        "(False: the event simulator's whole-window composites)")
    cloud_frequency: list[float] | None = Field(
        None, min_length=12, max_length=12,
        description="monthly cloud frequency Jan..Dec (0-1); default: simulate.acquisitions.cloud_climatology")

    @field_validator("cloud_frequency")
    @classmethod
    def _fractions(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and not all(0.0 <= x <= 1.0 for x in v):
            raise ValueError("cloud_frequency values must be within 0..1")
        return v


class RegionEnsembles(_Strict):
    """Which ensemble decides a pixel, by what the sensors saw (SAR-first monitoring, issue #10).

    ``s1``: where the post window had no clear Sentinel-2 observation (bands 0-8 only);
    ``optical``: where it had one (an ``s2``, ``s1s2`` or ``all`` ensemble).
    """

    s1: str = Field(description="models/ensembles/<name> of band setting s1")
    optical: str = Field(description="models/ensembles/<name> of a setting with Sentinel-2 bands")


class Region(_Strict):
    """An area watched on a schedule by the monitoring flow."""

    name: str
    bbox: tuple[float, float, float, float] = Field(description="west, south, east, north (deg)")
    schedule: str = Field("0 6 * * *", description="cron schedule of the monitoring deployment")
    timezone: str = "UTC"
    post_days: int = Field(30, gt=0, le=365)
    pre_days: int = Field(60, gt=0, le=730)
    pre_gap_days: int = Field(0, ge=0, le=730, description="days between the pre and post windows")
    ensemble: str = "s1s2"
    ensembles: RegionEnsembles | None = Field(
        None, description="SAR-first: one ensemble per sensor situation (overrides `ensemble`)")
    orbit_pass: Literal["DESCENDING", "ASCENDING"] = "DESCENDING"
    relative_orbit: int | None = Field(None, ge=1, le=175, description="Sentinel-1 relative orbit")
    s1_post_days: int | None = Field(
        None, gt=0, le=365, description="Sentinel-1 post composite: the latest N days only (default: post_days). "
        "A short SAR window shows a new landslide once most of its few acquisitions follow it; never shorter than "
        "one repeat of the constellation on the pass date, so it always holds a look")
    s1_ensemble_post_days: int | None = Field(
        None, gt=0, le=365, description="SAR-first and S1-only: the S1 ensemble reads its own stack, whose Sentinel-1 "
        "post median covers only the latest N days (at least one repeat on the pass date; default: the same stack as "
        "the optical ensemble). A median of fewer looks shows a new landslide a repeat sooner, with more speckle: "
        "more candidates. The optical role's S1+S2 ensemble keeps the longer, quieter median")

    optical_post_days: int | None = Field(
        None, gt=0, le=365, description="Sentinel-2 post composite: the greenest clear pixel of the latest N days where "
        "they hold one, of the whole post window elsewhere (default: the whole window everywhere). A greenest-pixel "
        "composite keeps a pre-landslide look as long as one is in its window, so over the whole post window a "
        "landslide can stay hidden for up to post_days even after clear looks of it")
    optical_look_days: int | None = Field(
        None, gt=0, le=365, description="SAR-first: the optical ensemble decides a pixel only where Sentinel-2 had a "
        "clear look in the latest N days of the post window; elsewhere the S1 ensemble does (default: a clear look "
        "anywhere in the post window). A greenest-pixel composite keeps the greenest, pre-landslide look of its "
        "window, so it cannot show a landslide younger than the pixel's last clear look")

    @staticmethod
    def _latest_days(post: Window, days: int | None) -> Window | None:
        """The latest ``days`` of ``post``; None when unset or not shorter than it."""
        if days is None or days >= post.days:
            return None
        return Window(start=post.end - dt.timedelta(days=days - 1), end=post.end)

    @classmethod
    def _latest_s1_days(cls, post: Window, days: int | None) -> Window | None:
        """The latest ``days`` of ``post``, but at least one Sentinel-1 repeat on its last day: with one
        satellite a 6-day window holds a look of the relative orbit only every other pass."""
        return None if days is None else cls._latest_days(post, max(int(days), s1_repeat_days(post.end)))

    def s1_post_window(self, post: Window) -> Window:
        """The Sentinel-1 post window of a pass whose (optical) post window is ``post``."""
        return self._latest_s1_days(post, self.s1_post_days) or post

    def s1_ensemble_post_window(self, post: Window) -> Window | None:
        """The Sentinel-1 post window of the S1 ensemble's own stack (``s1_ensemble_post_days``); None
        when unset or when it is the stack's own S1 window (one stack serves both ensembles)."""
        if self.s1_ensemble_post_days is None:
            return None
        own = self._latest_s1_days(post, self.s1_ensemble_post_days) or post
        return None if own == self.s1_post_window(post) else own

    def s2_post_window(self, post: Window) -> Window:
        """The Sentinel-2 post window of a pass whose post window is ``post`` (``optical_post_days``)."""
        return self._latest_days(post, self.optical_post_days) or post

    def optical_look_window(self, post: Window) -> Window | None:
        """The latest days of ``post`` in which a pixel needs a clear Sentinel-2 look for the optical
        ensemble to decide it (SAR-first); None when any clear look in the post window will do."""
        return self._latest_days(post, self.optical_look_days)
    threshold: float | None = Field(None, gt=0, lt=1)
    min_area_m2: float = Field(400.0, ge=0)
    min_slope_deg: float = Field(10.0, ge=0, le=90)
    require_change: bool = Field(
        True, description="drop detections whose deciding sensor shows less change than the training landslides "
        "(median dNDVI or dVH above the ensemble's fitted limit, train.evidence); needs ensembles built with stacks")
    require_contrast: bool = Field(
        False, description="also drop detections that changed no more than the ring around them (the ensemble's "
        "max_object_contrast, train.evidence): SAR-first season, precision after confirmation 0.43 -> 0.67 but the "
        "median time to first alert 9 -> 14 days, so off by default")
    require_objects: bool = Field(
        False, description="drop detections that the deciding ensemble's object filter finds unlike a landslide "
        "(shape, terrain, cover and change; train.objects); needs ensembles built with stacks")
    objects_sensors: Literal["all", "optical"] = Field(
        "all", description="which decisions the object filter judges: all, or only optical ones, so a "
        "Sentinel-1 first alert comes as fast as without the filter and only confirmation needs the filter")
    objects_stage: Literal["detect", "confirm"] = Field(
        "detect", description="what the object filter's verdict does: detect = an object unlike a landslide is "
        "dropped; confirm = it is still alerted (a candidate, as fast as without the filter) but cannot be "
        "confirmed until a later pass's object passes the filter (monitor.store)")
    confirm_looks: int = Field(
        2, ge=1, le=2, description="passes that must see a detection before it is confirmed, the later one with "
        "Sentinel-2: 1 = the first optical detection confirms; 2 = a later pass must see it again, and a candidate "
        "only one pass saw with Sentinel-1 alone, or a cancelled one, needs two optical detections (monitor.store)")
    optical_confirm_look: Literal["any", "recent", "new"] = Field(
        "any", description="with confirm_looks 2, which later Sentinel-2 detection of an alert Sentinel-2 has detected "
        "before confirms it: any = any later pass's; recent = one whose optical pixels mostly had a clear image in the "
        "latest optical_look_days (a composite that fell back to older images re-reads what the earlier pass read); "
        "new = a recent one from a pass optical_look_days or more after the earlier detection, so an image later than "
        "it (without optical_look_days: a whole Sentinel-2 post window later). Stricter rules confirm fewer residual "
        "clouds and fewer landslides that one clear image alone has shown (monitor.confirm_rules)")
    sar_confirm_passes: int | None = Field(
        None, ge=2, le=20, description="opt-in: a candidate that this many passes detected (the current one with "
        "Sentinel-1), the first and the latest at least one Sentinel-1 post window apart, is confirmed without "
        "Sentinel-2: a landslide's backscatter change persists pass after pass, speckle does not (monitor.store)")
    tile_px: int = Field(512, ge=64, le=4096)
    simulation: RegionSimulation = Field(default_factory=RegionSimulation)

    @field_validator("bbox")
    @classmethod
    def _bbox(cls, v: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        w, s, e, n = v
        if not (-180 <= w < e <= 180 and -80 <= s < n <= 84):
            raise ValueError("bbox must be west < east within -180..180 and south < north within -80..84")
        area = bbox_area_km2(v)
        if area > MAX_REGION_AREA_KM2:
            raise ValueError(
                f"bbox covers {area:,.0f} km2, more than the {MAX_REGION_AREA_KM2:,.0f} km2 one region may "
                "(a pass holds the whole region's rasters in memory); split it into several regions"
            )
        return v

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        parts = v.split()
        problem = cron_problem(v) if all(CRON_FIELD_RE.match(p) for p in parts) else "unexpected characters"
        if problem:
            raise ValueError(f"schedule must be a 5-field cron expression, e.g. '0 6 * * *': {problem}")
        return v

    @field_validator("ensemble")
    @classmethod
    def _ensemble_name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError("ensemble must be a safe name (models/ensembles/<name>/): lower-case letters, "
                             "digits, '.', '_' and '-'")
        return v

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        try:
            zoneinfo.ZoneInfo(v)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError("timezone must be an IANA name such as UTC or Europe/Oslo") from None
        return v

    def windows(self, run_date: dt.date) -> tuple[Window, Window]:
        """Pre and post windows of a monitoring pass on ``run_date``.

        The post window covers the latest ``post_days`` up to the run date; the pre window is the
        ``pre_days`` before it (after an optional gap), a comparable earlier period.
        """
        post = Window(start=run_date - dt.timedelta(days=self.post_days - 1), end=run_date)
        pre_end = post.start - dt.timedelta(days=1 + self.pre_gap_days)
        pre = Window(start=pre_end - dt.timedelta(days=self.pre_days - 1), end=pre_end)
        return pre, post


class Catalog(_Strict):
    """The whole ``case_studies.yaml``."""

    version: int = 1
    split_seed: int
    defaults: Defaults = Field(default_factory=Defaults)
    events: list[Event]
    regions: dict[str, Region] = Field(default_factory=dict)

    @field_validator("regions")
    @classmethod
    def _region_slugs(cls, v: dict[str, Region]) -> dict[str, Region]:
        for key in v:
            if not SLUG_RE.match(key):
                raise ValueError(f"region id {key!r} must be a safe slug")
        return v

    def event(self, event_id: str) -> Event:
        for e in self.events:
            if e.id == event_id:
                return e
        raise UnknownIdError(
            f"no event {event_id!r} in the catalog; known: {', '.join(self.ids)}", field="event", value=event_id
        )

    def region(self, region_id: str) -> Region:
        try:
            return self.regions[region_id]
        except KeyError:
            raise UnknownIdError(
                f"no region {region_id!r} in the catalog; known: {', '.join(self.regions) or 'none'}",
                field="region", value=region_id,
            ) from None

    @property
    def ids(self) -> list[str]:
        return [e.id for e in self.events]

    def split(self, name: Split) -> list[Event]:
        return [e for e in self.events if e.split == name]


# ----------------------------------------------------------------------------- loading
def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.indent(mapping=2, sequence=4, offset=2)
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap long lines of an existing file
    return y


def _line_of(node: Any, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the deepest node along ``loc`` that ruamel kept a position for."""
    line: int | None = None
    cur = node
    for key in loc:
        if isinstance(cur, CommentedMap) and key in cur:
            line = cur.lc.key(key)[0] + 1
            cur = cur[key]
        elif isinstance(cur, CommentedSeq) and isinstance(key, int) and 0 <= key < len(cur):
            line = cur.lc.item(key)[0] + 1
            cur = cur[key]
        else:
            break
    return line


def _value_at(node: Any, loc: tuple[Any, ...]) -> Any:
    cur = node
    for key in loc:
        try:
            cur = cur[key]
        except (KeyError, IndexError, TypeError):
            return None
    return cur


def _field_name(raw: Any, loc: tuple[Any, ...]) -> str:
    """A readable field path, naming events by id: ``events[4] (norway-5).lat``."""
    out = ""
    for i, key in enumerate(loc):
        if isinstance(key, int):
            out += f"[{key}]"
            if i == 1 and loc[0] == "events":
                item = _value_at(raw, ("events", key))
                if isinstance(item, dict) and "id" in item:
                    out += f" ({item['id']})"
        else:
            out += ("." if out else "") + str(key)
    return out or "<file>"


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _cross_checks(raw: Any, file: str) -> list[CatalogIssue]:
    """Checks that span several entries: duplicate event ids."""
    issues: list[CatalogIssue] = []
    seen: dict[str, int] = {}
    events = raw.get("events") if isinstance(raw, dict) else None
    for i, ev in enumerate(events or []):
        if not isinstance(ev, dict) or not isinstance(ev.get("id"), str):
            continue
        eid = ev["id"]
        if eid in seen:
            issues.append(
                CatalogIssue(
                    file, _line_of(raw, ("events", i, "id")), f"events[{i}].id", eid,
                    f"duplicate event id (first used by events[{seen[eid]}])",
                )
            )
        else:
            seen[eid] = i
    return issues


def _limit_issue(exc: YamlLimitError, file: str) -> CatalogError:
    line = re.match(r"^.*?:(\d+): ", exc.message)
    return CatalogError([CatalogIssue(file, int(line.group(1)) if line else None, exc.field or "<file>",
                                      exc.value, exc.message.split(": ", 1)[-1])])


def _bad_date_issue(text: str, file: str, exc: ValueError) -> CatalogError:
    """A YAML date that does not exist (``2021-02-30``): the loader says why but not where."""
    for i, line in enumerate(text.splitlines(), 1):
        for m in re.finditer(r"(?<![\w-])(\d{4})-(\d{2})-(\d{2})(?![\w-])", line):
            try:
                dt.date(*map(int, m.groups()))
            except ValueError as bad:
                key = line.split(":", 1)[0].strip(" -") if ":" in line else "<yaml>"
                return CatalogError([CatalogIssue(file, i, key, m.group(0), f"not a date: {bad}")])
    return CatalogError([CatalogIssue(file, None, "<yaml>", None, f"not valid YAML: {exc}")])


def parse_catalog(text: str, file: str = "case_studies.yaml") -> tuple[Catalog, Any]:
    """Parse and validate catalog text; return the model and the round-trip YAML tree."""
    try:
        check_yaml_structure(text, file)  # alias bombs and deep nesting fail before anything is built
        raw = _yaml().load(text)
    except YamlLimitError as exc:
        raise _limit_issue(exc, file) from None
    except DuplicateKeyError as exc:
        mark = exc.problem_mark
        raise CatalogError(
            [CatalogIssue(file, mark.line + 1 if mark else None, "<yaml>", None, f"duplicate key: {exc.problem}")]
        ) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise CatalogError(
            [CatalogIssue(file, mark.line + 1 if mark else None, "<yaml>", None, f"not valid YAML: {exc.problem}")]
        ) from None
    except ValueError as exc:  # a timestamp the constructor cannot build
        raise _bad_date_issue(text, file, exc) from None
    if not isinstance(raw, dict):
        raise CatalogError([CatalogIssue(file, 1, "<file>", type(raw).__name__, "the catalog must be a mapping")])
    issues: list[CatalogIssue] = []
    catalog: Catalog | None = None
    try:
        catalog = Catalog.model_validate(_plain(raw))
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            value = _value_at(raw, loc) if err["type"] != "missing" else None
            if isinstance(value, dict):
                value = dict(_plain(value))
            msg = err["msg"].removeprefix("Value error, ")
            issues.append(CatalogIssue(file, _line_of(raw, loc), _field_name(raw, loc), value, msg))
    issues.extend(_cross_checks(raw, file))
    if issues:
        issues.sort(key=lambda i: (i.line or 0, i.field))
        raise CatalogError(issues)
    assert catalog is not None
    return catalog, raw


def load_catalog(path: str | Path = "case_studies.yaml") -> Catalog:
    """Load and validate a catalog file. Raises :class:`CatalogError` listing every problem."""
    path = Path(path)
    if not path.exists():
        raise CatalogError([CatalogIssue(str(path), None, "<file>", None, "file not found")])
    try:
        text = read_yaml_text(path)
    except YamlLimitError as exc:
        raise _limit_issue(exc, str(path)) from None
    catalog, _ = parse_catalog(text, str(path))
    return catalog


def iter_issues(path: str | Path) -> Iterator[CatalogIssue]:
    """All issues of a catalog file (empty when it is valid)."""
    try:
        load_catalog(path)
    except CatalogError as exc:
        yield from exc.issues


def validate_event(data: dict[str, Any], source: str = "command line") -> Event:
    """Validate one event given as a mapping (e.g. from CLI options), with field-named errors."""
    try:
        return Event.model_validate(data)
    except ValidationError as exc:
        issues = [
            CatalogIssue(
                source, None, ".".join(str(k) for k in err["loc"]) or "<event>",
                err.get("input") if err["type"] != "missing" else None,
                err["msg"].removeprefix("Value error, "),
            )
            for err in exc.errors()
        ]
        raise CatalogError(issues) from None


def event_to_yaml_map(event: Event) -> CommentedMap:
    """An event as a block-style mapping, omitting unset optional fields."""
    data = event.model_dump(mode="python", exclude_none=True)  # dates stay dates: unquoted in YAML
    if not data.get("approximate"):
        data.pop("approximate", None)
    out = CommentedMap()
    for key in Event.model_fields:
        if key in data and data[key] not in ([], None):
            value = data[key]
            if isinstance(value, (list, tuple)):
                seq = CommentedSeq(value)
                seq.fa.set_flow_style()
                value = seq
            elif isinstance(value, dict):
                m = CommentedMap(value)
                m.fa.set_flow_style()
                value = m
            out[key] = value
    return out


def append_event(path: str | Path, event: Event) -> Catalog:
    """Append ``event`` to the catalog file after validating the result; keep comments and layout.

    The file is rewritten atomically and only if the new catalog validates, so a bad event can
    never damage a good file.
    """
    path = Path(path)
    try:
        text = read_yaml_text(path)
    except YamlLimitError as exc:
        raise _limit_issue(exc, str(path)) from None
    parse_catalog(text, str(path))  # the existing file must be valid first
    yaml = _yaml()
    raw = yaml.load(text)
    events = raw["events"]
    new_map = event_to_yaml_map(event)
    if len(events):
        # ruamel attaches the blank line and comment that follow the list (here: the `regions:`
        # header comment) to the last event's last key; move them below the new event
        last = events[-1]
        trailing = last.ca.items.pop(list(last.keys())[-1], None) if isinstance(last, CommentedMap) else None
        if trailing is not None:
            new_map.ca.items[list(new_map.keys())[-1]] = trailing
    events.append(new_map)
    buf = io.StringIO()
    yaml.dump(raw, buf)
    new_text = buf.getvalue()
    catalog, _ = parse_catalog(new_text, str(path))
    write_text_atomic(path, new_text)
    return catalog


def draw_split(event_ids: list[str], seed: int, n_val: int = 4) -> dict[str, Split]:
    """The paper's one-off split: ``n_val`` validation events drawn with a fixed seed, the rest train.

    Used once to write the split into ``case_studies.yaml`` (where it then stays fixed) and by the
    tests to prove the file still holds the split this seed draws.
    """
    import random

    ordered = sorted(event_ids)
    val = set(random.Random(seed).sample(ordered, n_val))
    return {eid: ("val" if eid in val else "train") for eid in ordered}
