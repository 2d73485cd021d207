"""The ``gaplab`` command line: train, sweep, runs, list (and the study commands added by cli.studies)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

from gaplab.cli.common import fail, parse_assignments, print_json, progress_bar, set_threads, user_errors
from gaplab.spec import SpecError, load_file, load_sweep, parse_run, set_dotted
from gaplab.store.db import DEFAULT_PATH, Store

app = typer.Typer(
    help="gaplab: see and measure what regularization does to generalization, on a laptop CPU.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
runs_app = typer.Typer(help="Inspect and export stored runs.", no_args_is_help=True)
list_app = typer.Typer(help="List what gaplab knows: data sets, models, regularizers.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
app.add_typer(list_app, name="list")
console = Console()

StoreOpt = Annotated[Path, typer.Option("--store", help="Results database (SQLite).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as one JSON object on stdout.")]
ThreadsOpt = Annotated[int | None, typer.Option("--threads", help="Torch threads (default: all cores).")]

# Flags of `gaplab train` and the spec keys they set.
_TRAIN_FLAGS = {
    "data": "data.name", "path": "data.path", "target": "data.target", "train_size": "data.train_size",
    "val_fraction": "data.val_fraction", "label_noise": "data.label_noise",
    "model": "model.name", "width": "model.args.width", "depth": "model.args.depth",
    "optimizer": "optim.name", "lr": "optim.lr", "momentum": "optim.momentum",
    "batch_size": "optim.batch_size", "epochs": "optim.epochs", "schedule": "optim.schedule",
    "l1": "reg.l1", "l2": "reg.l2", "weight_decay": "reg.weight_decay", "dropout": "reg.dropout",
    "label_smoothing": "reg.label_smoothing", "mixup": "reg.mixup", "seed": "seed", "device": "device",
}


def build_run(spec_file: Path | None, flags: dict[str, Any], sets: list[str]) -> Any:
    """A validated RunSpec from an optional file, then flags, then ``--set`` overrides."""
    from gaplab.engine.validate import check_data, check_registries, with_fingerprint

    data, lines = load_file(spec_file) if spec_file else ({}, {})
    for name, value in flags.items():
        if value is not None:
            set_dotted(data, _TRAIN_FLAGS[name], value)
    for k, v in parse_assignments(sets, "model.args.width=64").items():
        set_dotted(data, k, v)
    prefix = f"{spec_file}: " if spec_file else ""
    try:
        spec = parse_run(data, lines)
        check_registries(spec, lines)
        check_data(spec)
        spec = with_fingerprint(spec)
    except SpecError as e:
        raise SpecError(prefix + str(e)) from None
    return spec


def _summary_table(final: dict[str, Any], title: str) -> Table:
    t = Table(title=title)
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k, v in final.items():
        if k.startswith("wnorm/"):
            continue
        t.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
    return t


@app.command()
@user_errors
def train(
    spec_file: Annotated[Path | None, typer.Argument(help="Run spec (YAML/TOML/JSON); flags override it.")] = None,
    data: Annotated[str | None, typer.Option(help="Data set name (see `gaplab list datasets`) or 'file'.")] = None,
    path: Annotated[str | None, typer.Option(help="A local data file/folder (CSV, Parquet, .npz, ...).")] = None,
    target: Annotated[str | None, typer.Option(help="Target column of a CSV/Parquet file.")] = None,
    train_size: Annotated[int | None, typer.Option(help="Train on a stratified subset of this size.")] = None,
    val_fraction: Annotated[float | None, typer.Option(help="Hold out this fraction for validation.")] = None,
    label_noise: Annotated[float | None, typer.Option(help="Fraction of training labels resampled.")] = None,
    model: Annotated[str | None, typer.Option(help="Model name (see `gaplab list models`).")] = None,
    width: Annotated[int | None, typer.Option(help="Hidden width (mlp, random-features).")] = None,
    depth: Annotated[int | None, typer.Option(help="Hidden layers (mlp).")] = None,
    optimizer: Annotated[str | None, typer.Option(help="sgd, adam or adamw.")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate.")] = None,
    momentum: Annotated[float | None, typer.Option(help="SGD momentum.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Mini-batch size.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs.")] = None,
    schedule: Annotated[str | None, typer.Option(help="constant, step or cosine.")] = None,
    l1: Annotated[float | None, typer.Option(help="L1 penalty λ (λ/2m·Σ|W|).")] = None,
    l2: Annotated[float | None, typer.Option(help="L2 penalty λ (λ/2m·Σ‖W‖²).")] = None,
    weight_decay: Annotated[float | None, typer.Option(help="Decoupled weight decay.")] = None,
    dropout: Annotated[float | None, typer.Option(help="Dropout rate (1 − keep_prob).")] = None,
    label_smoothing: Annotated[float | None, typer.Option(help="Label smoothing ε.")] = None,
    mixup: Annotated[float | None, typer.Option(help="MixUp α (0 = off).")] = None,
    seed: Annotated[int | None, typer.Option(help="Run seed (init, batches, dropout, noise).")] = None,
    device: Annotated[str | None, typer.Option(help="cpu or cuda.")] = None,
    set_: Annotated[list[str], typer.Option("--set", help="Any spec key: --set reg.early_stopping.patience=5")] = [],
    store: StoreOpt = DEFAULT_PATH,
    no_store: Annotated[bool, typer.Option("--no-store", help="Do not write to the results database.")] = False,
    as_json: JsonOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Train one model and print its final metrics (stored; a stored run is not trained again)."""
    from gaplab.engine.executor import run_local

    flags = {k: v for k, v in locals().items() if k in _TRAIN_FLAGS}
    spec = build_run(spec_file, flags, set_)
    set_threads(threads)
    db = None if no_store else Store(store)
    with progress_bar(not as_json) as update:
        out = run_local([spec], db, progress=update)
    if db is not None:
        row = db.run(spec.run_id)
        final, status = row["final"], row["status"]
    else:
        res = out["results"][0] if out["results"] else None
        if res is None:
            fail("the run failed")
        final, status = res.final, res.status
    if status == "failed":
        fail(f"run {spec.run_id} failed: {row['error'].splitlines()[0]}")
    result = {"run_id": spec.run_id, "status": status, **final}
    if as_json:
        print_json(result)
    else:
        note = " (already stored: not retrained)" if out["skipped"] else ""
        console.print(_summary_table(final, f"run {spec.run_id}: {status}{note}"))


@app.command()
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
    as_json: JsonOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Run every run of a sweep through the pack engine; completed runs are skipped (resumable)."""
    from gaplab.engine.executor import plan_packs, run_local, unique_pending
    from gaplab.engine.validate import check_data, check_registries, with_fingerprint

    sw = load_sweep(spec_file)
    specs = [with_fingerprint(s) for s in sw.expand()]
    if device:
        specs = [s.replace(device=device) for s in specs]
    for s in specs[:1]:
        check_registries(s, None)
        check_data(s)
    set_threads(threads)
    db = Store(store)
    if dry_run:
        pending, ids = unique_pending(specs, db)
        packs = plan_packs(pending, max_pack)
        print_json({"runs": len(ids), "pending": len(pending), "packs": [len(p) for p in packs]})
        return
    with progress_bar(not as_json) as update:
        if executor == "ray":
            from gaplab.engine.ray_executor import run_ray

            out = run_ray(specs, db, group=sw.name, max_pack=max_pack, address=address, progress=update)
        elif executor == "local":
            out = run_local(specs, db, group=sw.name, max_pack=max_pack, progress=update, workers=workers)
        else:
            fail(f"--executor must be 'local' or 'ray', got {executor!r}")
    summary = {k: v for k, v in out.items() if k not in ("results", "ids")}
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


@runs_app.command("list")
@user_errors
def runs_list(
    store: StoreOpt = DEFAULT_PATH,
    group: Annotated[str | None, typer.Option(help="Only runs of this sweep or study.")] = None,
    status: Annotated[str | None, typer.Option(help="done, diverged or failed.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List stored runs with their final test metrics."""
    db = Store(store)
    rows = db.runs(status=status, group=group)
    if as_json:
        print_json([{"id": r["id"], "status": r["status"], **r["final"]} for r in rows])
        return
    t = Table(title=f"{len(rows)} runs in {store}")
    for c in ("id", "status", "data", "model", "seed", "test_acc", "test_loss", "seconds"):
        t.add_column(c)
    for r in rows:
        f, s = r["final"], r["spec"]
        t.add_row(r["id"], r["status"], s["data"]["name"], s["model"]["name"], str(s["seed"]),
                  f"{f.get('test_acc', float('nan')):.4f}", f"{f.get('test_loss', float('nan')):.4f}",
                  f"{r['seconds'] or 0:.1f}")
    console.print(t)


@runs_app.command("show")
@user_errors
def runs_show(run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix is enough).")],
              store: StoreOpt = DEFAULT_PATH, as_json: JsonOpt = False) -> None:
    """Show one run: spec, status, final metrics and the per-epoch curve."""
    db = Store(store)
    row = db.run(run_id)
    if row is None:
        fail(f"no run with id {run_id!r} in {store} (or the prefix is not unique)")
    row["history"] = db.history(row["id"])
    if as_json:
        print_json(row)
        return
    console.print(f"[bold]{row['id']}[/] {row['status']} {row['error'] or ''}")
    console.print(yaml.safe_dump(row["spec"], sort_keys=False))
    console.print(_summary_table(row["final"], "final"))
    hist = Table(title="per epoch")
    cols = [c for c in ("epoch", "train_loss", "train_acc", "val_loss", "test_loss", "test_acc")
            if row["history"] and c in row["history"][0]]
    for c in cols:
        hist.add_column(c)
    for h in row["history"]:
        hist.add_row(*[f"{h[c]:.4f}" if isinstance(h[c], float) else str(h[c]) for c in cols])
    console.print(hist)


@runs_app.command("export")
@user_errors
def runs_export(
    out: Annotated[Path, typer.Argument(help="Output file: .csv or .parquet.")],
    what: Annotated[str, typer.Option(help="runs (one row per run) or metrics (per epoch, long format).")] = "runs",
    group: Annotated[str | None, typer.Option(help="Only runs of this sweep or study.")] = None,
    store: StoreOpt = DEFAULT_PATH,
) -> None:
    """Export runs or per-epoch metrics to CSV or Parquet."""
    from gaplab.store.export import export

    if what not in ("runs", "metrics"):
        fail(f"--what must be 'runs' or 'metrics', got {what!r}")
    path = export(Store(store), out, what, group)
    console.print(f"wrote {path}")


def _print_catalog(items: dict[str, str], title: str, as_json: bool) -> None:
    if as_json:
        print_json(items)
        return
    t = Table(title=title)
    t.add_column("name")
    t.add_column("what it is")
    for k, v in items.items():
        t.add_row(k, v)
    console.print(t)


@list_app.command("datasets")
def list_datasets_cmd(as_json: JsonOpt = False) -> None:
    """Built-in data sets (user files: data.name 'file' with data.path)."""
    from gaplab.data import list_datasets

    _print_catalog(list_datasets(), "data sets", as_json)


@list_app.command("models")
def list_models_cmd(as_json: JsonOpt = False) -> None:
    """Registered models (user models: 'package.module:factory')."""
    from gaplab.models import list_models

    _print_catalog(list_models(), "models", as_json)


@list_app.command("regularizers")
def list_regularizers_cmd(as_json: JsonOpt = False) -> None:
    """Every regularizer a run spec can switch on; all compose."""
    from gaplab.regularize.catalog import list_regularizers

    _print_catalog(list_regularizers(), "regularizers", as_json)


from gaplab.cli import serve as _serve  # noqa: E402,F401  (registers serve)
from gaplab.cli import studies as _studies  # noqa: E402,F401  (registers study, report, tour)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
