"""The learning-rate range's refinement (``lr_range.refine``): more seeds near the validation minimum, only where
the seeds' halves disagree on it, within its budget."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gaplab.doctor import lr_range
from gaplab.doctor.context import BUDGETS, Context
from gaplab.doctor.lr_range import REFINE_HALF, LrCurve, grid, refine, refine_window, suggest
from gaplab.spec import parse_run

RATES = grid("adam", 2)  # 1e-5 … 1, 11 rates, a grid step of half a decade
LOGR = np.log10(RATES)
INIT = 2.3


def bowl(center: float, depth: float = 1.5, width: float = 1.0) -> np.ndarray:
    return INIT - depth * np.exp(-((LOGR - center) / width) ** 2)


def curve(*centers: float) -> LrCurve:
    """One seed per centre: training and validation loss lowest there."""
    val = np.stack([bowl(c) for c in centers])
    return LrCurve(RATES, val - 0.05, INIT, np.full(len(centers), INIT), val)


def test_no_refinement_where_the_seeds_agree_or_the_minimum_is_on_the_edge() -> None:
    assert refine_window(curve(-2.0, -2.05)) is None
    assert refine_window(curve(0.5, 0.6)) is None  # both beyond the grid's top rate: more seeds change nothing
    flat = LrCurve(RATES, np.full((2, len(RATES)), INIT), INIT, np.full(2, INIT), np.full((2, len(RATES)), INIT))
    assert refine_window(flat) is None  # no rate lowered the loss


def test_window_around_the_seed_mean_minimum_where_the_halves_disagree() -> None:
    c = curve(-2.0, -1.5)  # a grid step apart
    i = int(np.argmin(np.abs(LOGR + 2.0)))
    cols = refine_window(c)
    assert cols is not None and len(cols) == 2 * REFINE_HALF + 1
    assert min(cols) <= i <= max(cols) and cols == list(range(cols[0], cols[-1] + 1))


def test_window_where_the_halves_agree_on_the_minimum_but_not_on_the_suggestion() -> None:
    # a run 4x the range: each seed's suggestion steps down by its own gap at the minimum; one seed's validation
    # loss is its training loss (no step), the other's GAP_FULL of the untrained loss above it (the full tenth)
    c = curve(-2.0, -2.0)
    c.steps, c.run_steps = 100, 400
    c.losses = c.val_losses.copy()
    c.val_losses[1] += lr_range.GAP_FULL * INIT
    halves = [suggest(LrCurve(RATES, c.losses[i:i + 1], INIT, c.user_loss[:1], c.val_losses[i:i + 1], steps=100,
                              run_steps=400)).lr for i in range(2)]
    assert halves[0] is not None and halves[1] is not None
    assert np.log10(halves[0] / halves[1]) == pytest.approx(1.0, abs=0.05)  # a decade apart
    cols = refine_window(c)
    assert cols is not None and len(cols) == 2 * REFINE_HALF + 1
    c.val_losses[1] = c.losses[1]  # the same gap: they agree again
    assert refine_window(c) is None


def test_added_seeds_decide_at_their_rates() -> None:
    c = curve(-2.0, -1.5)
    cols = refine_window(c)
    assert cols is not None
    more = np.stack([bowl(-2.0), bowl(-2.0)])[:, cols]
    r = c.extended(cols, more - 0.05, more)
    assert r.refined == 2 and r.losses.shape == (4, len(RATES))
    assert np.isnan(r.val_losses[2:, [j for j in range(len(RATES)) if j not in cols]]).all()
    # three of four seeds put the minimum at 1e-2: the suggestion moves there from between the two
    before, after = suggest(c).lr, suggest(r).lr
    assert before is not None and after is not None
    assert abs(np.log10(after) + 2.0) < abs(np.log10(before) + 2.0) and abs(np.log10(after) + 2.0) < 0.1


def test_a_floor_of_seeds_refines_where_the_halves_agree() -> None:
    # two seeds agree on the minimum: no refinement, unless the range must have more seeds near it (a cheap model)
    c = curve(-2.0, -2.05)
    assert refine_window(c) is None
    cols = refine_window(c, floor=lr_range.CHEAP_REFINED)
    assert cols is not None and len(cols) == 2 * REFINE_HALF + 1
    asked: list[int] = []

    def train(cols: list[int], seeds: range) -> tuple[np.ndarray, np.ndarray]:
        asked.append(len(seeds))
        more = np.stack([bowl(-2.0) for _ in seeds])[:, cols]
        return more - 0.05, more

    r = lr_range.refine_rounds(c, BUDGETS["default"].lr_refine, train, floor=lr_range.CHEAP_REFINED)
    assert asked == [2, 4]  # as many seeds again each round, until the floor; then the agreeing halves stop it
    assert len(r.losses) == lr_range.CHEAP_REFINED and refine_window(r, floor=lr_range.CHEAP_REFINED) is None


def test_the_floor_is_for_cheap_models_in_the_default_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _tiny().spec
    assert lr_range.refine_floor(Context(spec, "default")) == lr_range.CHEAP_REFINED
    assert lr_range.refine_floor(Context(spec, "quick")) == 0  # quick neither refines nor knows cheap models
    monkeypatch.setattr(lr_range, "model_macs", lambda ctx: ctx.budget.lr_cheap_macs)
    assert lr_range.refine_floor(Context(spec, "default")) == 0


def _tiny() -> Context:
    spec = parse_run({"data": {"name": "teacher-mlp", "args": {"n_train": 400, "n_test": 50, "classes": 3}},
                      "model": {"name": "mlp", "args": {"width": 16}},
                      "optim": {"name": "adam", "epochs": 6, "batch_size": 50}})
    return Context(spec, "default")


def test_refine_trains_the_next_seeds_at_the_window_within_its_budget() -> None:
    torch.set_num_threads(1)
    ctx = _tiny()
    c = curve(-2.0, -1.5)  # a first pass whose two seeds disagree: the doctor must train more
    r = refine(ctx, c)
    assert r.refined >= 2 and len(r.losses) <= lr_range.MAX_SEEDS
    trained = ~np.isnan(r.val_losses[2:])
    assert trained.sum() <= BUDGETS["default"].lr_refine * c.losses.size  # copies within the budget
    assert (trained.sum(1) == 2 * REFINE_HALF + 1).all() and np.isfinite(r.val_losses[2:][trained]).all()
    # the added seeds are the range's next ones: the first equals training seed 2 alone at its first column
    j = int(np.flatnonzero(trained[0])[0])
    base, _, _ = lr_range.base_spec(ctx)
    _, res = ctx.train("one", [base.replace(**{"optim.lr": RATES[j], "seed": ctx.val_spec.seed + 2})])
    assert r.val_losses[2, j] == pytest.approx(res[0].final["val_loss"], rel=1e-4)


def test_no_refinement_in_quick_mode_or_for_a_model_cut_for_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    c = curve(-2.0, -1.5)
    spec = _tiny().spec
    assert refine(Context(spec, "quick"), c) is c
    monkeypatch.setattr(lr_range, "range_steps", lambda ctx: ctx.budget.lr_min_steps)
    assert refine(Context(spec, "default"), c) is c


def test_pruned_copies_next_to_the_minimum_are_named() -> None:
    c = curve(-2.0, -2.0)
    i = int(np.argmin(np.abs(LOGR + 2.0)))
    c.stopped = np.zeros((2, len(RATES)), dtype=int)
    c.stopped[:, [0, 1, len(RATES) - 1]] = 40  # far from the minimum: as the range leaves them
    assert lr_range.pruned_near_minimum(c) == []
    c.stopped[1, i - 1] = 40
    assert lr_range.pruned_near_minimum(c) == [(1, i - 1)]


def test_pruned_copies_in_a_flat_validation_basin_and_beyond_its_ends_are_named() -> None:
    # the validation loss within BASIN of its minimum over three rates: the basin's centre reads them and the rate
    # beyond each end, so a copy stopped two grid points from the minimum is named; three points off it is not
    c = curve(-2.0, -2.0)
    i = int(np.argmin(np.abs(LOGR + 2.0)))
    c.val_losses[:, i - 1:i + 2] = c.val_losses[:, i].min()
    c.stopped = np.zeros((2, len(RATES)), dtype=int)
    c.stopped[0, i - 3] = c.stopped[1, i + 2] = 40
    assert lr_range.pruned_near_minimum(c) == [(1, i + 2)]


def test_unprune_trains_the_named_copy_as_the_range_would_have() -> None:
    torch.set_num_threads(1)
    ctx = _tiny()
    full = lr_range.first_pass(ctx, prune=False)  # every copy trained to the end; then one by the minimum "stopped"
    i = int(np.nanargmin(lr_range._log_mean(full.val_losses, full.init_loss)))
    assert full.stopped is not None
    c = full.patched([], np.zeros(0), np.zeros(0))
    c.stopped = full.stopped.copy()
    c.stopped[0, i + 1] = 1
    c.losses[0, i + 1] = c.val_losses[0, i + 1] = 99.0
    u = lr_range.unprune(ctx, c)
    assert u.stopped is not None and u.stopped[0, i + 1] == 0 and lr_range.pruned_near_minimum(u) == []
    assert u.val_losses[0, i + 1] == pytest.approx(full.val_losses[0, i + 1], rel=1e-4)
    assert u.losses[0, i + 1] == pytest.approx(full.losses[0, i + 1], rel=1e-4)
