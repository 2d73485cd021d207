"""`gaplab train` (one run) and `gaplab sweep` (a spec's grid of runs through the pack engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from gaplab.api import specs as api_specs
from gaplab.cli import flags as F
from gaplab.cli.common import (
    JsonOpt,
    StoreOpt,
    ThreadsOpt,
    console,
    err_console,
    fail,
    print_json,
    progress_bar,
    set_threads,
    user_errors,
)
from gaplab.spec import MAX_RUNS
from gaplab.store.db import DEFAULT_PATH, Store


def summary_table(final: dict[str, Any], title: str) -> Table:
    """Final metrics as a two-column table (per-layer weight norms left out)."""
    t = Table(title=title)
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k, v in final.items():
        if k.startswith("wnorm/"):
            continue
        t.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
    return t


@user_errors
def train(
    ctx: typer.Context,
    source: F.Source = None,
    data: F.Data = None,
    path: F.DataPath = None,
    target: F.Target = None,
    train_size: F.TrainSize = None,
    val_fraction: F.ValFraction = None,
    label_noise: F.LabelNoise = None,
    model: F.Model = None,
    width: F.Width = None,
    depth: F.Depth = None,
    optimizer: F.Optimizer = None,
    lr: F.Lr = None,
    momentum: F.Momentum = None,
    batch_size: F.BatchSize = None,
    epochs: F.Epochs = None,
    schedule: F.Schedule = None,
    l1: F.L1 = None,
    l2: F.L2 = None,
    weight_decay: F.WeightDecay = None,
    dropout: F.Dropout = None,
    label_smoothing: F.LabelSmoothing = None,
    mixup: F.Mixup = None,
    seed: F.Seed = None,
    device: F.Device = None,
    spec_file: F.SpecFile = None,
    set_: F.Sets = [],
    store: StoreOpt = DEFAULT_PATH,
    no_store: Annotated[bool, typer.Option("--no-store", help="Do not write to the results database.")] = False,
    as_json: JsonOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Train one model and print its final metrics (stored; a stored run is not trained again).

    `gaplab train data.csv --target y` trains on your file; `gaplab train run.yaml` runs a spec file.
    """
    from gaplab.api.train import run_one

    spec = F.build_run(source, F.RunFlags.received(ctx), set_, spec_file)
    set_threads(threads)
    db = None if no_store else Store(store)
    with progress_bar(not as_json) as update:
        run = run_one(spec, db, progress=update)
    if run.status == "failed":  # the spec passed every check, so a run that raised is a bug: traceback, exit 1
        err_console.print(f"run {spec.run_id} failed:\n{run.error or '(no error recorded)'}", highlight=False,
                          markup=False)
        raise typer.Exit(1)
    result = {"run_id": spec.run_id, "status": run.status, **run.final}
    if as_json:
        print_json(result)
    else:
        note = " (already stored: not retrained)" if run.skipped else ""
        console.print(summary_table(run.final, f"run {spec.run_id}: {run.status}{note}"))


@user_errors
def sweep(
    spec_file: Annotated[Path, typer.Argument(help="Sweep spec: base + grid/zip axes with dotted keys.")],
    store: StoreOpt = DEFAULT_PATH,
    max_pack: Annotated[int, typer.Option(help="Most models trained at once in one pack.")] = 64,
    workers: Annotated[int, typer.Option(help="Local executor: train packs concurrently in this many processes.")] = 1,
    executor: Annotated[str, typer.Option(help="local or ray.")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster address (default: start a local one).")] = None,
    device: Annotated[str | None, typer.Option(help="Override every run's device (cpu, cuda).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would run.")] = False,
    max_runs: Annotated[int, typer.Option(
        "--max-runs", min=1, help="Refuse a sweep whose axes make more runs than this (counted before expanding).")
    ] = MAX_RUNS,
    checkpoint_every: Annotated[float, typer.Option(
        "--checkpoint-every", min=0, metavar="SECONDS",
        help="Seconds of training between pack checkpoints beside the store (0 = none); a killed sweep "
             "resumes each pack from its last checkpoint.")] = 60.0,
    checkpoint_dir: Annotated[str | None, typer.Option(
        "--checkpoint-dir", metavar="DIR|URL",
        help="Folder or fsspec URL (file://, s3://, gs://) for pack checkpoints; on a Ray cluster one every node "
             "sees (default: beside the store; none with --address).")] = None,
    as_json: JsonOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Run every run of a sweep through the pack engine; completed runs are skipped (resumable).

    Safe to kill at any moment and to run twice at once on one store: runs are claimed in the store before
    training (a dead sweep's claims are taken over), packs resume from checkpoints, workers die with the sweep.
    """
    from gaplab.api.sweep import execute, plan

    sw, specs = api_specs.build_sweep(spec_file, device=device, max_runs=max_runs)
    set_threads(threads)
    db = Store(store)
    if dry_run:
        print_json(plan(specs, db, max_pack, workers))
        return
    if executor not in ("local", "ray"):
        fail(f"--executor must be 'local' or 'ray', got {executor!r}")
    with progress_bar(not as_json) as update:
        out = execute(specs, db, sw.name, executor=executor, workers=workers, max_pack=max_pack, address=address,
                      progress=update, checkpoint_every=checkpoint_every, checkpoint_dir=checkpoint_dir)
    summary = {k: v for k, v in out.items() if k not in ("results", "ids", "errors")}
    summary["sweep"] = sw.name
    summary["store"] = str(store)
    if as_json:
        print_json(summary)
    else:
        console.print(f"sweep [bold]{sw.name}[/]: {summary['runs']} runs, {summary['skipped']} already stored, "
                      f"{summary['trained']} trained, {summary['diverged']} diverged, {summary['failed']} failed "
                      f"→ {store}")
    if out["failed"]:
        raise typer.Exit(1)
