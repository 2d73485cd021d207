"""``diagnose(spec)``: run the check families on the user's run and derive a one-paragraph diagnosis."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from gaplab.doctor import (
    bias_variance,
    data_checks,
    dynamics,
    init_checks,
    input_checks,
    label_noise,
    lr_range,
    overfit,
)
from gaplab.doctor.context import Context, Progress, save_figures
from gaplab.doctor.result import FAIL, FAMILIES, NA, WARN, Diagnosis, Finding, not_applicable
from gaplab.doctor.suspects import name_suspects
from gaplab.errors import SpecError
from gaplab.spec import RunSpec

_RUNNERS = {"data": data_checks.run, "init": init_checks.run, "input": input_checks.run, "overfit": overfit.run,
            "lr": lr_range.run, "dynamics": dynamics.run, "bias_variance": bias_variance.run,
            "label_noise": label_noise.run}
MIN_PER_FOLD = 5  # label noise: out-of-fold probabilities need a few examples in every fold


def _inapplicable(fam: str, ctx: Context, named: bool) -> Finding | None:
    """A family's single check as n/a (with why) when it cannot run on this data, or is skipped in quick mode
    without being ``named`` in ``checks``; else None."""
    n = len(ctx.prepared.train_idx)
    if fam == "label_noise":
        if not ctx.classification:
            return not_applicable(fam, "label noise (heuristic)", "regression: no class labels to be wrong")
        if ctx.mode == "quick" and not named:
            # its out-of-fold models cost as much CPU as every other quick check together
            return not_applicable(fam, "label noise (heuristic)", "skipped in --quick: run without --quick, or "
                                  "name it (--check label_noise)")
        need = MIN_PER_FOLD * ctx.budget.folds
        if n < need:
            return not_applicable(fam, "label noise (heuristic)", f"only {n} training examples; {ctx.budget.folds} "
                                  f"out-of-fold models need at least {need}")
    if fam == "overfit" and len(overfit.tiny_indices(ctx)) < 2:
        return not_applicable(fam, "overfit a tiny set", f"only {n} training example(s): no set to overfit")
    return None


def diagnose(spec: RunSpec, *, mode: str = "default", checks: Iterable[str] | None = None,
             target_error: float | None = None, folder: str | Path | None = None,
             progress: Progress | None = None) -> Diagnosis:
    """Diagnose training ``spec`` (the user's model, data and settings) and return every check's verdict.

    Parameters
    ----------
    mode : "default" (under a minute for MNIST-1D-sized problems) or "quick" (a few seconds: smaller budgets, and
        the label-noise family only when ``checks`` names it).
    checks : families to run (see ``gaplab.doctor.result.FAMILIES``); all by default.
    target_error : the error level you aim for (bias/variance reference); default: the best simple baseline.
    folder : where to write the figures (PNG); none are drawn without it.
    """
    fams = list(FAMILIES) if checks is None else list(checks)
    unknown = [f for f in fams if f not in _RUNNERS]
    if unknown:
        raise SpecError(f"checks: unknown famil{'ies' if len(unknown) > 1 else 'y'} {', '.join(unknown)}; "
                        f"choose from {', '.join(FAMILIES)}")
    t0, c0 = time.perf_counter(), time.process_time()
    ctx = Context(spec, mode, progress, target_error)
    found: list[Finding] = []
    for fam in FAMILIES:
        if fam in fams:
            na = _inapplicable(fam, ctx, named=checks is not None)
            found.extend([na] if na is not None else _RUNNERS[fam](ctx))
    oof = name_suspects(ctx, found)
    plots: list[str] = []
    if folder is not None:
        from gaplab.doctor.plots import figures

        plots = save_figures(figures(ctx), Path(folder))
    lr = ctx.found.suggested_lr
    return Diagnosis(spec=spec.normalized(), task=ctx.task(), checks=found, summary=summarize(found, lr, spec.optim.lr),
                     mode=mode, seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0,
                     plots=plots, suggested_lr=lr, out_of_fold=oof)


# Which failure explains the others: data problems first, then the model's inputs, init, rate, dynamics; a check
# marked a symptom (details["symptom"]) of a problem another family names comes after every root cause.
_PRIORITY = {f: i for i, f in enumerate(("data", "input", "init", "lr", "overfit", "dynamics", "bias_variance",
                                         "label_noise"))}


def summarize(checks: list[Finding], suggested_lr: float | None = None, user_lr: float | None = None) -> str:
    """One paragraph: the most fundamental failure and what to try, then the rest, then the advisory findings."""
    fails = sorted((c for c in checks if c.verdict == FAIL),
                   key=lambda c: (bool(c.details.get("symptom")), _PRIORITY[c.family]))
    warns = sorted((c for c in checks if c.verdict == WARN), key=lambda c: _PRIORITY[c.family])
    na = sum(c.verdict == NA for c in checks)
    ran = len(checks) - na
    parts = []
    if fails:
        first = fails[0]
        parts.append(f"{len(fails)} check{'s' if len(fails) > 1 else ''} failed. Fix this first — {first.name}: "
                     f"{first.cause}; try: {first.fix}.")
        others = [c for c in fails[1:] if c.cause and c.cause != first.cause]
        if others:
            parts.append("Also failing: " + "; ".join(f"{c.name} ({c.cause})" for c in others[:4]) + ".")
    elif warns:
        # the first sentence names the most fundamental warning's cause, as it names a failure's
        parts.append(f"No check failed ({_checks(ran)}, {len(warns)} worth a look); look first at "
                     f"{warns[0].name} — {warns[0].cause}.")
    else:
        parts.append(f"{'The check' if ran == 1 else f'All {_checks(ran)}'} passed: nothing here blocks training.")
    rest = warns if fails else warns[1:]
    if rest:
        parts.append(("Worth a look: " if fails else "Also worth a look: ") +
                     "; ".join(f"{c.name} — {c.cause}" for c in rest[:4]) + ".")
    if suggested_lr:
        parts.append(f"The learning-rate range suggests {suggested_lr:.2g} (yours: {user_lr:g}).")
    if na:
        parts.append(f"{na} check{'s' if na > 1 else ''} n/a here (see the table for why).")
    return " ".join(parts)


def _checks(n: int) -> str:
    """``n`` checks, with the noun in the singular for one."""
    return f"{n} check" if n == 1 else f"{n} checks"
