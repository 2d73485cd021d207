"""``gaplab advise``: should I collect more data, or regularize — with what, and by how much?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from gaplab.cli import flags as F
from gaplab.cli.common import (
    JsonOpt,
    StoreOpt,
    ThreadsOpt,
    console,
    err_console,
    parse_assignments,
    print_json,
    progress_bar,
    set_threads,
    user_errors,
)
from gaplab.spec import SpecError, set_dotted
from gaplab.store.db import DEFAULT_PATH, Store


class _PlanShown(Exception):
    """Raised by the plan callback of ``--plan-only`` to stop before training."""


@user_errors
def advise(
    path: F.DataArg = None,
    data: F.Data = None,
    target: F.Target = None,
    model: F.Model = None,
    width: F.Width = None,
    n: Annotated[int | None, typer.Option(help="Treat only n examples as yours (default: the whole training pool; "
                                                "the rest of a large pool can then check the predictions).")] = None,
    budget: Annotated[str, typer.Option(help="Time budget, e.g. 90s, 5m, 1h: the plan shrinks to fit it.")] = "5m",
    seeds: Annotated[int | None, typer.Option(help="Seeds per size (default 3, more if the budget allows).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Epoch cap per run (default 40; at least 400 steps); a run stops "
                                                    "earlier once its training loss stops falling.")] = None,
    flip: Annotated[bool, typer.Option(help="Images: add horizontal flips (only where mirroring keeps meaning).")]
    = False,
    noise: Annotated[float | None, typer.Option(help="Tabular data: input-noise augmentation with this std.")] = None,
    goal: Annotated[float | None, typer.Option(help="An error you want to reach: can more data get there?")] = None,
    lr: F.Lr = None,
    batch_size: F.BatchSize = None,
    optimizer: F.Optimizer = None,
    set_: Annotated[list[str], typer.Option("--set", help="Data keys: --set data.args.num_samples=12000")] = [],
    workers: Annotated[int, typer.Option(help="Train packs in this many processes (2 suits a 2-core CPU).")] = 1,
    plan_only: Annotated[bool, typer.Option("--plan-only", help="Print the plan (and its time) and stop.")] = False,
    out: Annotated[Path | None, typer.Option(help="Folder for the figures (default: next to the store).")] = None,
    store: StoreOpt = DEFAULT_PATH,
    as_json: JsonOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Learning curves on your data with and without each regularizer, extrapolated honestly: the best
    configuration at your n, the error to expect with 2×, 4× and 8× the data, what the best regularizer is
    worth in real examples, and what to do next. Prints its plan before training; re-running resumes.

    `gaplab advise data.csv --target y` advises on your file; without DATA, on the built-in --data (mnist1d).

    Defaults: mlp (vectors) or cnn2d (images), 40 epochs (≥ 400 steps), adam at lr 0.005, batch from the smallest n.
    """
    from gaplab.advise import advise as run_advise
    from gaplab.advise.plan import Plan

    raw = _data_section(path, data, set_)
    set_threads(threads)

    def show(plan: Plan) -> None:
        if plan_only and as_json:
            print_json(plan.to_json())
        else:
            (err_console if as_json else console).print(plan.describe(), highlight=False, soft_wrap=True,
                                                        markup=False)
        if plan_only:
            raise _PlanShown

    with progress_bar(not as_json and not plan_only) as update:
        try:
            adv = run_advise(raw, model, budget, target=target, width=width, n=n, seeds=seeds, epochs=epochs,
                             flip=flip, noise=noise, goal=goal, store=Store(store), out=out, workers=workers,
                             progress=update, on_plan=show, lr=lr, batch_size=batch_size, optimizer=optimizer)
        except _PlanShown:
            return
    _print_advice(adv, as_json)


def _data_section(path: str | None, data: str | None, sets: list[str]) -> dict[str, Any]:
    """The ``data`` section advise studies: the DATA file (or the built-in ``--data``) with ``--set data.*`` keys."""
    wrapper: dict[str, Any] = {"data": {"name": "file", "path": path} if path else {"name": data or "mnist1d"}}
    for k, v in parse_assignments(sets, "data.args.num_samples=12000").items():
        if not k.startswith("data."):
            raise SpecError(f"--set {k}: advise takes only data keys (data.args..., data.label_noise, ...)")
        set_dotted(wrapper, k, v)
    return wrapper["data"]


def _print_advice(adv: Any, as_json: bool) -> None:
    if as_json:
        print_json(adv.to_json())
        return
    for line in adv.words:
        console.print(line, highlight=False, soft_wrap=True, markup=False)
    console.print(f"figures in {adv.folder}; `gaplab report` adds an advice page. {adv.numbers['estimate_vs_actual']}; "
                  f"runs: {adv.counts.get('trained', 0)} trained, {adv.counts.get('skipped', 0)} already stored.",
                  highlight=False, soft_wrap=True, markup=False)
