"""``gaplab doctor``: diagnose training of a run (the flags and spec file of `gaplab train`) before and while
training; prints one table of checks and a one-paragraph diagnosis, stores it for `gaplab report`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from gaplab.cli.app import JsonOpt, StoreOpt, ThreadsOpt, app, build_run, console, with_train_flags
from gaplab.cli.common import print_json, progress_bar, set_threads, user_errors
from gaplab.store.db import DEFAULT_PATH, Store

_STYLE = {"PASS": "green", "WARN": "yellow", "FAIL": "bold red", "n/a": "dim"}


def _table(diag: Any) -> Table:
    t = Table(title=f"gaplab doctor ({diag.mode}): {diag.task['kind']}, "
                    f"{diag.task.get('classes', '')}{' classes, ' if 'classes' in diag.task else ''}"
                    f"{diag.task['n_train']} training examples", show_lines=False)
    for col in ("check", "measured", "expected", "verdict", "likely cause", "what to try"):
        t.add_column(col, overflow="fold")
    for c in diag.checks:
        t.add_row(c.name, c.shown, c.band, f"[{_STYLE[c.verdict]}]{c.verdict}[/]", c.cause, c.fix)
    return t


@app.command()
@user_errors
@with_train_flags
def doctor(
    quick: Annotated[bool, typer.Option("--quick", help="A few seconds: smaller budgets everywhere.")] = False,
    checks: Annotated[list[str], typer.Option("--check", help="Run only this check family (repeatable): data, "
                                              "init, input, overfit, lr, dynamics, bias_variance, label_noise.")] = [],
    target_error: Annotated[float | None, typer.Option(
        help="Error you aim for (1 − accuracy, or MSE / target variance): the bias reference.")] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for the plots (default: next to the store).")] = None,
    suspects: Annotated[Path | None, typer.Option(
        "--suspects", help="Write the label-noise suspects as CSV (id, given, predicted, p_given).")] = None,
    store: StoreOpt = DEFAULT_PATH,
    no_store: Annotated[bool, typer.Option("--no-store", help="Do not write to the results database.")] = False,
    as_json: JsonOpt = False,
    threads: ThreadsOpt = None,
    **flags: Any,
) -> None:
    """Diagnose training: data, initialization, input dependence, overfitting a tiny set, learning-rate range,
    dynamics, bias/variance and label noise. Takes what `gaplab train` takes; prints PASS/WARN/FAIL per check with
    the likely cause and what to try, then a one-paragraph diagnosis."""
    from gaplab.doctor import diagnose

    if suspects is not None and checks and "label_noise" not in checks:
        from gaplab.errors import SpecError

        raise SpecError("--suspects: needs the label_noise family; add --check label_noise")
    spec = build_run(flags.pop("spec_file"), flags, flags.pop("set_"))
    set_threads(threads)
    mode = "quick" if quick else "default"
    key = f"{spec.run_id}-{mode}"
    folder = out or Path(store).parent / "doctor" / key
    with progress_bar(not as_json) as update:
        diag = diagnose(spec, mode=mode, checks=checks or None, target_error=target_error, folder=folder,
                        progress=update)
    data = diag.to_dict()
    data["title"] = f"{spec.data.name if not spec.data.path else Path(spec.data.path).name} · {spec.model.name} · " \
                    f"{mode} · {diag.worst}"
    oof = data.pop("out_of_fold")  # big: printed with --json, not stored
    if not no_store:
        Store(store).save_artifact("doctor", key, data, str(Path(folder).resolve()))
    written = _write_suspects(diag, suspects) if suspects is not None else None
    if as_json:
        data["out_of_fold"] = oof
        print_json({**data, "key": key, "folder": str(folder)})
        return
    console.print(_table(diag))
    console.print(diag.summary, highlight=False)
    console.print(f"[dim]{len(diag.checks)} checks in {diag.seconds:.1f} s (CPU {diag.cpu_seconds:.1f} s); "
                  f"plots in {folder}{'' if no_store else f'; stored as doctor/{key} in {store}'}[/]",
                  highlight=False)
    if written is not None:
        console.print(f"{written} label-noise suspects written to {suspects}", highlight=False)


def _write_suspects(diag: Any, path: Path) -> int:
    """The label-noise suspects as CSV; a usage error when the family did not run (or cannot, on regression)."""
    from gaplab.doctor.suspects import write_csv
    from gaplab.errors import SpecError

    found = [c for c in diag.checks if c.family == "label_noise" and "suspect_ids" in c.details]
    if not found:
        raise SpecError("--suspects: the label-noise check did not run (it needs a classification data set and "
                        "the label_noise family)")
    return write_csv(found[0], path)
