"""``gaplab doctor``: diagnose training of a run (the flags and spec file of `gaplab train`) before and while
training; prints its findings (cli.doctor_view) and a one-paragraph diagnosis, stores it for `gaplab report`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from gaplab.cli import doctor_view
from gaplab.cli import flags as F
from gaplab.cli.common import JsonOpt, StoreOpt, ThreadsOpt, console, print_json, progress_bar, set_threads, user_errors
from gaplab.spec import RunSpec
from gaplab.store.db import DEFAULT_PATH, Store


@user_errors
def doctor(
    ctx: typer.Context,
    source: F.Source = None,
    quick: Annotated[bool, typer.Option("--quick", help="A few seconds: smaller budgets everywhere (shorter, "
                                        "fewer trainings); label noise only with --check label_noise; no plots "
                                        "unless --out is given.")] = False,
    checks: Annotated[list[str], typer.Option("--check", help="Run only this check family (repeatable): data, "
                                              "init, input, overfit, lr, dynamics, bias_variance, label_noise.")] = [],
    target_error: Annotated[float | None, typer.Option(
        help="Error you aim for (1 − accuracy, or MSE / target variance): the bias reference.")] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for the plots (default: next to the store; with --quick "
                                             "or --no-store none are drawn unless this is given).")] = None,
    suspects: Annotated[Path | None, typer.Option(
        "--suspects", help="Write the label-noise suspects as CSV (id, given, predicted, p_given).")] = None,
    store: StoreOpt = DEFAULT_PATH,
    no_store: Annotated[bool, typer.Option("--no-store", help="Do not write to the results database (nor the plots, "
                                                            "unless --out is given).")] = False,
    as_json: JsonOpt = False,
    threads: ThreadsOpt = None,
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
) -> None:
    """Diagnose training: data, initialization, input dependence, overfitting a tiny set, learning-rate range,
    dynamics, bias/variance and label noise. Takes what `gaplab train` takes; prints PASS/WARN/FAIL per check with
    the likely cause and what to try, then a one-paragraph diagnosis.

    `gaplab doctor data.csv --target y` diagnoses a run on your file."""
    if suspects is not None and checks and "label_noise" not in checks:
        from gaplab.errors import SpecError

        raise SpecError("--suspects: needs the label_noise family; add --check label_noise")
    spec = F.build_run(source, F.RunFlags.received(ctx), set_, spec_file)
    set_threads(threads)
    _diagnose(spec, quick=quick, checks=checks, target_error=target_error, out=out, suspects=suspects,
              store=None if no_store else store, default_store=store, as_json=as_json)


def _diagnose(spec: RunSpec, *, quick: bool, checks: list[str], target_error: float | None, out: Path | None,
              suspects: Path | None, store: Path | None, default_store: Path, as_json: bool) -> None:
    """Run the doctor on ``spec``, store its result (unless ``store`` is None) and print it."""
    from gaplab.doctor import diagnose

    mode = "quick" if quick else "default"
    key = f"{spec.run_id}-{mode}"
    folder = out or Path(default_store).parent / "doctor" / key
    # drawing costs about as much CPU as a quick doctor's checks (matplotlib's import alone ≈ 1 s): asked for only;
    # --no-store writes nothing unless --out names a folder
    draw = out is not None or not (quick or store is None)
    with progress_bar(not as_json) as update:
        diag = diagnose(spec, mode=mode, checks=checks or None, target_error=target_error,
                        folder=folder if draw else None, progress=update)
    result = diag.to_dict()
    result["title"] = f"{spec.data.name if not spec.data.path else Path(spec.data.path).name} · " \
                      f"{spec.model.name} · {mode} · {diag.worst}"
    oof = result.pop("out_of_fold")  # big: printed with --json, not stored
    if store is not None:
        Store(store).save_artifact("doctor", key, result, str(Path(folder).resolve()) if draw else None)
    written = _write_suspects(diag, suspects) if suspects is not None else None
    if as_json:
        result["out_of_fold"] = oof
        print_json({**result, "key": key, "folder": str(folder) if draw else None})
        return
    console.print(doctor_view.findings(diag, console.width))
    console.print(diag.summary, highlight=False)
    plots = f"plots in {folder}" if draw else \
        f"no plots ({'--quick' if quick else '--no-store'} draws them with --out DIR)"
    n = len(diag.checks)
    console.print(f"[dim]{n} check{'' if n == 1 else 's'} in {diag.seconds:.1f} s (CPU {diag.cpu_seconds:.1f} s); "
                  f"{plots}{'' if store is None else f'; stored as doctor/{key} in {store}'}[/]", highlight=False)
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
