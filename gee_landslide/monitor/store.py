"""The alert store: ``artifacts/alerts/alerts.gpkg`` (layer ``alerts``, EPSG:4326 polygons).

:meth:`AlertStore.merge` compares the candidates of a monitoring pass with the stored alerts and,
under an exclusive file lock (:class:`filelock.FileLock` on ``<store>/.lock``):

- a candidate that overlaps a stored alert of the same region (IoU, overlap of the smaller
  shape, or centroid distance; see :class:`~gee_landslide.monitor.alert_merge.MatchRule`) UPDATES that alert: one landslide seen again
  keeps one alert. Its footprint is the union of what has been detected (it only grows), its
  statistics and windows are those of the latest pass, ``revision`` goes up, ``status`` becomes
  ``updated``. If nothing would change (a pass on the same windows with the same results), the
  alert is left exactly as it was: re-running a pass is idempotent and rewrites no file.
- fragments of one landslide matched to the same alert are absorbed into it;
- the other candidates become NEW alerts, with an id stable across re-runs:
  ``<region>-<geohash-8 of the centroid>-<YYYYMMDD of the post window's end>``.

Lifecycle (issue #10, SAR-first monitoring): every alert also has a ``stage``. A detection made
where the pass saw only Sentinel-1 (``sensors`` = ``S1``: the post window had no clear Sentinel-2
pixel) is a ``candidate``; one made with Sentinel-2 (``S1+S2``) is ``confirmed``, or, with
``confirm_looks=2`` (what regions use by default), also a ``candidate`` until a later pass sees it
again (with two looks, a Sentinel-1 candidate is the first look once two passes have detected it, and
a cancelled alert that Sentinel-2 detects again is reopened as a candidate:
:func:`~gee_landslide.monitor.alert_merge.plan_merge`). A
later pass that sees a candidate with Sentinel-2 confirms it, as long as its pre window is old enough
to show the change the candidate reported (:func:`~gee_landslide.monitor.alert_merge.can_confirm`); one whose Sentinel-2 view covers
the candidate's footprint (``optical_coverage``) but detects nothing there retracts it
(``cancelled``), but only while that view can still show the change (:func:`~gee_landslide.monitor.alert_merge.can_judge`). A
detection the object filter held back (``Candidate.confirmable`` False, a region's
``objects_stage: confirm``) updates or creates a candidate but never confirms it. The
alert id never changes with the stage. ``status`` keeps saying whether the latest revision was
the first (``new``) or a change (``updated``).

The store only merges. Publishing (GeoJSON, Atom, CAP) and notifying live in
:mod:`gee_landslide.monitor.feeds` (:func:`~gee_landslide.monitor.feeds.merge_and_publish` runs a
merge and writes the feeds under the same lock); the store never imports them.

Crash safety: the new GeoPackage, quick-looks and feeds are written next to the old ones and
renamed over them (:func:`gee_landslide.core.atomic.atomic_path`), store first. A pass that dies before
the store's rename leaves store, quick-looks and feeds as they were; one that dies after it leaves
the feeds one generation behind, and the next merge or ``feed publish`` regenerates them (feeds
are a pure function of the store and only rewritten when their bytes change).

The record is :mod:`~gee_landslide.monitor.alert_record`, the file :mod:`~gee_landslide.monitor.alert_gpkg`,
the merge rules :mod:`~gee_landslide.monitor.alert_merge`; this module holds the store itself: its
directory, its lock and its atomic commit.
"""

import contextlib
import datetime as dt
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from gee_landslide.core.atomic import atomic_path
from gee_landslide.core.errors import UnknownIdError
from gee_landslide.monitor.alert_gpkg import read_alerts, write_alerts
from gee_landslide.monitor.alert_merge import MatchRule, MergePlan, MergeResult, OpticalLook, plan_merge
from gee_landslide.monitor.alert_record import Alert, iso_utc, window_strings
from gee_landslide.monitor.alerts import Candidate, from_lonlat
from gee_landslide.monitor.chips import ChipSource, render_quicklook

log = logging.getLogger(__name__)

STORE_FILE = "alerts.gpkg"
LOCK_FILE = ".lock"
QUICKLOOK_DIR = "quicklooks"


# ----------------------------------------------------------------------------- locking
@contextlib.contextmanager
def store_lock(store_dir: str | os.PathLike[str], timeout_s: float = 900.0) -> Iterator[None]:
    """Exclusive lock on ``<store_dir>/.lock`` (blocks other processes and threads).

    A :class:`filelock.FileLock` per call: ``flock`` on a fresh descriptor, so a second holder in
    the same process (another thread, or a nested call) waits like another process would.
    ``filelock.Timeout`` is a ``TimeoutError``.
    """
    store_dir = Path(store_dir)
    store_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(store_dir / LOCK_FILE, timeout=timeout_s, mode=0o644)
    try:
        lock.acquire()
    except Timeout:
        raise TimeoutError(f"could not lock {store_dir / LOCK_FILE} within {timeout_s} s") from None
    try:
        yield
    finally:
        lock.release()


def public_mode() -> int:
    """rw-r--r-- minus the umask (temp files are created 0600; published files should be readable)."""
    umask = 0o022
    with contextlib.suppress(OSError, ValueError):  # read it without os.umask's global set-and-restore
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                umask = int(line.split()[1], 8)
    return 0o644 & ~umask


def _before_commit() -> None:
    """Called after every new file is written and before the first rename (a test hook)."""


def _remove_stale_temps(store_dir: Path) -> None:
    """Temp files left by a killed writer (only called under the lock)."""
    for d in (store_dir, store_dir / QUICKLOOK_DIR, store_dir / "cap"):
        if not d.is_dir():
            continue
        for p in d.iterdir():
            if p.name.startswith(".") and ".tmp" in p.name and p.is_file():
                with contextlib.suppress(OSError):
                    p.unlink()



# ----------------------------------------------------------------------------- the store
class AlertStore:
    """The alert store directory (``artifacts/alerts``): GeoPackage, quick-looks and feeds."""

    def __init__(
        self,
        path_dir: str | os.PathLike[str],
        *,
        base_url: str | None = None,
        rule: MatchRule | None = None,
        lock_timeout_s: float = 900.0,
    ) -> None:
        self.dir = Path(path_dir)
        self.base_url = base_url
        self.rule = rule or MatchRule()
        self.lock_timeout_s = lock_timeout_s

    @property
    def gpkg(self) -> Path:
        return self.dir / STORE_FILE

    @property
    def quicklook_dir(self) -> Path:
        return self.dir / QUICKLOOK_DIR

    def lock(self) -> contextlib.AbstractContextManager[None]:
        return store_lock(self.dir, self.lock_timeout_s)

    def load(self) -> list[Alert]:
        """All stored alerts (no lock needed: the store file is only ever replaced by rename)."""
        return read_alerts(self.gpkg)

    def get(self, alert_id: str) -> Alert:
        """The stored alert ``alert_id``, or an error naming the store and the id."""
        for a in self.load():
            if a.alert_id == alert_id:
                return a
        raise UnknownIdError(f"no alert {alert_id!r} in {self.gpkg}", file=self.gpkg, value=alert_id,
                             hint="gee-landslide feed list")

    def merge(
        self,
        candidates: Iterable[Candidate],
        *,
        region_id: str,
        pre: Any,
        post: Any,
        run_time: dt.datetime | dt.date | str,
        model_version: str,
        chips_source: ChipSource | None = None,
        threshold: float | None = None,
        on_commit: Callable[[MergeResult], None] | None = None,
        optical_coverage: Callable[[Alert], float] | None = None,
        confirm_looks: int = 1,
        sar_confirm: tuple[int, ...] | None = None,
        sar_holds: Callable[[Sequence[Candidate]], bool] | None = None,
        optical_look: OpticalLook | None = None,
    ) -> MergeResult:
        """Merge one pass's candidates into the store (locked, atomic, idempotent).

        ``pre``/``post`` are the pass's windows (``catalog.Window`` or (start, end) dates),
        ``run_time`` its time (UTC if naive). With ``chips_source`` a quick-look PNG is rendered
        for every new or updated alert. ``on_commit`` is called with the result while the lock
        is still held (the feeds use it to publish exactly the state just committed).
        ``optical_coverage`` lets the merge retract candidates, ``confirm_looks`` sets how many
        passes confirm an optical detection, ``sar_confirm`` lets Sentinel-1's persistence confirm a
        candidate, ``sar_holds`` asks its detections to hold over the full window and ``optical_look``
        says when an optical detection is a look of its own (see :func:`plan_merge`).
        """
        cands = list(candidates)
        pre_s, post_s = window_strings(pre), window_strings(post)
        run_iso = iso_utc(run_time)
        with self.lock():
            _remove_stale_temps(self.dir)
            existing = self.load()
            plan = plan_merge(
                existing, cands, region_id=region_id, pre=pre_s, post=post_s, run_iso=run_iso,
                model_version=model_version, threshold=threshold, rule=self.rule,
                optical_coverage=optical_coverage, confirm_looks=confirm_looks, sar_confirm=sar_confirm,
                sar_holds=sar_holds, optical_look=optical_look,
            )
            result = plan.result
            if result.changed or not self.gpkg.exists():  # (an empty store is written too, for QGIS)
                self._commit(plan, chips_source)
                result = plan.result
            if on_commit is not None:
                on_commit(result)
        log.info("alerts %s: %s", region_id, result.summary())
        return result

    # -- internals
    def _commit(self, plan: MergePlan, chips_source: ChipSource | None) -> None:
        changed = {a.alert_id for a in (*plan.result.new, *plan.result.updated)}
        staged: list[tuple[Path, Path]] = []  # (tmp, final) quick-looks
        try:
            if chips_source is not None:
                with_ql: dict[str, str] = {}
                for aid in sorted(changed):
                    alert = next(a for a in plan.alerts if a.alert_id == aid)
                    final = self.quicklook_dir / f"{aid}.png"
                    tmp = self.quicklook_dir / f".{aid}.png.{os.getpid()}.tmp"
                    try:
                        render_quicklook(
                            chips_source,
                            from_lonlat(alert.geometry, chips_source.grid.crs),
                            tmp,
                            title=f"{aid} ({alert.stage}, {alert.sensors or 'optical'})",
                            subtitle=(
                                f"{alert.area_m2:,.0f} m²  ·  p̄ {alert.mean_prob:.2f}  ·  peak {alert.peak_prob:.2f}"
                                f"  ·  post {alert.post_start} → {alert.post_end}"
                            ),
                        )
                    except Exception:
                        log.exception("quick-look of %s failed; the alert keeps its previous one", aid)
                        with contextlib.suppress(FileNotFoundError):
                            tmp.unlink()
                        continue
                    staged.append((tmp, final))
                    with_ql[aid] = f"{QUICKLOOK_DIR}/{aid}.png"
                self._apply_quicklooks(plan, with_ql)
            with atomic_path(self.gpkg) as tmp_gpkg:
                write_alerts(tmp_gpkg, plan.alerts)
                os.chmod(tmp_gpkg, public_mode())
                _before_commit()
        except BaseException:
            for tmp, _ in staged:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
            raise
        for tmp, final in staged:
            os.replace(tmp, final)

    @staticmethod
    def _apply_quicklooks(plan: MergePlan, with_ql: dict[str, str]) -> None:
        if not with_ql:
            return
        def fix(a: Alert) -> Alert:
            return replace(a, quicklook=with_ql[a.alert_id]) if a.alert_id in with_ql else a
        plan.alerts[:] = [fix(a) for a in plan.alerts]
        r = plan.result
        r.new[:] = [fix(a) for a in r.new]
        r.updated[:] = [fix(a) for a in r.updated]
        r.alerts = plan.alerts

