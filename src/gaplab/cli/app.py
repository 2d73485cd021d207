"""The ``gaplab`` command line: train, sweep, runs, list (and the study commands added by cli.studies)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

from gaplab.api import specs as api_specs
from gaplab.api.specs import KEYWORDS
from gaplab.cli.common import err_console, fail, parse_assignments, print_json, progress_bar, set_threads, user_errors
from gaplab.spec import MAX_RUNS, RunSpec
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

# Flags of `gaplab train` and the spec keys they set (the same short names gaplab.train takes).
_TRAIN_FLAGS = KEYWORDS


def build_run(spec_file: Path | None, flags: dict[str, Any], sets: list[str]) -> RunSpec:
    """A validated RunSpec from an optional file, then flags, then ``--set`` overrides."""
    overrides = {_TRAIN_FLAGS[name]: value for name, value in flags.items() if value is not None}
    overrides.update(parse_assignments(sets, "model.args.width=64"))
    return api_specs.build_run(spec_file, overrides)


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
    model: Annotated[str | None, typer.Option(
        help="A name from `gaplab list models`, or your own model: path/to/file.py:name or module:name "
             "(a factory or an nn.Module class; see README 'Your own model').")] = None,
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
    dropout: Annotated[float | None, typer.Option(
        help="Dropout rate (1 − keep_prob) of every dropout layer; on your own model it replaces its rates.")] = None,
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
    from gaplab.api.train import run_one

    flags = {k: v for k, v in locals().items() if k in _TRAIN_FLAGS}
    spec = build_run(spec_file, flags, set_)
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
        console.print(_summary_table(run.final, f"run {spec.run_id}: {run.status}{note}"))


def with_train_flags(fn: Any) -> Any:
    """Give command ``fn`` (which takes ``**flags``) every flag of `gaplab train` that sets a spec key, plus its
    spec file argument and ``--set``: one definition of those flags for every command that builds a run."""
    import inspect

    own = [p for p in inspect.signature(fn, eval_str=True).parameters.values() if p.kind is not p.VAR_KEYWORD]
    shared = [p for n, p in inspect.signature(train, eval_str=True).parameters.items()
              if n in _TRAIN_FLAGS or n in ("spec_file", "set_")]
    fn.__signature__ = inspect.Signature(shared + own)
    return fn


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
        print_json(plan(specs, db, max_pack))
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
    rows = _run_rows(row["spec"])
    if as_json:
        print_json({**row, "rows": rows})
        return
    console.print(f"[bold]{row['id']}[/] {row['status']} {row['error'] or ''}")
    console.print(yaml.safe_dump(row["spec"], sort_keys=False))
    if rows is not None:
        from gaplab.data.rows import lines

        console.print("\n".join(lines(rows)) if "id_kind" in rows else f"rows: {rows['unavailable']}",
                      highlight=False)
    console.print(_summary_table(row["final"], "final"))
    hist = Table(title="per epoch")
    cols = [c for c in ("epoch", "train_loss", "train_acc", "val_loss", "test_loss", "test_acc")
            if row["history"] and c in row["history"][0]]
    for c in cols:
        hist.add_column(c)
    for h in row["history"]:
        hist.add_row(*[f"{h[c]:.4f}" if isinstance(h[c], float) else str(h[c]) for c in cols])
    console.print(hist)


def _run_rows(spec: dict[str, Any]) -> dict[str, Any] | None:
    """Which of the user's rows the run trained, validated and tested on (``data.rows``); None for a watched loop's
    run (gaplab never saw its data), ``{"unavailable": why}`` when its data cannot be read now."""
    if spec.get("external"):
        return None
    from gaplab.data import rows
    from gaplab.engine.datacache import prepared_for
    from gaplab.errors import GaplabError
    from gaplab.spec import parse_run

    try:
        s = parse_run(spec)
        return rows.summary(prepared_for(s), rows.id_kind(s.data.name, s.data.path))
    except (GaplabError, OSError) as e:
        return {"unavailable": f"the run's data cannot be read now ({e})"}


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


from gaplab.cli import advise as _advise  # noqa: E402,F401  (registers advise)
from gaplab.cli import doctor as _doctor  # noqa: E402,F401  (registers doctor)
from gaplab.cli import serve as _serve  # noqa: E402,F401  (registers serve)
from gaplab.cli import studies as _studies  # noqa: E402,F401  (registers study, report, tour)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
