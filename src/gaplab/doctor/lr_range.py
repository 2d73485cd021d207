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
from gaplab.spec import RunSpec

FAMILY = "lr"
FLOOR = 1e-4
NEAR = 1.5
# the training-loss minimum after a short budget is the fastest rate, not the best one to train at: full trainings
# there end 1.2–2× above the grid's best validation loss (benchmarks/doctor_lr_truth.py); a tenth of it (fastai's
# "minimum" rule applies the same factor) was chosen on the MNIST-1D pair, 15× above its best grid rate
TRAIN_BELOW = 10.0
GRID = {"sgd": (1e-4, 10.0), "adam": (1e-5, 1.0), "adamw": (1e-5, 1.0)}


@dataclass
class LrCurve:
    rates: list[float]
    losses: np.ndarray  # (seeds, rates) final training loss; inf where a copy diverged
    init_loss: float
    user_loss: np.ndarray  # (seeds,) at the user's own rate


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
    final = ctx.train_loss(pack, _eval_rows(ctx)).tolist()  # the training loss is all the curve reads
    loss = np.array([v if r.status == "done" else math.inf for v, r in zip(final, res, strict=True)])
    loss = np.where(np.isfinite(loss), loss, math.inf).reshape(b.lr_seeds, len(cols))
    return LrCurve(rates, loss[:, :len(rates)], ctx.init_loss, loss[:, on_grid[0] if on_grid else -1])


def _eval_rows(ctx: Context) -> torch.Tensor:
    """The training examples the final loss is read on: all, or (quick) a fixed random ``lr_eval_examples`` — one
    subset for every rate and seed, so its sampling error is shared along the curve rather than added to it."""
    idx = ctx.prepared.train_idx
    n = ctx.budget.lr_eval_examples
    if n is None or n >= len(idx):
        return idx
    g = torch.Generator().manual_seed(ctx.spec.seed)
    return idx[torch.randperm(len(idx), generator=g)[:n]]


@dataclass
class Suggestion:
    minimum: float | None  # the rate at the seed-mean training-loss minimum
    reason: str
    per_seed: list[float]
    best_index: int | None

    @property
    def lr(self) -> float | None:
        """The rate to train at: ``TRAIN_BELOW`` times below the training-loss minimum."""
        return None if self.minimum is None else self.minimum / TRAIN_BELOW


def suggest(c: LrCurve) -> Suggestion:
    """The rate at the minimum of the seed-mean log loss (refined by a parabola through its neighbours), found
    only if the seeds agree (see below) and it is not on the grid edge; the suggestion (``lr``) is a tenth of it."""
    logr = np.log10(c.rates)
    # losses below 10⁻⁴ of the untrained loss all count as "fitted" (and an exact 0 would give log −inf)
    logl = np.log(np.minimum(c.losses, 1e30) + FLOOR * c.init_loss)
    per_seed = [float(c.rates[int(np.argmin(row))]) for row in logl]
    if not np.isfinite(c.losses).any():
        return Suggestion(None, "inconclusive: every rate diverged", per_seed, None)
    mean = logl.mean(0)
    i = int(np.argmin(mean))
    if c.losses[:, i].mean() >= 0.9 * c.init_loss:
        return Suggestion(None, "inconclusive: no rate lowered the loss within the budget", per_seed, i)
    if i == 0 or i == len(c.rates) - 1:
        side = "lowest" if i == 0 else "highest"
        return Suggestion(None, f"inconclusive: the best rate is the {side} of the grid", per_seed, i)
    # the seeds agree when each one's own best rate is a neighbour of the consensus, or when the consensus rate is
    # within a factor NEAR of each seed's own best loss (a flat basin, where the argmin itself is noise)
    spread = [abs(int(np.argmin(row)) - i) for row in logl]
    near = all(row[i] <= row.min() + np.log(NEAR) for row in logl)
    if max(spread) > 1 and not near:
        return Suggestion(None, "inconclusive: the seeds disagree on the best rate (" +
                          ", ".join(f"{r:.2g}" for r in per_seed) + ")", per_seed, i)
    y0, y1, y2 = mean[i - 1], mean[i], mean[i + 1]
    h = logr[i + 1] - logr[i]
    shift = 0.0
    if np.isfinite([y0, y1, y2]).all() and y0 - 2 * y1 + y2 > 0:  # a parabola through the three, opening upward
        shift = 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)
    lr = float(10 ** (logr[i] + h * float(np.clip(shift, -0.5, 0.5))))
    return Suggestion(lr, "the seeds agree", per_seed, i)


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
               "init_loss": c.init_loss, "steps": ctx.budget.lr_steps}
    ctx.found.suggested_lr = s.lr
    details["loss_minimum_rate"] = s.minimum
    band = "loss-minimum rate where the seeds agree; yours within 10× of it and ≤ 20 % of the possible gain lost"
    if s.minimum is None or s.lr is None:
        # no suggestion, so no verdict on the user's rate either: an inconclusive range is a warning, never a failure
        return [Finding(FAMILY, "learning rate", None, "inconclusive", band, WARN, s.reason,
                        "widen the grid or the budget (default mode), or check the other failures first", details)]
    ratio = user / s.minimum
    shown = f"suggest {s.lr:.3g} (loss minimum {s.minimum:.3g}; yours {user:g})"
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
