"""The sweep: expand a profile into run configurations and train them, skipping finished runs.

Run ids are derived from the configurations, so interrupting a sweep and starting it again
skips every finished run, resumes the interrupted one from its last checkpoint and trains the
rest. Runs whose lock is held by another live worker are left to that worker.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from gee_landslide.train.data import require_stacks
from gee_landslide.train.profile import Profile
from gee_landslide.train.runs import RunConfig, is_finished


@dataclass(frozen=True)
class Splits:
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    # the Sentinel-1 looks of the events' variants the catalog has built (core.variants)
    variant_looks: tuple[int, ...] = ()

    @classmethod
    def from_catalog(cls, catalog: Any) -> Splits:
        return cls(*(tuple(e.id for e in catalog.split(n)) for n in ("train", "val", "test")),
                   variant_looks=tuple(sorted(set(catalog.defaults.s1_post_variant_looks))))

    def all(self) -> tuple[str, ...]:
        return self.train + self.val + self.test


def run_seed_offset(setting_: str, arch: str, loss: str, lr: float) -> int:
    """A stable number in [0, 2**20) for one grid cell: the same run gets the same seed on every
    machine and in every order of the grid (Python's ``hash`` is salted per process)."""
    key = f"{setting_}|{arch}|{loss}|{lr:g}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "big") % (1 << 20)


def expand_grid(profile: Profile, splits: Splits, settings: Sequence[str] | None = None) -> list[RunConfig]:
    """All runs of a profile (optionally only some settings), in a fixed order."""
    from gee_landslide.core.bands import setting as get_setting

    chosen = [get_setting(s).name for s in settings] if settings else list(profile.all_settings)
    unknown = [s for s in chosen if s not in profile.all_settings]
    if unknown:
        raise ValueError(f"setting(s) {unknown} are not in profile {profile.name!r} ({profile.all_settings})")
    options = profile_run_options(profile)
    combos = [(s, *c, options, profile.decoder_dropout, profile.decoder_norm, profile.member_events_out)
              for s in chosen if s in profile.settings
              for c in itertools.product(profile.architectures, profile.losses, profile.learning_rates_of(s))]
    for g in profile.extra:  # smaller grids for other settings (e.g. the laptop's few S1 runs)
        own = {**options, "boundary_weight": profile.boundary_weight_of(g)}
        combos += [(*c, own, profile.decoder_dropout_of(g), profile.decoder_norm_of(g), profile.member_events_out_of(g))
                   for c in itertools.product([s for s in chosen if s in g.settings and s not in profile.settings],
                                              g.architectures, g.losses, g.learning_rates or profile.learning_rates)]
    out = []
    index: dict[str, int] = {}  # each run's place among its setting's runs, in grid order
    for s, arch, loss, lr, opts, rates, norms, events_out in combos:
        j = index[s] = index.get(s, -1) + 1
        seed = profile.seed + (run_seed_offset(s, arch, loss, lr) if profile.seed_per_run else 0)
        sp = setting_splits(profile, splits, s)
        width, depth = profile.refine_head(s)
        out.append(RunConfig(
            **opts, setting=s, architecture=arch, loss=loss, learning_rate=lr, seed=seed,
            refine_width=width, refine_depth=depth,
            # smp's rate (None) and a normalised decoder (True) keep the ids of runs made before these options
            decoder_dropout=rates.get(arch), decoder_norm=norms.get(arch, True),
            train_events=bagged(sp.train, j, events_out), val_events=sp.val, test_events=sp.test,
        ))
    return out


def events_left_out(n_events: int, out: int) -> int:
    """How many of ``n_events`` training events each run leaves out for ``member_events_out: out``:
    at most a quarter of them, so every run still trains on three quarters or more, and a catalog
    of fewer than four training events trains every run on all of them."""
    return max(0, min(out, n_events // 4))


def bagged(train: tuple[str, ...], j: int, out: int) -> tuple[str, ...]:
    """The training stacks of a setting's ``j``-th run (in grid order) when each run leaves ``out``
    training events out (``member_events_out``; capped by :func:`events_left_out`): events
    ``j*out .. j*out+out-1`` of the list, counted round it, with their Sentinel-1 variants, so
    consecutive runs leave different events out and every event is left out by about
    ``runs*out/events`` runs.

    Why: the members of an ensemble trained on the same events make the same mistakes on them and
    share what they learned wrongly from any one of them; each seeing a slightly different set of
    events (subbagging) makes their errors less alike. Measured: docs/experiments.md, session 43.
    """
    from gee_landslide.core.variants import events_only, parse_variant

    events = events_only(train)
    out = events_left_out(len(events), out)
    if out == 0:
        return train
    drop = {events[(j * out + k) % len(events)] for k in range(out)}
    return tuple(e for e in train if parse_variant(e)[0] not in drop)


def setting_splits(profile: Profile, splits: Splits, setting_name: str) -> Splits:
    """The stacks one setting trains and validates on: the events, and for the settings of
    ``profile.s1_post_variant_settings`` also their Sentinel-1 post variants (core.variants), so
    a model that serves monitoring passes has seen their few-look composites. Test events stay the
    events alone: the paper's evaluation is unchanged."""
    from gee_landslide.core.variants import with_variants

    if not (profile.s1_post_variants and splits.variant_looks) or setting_name not in profile.s1_post_variant_settings:
        return splits
    looks = splits.variant_looks
    return Splits(with_variants(splits.train, looks), with_variants(splits.val, looks), splits.test, looks)


def longest_first(configs: Sequence[RunConfig]) -> list[RunConfig]:
    """The runs ordered by measured step cost, slowest architecture first (ties keep grid order).

    Why: workers take runs in the order they are submitted. In grid order the demo's sweep
    ended with a 66 s MAnet run on one core while the other sat idle for 47 s; starting the long
    runs first and leaving the 9 s PSPNet runs for the end packs the two workers evenly (the
    classic longest-processing-time rule). Results do not depend on the order: each run has
    its own seed and directory.
    """
    from gee_landslide.train.architectures import architecture

    return sorted(configs, key=lambda c: -architecture(c.architecture).step_cost(c.decoder))


# RunConfig fields that each run sets itself (its grid cell, its seed and the splits)
PER_RUN_FIELDS = frozenset({"setting", "architecture", "loss", "learning_rate", "seed", "decoder_dropout",
                            "decoder_norm", "refine_width", "refine_depth", "train_events", "val_events",
                            "test_events"})


def profile_run_options(profile: Profile) -> dict[str, Any]:
    """The profile's training options a run records: every other RunConfig field, by name.

    Why by name: a new option is added to ``Profile`` and ``RunConfig`` (and read by the
    trainer), not also copied here by hand. A RunConfig field the profile lacks is an error,
    not a silent default."""
    values = profile.model_dump()
    missing = sorted(set(RunConfig.model_fields) - PER_RUN_FIELDS - set(values))
    if missing:
        raise TypeError(f"RunConfig fields {missing} have no Profile option of the same name")
    return {k: values[k] for k in RunConfig.model_fields if k not in PER_RUN_FIELDS}


def check_stacks(stacks_dir: Path, splits: Splits) -> None:
    """Fail before any training when a stack the runs need is missing, naming the command that builds it."""
    require_stacks(stacks_dir, splits.all())


@dataclass
class SweepResult:
    total: int
    trained: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    claimed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    wall_time_s: float = 0.0


def run_one(cfg: RunConfig, runs_dir: Path, stacks_dir: Path, profile: Profile, *,
            device: str | None = None, hooks: Any = None) -> tuple[str, dict | None]:
    """Train one run; returns ``(status, record)`` with status skipped|trained|claimed."""
    from gee_landslide.train.trainer import RunClaimedError, train_run

    if is_finished(Path(runs_dir) / cfg.run_id):
        return "skipped", None
    try:
        rec = train_run(cfg, runs_dir, stacks_dir, device=device, amp=profile.amp, cpu_bf16=profile.cpu_bf16,
                        num_threads=profile.num_threads, inference=profile.inference, hooks=hooks,
                        profile_name=profile.name)
    except RunClaimedError:
        return "claimed", None
    return "trained", rec


def run_sweep(
    profile: Profile,
    runs_dir: Path,
    stacks_dir: Path,
    splits: Splits,
    settings: Sequence[str] | None = None,
    *,
    device: str | None = None,
    show_progress: bool = True,
    console: Console | None = None,
    max_runs: int | None = None,
    fail_fast: bool = False,
) -> SweepResult:
    """Train every run of the profile in order; Ctrl-C leaves a resumable state."""
    from gee_landslide.train.trainer import Hooks

    check_stacks(stacks_dir, splits)
    if profile.s1_post_variants and not splits.variant_looks:
        raise ValueError(f"profile {profile.name!r} trains on the events' Sentinel-1 post variants "
                         "(s1_post_variants: true) but the catalog names none: set defaults.s1_post_variant_looks")
    for s in profile.s1_post_variant_settings if profile.s1_post_variants else []:
        check_stacks(stacks_dir, setting_splits(profile, splits, s))
    if profile.workers > 1 and profile.num_threads:  # one run at a time here: give it every worker's threads
        profile = profile.model_copy(update={"num_threads": profile.num_threads * profile.workers})
    configs = expand_grid(profile, splits, settings)
    if max_runs is not None:
        configs = configs[:max_runs]
    result = SweepResult(total=len(configs))
    t0 = time.perf_counter()
    console = console or Console()
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), console=console, disable=not show_progress, transient=False,
    )
    with progress:
        sweep_task = progress.add_task(f"sweep {profile.name}", total=len(configs))
        run_task = progress.add_task("run", total=None, visible=False)

        def on_start(run_id: str, total: int | None, done: int) -> None:
            progress.reset(run_task, total=total, completed=done, description=f"  {run_id}", visible=True)

        def on_step(_loss: float) -> None:
            progress.advance(run_task)

        def on_epoch(info: Any) -> None:
            progress.update(run_task, description=(
                f"  {info.run_id} e{info.epoch} F1 {info.val_f1:.3f} (best {info.best_f1:.3f}@{info.best_epoch})"))

        hooks = Hooks(on_start=on_start, on_step=on_step, on_epoch=on_epoch)
        for cfg in configs:
            try:
                status, _ = run_one(cfg, runs_dir, stacks_dir, profile, device=device, hooks=hooks)
            except KeyboardInterrupt:
                raise
            except Exception as exc:
                if fail_fast:
                    raise
                result.failed[cfg.run_id] = f"{type(exc).__name__}: {exc}"
                console.print(f"[red]run {cfg.run_id} failed[/red]: {exc}")
                status = "failed"
            if status == "trained":
                result.trained.append(cfg.run_id)
            elif status == "skipped":
                result.skipped.append(cfg.run_id)
            elif status == "claimed":
                result.claimed.append(cfg.run_id)
            progress.advance(sweep_task)
        progress.update(run_task, visible=False)
    result.wall_time_s = time.perf_counter() - t0
    return result
