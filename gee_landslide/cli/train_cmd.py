"""CLI commands: ``train``, ``leaderboard`` and ``ensemble build|report``."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from gee_landslide.cli.common import CatalogOption, RootOption, console, err_console, get_catalog, get_paths
from gee_landslide.cli.help import command_group
from gee_landslide.cli.output import Column, JsonOption, WideOption, fitted_table, print_json, print_table
from gee_landslide.core.errors import GeeLandslideError

ensemble_app = command_group(
    "Build ensembles of the top-K runs and report on them.",
    "gee-landslide ensemble build --setting s1s2 --k 20",
    "gee-landslide ensemble build --setting s2 --name s2-k10 --k 10",
    "gee-landslide ensemble report --ks 10,20,40",
)


def register(app: typer.Typer) -> None:
    """Add ``train``, ``leaderboard`` and the ``ensemble`` group to the root app."""
    app.command("train")(train)
    app.command("leaderboard")(leaderboard)
    app.add_typer(ensemble_app, name="ensemble")


def _settings_list(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    out = []
    for v in values:
        out += [x.strip() for x in v.split(",") if x.strip()]
    return out


def train(
    profile: str = typer.Option("laptop", "--profile", "-p", help="paper | laptop | smoke | PATH.yaml"),
    settings: list[str] = typer.Option(None, "--setting", "-s", help="only these settings (repeat or comma list)"),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:1 | mps"),
    threads: int = typer.Option(None, "--threads", min=1, help="torch CPU threads (default: the profile's)"),
    max_runs: int = typer.Option(None, "--max-runs", min=1, help="train at most this many runs of the grid"),
    dry_run: bool = typer.Option(False, "--dry-run", help="list the runs and their state, train nothing"),
    root: Path = RootOption,
    catalog: Path = CatalogOption,
) -> None:
    """Run a training sweep (architectures x losses x learning rates x settings).

    Interrupt it at any time and run the same command again: finished runs are skipped and the
    interrupted run resumes from its last epoch checkpoint.

    Examples: gee-landslide train --profile smoke;  gee-landslide train --profile laptop --setting s1s2 --dry-run
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gee_landslide.train.profile import load_profile
    from gee_landslide.train.runs import CHECKPOINT_FILE, is_finished
    from gee_landslide.train.sweep import Splits, expand_grid, run_sweep

    paths = get_paths(root)
    cat = get_catalog(catalog, paths)
    prof = load_profile(profile)
    if threads is not None:
        prof = prof.model_copy(update={"num_threads": threads, "workers": 1})  # exactly this many for the one run
    splits = Splits.from_catalog(cat)
    try:
        configs = expand_grid(prof, splits, _settings_list(settings))
    except (ValueError, KeyError) as exc:  # a setting the profile does not train: a usage error
        raise typer.BadParameter(str(exc.args[0]), param_hint="--setting") from None
    n_done = sum(is_finished(paths.runs / c.run_id) for c in configs)
    console.print(f"profile [bold]{prof.name}[/bold]: {len(configs)} runs "
                  f"({n_done} finished, {len(configs) - n_done} to train); splits: {len(splits.train)} train, "
                  f"{len(splits.val)} val, {len(splits.test)} test"
                  + (f" (settings {', '.join(prof.s1_post_variant_settings)} also on each train and val event's "
                     f"{'/'.join(map(str, splits.variant_looks))}-look Sentinel-1 variant)"
                     if prof.s1_post_variants and splits.variant_looks else "")
                  + f"; runs in {paths.runs}")
    if dry_run:
        for c in configs:
            d = paths.runs / c.run_id
            state = "finished" if is_finished(d) else ("checkpoint" if (d / CHECKPOINT_FILE).exists() else "todo")
            console.print(f"  {c.run_id}  {state}")
        return
    try:
        res = run_sweep(prof, paths.runs, paths.stacks, splits, _settings_list(settings),
                        device=None if device == "auto" else device, console=console, max_runs=max_runs)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/yellow]: run the same command again to resume")
        raise typer.Exit(130) from None
    console.print(f"trained {len(res.trained)}, skipped {len(res.skipped)} finished, "
                  f"{len(res.claimed)} held by other workers, {len(res.failed)} failed "
                  f"in {res.wall_time_s / 60:.1f} min")
    for rid, msg in res.failed.items():
        err_console.print(f"[red]failed[/red] {rid}: {msg}", highlight=False)
    if res.failed:
        raise typer.Exit(1)


def leaderboard(
    settings: list[str] = typer.Option(None, "--setting", "-s", help="only these settings"),
    top: int = typer.Option(None, "--top", "-n", help="show the top N runs per setting (default: all)"),
    markdown: Path = typer.Option(None, "--markdown", help="also write the table as Markdown here"),
    root: Path = RootOption,
    wide: bool = WideOption,
    as_json: bool = JsonOption,
) -> None:
    """All finished runs like the paper's Table 7, best validation F1 first, per setting.

    Run ids wrap rather than being cut; --json gives every field of every row.

    Examples: gee-landslide leaderboard --setting s1s2 --top 10;  gee-landslide leaderboard --json
    """
    from gee_landslide.core.atomic import write_text_atomic
    from gee_landslide.train.figures import SETTING_LABEL
    from gee_landslide.train.report import leaderboard_markdown, leaderboard_rows

    paths = get_paths(root)
    rows = leaderboard_rows(paths.runs, _settings_list(settings), top)
    if as_json:
        print_json(rows)
        return
    if not rows:
        err_console.print(f"no finished runs in {paths.runs}: run `gee-landslide train` first")
        raise typer.Exit(1)
    f = lambda x: "-" if x is None else f"{x:.3f}"  # noqa: E731
    columns = [
        Column("run", keep=True, fold=True), Column("Setting", keep=True), Column("F1 val", "right", keep=True),
        Column("F1 test", "right"), Column("Architecture"), Column("Loss"), Column("LR", "right"),
        Column("Prec. test", "right"), Column("Recall test", "right"), Column("epochs", "right"),
    ]
    table_rows = [
        (r["run_id"], SETTING_LABEL.get(r["setting"], r["setting"]), f(r["val_f1"]), f(r["f1"]),
         r["architecture"], r["loss"], f"{r['learning_rate']:g}", f(r["precision"]), f(r["recall"]),
         f"{r['best_epoch']}/{r['epochs']}")
        for r in rows
    ]
    t, dropped = fitted_table(columns, table_rows, title="Single models (cf. paper Table 7)", wide=wide)
    print_table(t, dropped, wide=wide)
    if markdown:
        write_text_atomic(markdown, leaderboard_markdown(rows))
        console.print(f"wrote {markdown}")


@ensemble_app.command("build")
def ensemble_build(
    setting: str = typer.Option("s1s2", "--setting", "-s", help="s1 | s2 | s1s2 | all"),
    k: int = typer.Option(20, "--k", min=1, help="number of members (top-K by validation F1)"),
    name: str = typer.Option(None, "--name", help="ensemble name (default: the setting name)"),
    threshold: float = typer.Option(None, "--threshold",
                                    help="threshold in (0, 1) (default: the one with the best validation F1)"),
    aggregation: str = typer.Option("mean", "--aggregation",
                                    help="mean (average member probabilities) | vote (average member maps)"),
    rebuild: bool = typer.Option(False, "--rebuild",
                                 help="rebuild even if members, weights, stacks, options and code are unchanged"),
    choose_k: bool = typer.Option(False, "--choose-k",
                                  help="--k is the largest size: take the top-K with the best validation F1"),
    root: Path = RootOption,
) -> None:
    """Average the top-K runs of a setting; writes models/ensembles/<name>/manifest.json.

    A manifest built from the same inputs is kept as it is (--rebuild redoes it)."""
    import json

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from gee_landslide.core.paths import safe_name
    from gee_landslide.core.values import check_threshold
    from gee_landslide.train.ensemble import build_ensemble_if_changed

    if name is not None:
        safe_name(name, "--name")  # it becomes models/ensembles/<name>/
    if threshold is not None:
        check_threshold(threshold, "--threshold")
    paths = get_paths(root)
    step = ("choosing the threshold with the best validation F1 (runs every member on the validation events)"
            if threshold is None else "checking the members' weights")
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                  transient=True) as progress:
        progress.add_task(f"ensemble {name or setting}: top-{k} {setting} runs; {step}", total=None)
        path, written = build_ensemble_if_changed(paths.runs, paths.ensembles, setting, k, name, threshold,
                                                  stacks_dir=paths.stacks, aggregation=aggregation, rebuild=rebuild,
                                                  choose_k=choose_k)
    man = json.loads(path.read_text())
    if not written:
        console.print("inputs unchanged (members, weights, stacks, options, code): manifest kept; --rebuild redoes it")
    if man.get("note"):
        console.print(f"[yellow]note[/yellow]: {man['note']}")
    console.print(f"ensemble [bold]{man['name']}[/bold] ({man['setting']}, {man['k']} members, "
                  f"{man['aggregation']}, threshold {man['threshold']:.2f} from {man['threshold_source']}) -> {path}")
    if man.get("k_choice"):
        curve = ", ".join(f"K={k} {f:.3f}" for k, f in man["k_choice"]["val_f1_by_k"].items())
        console.print(f"K chosen on validation: {man['k']} of up to {man['k_choice']['largest_allowed']} ({curve})",
                      highlight=False)
    objects = man.get("objects") or {}
    if "ensemble_threshold" in objects and "ensemble_threshold_plateau" in objects:
        from gee_landslide.train.ensemble import ThresholdChoice

        choice = ThresholdChoice(objects["ensemble_threshold"], objects["ensemble_val_f1"],
                                 tuple(objects["ensemble_threshold_plateau"]))
        learned = f" (learned from {objects['objects']} objects of {objects['fitted_maps']})" if "fitted_maps" in objects else ""
        console.print(f"object filter{learned}: drops objects with p(landslide) < {objects['threshold']:.2f}; the filtered "
                      f"members combined: {choice.describe()}", highlight=False)
    for m in man["members"]:
        console.print(f"  {m['val_f1']:.3f}  {m['run_id']}  sha256 {m['sha256'][:12]}")


@ensemble_app.command("report")
def ensemble_report(
    settings: list[str] = typer.Option(None, "--setting", "-s", help="only these settings (default: all)"),
    ks: str = typer.Option("5,10,20", "--ks", help="ensemble sizes of Table 8 (all runs are always shown too)"),
    heldout: int = typer.Option(8, "--heldout", min=0, help="held-out simulated scenes to score every method on"),
    aggregation: str = typer.Option("mean", "--aggregation", help="mean | vote"),
    map_k: int = typer.Option(20, "--map-k", help="ensemble size of the comparison maps (Figure 7)"),
    top: int = typer.Option(10, "--top", help="rows per setting in Table 7"),
    root: Path = RootOption,
) -> None:
    """Write Table 7/8 and Figures 5-7 (Markdown + PNG) under artifacts/reports/."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from gee_landslide.train.report import write_report

    paths = get_paths(root)
    try:
        sizes = tuple(int(x) for x in ks.split(","))
    except ValueError:
        raise typer.BadParameter(f"--ks must be comma-separated integers, got {ks!r}") from None
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                  transient=True) as progress:
        progress.add_task("report: baselines, held-out scenes, Tables 7-8 and Figures 5-7", total=None)
        try:
            from gee_landslide.core.catalog import load_catalog

            catalog = load_catalog(paths.catalog) if heldout else None
            out = write_report(paths.runs, paths.stacks, paths.reports, _settings_list(settings), sizes, map_k,
                               top, catalog=catalog, n_heldout=heldout, aggregation=aggregation)
        except ValueError as exc:
            if isinstance(exc, GeeLandslideError):
                raise
            raise GeeLandslideError(str(exc), hint="gee-landslide train --profile laptop") from None
    for n in out["notes"]:
        console.print(f"[yellow]note[/yellow]: {n}")
    console.print(out["skill"].read_text())
    console.print(f"wrote {out['markdown']} and {len(out['figures'])} figures")
