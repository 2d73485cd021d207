"""Learning-rate range: many copies in one pack, each at its own fixed rate on a log grid, over several seeds.

Unlike an LR finder whose rate grows every step (which confounds rate with training time), every copy trains
the same number of steps at one rate; the training loss after that budget is the curve. A rate is suggested
only where the seeds agree on where the minimum lies; otherwise the check says why it is inconclusive. Copies far
from every minimum stop early (``PRUNE``; ``unprune`` trains on any next to the final minimum), and where two halves
of the seeds disagree on the validation minimum, more seeds train near it (``refine``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from gaplab.doctor.context import Context
from gaplab.doctor.cost import model_macs, steps_for_cost
from gaplab.doctor.parallel import Vote, groups_for
from gaplab.doctor.result import FAIL, PASS, WARN, Finding
from gaplab.engine import Pack, RunResult, run_in_threads
from gaplab.spec import RunSpec

FAMILY = "lr"
FLOOR = 1e-4
NEAR = 1.5
# the suggestion steps down from the validation minimum by a part of STEP_DOWN (in log) that grows with how much the
# range overfits there — the full step from GAP_FULL of the untrained loss on — and with how much longer the user's
# run is (``step_down``); GAP_FULL is the least-squares fit through 0 on the MNIST-1D pairs of
# benchmarks/doctor_lr_truth.py (sixth session; see ``suggest``)
GAP_FULL = 0.16
STEP_DOWN = 10.0
# ... the full STEP_DOWN when the user's run is RATIO_FULL times the range (MNIST-1D: 640 steps against 160), none when
# the range is the whole run, log-linear in the ratio, on past RATIO_FULL up to STEP_DOWN ** STEP_MAX (fifth and eighth
# sessions; see ``step_down``)
RATIO_FULL = 4.0
STEP_MAX = 1.5
# with an adaptive optimizer (Adam, AdamW) on a run RATIO_FULL times the range or longer, at least ADAPTIVE_PART of
# that step applies, whatever the gap: its step keeps the size of the rate to the end of the run, so a long run at the
# range's best rate ends higher even where the range does not overfit (ninth session; see ``suggest``)
ADAPTIVE_PART = 0.6
ADAPTIVE = ("adam", "adamw")
# where the range is the whole run (no step down), the suggestion is the LEAN quantile of the basin's weight instead of
# its centre (``basin_quantile``; eighth session, second round)
LEAN = 0.4
# the suggestion starts from the centre of the range's validation basin, the rates whose seed-mean validation loss is
# within BASIN (25 %) of its minimum, weighted by how far below that line each lies (``basin_centre``; eighth session)
BASIN = 0.25
MAX_SEEDS = 16
GRID = {"sgd": (1e-4, 10.0), "adam": (1e-5, 1.0), "adamw": (1e-5, 1.0)}


# Pruning: after each fraction of the range's steps, only the rates within MARGIN grid points of some seed's current
# training- or validation-loss minimum train on; the others (far off every basin) stop where they are. The kept
# copies train as before (to float rounding), so the minimum, its neighbours and each seed's own best are those
# of the full range whenever they lie within the margin of where they were at that step.
PRUNE = ((0.25, 2), (0.5, 2))
# A range shortened for its model's cost (``range_steps`` below ``lr_steps``) prunes sooner and closer, from a tenth
# of its steps on, keeping only the rates next to some seed's minimum: it trains 2 seeds × 11 rates there, and a
# copy's full budget is what the time goes into (seventh session, 32-channel digits CNN: the suggestion unchanged at
# doctor seed 0 for 41 % fewer model-steps; ``unprune`` still finishes any stopped neighbour of the final minimum)
PRUNE_COSTLY = ((0.1, 1), (0.3, 1), (0.6, 1))

# Refinement (``refine``): while the two halves of the seeds put the validation minimum, or the suggestion itself
# (tenth session), more than REFINE_DECADES apart (a third of the default grid's step: the sd bar of
# doctor_lr_truth.py), the range trains as many seeds again, at the rates within REFINE_HALF grid points of the
# seed-mean validation minimum only; at most MAX_SEEDS seeds, and at most ``Budget.lr_refine`` times the first pass's
# copies in all
REFINE_DECADES = 0.15
REFINE_HALF = 2
# A model cheaper than ``Budget.lr_cheap_macs`` refines until it has at least CHEAP_REFINED seeds near its minimum,
# whether or not its halves disagree (``refine_floor``)
CHEAP_REFINED = 8


@dataclass
class LrCurve:
    rates: list[float]
    losses: np.ndarray  # (seeds, rates) final training loss; inf where a copy diverged
    init_loss: float
    user_loss: np.ndarray  # (seeds,) at the user's own rate
    val_losses: np.ndarray  # (seeds, rates) final validation loss (the same evaluation); inf where diverged
    whole_run: bool = False  # the range trained as many steps as the user's run (small data): no step-down
    stopped: np.ndarray | None = None  # (seeds, rates) steps trained where a copy was pruned early, else 0
    steps: int = 0  # optimizer steps of each (unpruned) copy
    # seeds added by ``refine`` are rows after the first pass's (whose ``user_loss`` and ``stopped`` they lack):
    # NaN at the rates they did not train
    refined: int = 0
    run_steps: int = 0  # optimizer steps of the user's run (0: unknown)
    adaptive: bool = False  # the optimizer scales its steps per parameter (``ADAPTIVE``): ``suggest`` steps further

    def extended(self, cols: list[int], losses: np.ndarray, val_losses: np.ndarray) -> LrCurve:
        """This curve with more seeds, trained at grid columns ``cols`` only ((seeds, len(cols)) losses)."""
        def grow(old: np.ndarray, new: np.ndarray) -> np.ndarray:
            rows = np.full((len(new), len(self.rates)), np.nan)
            rows[:, cols] = new
            return np.concatenate([old, rows])

        stopped = None if self.stopped is None else np.concatenate(
            [self.stopped, np.zeros((len(losses), len(self.rates)), dtype=self.stopped.dtype)])
        return LrCurve(self.rates, grow(self.losses, losses), self.init_loss, self.user_loss,
                       grow(self.val_losses, val_losses), self.whole_run, stopped, self.steps,
                       self.refined + len(losses), self.run_steps, self.adaptive)

    def patched(self, cells: list[tuple[int, int]], losses: np.ndarray, val_losses: np.ndarray) -> LrCurve:
        """This curve with the (seed, column) ``cells`` trained to the end: their losses replaced, not stopped."""
        tr, va = self.losses.copy(), self.val_losses.copy()
        stopped = None if self.stopped is None else self.stopped.copy()
        for k, (s, j) in enumerate(cells):
            tr[s, j], va[s, j] = losses[k], val_losses[k]
            if stopped is not None:
                stopped[s, j] = 0
        return dataclasses.replace(self, losses=tr, val_losses=va, stopped=stopped)


def grid(optimizer: str, per_decade: int) -> list[float]:
    lo, hi = GRID[optimizer]
    n = int(round(math.log10(hi / lo) * per_decade)) + 1
    return [float(r) for r in np.logspace(math.log10(lo), math.log10(hi), n)]


def range_steps(ctx: Context) -> int:
    """The range's optimizer steps per copy: ``lr_steps``, fewer for a model whose forward pass costs more than
    ``lr_macs`` multiply-adds per example — the budget scales with the model's cost so that a conv net's range
    costs about an MLP's — but never fewer than ``lr_min_steps`` (a shorter range favours higher rates). A model
    cheaper than ``lr_cheap_macs`` trains more: ``lr_steps`` × ``lr_cheap_macs`` / its multiply-adds, at most
    ``lr_cheap_steps`` (``base_spec`` stops at the user's run).

    Why (tenth session, second round): where the range is the user's whole run its validation losses are what the
    run ends at, and the suggestion needs no step down for the rest of the run — the extrapolation that missed on a
    third of the benchmark's blind long runs. A cheap model's whole run costs seconds."""
    b = ctx.budget
    steps = steps_for_cost(ctx, b.lr_steps, b.lr_min_steps)
    if b.lr_cheap_macs is not None:
        steps = max(steps, min(b.lr_cheap_steps, b.lr_steps * b.lr_cheap_macs // max(model_macs(ctx), 1)))
    return steps


def range_seeds(ctx: Context, steps: int) -> int:
    """Seeds of the range: ``lr_seeds``, more where the validation split is small (each seed draws its own split),
    so the seeds together see about ``lr_val_examples`` validation rows; at most as many as keep the range's
    trained examples (seeds × ``steps``) within twice the budget's (``lr_seeds`` × ``lr_steps``). A model cheaper
    than ``lr_cheap_macs`` multiply-adds per example trains at least as many seeds as cost what ``lr_seeds`` of one
    that costly would (at most ``MAX_SEEDS``).

    Why the cheap models (tenth session): the suggestion's spread from run to run is its seeds' (each its own split
    and initialization); the benchmark's pairs above sd 0.15 were all MLPs of 1-5 thousand multiply-adds on small
    synthetic sets, whose range with 16 seeds costs seconds, and whose spread 16 seeds brought under it."""
    b = ctx.budget
    n_val = len(ctx.prepared.val_idx)
    seeds = b.lr_seeds
    if b.lr_val_examples is not None and n_val > 0:
        cap = min(MAX_SEEDS, max(b.lr_seeds, 2 * b.lr_seeds * b.lr_steps // max(steps, 1)))
        seeds = int(min(cap, max(b.lr_seeds, math.ceil(b.lr_val_examples / n_val))))
    if b.lr_cheap_macs is not None:
        seeds = max(seeds, min(MAX_SEEDS, b.lr_seeds * b.lr_cheap_macs // max(model_macs(ctx), 1)))
    return seeds


def cheap(ctx: Context) -> bool:
    """Whether the model costs fewer than ``Budget.lr_cheap_macs`` multiply-adds per example (never in a budget
    without that threshold)."""
    b = ctx.budget
    return b.lr_cheap_macs is not None and model_macs(ctx) < b.lr_cheap_macs


def base_spec(ctx: Context) -> tuple[RunSpec, int, int]:
    """The spec every copy of the range trains (the user's at a constant rate for the range's epochs), its epochs
    and the steps per epoch."""
    user: RunSpec = ctx.val_spec
    epochs = ctx.epochs_for(range_steps(ctx))
    per_epoch = ctx.steps_per_epoch(len(ctx.prepared.train_idx), user.optim.batch_size)
    base = user.replace(**{"optim.epochs": epochs, "optim.schedule": "constant", "eval_every": epochs,
                           "reg.early_stopping": None})
    return base, epochs, per_epoch


def measure(ctx: Context) -> LrCurve:
    """Train the grid × seeds (plus the user's rate × seeds) as one pack, then ``refine`` it (``ctx.lr_curve``
    calls this once)."""
    return refine(ctx, unprune(ctx, first_pass(ctx)))


def first_pass(ctx: Context, prune: bool = True) -> LrCurve:
    """The range before ``refine``: every grid rate (and the user's) × ``range_seeds`` seeds, pruned (``prune``
    False: every copy trains its whole budget, as an LR finder records its curve)."""
    b = ctx.budget
    user: RunSpec = ctx.val_spec
    rates = grid(user.optim.name, b.lr_rates_per_decade)
    base, epochs, per_epoch = base_spec(ctx)
    seeds = range_seeds(ctx, epochs * per_epoch)
    # the user's rate is trained as a grid column of its own unless it is a grid rate (a round 1e-2, say): that
    # column is the same training, seed for seed
    on_grid = [i for i, r in enumerate(rates) if math.isclose(r, user.optim.lr, rel_tol=1e-9)]
    cols = rates if on_grid else [*rates, user.optim.lr]
    user_col = on_grid[0] if on_grid else len(rates)
    schedule = prune_schedule(ctx) if prune else ()
    # seeds cut into packs trained side by side (one on a single core), which prune together (``parallel.Vote``)
    groups = groups_for(seeds, user.device)
    vote = Vote(len(groups))
    label = f"learning-rate range ({seeds * len(cols)} models)"

    def train(g: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        own = groups[g]
        specs = [base.replace(**{"optim.lr": r, "seed": user.seed + s}) for s in own for r in cols]
        pruner = _Pruner(ctx, len(own), len(cols), len(rates), user_col, per_epoch, epochs * per_epoch, schedule,
                         vote, g)
        try:
            pack, res = ctx.train(label if g == 0 else "", specs, metrics=False, on_step=pruner, compact=True,
                                  alone=len(groups) == 1)
        finally:
            vote.end(g)
        # the curves read each model's training and validation loss on its own split (seeds split the pool apart)
        loss, val = (_final(v, res).reshape(len(own), len(cols)) for v in pruner.losses(pack))
        return loss, val, pruner.stopped_at.reshape(len(own), len(cols))

    parts = run_in_threads([functools.partial(train, g) for g in range(len(groups))])
    loss, val, stopped_all = (np.concatenate([p[i] for p in parts]) for i in range(3))
    stopped = stopped_all[:, :len(rates)]
    return LrCurve(rates, loss[:, :len(rates)], ctx.init_loss, loss[:, user_col], val[:, :len(rates)],
                   whole_run=epochs >= user.optim.epochs, stopped=stopped, steps=epochs * per_epoch,
                   run_steps=user.optim.epochs * per_epoch, adaptive=user.optim.name in ADAPTIVE)


def prune_schedule(ctx: Context) -> tuple[tuple[float, int], ...]:
    """``PRUNE``, or ``PRUNE_COSTLY`` for a model whose range was shortened for its cost."""
    return PRUNE_COSTLY if range_steps(ctx) < ctx.budget.lr_steps else PRUNE


def refine(ctx: Context, c: LrCurve) -> LrCurve:
    """More seeds near the validation minimum while the seeds' halves disagree on it (``refine_window``).

    Why: on a small validation split, or near the rate where training turns unstable, two seeds' curves can put the
    minimum a grid step apart, and the suggestion then wanders between doctor runs. More seeds everywhere would cost
    every run; here only the runs that need them pay, and only at the rates that decide the minimum. Not for a model
    whose range was already shortened for its cost (above ``lr_macs``): there the doctor's time budget is spent."""
    if not refines(ctx):
        return c
    base, _, _ = base_spec(ctx)

    def train(cols: list[int], seeds: range) -> tuple[np.ndarray, np.ndarray]:
        specs = [base.replace(**{"optim.lr": c.rates[j], "seed": ctx.val_spec.seed + s}) for s in seeds for j in cols]
        tr, va = _train_copies(ctx, f"learning-rate range, {len(seeds)} more seeds ({len(specs)} models)", specs)
        return tr.reshape(len(seeds), len(cols)), va.reshape(len(seeds), len(cols))

    return refine_rounds(c, ctx.budget.lr_refine, train, refine_floor(ctx))


def refine_floor(ctx: Context) -> int:
    """Seeds a range refines to near its minimum even where its halves agree: ``CHEAP_REFINED`` for a cheap model
    (``cheap``), else none. Why: with three or four seeds each half is one or two seeds, which can agree by chance on
    a neighbour of the basin (the measurements and the cost: docs/doctor-truth.md, "Eleventh session")."""
    return CHEAP_REFINED if refines(ctx) and cheap(ctx) else 0


def refines(ctx: Context) -> bool:
    """Whether ``refine`` may add seeds: not in a budget without refinement (quick), nor for a model whose range was
    already shortened for its cost."""
    return ctx.budget.lr_refine > 0 and range_steps(ctx) >= ctx.budget.lr_steps


def refine_rounds(c: LrCurve, budget: float, train: Callable[[list[int], range], tuple[np.ndarray, np.ndarray]],
                  floor: int = 0) -> LrCurve:
    """``refine``'s rounds: ``train(cols, seeds)`` gives the (seeds, cols) training and validation losses of the
    seeds (offsets from the user's seed) at grid columns ``cols``; as many seeds again each round, at most
    ``MAX_SEEDS`` and ``budget`` times the first pass's copies, and at least until ``floor`` seeds (``refine_window``;
    a benchmark can replay the rounds from stored trainings)."""
    allowed = budget * len(c.losses) * len(c.rates)  # copies
    used = 0
    while (cols := refine_window(c, floor)) is not None:
        have = len(c.losses)
        add = min(have, MAX_SEEDS - have)
        if add <= 0 or used + add * len(cols) > allowed:
            break
        tr, va = train(cols, range(have, have + add))
        c = c.extended(cols, tr, va)
        used += add * len(cols)
    return c


def pruned_near_minimum(c: LrCurve) -> list[tuple[int, int]]:
    """(seed, column) of the copies stopped early at or next to the seed-mean training-loss minimum, or in the
    validation basin (``basin_span``) or next to it: the copies ``suggest`` reads.

    Pruning keeps the rates within two grid points of where each seed's minimum lay at half the steps; a minimum
    that moved further by the end can have a stopped neighbour, whose higher loss then bends the parabola and the
    seeds' agreement (MNIST-1D at 2000 examples with Adam, teacher-MLP with SGD: the suggestion moved 19–36 %); a
    flat validation basin can reach past the kept rates (eighth session: five pairs' basin centres moved 3–14 %)."""
    if c.stopped is None or not (c.stopped > 0).any():
        return []
    y = _log_mean(c.val_losses, c.init_loss)
    lo, hi = basin_span(y, int(np.nanargmin(y)))
    i = int(np.nanargmin(_log_mean(c.losses, c.init_loss)))
    cols = set(range(max(0, lo - 1), min(len(c.rates), hi + 2))) | set(range(max(0, i - 1), min(len(c.rates), i + 2)))
    return sorted((int(s), j) for j in cols for s in np.flatnonzero(c.stopped[:, j] > 0))


def unprune(ctx: Context, c: LrCurve) -> LrCurve:
    """Train to the end the copies ``pruned_near_minimum`` names (the same seeds and rates as the range's), until
    no minimum has a stopped neighbour: then the rule reads what the unpruned range would have given there."""
    base, _, _ = base_spec(ctx)
    while cells := pruned_near_minimum(c):
        specs = [base.replace(**{"optim.lr": c.rates[j], "seed": ctx.val_spec.seed + s}) for s, j in cells]
        tr, va = _train_copies(ctx, f"learning-rate range, {len(specs)} pruned copies near the minimum", specs)
        c = c.patched(cells, tr, va)
    return c


def _train_copies(ctx: Context, label: str, specs: list[RunSpec]) -> tuple[np.ndarray, np.ndarray]:
    """Each spec's final training and validation loss (inf where diverged), trained as one pack, or as packs side by
    side where torch has more than one thread."""
    groups = groups_for(len(specs), specs[0].device)

    def train(g: int) -> list[np.ndarray]:
        own = [specs[i] for i in groups[g]]
        pack, res = ctx.train(label if g == 0 else "", own, metrics=False, compact=True, alone=len(groups) == 1)
        out = []
        for v in ctx.split_losses(pack, _eval_rows(ctx)):
            full = torch.full((len(own),), math.inf, dtype=v.dtype)
            full[pack.rows] = v
            out.append(_final(full, res))
        return out

    parts = run_in_threads([functools.partial(train, g) for g in range(len(groups))])
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def refine_window(c: LrCurve, floor: int = 0) -> list[int] | None:
    """The grid columns within ``REFINE_HALF`` of the seed-mean validation minimum when the two halves of the seeds
    put their minima, or their suggestions (``suggest``), more than ``REFINE_DECADES`` apart, or while the range has
    fewer than ``floor`` seeds there (None: they agree, or there is no interior minimum that lowered the loss, which
    more seeds would not change).

    Why the suggestions too (tenth session): on long runs the suggestion steps down by the range's overfitting at the
    minimum, and on a small validation split that gap is noisy from seed to seed (two seeds of a moons or teacher
    MLP: gaps 0.02–0.10, steps 1.5–8×) while both seeds put the minimum at the same rate."""
    i = int(np.nanargmin(_log_mean(c.val_losses, c.init_loss)))
    if i in (0, len(c.rates) - 1) or np.nanmean(np.minimum(c.val_losses[:, i], 1e30)) >= 0.9 * c.init_loss:
        return None
    window = list(range(max(0, i - REFINE_HALF), min(len(c.rates), i + REFINE_HALF + 1)))
    if np.count_nonzero(~np.isnan(c.val_losses[:, i])) < floor:  # seeds trained at the minimum
        return window
    logr = np.log10(c.rates)
    apart = [_vertex(logr, y) for y in (_log_mean(g, c.init_loss) for g in _halves(c.val_losses))]
    if abs(apart[0] - apart[1]) <= REFINE_DECADES and not _suggestions_apart(c):
        return None
    return window


def _suggestions_apart(c: LrCurve) -> bool:
    """Whether the two halves of the seeds (``_halves``, the same seeds for both losses) suggest rates more than
    ``REFINE_DECADES`` apart; False where either half makes no suggestion."""
    lrs = [suggest(dataclasses.replace(c, losses=tr, val_losses=va)).lr
           for tr, va in zip(_halves(c.losses), _halves(c.val_losses), strict=True)]
    if lrs[0] is None or lrs[1] is None:
        return False
    return abs(math.log10(lrs[0] / lrs[1])) > REFINE_DECADES


def _halves(losses: np.ndarray) -> list[np.ndarray]:
    """The seeds whose agreement is judged: each alone (two or fewer), else alternate halves. A column that not every
    seed trained (outside ``refine``'s window) reads the same pooled mean in both halves.

    Why (sixth session): after refinement a half's value outside the window is one first-pass seed's, its value
    inside the mean of eight; one seed's lucky low loss far off the minimum then outvoted the window (blobs, Adam:
    "disagree (0.0032, 0.1)" after 16 seeds, and the fallback moved the suggestion 3×)."""
    if len(losses) <= 2:
        return [losses[i:i + 1] for i in range(len(losses))]
    groups = [losses[0::2].copy(), losses[1::2].copy()]
    partial = np.isnan(losses).any(0)
    if partial.any():
        pooled = np.nanmean(np.minimum(losses[:, partial], 1e30), 0)
        for g in groups:
            g[:, partial] = pooled
    return groups


def _log_mean(losses: np.ndarray, init_loss: float) -> np.ndarray:
    """Log of the seed-mean loss per rate (seeds that did not train a rate left out); losses below ``FLOOR`` of the
    untrained loss all count as fitted (and an exact 0 would give log −inf)."""
    return np.log(np.nanmean(np.minimum(losses, 1e30), 0) + FLOOR * init_loss)


def _vertex(logr: np.ndarray, y: np.ndarray, i: int | None = None) -> float:
    """log10 of the rate at the minimum of ``y``, refined by a parabola through it and its neighbours (at most half
    a grid step from the grid point); the grid point itself on the edge or where the three do not open upward."""
    i = int(np.nanargmin(y)) if i is None else i
    if i == 0 or i == len(y) - 1:
        return float(logr[i])
    y0, y1, y2 = y[i - 1], y[i], y[i + 1]
    shift = 0.0
    if np.isfinite([y0, y1, y2]).all() and y0 - 2 * y1 + y2 > 0:
        shift = 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)
    return float(logr[i] + (logr[i + 1] - logr[i]) * float(np.clip(shift, -0.5, 0.5)))


class _Pruner:
    """The range's ``on_step``: at each ``PRUNE`` fraction of the steps, stops the copies off every seed's basin
    (``pack.stop.stopped``; the pack then retires them) and keeps the losses they stopped at. Packs of the range
    trained side by side decide together (``vote``: this is pack ``pack`` of them)."""

    def __init__(self, ctx: Context, seeds: int, cols: int, rates: int, user_col: int, per_epoch: int,
                 total: int, schedule: tuple[tuple[float, int], ...], vote: Vote | None = None, pack: int = 0) -> None:
        self.ctx, self.seeds, self.cols, self.rates, self.user_col = ctx, seeds, cols, rates, user_col
        self.vote, self.pack = vote or Vote(1), pack
        self.per_epoch = per_epoch
        self.at = [(max(1, round(f * total)), m) for f, m in schedule if round(f * total) < total]
        self.point = 0  # prune points passed (the vote's key)
        k = seeds * cols
        self.kept = np.full((2, k), np.nan)  # training and validation loss of each pruned copy
        self.stopped_at = np.zeros(k, dtype=int)

    def losses(self, pack: Pack) -> tuple[torch.Tensor, torch.Tensor]:
        """Every copy's (K,) training and validation loss: the pack's current rows read now, pruned copies as
        they stopped."""
        out = []
        now = [v.cpu().numpy() for v in self.ctx.split_losses(pack, _eval_rows(self.ctx))]
        for j in range(2):
            full = np.full(self.seeds * self.cols, math.inf)
            full[pack.rows] = now[j]
            pruned = self.stopped_at > 0
            full[pruned] = self.kept[j][pruned]
            out.append(torch.from_numpy(full))
        return out[0], out[1]

    def __call__(self, pack: Pack, epoch: int, step: int, _losses: torch.Tensor) -> None:
        done = epoch * self.per_epoch + step + 1
        while self.at and done >= self.at[0][0]:
            self._prune(pack, self.at.pop(0)[1], done)
            self.point += 1

    def _prune(self, pack: Pack, margin: int, done: int) -> None:
        now = [v.numpy() for v in self.losses(pack)]
        keep = np.zeros(self.rates, dtype=bool)
        for curve in now:
            for row in curve.reshape(self.seeds, self.cols)[:, :self.rates]:
                if np.isfinite(row).any():
                    i = int(np.argmin(row))
                    keep[max(0, i - margin):i + margin + 1] = True
        keep = self.vote.agree(self.point, self.pack, keep)  # next to some seed's minimum, in any pack
        keep_cols = np.ones(self.cols, dtype=bool)
        keep_cols[:self.rates] = keep
        keep_cols[self.user_col] = True  # the verdict on the user's rate reads its whole budget
        live = np.zeros_like(keep_cols, shape=self.seeds * self.cols)
        live[pack.rows] = True  # a copy no longer in the pack has diverged (retired): its inf stays
        drop = ~np.tile(keep_cols, self.seeds) & live & (self.stopped_at == 0)
        if not drop.any():
            return
        where = {orig: pos for pos, orig in enumerate(pack.rows)}
        rows = [where[int(i)] for i in np.flatnonzero(drop)]
        for j in range(2):
            self.kept[j][drop] = now[j][drop]
        self.stopped_at[drop] = done
        pack.stop.stopped[torch.tensor(rows)] = True


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
    val_minimum: float | None  # the rate at the seed-mean validation-loss minimum (refined by a parabola)
    gap: float | None  # (validation − training loss) / untrained loss at the validation minimum
    reason: str
    per_seed: list[float]  # each seed's best rate on the curve that decided the suggestion
    best_index: int | None
    lr: float | None  # the rate to train at (see ``suggest``)
    centre: float | None = None  # the rate at the centre of the validation basin (``basin_centre``)
    step: float = 1.0  # the suggestion is ``centre`` / ``step``


def suggest(c: LrCurve) -> Suggestion:
    """The centre of the range's validation basin around its lowest validation loss (``basin_centre``), or below it
    when the range already overfits at the minimum and the user's run is longer: by ``step_down`` raised to gap /
    ``GAP_FULL`` (at most 1), where the gap is validation minus training loss there over the untrained loss.

    Why the basin's centre: the parabola through the minimum and its two neighbours leans up to half a grid step
    toward the lower neighbour, which put flat-basin runs above the grid's best rate; the basin's centre leans the same
    way, less (measured and screened in docs/doctor-truth.md, eighth session). Where the range is the whole run the
    start is lower in the basin, at its ``LEAN`` quantile: there the centre was above the grid's best rate on 8 of the
    11 such pairs of the benchmark (eighth session, second round).

    Why: the doctor is judged by the validation loss at the end of the user's (longer) run. A network that
    overfits within the short range overfits more over the full run at that rate, and more the more it already
    does; a lower rate keeps it short of that. Nor is there more to come when the range already trained the whole
    run (small data). On the four MNIST-1D pairs (runs 4× the range) the step each needed, in decades, is nearly
    proportional to its gap (0.98, 0.79, 0.43, 0.13 of a decade at gaps 0.154, 0.123, 0.075, 0.026): the rule before
    the sixth session stepped the full tenth above a gap of 0.1 and none below, which left the CNN with Adam 3×
    too high. With Adam or AdamW on runs ``RATIO_FULL`` times the range or longer, at least ``ADAPTIVE_PART`` of the
    step applies, gap or not (``adaptive_part``): its step keeps the rate's size to the end, and on the benchmark's
    Adam runs 5–10× the range with gaps under 0.05 the suggestion was 4–36× above the grid's best rate (ninth
    session). The validation curve is the seeds' mean loss (what the user's run is judged by), not their mean log
    loss: one seed's near-zero loss on a few validation rows must not outvote another's large one. Where the
    validation curve is inconclusive (seeds disagree) but the training curve is not, the suggestion is a tenth of
    the training-loss minimum."""
    train = minimum(c.rates, c.losses, c.init_loss)
    val = minimum(c.rates, c.val_losses, c.init_loss, expected=True)
    if val.rate is not None and val.index is not None:
        gap = float(np.nanmean(c.val_losses[:, val.index] - c.losses[:, val.index])) / c.init_loss
        step = step_down(c) ** min(max(gap / GAP_FULL, adaptive_part(c)), 1.0)
        if c.whole_run:
            centre = float(10 ** basin_quantile(c.rates, c.val_losses, c.init_loss, val.index, LEAN))
        else:
            centre = float(10 ** basin_centre(c.rates, c.val_losses, c.init_loss, val.index))
        return Suggestion(train.rate, val.rate, gap, "the seeds agree", val.per_seed, val.index, centre / step,
                          centre, step)
    if train.rate is None:
        return Suggestion(None, None, None, train.reason, train.per_seed, train.index, None)
    return Suggestion(train.rate, None, None, val.reason.replace("inconclusive", "validation loss inconclusive") +
                      "; a tenth of the training-loss minimum", train.per_seed, train.index, train.rate / STEP_DOWN)


def basin_span(y: np.ndarray, i: int, within: float = BASIN) -> tuple[int, int]:
    """The first and last grid index of the stretch around ``i`` where the log loss ``y`` is within ``within`` of
    ``y[i]`` (the basin's grid rates; ``basin_centre`` also reads the rate beyond each end)."""
    line = y[i] + math.log1p(within)
    lo, hi = i, i
    while lo > 0 and y[lo - 1] <= line:
        lo -= 1
    while hi < len(y) - 1 and y[hi + 1] <= line:
        hi += 1
    return lo, hi


def basin_centre(rates: list[float], val_losses: np.ndarray, init_loss: float, i: int, within: float = BASIN
                 ) -> float:
    """log10 of the centre of the validation basin around grid index ``i``: the log rates where the log seed-mean
    validation loss (``_log_mean``, linear between grid rates) is within ``within`` of its value at ``i``, on the
    stretch that holds ``i``, each weighted by how far below that line its loss lies.

    Where one grid rate alone is in the basin, the centre lies between it and where the line crosses each side: a
    third of the way from it toward the gentler side's crossing, where the parabola's vertex (``_vertex``) goes up
    to half a grid step; a flat basin over several rates centres on their middle."""
    px, pw = basin_weight(rates, val_losses, init_loss, i, within)
    if len(px) < 2:
        return float(px[0])
    # the weight is linear on each stretch between those points: its exact integrals there
    dx = np.diff(px)
    mass = (pw[:-1] + pw[1:]) / 2 * dx
    moment = dx * (pw[:-1] * (2 * px[:-1] + px[1:]) + pw[1:] * (px[:-1] + 2 * px[1:])) / 6
    return float(moment.sum() / mass.sum()) if mass.sum() > 0 else float(np.log10(rates[i]))


def basin_quantile(rates: list[float], val_losses: np.ndarray, init_loss: float, i: int, q: float,
                   within: float = BASIN) -> float:
    """log10 of the rate below which lies the fraction ``q`` of the validation basin's weight (``basin_weight``;
    ``q`` = 0.5 is its median, near ``basin_centre``)."""
    px, pw = basin_weight(rates, val_losses, init_loss, i, within)
    dx = np.diff(px)
    mass = (pw[:-1] + pw[1:]) / 2 * dx
    if len(px) < 2 or mass.sum() <= 0:
        return float(np.log10(rates[i]))
    need = q * float(mass.sum())
    for k in range(len(dx)):
        if need <= mass[k] or k == len(dx) - 1:
            # the mass from px[k] to px[k] + t is w0 t + (w1 − w0) t² / (2 dx): solve for t
            w0, slope = float(pw[k]), float((pw[k + 1] - pw[k]) / dx[k]) if dx[k] > 0 else 0.0
            t = need / w0 if abs(slope) < 1e-12 else (-w0 + math.sqrt(max(w0 * w0 + 2 * slope * need, 0.0))) / slope
            return float(px[k] + min(max(t, 0.0), dx[k]))
        need -= float(mass[k])
    return float(px[-1])


def basin_weight(rates: list[float], val_losses: np.ndarray, init_loss: float, i: int, within: float = BASIN
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The validation basin around grid index ``i`` as a weight over log10 rate, linear between the points returned:
    its grid rates, each weighted by how far below the line ``within`` above the loss at ``i`` its log seed-mean
    validation loss lies, and where the line crosses toward the rate beyond each end (weight 0)."""
    x, y = np.log10(rates), _log_mean(val_losses, init_loss)
    line = y[i] + math.log1p(within)
    lo, hi = basin_span(y, i, within)
    xs, ws = [float(v) for v in x[lo:hi + 1]], [float(line - v) for v in y[lo:hi + 1]]
    # where the line crosses toward the rate beyond each end (whose loss is above it), weight 0
    if lo > 0:
        xs.insert(0, float(x[lo] + (line - y[lo]) / (y[lo - 1] - y[lo]) * (x[lo - 1] - x[lo])))
        ws.insert(0, 0.0)
    if hi < len(y) - 1:
        xs.append(float(x[hi] + (line - y[hi]) / (y[hi + 1] - y[hi]) * (x[hi + 1] - x[hi])))
        ws.append(0.0)
    return np.array(xs), np.array(ws)


def adaptive_part(c: LrCurve) -> float:
    """The least part of ``step_down`` (its exponent) that applies whatever the gap: ``ADAPTIVE_PART`` with Adam or
    AdamW on a run at least ``RATIO_FULL`` times the range, else 0.

    Why only there (ninth session, second round): on shorter runs the range has seen a quarter of the run or more
    and its gap already tells; trained, the step there lost three hits (a 1-D ResNet and a digits CNN chaotic in the
    rate, an inner-product regression at 2.9× the range) and gained none."""
    ratio = run_ratio(c)
    return ADAPTIVE_PART if c.adaptive and ratio is not None and ratio >= RATIO_FULL else 0.0


def run_ratio(c: LrCurve) -> float | None:
    """The user's run over the range's optimizer steps: 1 where the range is the whole run, None where a length is
    unknown."""
    if c.whole_run:
        return 1.0
    if c.steps <= 0 or c.run_steps <= 0:
        return None
    return c.run_steps / c.steps


def step_down(c: LrCurve) -> float:
    """How far below the validation minimum to train when the range overfits there by ``GAP_FULL`` or more (less
    overfitting steps a part of it, ``suggest``): the overfitting still to come grows with the part of the user's
    run the range did not train. ``STEP_DOWN`` at ``RATIO_FULL`` times the range's steps, 1 when the range is the
    whole run, log-linear in the ratio between and on past it up to ``STEP_DOWN ** STEP_MAX`` (``STEP_DOWN`` if
    unknown).

    Why (fifth session): the constant tenth was chosen on MNIST-1D, whose run is 4× the range; on blind pairs whose
    runs were 1.5–1.7× the range (teacher-MLP, MNIST-1D at 2000 examples, Adam) it stepped 10× below a validation
    minimum that was itself within 2 % of the grid's best. Past ``RATIO_FULL`` (eighth session, second round): the
    MNIST-1D MLP at batch 32, a run 10× the range, ended 7 % above the grid's best at the capped step."""
    ratio = run_ratio(c)
    if ratio is None:
        return STEP_DOWN
    f = (ratio - 1.0) / (RATIO_FULL - 1.0)
    return float(STEP_DOWN ** min(max(f, 0.0), STEP_MAX))


def minimum(rates: list[float], losses: np.ndarray, init_loss: float, expected: bool = False) -> Minimum:
    """The rate at the minimum of the seed-mean log loss (``expected``: the log of the seed-mean loss), refined by
    a parabola through its neighbours, found only if the seeds agree (see below) and it is not on the grid edge.

    With more than two seeds the agreement is judged between two halves of them (alternate seeds, each half's
    mean curve as one seed): any single seed of many wanders on a small validation split, their mean less so."""
    logr = np.log10(rates)

    def curve(rows: np.ndarray) -> np.ndarray:
        if expected:
            return _log_mean(rows, init_loss)
        return np.nanmean(np.log(np.minimum(rows, 1e30) + FLOOR * init_loss), 0)

    logl = np.stack([curve(g) for g in _halves(losses)])
    per_seed = [float(rates[int(np.nanargmin(row))]) for row in logl]
    if not np.isfinite(losses).any():
        return Minimum(None, "inconclusive: every rate diverged", per_seed, None)
    mean = curve(losses)
    i = int(np.argmin(mean))
    if np.nanmean(np.minimum(losses[:, i], 1e30)) >= 0.9 * init_loss:
        return Minimum(None, "inconclusive: no rate lowered the loss within the budget", per_seed, i)
    if i == 0 or i == len(rates) - 1:
        side = "lowest" if i == 0 else "highest"
        return Minimum(None, f"inconclusive: the best rate is the {side} of the grid", per_seed, i)
    # the seeds agree when each one's own best rate is a neighbour of the consensus, or when the consensus rate is
    # within a factor NEAR of each seed's own best loss (a flat basin, where the argmin itself is noise)
    spread = [abs(int(np.nanargmin(row)) - i) for row in logl]
    near = all(row[i] <= np.nanmin(row) + np.log(NEAR) for row in logl)
    if max(spread) > 1 and not near:
        return Minimum(None, "inconclusive: the seeds disagree on the best rate (" +
                       ", ".join(f"{r:.2g}" for r in per_seed) + ")", per_seed, i)
    return Minimum(float(10 ** _vertex(logr, mean, i)), "the seeds agree", per_seed, i)


def run(ctx: Context) -> list[Finding]:
    c = ctx.lr_curve
    s = suggest(c)
    user = ctx.val_spec.optim.lr
    u = float(np.mean(c.user_loss)) if np.isfinite(c.user_loss).all() else math.inf
    best = float(np.min(np.nanmean(c.losses, 0)))
    # how much of the possible improvement (from the untrained loss to the best rate's) the user's rate misses
    excess = (u - best) / max(c.init_loss - best, 1e-12) if math.isfinite(u) else math.inf
    details = {"rates": c.rates, "loss_mean": _mean(c.losses), "loss_per_seed": c.losses.tolist(),
               "refined_seeds": c.refined,
               "per_seed_best": s.per_seed, "user_loss": u, "best_loss": best, "excess": excess,
               "init_loss": c.init_loss, "steps": c.steps, "val_loss_mean": _mean(c.val_losses),
               "seeds": len(c.losses), "stopped_at": None if c.stopped is None else c.stopped.tolist(),
               "loss_minimum_rate": s.minimum, "val_minimum_rate": s.val_minimum, "val_centre_rate": s.centre,
               "gap": s.gap, "rule": s.reason}
    ctx.found.suggested_lr = s.lr
    band = ("centre of the validation-loss basin (its lower part where the range is your whole run; lower, to a "
            "thirtieth at most, the more the range overfits there and the longer your run, and with Adam on runs 4× "
            "the range or longer even where it does not); "
            "yours within 10× of the training-loss minimum and ≤ 20 % of the possible gain lost")
    ref = s.minimum if s.minimum is not None else s.val_minimum  # the validation minimum where training fits anywhere
    if ref is None or s.lr is None:
        # no suggestion, so no verdict on the user's rate either: an inconclusive range is a warning, never a failure
        return [Finding(FAMILY, "learning rate", None, "inconclusive", band, WARN, s.reason,
                        "widen the grid or the budget (default mode), or check the other failures first", details)]
    ratio = user / ref
    which = "training" if s.minimum is not None else "validation"
    shown = f"suggest {s.lr:.3g} ({which}-loss minimum {ref:.3g}; yours {user:g})"
    if excess < 0.2 or (0.1 <= ratio <= 10 and excess < 0.5):
        return [Finding(FAMILY, "learning rate", s.lr, shown, band, PASS, details=details)]
    too = _direction(user, ref)
    verdict = FAIL if excess >= 0.5 and not 0.1 <= ratio <= 10 else WARN
    cause = (f"learning rate {too}: yours ({user:g}) ends at loss {u:.3g} against {best:.3g} at the best rate "
             f"({excess:.0%} of the possible gain lost)")
    return [Finding(FAMILY, "learning rate", s.lr, shown, band, verdict, cause, f"train at about {s.lr:.2g}", details)]


def _direction(user: float, ref: float) -> str:
    return "too high" if user > ref else "too low"


def _mean(losses: np.ndarray) -> list[float]:
    """Seed-mean loss per rate (inf where any seed diverged; seeds that did not train a rate left out)."""
    return [float(v) for v in np.nanmean(losses, 0)]
