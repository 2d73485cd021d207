"""The learning-rate rule (``lr_range.suggest``) on synthetic range curves: which minimum, the basin's centre, when it
steps down."""

from __future__ import annotations

import numpy as np
import pytest

from gaplab.doctor.lr_range import (
    ADAPTIVE_PART,
    BASIN,
    FLOOR,
    GAP_FULL,
    LEAN,
    RATIO_FULL,
    STEP_DOWN,
    STEP_MAX,
    LrCurve,
    basin_centre,
    basin_quantile,
    basin_weight,
    grid,
    step_down,
    suggest,
)

RATES = grid("adam", 2)  # 1e-5 … 1, 11 rates
LOGR = np.log10(RATES)
INIT = 2.3


def bowl(center: float, depth: float = 1.5, width: float = 1.0) -> np.ndarray:
    """A loss curve over RATES, lowest (INIT − depth) at log10 rate ``center``, symmetric in log rate."""
    return INIT - depth * np.exp(-((LOGR - center) / width) ** 2)


def curve(train: np.ndarray, val: np.ndarray, seeds: int = 2) -> LrCurve:
    return LrCurve(RATES, np.tile(train, (seeds, 1)), INIT, np.full(seeds, INIT), np.tile(val, (seeds, 1)))


def test_validation_minimum_when_the_range_does_not_overfit() -> None:
    # training loss lowest at 1e-1.5, validation at 1e-2.5 (a grid point), below training there: no step down
    s = suggest(curve(bowl(-1.5), bowl(-2.5) + 0.05))
    assert s.minimum == pytest.approx(10 ** -1.5, rel=0.05)
    assert s.val_minimum == pytest.approx(10 ** -2.5, rel=0.05)
    assert s.gap is not None and s.gap <= 0
    assert s.centre == pytest.approx(10 ** -2.5) and s.lr == s.centre  # a symmetric basin: its centre is the minimum


def test_a_tenth_of_the_validation_minimum_when_the_range_overfits_there() -> None:
    # validation loss above training loss by half the untrained loss at its minimum: the full run would overfit more
    train = bowl(-2.0, depth=2.0)
    s = suggest(curve(train, bowl(-2.0, depth=2.0) + 0.5 * INIT))
    assert s.gap == pytest.approx(0.5, abs=0.01)
    assert s.centre is not None and s.lr == pytest.approx(s.centre / STEP_DOWN)
    assert s.lr == pytest.approx(1e-3, rel=0.05)


@pytest.mark.parametrize("part", [0.25, 0.5, 1.0, 2.0])
def test_the_step_grows_with_the_gap_up_to_the_full_step(part: float) -> None:
    # validation above training by ``part`` of GAP_FULL (of the untrained loss) at its minimum, a run 4x the range:
    # that part of the full tenth, in log; from GAP_FULL on the full tenth
    train = bowl(-2.0, depth=2.0)
    c = curve(train, train + part * GAP_FULL * INIT)
    c.steps, c.run_steps = 160, 640
    s = suggest(c)
    assert s.gap == pytest.approx(part * GAP_FULL)
    assert s.centre is not None and s.lr == pytest.approx(s.centre / STEP_DOWN ** min(part, 1.0))


@pytest.mark.parametrize(("part", "run_steps"), [(0.0, 800), (0.3, 640), (0.9, 800), (0.0, 480), (0.0, 160)])
def test_adam_steps_down_part_of_the_way_on_long_runs_even_where_the_range_does_not_overfit(part: float,
                                                                                           run_steps: int) -> None:
    # the same range as the test above, trained with Adam (``adaptive``): on a run RATIO_FULL (4) times the range or
    # longer at least ADAPTIVE_PART of the step, in log, whatever the gap; more where the gap asks for more; on a
    # shorter run only what the gap asks for
    train = bowl(-2.0, depth=2.0)
    c = curve(train, train + part * GAP_FULL * INIT)
    c.steps, c.run_steps = 160, run_steps
    sgd, c.adaptive = suggest(c), True
    adam = suggest(c)
    long_run = run_steps >= RATIO_FULL * 160
    assert sgd.centre == adam.centre and sgd.lr == pytest.approx(sgd.centre / step_down(c) ** part)
    assert adam.lr == pytest.approx(adam.centre / step_down(c) ** max(part, ADAPTIVE_PART if long_run else 0.0))
    assert (adam.lr < sgd.lr) == (part < ADAPTIVE_PART and long_run)


def test_parabola_refines_between_grid_points() -> None:
    # the validation minimum halfway between two grid points lands between them, not on either
    s = suggest(curve(bowl(-2.0), bowl(-2.25, width=0.8) + 0.01))
    assert s.lr is not None and 10 ** -2.5 < s.lr < 10 ** -2.0
    assert s.lr == pytest.approx(10 ** -2.25, rel=0.15)


def test_one_rate_in_the_basin_centres_a_third_of_the_way_to_the_gentler_crossing() -> None:
    # the validation minimum at 1e-2 with a steep lower neighbour and a gentle upper one: the parabola's vertex leans
    # toward the upper one; the basin (within BASIN of the minimum, linear between rates) is a triangle from where
    # the line crosses below to where it crosses above, and its weighted centre is the triangle's centroid
    val = np.full(len(RATES), 2.0)
    i = int(np.flatnonzero(np.isclose(LOGR, -2.0))[0])
    val[i - 1], val[i], val[i + 1] = 1.0, 0.2, 0.4
    s = suggest(curve(val + 0.05, val))  # validation below training: no step
    y = np.log(val + FLOOR * INIT)
    rise = np.log1p(BASIN)
    lo = -rise / (y[i - 1] - y[i]) * 0.5  # log10 rates from the minimum, half a decade between grid rates
    hi = rise / (y[i + 1] - y[i]) * 0.5
    assert s.lr == s.centre == pytest.approx(10 ** (-2.0 + (lo + hi) / 3))
    assert s.val_minimum is not None and 1e-2 < s.lr < s.val_minimum


def test_a_flat_bottomed_basin_centres_on_its_middle() -> None:
    # three neighbouring rates equally low: the centre is the middle one, not the first (the argmin), nor the
    # parabola's vertex half a grid step above the first
    val = np.full(len(RATES), 2.0)
    i = int(np.flatnonzero(np.isclose(LOGR, -3.0))[0])
    val[i - 1:i + 4] = 1.0, 0.2, 0.2, 0.2, 1.0
    s = suggest(curve(val + 0.05, val))
    assert s.val_minimum == pytest.approx(10 ** -2.75)
    assert s.lr == pytest.approx(10 ** -2.5)


def test_inconclusive_validation_falls_back_to_a_tenth_of_the_training_minimum() -> None:
    # the two seeds' validation minima lie three decades apart and neither basin is flat: no agreement
    train = np.tile(bowl(-2.0), (2, 1))
    val = np.stack([bowl(-0.5, depth=2.0, width=0.3), bowl(-4.5, depth=2.0, width=0.3)])
    s = suggest(LrCurve(RATES, train, INIT, np.full(2, INIT), val))
    assert s.val_minimum is None and s.minimum is not None
    assert s.lr == pytest.approx(s.minimum / STEP_DOWN)
    assert "validation loss inconclusive" in s.reason


def test_no_suggestion_when_both_minima_are_on_the_grid_edge() -> None:
    falling = INIT - np.linspace(0.1, 2.0, len(RATES))
    s = suggest(curve(falling, falling + 0.05))
    assert s.lr is None and s.minimum is None and "highest of the grid" in s.reason


def test_the_validation_minimum_stands_where_training_fits_best_at_the_top_rate() -> None:
    # small data: the training loss keeps falling to the grid's edge, the validation loss has a clear minimum
    s = suggest(curve(INIT - np.linspace(0.1, 2.0, len(RATES)), bowl(-2.0)))
    assert s.minimum is None and s.lr == pytest.approx(1e-2, rel=0.05)


def test_no_step_down_when_the_range_trained_the_whole_run() -> None:
    # the same overfitting range as above, but no longer run is to come: no step, the basin's LEAN quantile, below its
    # centre (a symmetric basin: by as much as its weight's shape puts there)
    train = bowl(-2.0, depth=2.0)
    c = curve(train, train + 0.5 * INIT)
    c.whole_run = True
    s = suggest(c)
    assert s.gap is not None and s.gap > GAP_FULL and s.lr == s.centre and s.step == 1.0
    assert s.lr == pytest.approx(10 ** basin_quantile(RATES, c.val_losses, INIT, 6, LEAN))
    assert s.lr < 10 ** basin_centre(RATES, c.val_losses, INIT, 6) == pytest.approx(1e-2)


@pytest.mark.parametrize("q", [0.1, 0.4, 0.5, 0.9])
def test_the_basin_quantile_splits_its_weight(q: float) -> None:
    # an asymmetric basin over several grid rates: the weight below the quantile, integrated finely, is q of the whole;
    # the median of a symmetric basin is its centre
    val = np.tile(bowl(-2.0, width=1.5) + 0.3 * np.clip(LOGR + 2.0, 0, None), (2, 1))
    px, pw = basin_weight(RATES, val, INIT, 6)
    x = basin_quantile(RATES, val, INIT, 6, q)
    fine = np.linspace(px[0], px[-1], 200001)
    w = np.interp(fine, px, pw)
    assert w[fine <= x].sum() / w.sum() == pytest.approx(q, abs=1e-3)
    sym = np.tile(bowl(-2.0, width=1.5), (2, 1))
    assert basin_quantile(RATES, sym, INIT, 6, 0.5) == pytest.approx(basin_centre(RATES, sym, INIT, 6), abs=1e-9)


def test_many_seeds_agree_through_their_halves_and_the_mean_loss() -> None:
    # 8 seeds of a small validation split: one seed's loss is near 0 at 1e-1 (it fits its few rows), another's
    # best wanders two decades away; the seeds' mean loss still has its minimum at 1e-2, and so do both halves
    rng = np.random.default_rng(0)
    val = np.tile(bowl(-2.0), (8, 1)) * rng.uniform(0.9, 1.1, (8, len(RATES)))
    val[3, LOGR == -1.0] = 1e-9
    val[6] = bowl(-4.0)
    s = suggest(LrCurve(RATES, np.tile(bowl(-1.5), (8, 1)), INIT, np.full(8, INIT), val))
    assert s.val_minimum is not None and abs(np.log10(s.val_minimum) + 2.0) < 0.25
    assert s.lr is not None and abs(np.log10(s.lr) + 2.0) < 0.25
    assert s.lr == s.centre  # validation below training here: no step down


def test_diverged_copies_count_as_infinitely_bad() -> None:
    train, val = bowl(-2.0), bowl(-2.0) + 0.05
    train[-3:] = val[-3:] = np.inf
    s = suggest(curve(train, val))
    assert s.val_minimum == pytest.approx(1e-2, rel=0.05)


@pytest.mark.parametrize(("run_steps", "factor"), [(160, 1.0), (400, 10 ** 0.5), (640, STEP_DOWN),
                                                   (800, STEP_DOWN ** (4 / 3)), (880, STEP_DOWN ** 1.5),
                                                   (6400, STEP_DOWN ** 1.5), (0, STEP_DOWN)])
def test_the_step_down_grows_with_the_run_the_range_did_not_train(run_steps: int, factor: float) -> None:
    # a range of 160 steps: a run of the same length gets none, RATIO_FULL (4) times as long the full tenth, 2.5 times
    # half of it in log, on past it to STEP_MAX (1.5) times it in log at 5.5 times; an unknown run length the full tenth
    assert RATIO_FULL == 4.0 and STEP_MAX == 1.5
    train = bowl(-2.0, depth=2.0)
    c = curve(train, train + 0.5 * INIT)
    c.steps, c.run_steps = 160, run_steps
    assert step_down(c) == pytest.approx(factor)
    s = suggest(c)
    assert s.gap is not None and s.gap > GAP_FULL and s.centre is not None
    assert s.lr == pytest.approx(s.centre / factor)


def test_refined_seeds_are_not_outvoted_by_one_first_pass_seed_off_the_window() -> None:
    # 2 first-pass seeds at every rate, 14 refined seeds at the five rates around 1e-2 only; the second first-pass
    # seed is lucky at 10^-0.5 (outside the window). Its half must not read that one value against eight seeds' mean
    # (the sixth session's blobs case: "disagree", then a fallback 3x lower)
    rng = np.random.default_rng(1)
    val = np.tile(bowl(-2.0, depth=2.2), (16, 1)) * rng.uniform(0.9, 1.1, (16, len(RATES)))
    window = np.abs(LOGR + 2.0) <= 1.0
    val[2:, ~window] = np.nan
    val[1, LOGR == -0.5] = 0.5 * np.nanmin(val[1::2][:, window].mean(0))
    s = suggest(LrCurve(RATES, np.tile(bowl(-1.5), (16, 1)), INIT, np.full(2, INIT), val, refined=14))
    assert s.val_minimum is not None and abs(np.log10(s.val_minimum) + 2.0) < 0.25
    assert "inconclusive" not in s.reason
