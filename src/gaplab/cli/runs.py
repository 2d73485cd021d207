"""`gaplab runs list|show|export`: inspect and export stored runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from gaplab.cli.common import JsonOpt, StoreOpt, console, fail, print_json, user_errors
from gaplab.cli.run import summary_table
from gaplab.store.db import DEFAULT_PATH, Store

app = typer.Typer(help="Inspect and export stored runs.", no_args_is_help=True)


@app.command("list")
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


@app.command("show")
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
    console.print(summary_table(row["final"], "final"))
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
    from gaplab.engine import prepared_for
    from gaplab.errors import GaplabError
    from gaplab.spec import parse_run

    try:
        s = parse_run(spec)
        return rows.summary(prepared_for(s), rows.id_kind(s.data.name, s.data.path))
    except (GaplabError, OSError) as e:
        return {"unavailable": f"the run's data cannot be read now ({e})"}


@app.command("export")
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
