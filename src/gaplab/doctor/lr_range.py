"""Learning-rate range: many copies in one pack, each at its own fixed rate on a log grid, over several seeds.

Unlike an LR finder whose rate grows every step (which confounds rate with training time), every copy trains
the same number of steps at one rate; the training loss after that budget is the curve. A rate is suggested
only where the seeds agree on where the minimum lies; otherwise the check says why it is inconclusive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from gaplab.doctor.context import Context
from gaplab.doctor.result import FAIL, PASS, WARN, Finding
from gaplab.engine import RunResult
from gaplab.spec import RunSpec

FAMILY = "lr"
FLOOR = 1e-4
NEAR = 1.5
# the suggestion steps down by STEP_DOWN from the validation minimum when the range overfits there by more than GAP
# of the untrained loss (chosen on the MNIST-1D pairs of benchmarks/doctor_lr_truth.py; see ``suggest``)
GAP = 0.1
STEP_DOWN = 10.0
GRID = {"sgd": (1e-4, 10.0), "adam": (1e-5, 1.0), "adamw": (1e-5, 1.0)}


@dataclass
class LrCurve:
    rates: list[float]
    losses: np.ndarray  # (seeds, rates) final training loss; inf where a copy diverged
    init_loss: float
    user_loss: np.ndarray  # (seeds,) at the user's own rate
    val_losses: np.ndarray  # (seeds, rates) final validation loss (the same evaluation); inf where diverged


def grid(optimizer: str, per_decade: int) -> list[float]:
    lo, hi = GRID[optimizer]
    n = int(round(math.log10(hi / lo) * per_decade)) + 1
    return [float(r) for r in np.logspace(math.log10(lo), math.log10(hi), n)]


def measure(ctx: Context) -> LrCurve:
    """Train the grid × seeds (plus the user's rate × seeds) as one pack (``ctx.lr_curve`` calls this once)."""
    b = ctx.budget
    user: RunSpec = ctx.val_spec
    rates = grid(user.optim.name, b.lr_rates_per_decade)
    epochs = ctx.epochs_for(b.lr_steps)
    base = user.replace(**{"optim.epochs": epochs, "optim.schedule": "constant", "eval_every": epochs,
                           "reg.early_stopping": None})
    # the user's rate is trained as a grid column of its own unless it is a grid rate (a round 1e-2, say): that
    # column is the same training, seed for seed
    on_grid = [i for i, r in enumerate(rates) if math.isclose(r, user.optim.lr, rel_tol=1e-9)]
    cols = rates if on_grid else [*rates, user.optim.lr]
    specs = [base.replace(**{"optim.lr": r, "seed": user.seed + s}) for s in range(b.lr_seeds) for r in cols]
    pack, res = ctx.train(f"learning-rate range ({len(specs)} models)", specs, metrics=False)
    # the curves read each model's training and validation loss on its own split (seeds split the pool apart)
    loss, val = (_final(v, res).reshape(b.lr_seeds, len(cols)) for v in ctx.split_losses(pack, _eval_rows(ctx)))
    user_col = on_grid[0] if on_grid else -1
    return LrCurve(rates, loss[:, :len(rates)], ctx.init_loss, loss[:, user_col], val[:, :len(rates)])


def _final(per_model: torch.Tensor, res: list[RunResult]) -> np.ndarray:
    """Each run's loss (already inf where not finite, ``Context.split_losses``); inf where the run diverged."""
    return np.array([x if r.status == "done" else math.inf for x, r in zip(per_model.tolist(), res, strict=True)])


def _eval_rows(ctx: Context) -> torch.Tensor | None:
    """The pool rows the final losses are read on: all (None), or (quick) a fixed random ``lr_eval_examples`` —
    one subset for every rate and seed, so its sampling error is shared along the curve rather than added to it."""
    idx = torch.arange(len(ctx.pool.y_train))
    n = ctx.budget.lr_eval_examples
    if n is None or n >= len(idx):
        return None
    g = torch.Generator().manual_seed(ctx.spec.seed)
    return idx[torch.randperm(len(idx), generator=g)[:n]]


@dataclass
class Minimum:
    """Where a seed-mean loss curve has its minimum, or why it has none (``rate`` None)."""

    rate: float | None  # refined by a parabola through the minimum's neighbours
    reason: str
    per_seed: list[float]  # each seed's own best rate
    index: int | None  # grid index of the seed-mean minimum


@dataclass
class Suggestion:
    minimum: float | None  # the rate at the seed-mean training-loss minimum (the verdict's reference)
    val_minimum: float | None  # the rate at the seed-mean validation-loss minimum
    gap: float | None  # (validation − training loss) / untrained loss at the validation minimum
    reason: str
    per_seed: list[float]  # each seed's best rate on the curve that decided the suggestion
    best_index: int | None
    lr: float | None  # the rate to train at (see ``suggest``)


def suggest(c: LrCurve) -> Suggestion:
    """The rate of the lowest validation loss after the short range, or a tenth of it when the range already
    overfits there (validation above training loss by more than ``GAP`` of the untrained loss).

    Why: the doctor is judged by the validation loss at the end of the user's (longer) run. A network that
    overfits within the short range overfits more over the full run at that rate; a tenth of the rate keeps it
    short of that (MNIST-1D MLPs). One that does not (the CNNs) keeps improving at the rate the range found best.
    Where the validation curve is inconclusive (seeds disagree: small validation sets) but the training curve is
    not, the suggestion is a tenth of the training-loss minimum (the earlier rule)."""
    train = minimum(c.rates, c.losses, c.init_loss)
    if train.rate is None:
        return Suggestion(None, None, None, train.reason, train.per_seed, train.index, None)
    val = minimum(c.rates, c.val_losses, c.init_loss)
    if val.rate is None or val.index is None:
        return Suggestion(train.rate, None, None, val.reason.replace("inconclusive", "validation loss inconclusive") +
                          "; a tenth of the training-loss minimum", train.per_seed, train.index, train.rate / STEP_DOWN)
    gap = float(np.mean(c.val_losses[:, val.index] - c.losses[:, val.index])) / c.init_loss
    lr = val.rate / STEP_DOWN if gap > GAP else val.rate
    return Suggestion(train.rate, val.rate, gap, "the seeds agree", val.per_seed, val.index, lr)


def minimum(rates: list[float], losses: np.ndarray, init_loss: float) -> Minimum:
    """The rate at the minimum of the seed-mean log loss (refined by a parabola through its neighbours), found
    only if the seeds agree (see below) and it is not on the grid edge."""
    logr = np.log10(rates)
    # losses below 10⁻⁴ of the untrained loss all count as "fitted" (and an exact 0 would give log −inf)
    logl = np.log(np.minimum(losses, 1e30) + FLOOR * init_loss)
    per_seed = [float(rates[int(np.argmin(row))]) for row in logl]
    if not np.isfinite(losses).any():
        return Minimum(None, "inconclusive: every rate diverged", per_seed, None)
    mean = logl.mean(0)
    i = int(np.argmin(mean))
    if losses[:, i].mean() >= 0.9 * init_loss:
        return Minimum(None, "inconclusive: no rate lowered the loss within the budget", per_seed, i)
    if i == 0 or i == len(rates) - 1:
        side = "lowest" if i == 0 else "highest"
        return Minimum(None, f"inconclusive: the best rate is the {side} of the grid", per_seed, i)
    # the seeds agree when each one's own best rate is a neighbour of the consensus, or when the consensus rate is
    # within a factor NEAR of each seed's own best loss (a flat basin, where the argmin itself is noise)
    spread = [abs(int(np.argmin(row)) - i) for row in logl]
    near = all(row[i] <= row.min() + np.log(NEAR) for row in logl)
    if max(spread) > 1 and not near:
        return Minimum(None, "inconclusive: the seeds disagree on the best rate (" +
                       ", ".join(f"{r:.2g}" for r in per_seed) + ")", per_seed, i)
    y0, y1, y2 = mean[i - 1], mean[i], mean[i + 1]
    h = logr[i + 1] - logr[i]
    shift = 0.0
    if np.isfinite([y0, y1, y2]).all() and y0 - 2 * y1 + y2 > 0:  # a parabola through the three, opening upward
        shift = 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)
    return Minimum(float(10 ** (logr[i] + h * float(np.clip(shift, -0.5, 0.5)))), "the seeds agree", per_seed, i)


def run(ctx: Context) -> list[Finding]:
    c = ctx.lr_curve
    s = suggest(c)
    user = ctx.val_spec.optim.lr
    u = float(np.mean(c.user_loss)) if np.isfinite(c.user_loss).all() else math.inf
    best = float(np.min(c.losses.mean(0)))
    # how much of the possible improvement (from the untrained loss to the best rate's) the user's rate misses
    excess = (u - best) / max(c.init_loss - best, 1e-12) if math.isfinite(u) else math.inf
    details = {"rates": c.rates, "loss_mean": _mean(c.losses), "loss_per_seed": c.losses.tolist(),
               "per_seed_best": s.per_seed, "user_loss": u, "best_loss": best, "excess": excess,
               "init_loss": c.init_loss, "steps": ctx.budget.lr_steps, "val_loss_mean": _mean(c.val_losses),
               "loss_minimum_rate": s.minimum, "val_minimum_rate": s.val_minimum, "gap": s.gap, "rule": s.reason}
    ctx.found.suggested_lr = s.lr
    band = ("validation-loss minimum (a tenth of it if the range overfits there); yours within 10× of the "
            "training-loss minimum and ≤ 20 % of the possible gain lost")
    if s.minimum is None or s.lr is None:
        # no suggestion, so no verdict on the user's rate either: an inconclusive range is a warning, never a failure
        return [Finding(FAMILY, "learning rate", None, "inconclusive", band, WARN, s.reason,
                        "widen the grid or the budget (default mode), or check the other failures first", details)]
    ratio = user / s.minimum
    shown = f"suggest {s.lr:.3g} (training-loss minimum {s.minimum:.3g}; yours {user:g})"
    if excess < 0.2 or (0.1 <= ratio <= 10 and excess < 0.5):
        return [Finding(FAMILY, "learning rate", s.lr, shown, band, PASS, details=details)]
    too = _direction(user, s.minimum)
    verdict = FAIL if excess >= 0.5 and not 0.1 <= ratio <= 10 else WARN
    cause = (f"learning rate {too}: yours ({user:g}) ends at loss {u:.3g} against {best:.3g} at the best rate "
             f"({excess:.0%} of the possible gain lost)")
    return [Finding(FAMILY, "learning rate", s.lr, shown, band, verdict, cause, f"train at about {s.lr:.2g}", details)]


def _direction(user: float, ref: float) -> str:
    return "too high" if user > ref else "too low"


def _mean(losses: np.ndarray) -> list[float]:
    """Seed-mean loss per rate (inf where any seed diverged)."""
    return [float(v) for v in losses.mean(0)]
