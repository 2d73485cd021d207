"""``advise``: on the user's own data, should they collect more data or regularize, with what, and by how much?

A sweep (plain model, L2 at three strengths, dropout, early stopping, the augmentation that fits the data, a
combination, two more widths) at five or more training-set sizes, three or more seeds each, trained in packs
and stored (re-running resumes); learning curves fitted and chosen by how well they extrapolate
(``gaplab.theory.curves``); the advice in words and numbers, with figures.

Example::

    from gaplab.advise import advise
    a = advise("mnist1d", budget="5m", store=Store("gaplab-results/gaplab.db"))
    print(a.text())
"""

from __future__ import annotations

import sys
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gaplab.advise.plan import Plan, base_plan, fit_budget, format_seconds, parse_budget
from gaplab.errors import SpecError
from gaplab.spec import DataSpec
from gaplab.store.db import Store
from gaplab.store.names import safe_name

__all__ = ["Advice", "advise", "data_spec"]


@dataclass
class Advice:
    """The result of ``advise``: the plan, every number (``numbers``), the sentences, figures and their folder."""

    key: str
    title: str
    plan: dict[str, Any]
    numbers: dict[str, Any]
    figures: list[str]
    folder: str
    seconds: float
    counts: dict[str, Any] = field(default_factory=dict)
    run_plan: Plan | None = field(default=None, repr=False)  # the plan object (not stored): to train more sizes

    @property
    def words(self) -> list[str]:
        return list(self.numbers.get("words", []))

    def text(self) -> str:
        return "\n".join(self.words)

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "plan": self.plan, "numbers": self.numbers,
                "figures": self.figures, "folder": self.folder, "seconds": self.seconds, "counts": self.counts}


def data_spec(data: str | dict[str, Any] | DataSpec, target: str | None = None) -> DataSpec:
    """The data to advise on: a built-in name, a path to a file or folder, a DataSpec or its fields."""
    from pydantic import ValidationError

    from gaplab.engine import with_fingerprint
    from gaplab.spec import format_error, parse_run

    if isinstance(data, DataSpec):
        raw = data.model_dump(mode="json", exclude_none=True)
    elif isinstance(data, dict):
        raw = dict(data)
    elif Path(str(data)).exists():
        raw = {"name": "file", "path": str(data)}
    else:
        raw = {"name": str(data)}
    if target is not None:
        raw["target"] = target
    try:
        DataSpec.model_validate(raw)
    except ValidationError as e:
        raise SpecError(format_error(e, "data")) from None
    return with_fingerprint(parse_run({"data": raw})).data


def advise(
    data: str | dict[str, Any] | DataSpec,
    model: str | None = None,
    budget: str | float | None = "5m",
    *,
    target: str | None = None,
    model_args: dict[str, Any] | None = None,
    width: int | None = None,
    n: int | None = None,
    seeds: int | None = None,
    epochs: int | None = None,
    flip: bool = False,
    noise: float | None = None,
    goal: float | None = None,
    store: Store | None = None,
    out: str | Path | None = None,
    workers: int = 1,
    n_boot: int = 200,
    factors: tuple[float, ...] = (2, 4, 8),
    lr: float | None = None,
    batch_size: int | None = None,
    optimizer: str | None = None,
    weight_decay: float | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    on_plan: Callable[[Plan], None] | None = None,
) -> Advice:
    """Plan, train (resuming from ``store``), fit learning curves and advise; see the module docstring.

    Parameters: ``n`` treats only n examples of the data as yours (default: all of its training pool);
    ``budget`` is a time ('90s', '5m', '1h') the plan is shrunk to fit; ``seeds`` / ``epochs`` override the
    plan's (at least 2 seeds); ``width`` sets the model's width (mlp) or channels (cnn); ``flip`` adds flips to
    image augmentation; ``noise`` adds input-noise
    augmentation to tabular data; ``goal`` asks whether more data can reach that error; ``on_plan`` is called
    with the final plan before any training; ``factors`` are the multiples of n predicted (default 2, 4, 8: the
    horizons whose interval coverage the truth benchmark measured); ``lr`` / ``batch_size`` / ``optimizer`` /
    ``weight_decay`` (decoupled, as AdamW's; in every configuration) are your own training recipe (the plan says
    which parts are yours). ``n_boot`` is kept for compatibility: the
    intervals no longer come from a seed bootstrap (see ``advise.predict``).
    """
    from gaplab.advise import analysis, sweep

    t0 = time.perf_counter()
    budget_s = parse_budget(budget)
    if seeds is not None and seeds < 2:
        raise SpecError(f"seeds: at least 2 are needed for intervals, got {seeds}")
    if epochs is not None and epochs < 1:
        raise SpecError(f"epochs: must be positive, got {epochs}")
    recipe = {"lr": lr, "batch_size": batch_size, "optimizer": optimizer, "weight_decay": weight_decay}
    plan = base_plan(data_spec(data, target), model, model_args, n, flip=flip, tabular_noise=noise, width=width,
                     recipe=recipe)
    plan = _with_counts(plan, seeds, epochs)
    plan = _budgeted(plan, store, budget_s, workers, {"budget": budget_s, "seeds": seeds, "epochs": epochs,
                                                     "flip": flip, "noise": noise, **recipe})
    if on_plan is not None:
        on_plan(plan)
    rows, counts = sweep.run_plan(plan, store, progress, workers)
    numbers = analysis.analyse(plan, rows, n_boot=n_boot, goal=goal, factors=factors)
    numbers["rows"] = _rows(plan)
    numbers["words"].append(_rows_sentence(numbers["rows"]))
    return _advice(plan, numbers, counts, store, out, t0)


def _with_counts(plan: Plan, seeds: int | None, epochs: int | None) -> Plan:
    """The plan with the seeds and epochs the user asked for (None: the plan's own)."""
    if epochs is not None:
        plan = replace(plan, epochs=epochs, min_steps=min(plan.min_steps, 10 * epochs))
    if seeds is not None:
        plan = replace(plan, seeds=seeds)
    if seeds is not None and seeds < 3:
        plan.notes.append(f"only {seeds} seeds: intervals are rough")
    return plan


def _advice(plan: Plan, numbers: dict[str, Any], counts: dict[str, int], store: Store | None,
            out: str | Path | None, t0: float) -> Advice:
    """Draw the figures, time the request and store the advice (unless ``store`` is None)."""
    from gaplab.advise import figures

    # the whole group name (no cut): its hash at the end keeps folders of different requests apart
    root = store.path.parent if store is not None else Path("gaplab-results")
    folder = Path(out) if out is not None else root / "advice" / safe_name(plan.group, limit=None)
    figs = figures.draw(numbers, folder)
    seconds = round(time.perf_counter() - t0, 1)
    numbers["seconds"] = seconds
    numbers["estimate_vs_actual"] = f"estimated {format_seconds(plan.estimate_seconds or 0)}, took " \
                                    f"{format_seconds(seconds)}"
    title = f"advice: {plan.group.split('/', 1)[1]}"
    result = Advice(plan.group, title, plan.to_json(), numbers, figs, str(folder), seconds, counts, plan)
    if store is not None:
        store.save_artifact("advice", plan.group, result.to_json(), str(folder))
    return result


def _rows(plan: Plan) -> dict[str, Any]:
    """The user's rows behind the advice: the test set every run is scored on, and the pool the subsets come from."""
    from gaplab.data import rows
    from gaplab.engine import prepared_for

    s = plan.spec(plan.configs[0], plan.sizes[-1], 0)
    out = rows.summary(prepared_for(s), rows.id_kind(s.data.name, s.data.path))
    out.pop("train_ids", None)  # per run (each seed draws its own subset): `gaplab runs show RUN` lists them
    return out


def _rows_sentence(r: dict[str, Any]) -> str:
    first = ", ".join(map(str, r["test_first"])) + (" …" if r["n_test"] > len(r["test_first"]) else "")
    return (f"Rows are named by {r['id_kind']}: every run is tested on the same {r['n_test']} rows ({first}); each "
            f"seed trains on its own random subset of the {r['pool']}-row pool (`gaplab runs show RUN` lists a "
            f"run's rows).")


def _budgeted(plan: Plan, store: Store | None, budget_s: float, workers: int, asked: dict[str, Any]) -> Plan:
    """The plan shrunk to the budget. The choice is stored (artifact kind ``advice-plan``) and reused when the
    same request runs again, so a re-run resumes the same runs whatever the timing probe measures this time."""
    from gaplab.advise import estimate

    prior = {r["key"]: r["data"] for r in store.artifacts("advice-plan")} if store is not None else {}
    p = prior.get(plan.group)
    if p is not None and p.get("asked") == asked:
        keep = set(p["configs"])
        plan = replace(plan, seeds=p["seeds"], epochs=p["epochs"], min_steps=p["min_steps"],
                       sizes=list(p.get("sizes", plan.sizes)),
                       configs=[c for c in plan.configs if c.name in keep], notes=list(p["notes"]),
                       estimate_seconds=p["estimate_seconds"], budget_seconds=budget_s)
        specs = [s for *_, s in plan.runs()]
        done = len(store.finished([s.run_id for s in specs])) if store is not None else 0
        plan.notes.append(f"resuming the stored plan of this request: {done} of {len(specs)} runs already stored")
        return plan
    cost = estimate.measure(plan)
    plan = fit_budget(plan, budget_s, estimate.estimator(cost, workers), more_seeds=asked["seeds"] is None)
    if store is not None:
        store.save_artifact("advice-plan", plan.group, {
            "asked": asked, "seeds": plan.seeds, "epochs": plan.epochs, "min_steps": plan.min_steps,
            "sizes": plan.sizes,
            "configs": [c.name for c in plan.configs], "notes": plan.notes, "estimate_seconds": plan.estimate_seconds})
    return plan


class _CallableAdvise(types.ModuleType):
    """``gaplab.advise`` is this package and the function ``gaplab.api.diagnose.advise`` (the spec forms of
    ``gaplab.train``): calling the package calls it. Set here, at import, so it holds however the package is first
    imported; the API door is a layer above, so it is imported when called, never at import."""

    def __call__(self, *args: Any, **kwargs: Any) -> Advice:
        from gaplab.api.diagnose import advise as spec_advise

        return spec_advise(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableAdvise
