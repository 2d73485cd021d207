"""The learning-rate range's budget: its steps scale with the model's cost, its seeds with a small validation split,
and pruning the copies off every seed's basin leaves the copies that decide the suggestion as they were."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from gaplab.doctor import cost, label_noise, lr_range
from gaplab.doctor.context import BUDGETS, Context
from gaplab.spec import parse_run


def test_multiply_adds_of_linear_and_conv_layers() -> None:
    mlp = nn.Sequential(nn.Flatten(1), nn.Linear(40, 100), nn.ReLU(), nn.Linear(100, 10))
    assert cost.macs_per_example(mlp, torch.zeros(3, 40)) == 40 * 100 + 100 * 10
    # 8 output channels at 8×8 positions, each 1 input channel × 3×3; then 8·64 → 10
    cnn = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(1), nn.Linear(8 * 64, 10))
    assert cost.macs_per_example(cnn, torch.zeros(2, 1, 8, 8)) == 8 * 64 * 9 + 8 * 64 * 10
    assert cnn.training  # the count leaves the model's mode as it found it


def _mlp(width: int) -> nn.Module:
    """40 → width → 10: 50·width multiply-adds per example."""
    return nn.Sequential(nn.Linear(40, width), nn.ReLU(), nn.Linear(width, 10))


def _ctx(n_val: int, macs_model: nn.Module | None = None, mode: str = "default") -> SimpleNamespace:
    x = torch.zeros(4, 40)
    return SimpleNamespace(budget=BUDGETS[mode], prepared=SimpleNamespace(val_idx=torch.arange(n_val)),
                           initial_model=_mlp(1000) if macs_model is None else macs_model,
                           probe_batch=lambda: (x, None))


def test_more_seeds_on_small_validation_splits_within_twice_the_budget() -> None:
    b = BUDGETS["default"]
    assert b.lr_cheap_macs is not None and 50 * 1000 > b.lr_cheap_macs  # the default model is not a cheap one
    assert lr_range.range_seeds(_ctx(1000), b.lr_steps) == b.lr_seeds  # MNIST-1D: 1000 validation rows
    assert lr_range.range_seeds(_ctx(91), 80) == 5  # breast cancer: ⌈400 / 91⌉
    assert lr_range.range_seeds(_ctx(28), 40) == 15  # wine: ⌈400 / 28⌉, within 2·2·150 / 40
    assert lr_range.range_seeds(_ctx(28), 150) == 4  # the cap: twice the budget's trained examples
    assert lr_range.range_seeds(_ctx(5), 1) == lr_range.MAX_SEEDS


def test_cheap_models_train_as_many_seeds_as_cost_the_budgets_seeds_of_a_costlier_one() -> None:
    b = BUDGETS["default"]
    assert b.lr_cheap_macs == 32_000
    assert lr_range.range_seeds(_ctx(1000, _mlp(160)), b.lr_steps) == 8  # 8000 multiply-adds: 2 · 32000 / 8000
    assert lr_range.range_seeds(_ctx(1000, _mlp(32)), b.lr_steps) == lr_range.MAX_SEEDS  # 1600: 40, capped
    assert lr_range.range_seeds(_ctx(1000, _mlp(600)), b.lr_steps) == b.lr_seeds  # 30000: 2
    assert lr_range.range_seeds(_ctx(28, _mlp(400)), 40) == 15  # the small split's count where it is more
    assert lr_range.range_seeds(_ctx(1000, _mlp(32), "quick"), 30) == BUDGETS["quick"].lr_seeds  # not in quick


def test_cheap_models_train_more_of_the_run() -> None:
    b = BUDGETS["default"]
    assert lr_range.range_steps(_ctx(100, _mlp(160))) == b.lr_steps * 4  # 8000 multiply-adds: 32000 / 8000
    assert lr_range.range_steps(_ctx(100, _mlp(20))) == b.lr_cheap_steps  # 1000: 32x, capped
    assert lr_range.range_steps(_ctx(100, _mlp(20), "quick")) == BUDGETS["quick"].lr_steps  # not in quick


def test_fewer_steps_for_costly_models_never_below_the_floor() -> None:
    b = BUDGETS["default"]
    small = _mlp(700)  # 35k multiply-adds: above lr_cheap_macs, below lr_macs
    wide = nn.Sequential(nn.Linear(40, 2400), nn.ReLU(), nn.Linear(2400, 10))  # ≈ 120k
    huge = nn.Sequential(nn.Linear(40, 20000), nn.ReLU(), nn.Linear(20000, 10))  # ≈ 1M
    assert lr_range.range_steps(_ctx(100, small)) == b.lr_steps
    assert lr_range.range_steps(_ctx(100, wide)) == pytest.approx(b.lr_steps * b.lr_macs / 120_000, abs=1)
    assert lr_range.range_steps(_ctx(100, huge)) == b.lr_min_steps


def test_pruned_range_keeps_the_deciding_copies() -> None:
    torch.set_num_threads(1)
    spec = parse_run({"data": {"name": "teacher-mlp", "args": {"n_train": 400, "n_test": 50, "classes": 3}},
                      "model": {"name": "mlp", "args": {"width": 16}}, "optim": {"epochs": 6, "batch_size": 50}})
    pruned = lr_range.first_pass(Context(spec, "default"))
    full = lr_range.first_pass(Context(spec, "default"), prune=False)
    assert pruned.stopped is not None and (pruned.stopped > 0).any() and full.stopped is not None
    assert not (full.stopped > 0).any()
    kept = pruned.stopped == 0
    # the same trainings; a pack of fewer rows may round its batched products differently (≈ 1e-7)
    np.testing.assert_allclose(pruned.losses[kept], full.losses[kept], rtol=1e-5)
    np.testing.assert_allclose(pruned.val_losses[kept], full.val_losses[kept], rtol=1e-5)
    np.testing.assert_allclose(pruned.user_loss, full.user_loss, rtol=1e-5)
    got, want = lr_range.suggest(pruned).lr, lr_range.suggest(full).lr
    assert want is not None and got == pytest.approx(want, rel=1e-5)


def test_costly_models_prune_sooner_and_train_shorter_folds() -> None:
    b = BUDGETS["default"]
    small = nn.Sequential(nn.Linear(40, 256), nn.ReLU(), nn.Linear(256, 10))
    huge = nn.Sequential(nn.Linear(40, 20000), nn.ReLU(), nn.Linear(20000, 10))
    assert lr_range.prune_schedule(_ctx(100, small)) == lr_range.PRUNE
    assert lr_range.prune_schedule(_ctx(100, huge)) == lr_range.PRUNE_COSTLY
    # the costly schedule starts sooner and keeps fewer rates at every point
    assert lr_range.PRUNE_COSTLY[0][0] < lr_range.PRUNE[0][0]
    assert max(m for _, m in lr_range.PRUNE_COSTLY) <= min(m for _, m in lr_range.PRUNE)

    def fold_ctx(model: nn.Module) -> SimpleNamespace:
        ctx = _ctx(100, model)
        ctx.epochs_for = lambda steps: steps  # one step per epoch: the steps themselves
        return ctx

    assert label_noise.fold_epochs(fold_ctx(small)) == b.fold_steps
    assert label_noise.fold_epochs(fold_ctx(huge)) == b.fold_min_steps
