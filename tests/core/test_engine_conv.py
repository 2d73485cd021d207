"""The conv path (engine.conv) gives the general vmap path's numbers, regularizer by regularizer.

As tests/core/test_engine_fused.py: each case trains a pack of three ``cnn1d`` or ``cnn2d`` models whose per-model
settings differ, once per path, and compares every per-epoch metric and the final weights to 1e-5.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from exact_tools import assert_same_results, three

from gaplab.engine.conv import convs
from gaplab.engine.datacache import prepared_for
from gaplab.engine.pack import Pack, train_pack
from gaplab.spec import RunSpec, parse_run


def _base(**over) -> RunSpec:
    s = parse_run({"data": {"name": "mnist1d", "args": {"num_samples": 500}},
                   "model": {"name": "cnn1d", "args": {"channels": 6}},
                   "optim": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "epochs": 2, "batch_size": 50}})
    return s.replace(**over) if over else s


CASES: dict[str, list[RunSpec]] = {
    "sgd-lr": three(_base(), "optim.lr", [0.01, 0.05, 0.2]),
    # Adam divides each step by √v: a near-zero gradient's rounding (≈1e-3 relative, the two paths sum in different
    # orders) becomes an lr-sized step; eps 1e-6 keeps the comparison about the paths, not about that
    "adamw-decay": three(_base(**{"optim.name": "adamw", "optim.momentum": 0.0, "optim.lr": 3e-3,
                                   "optim.eps": 1e-6}), "reg.weight_decay", [0.0, 0.05, 0.5]),
    "l2": three(_base(), "reg.l2", [0.0, 1.0, 10.0]),
    "l1": three(_base(), "reg.l1", [0.0, 1.0, 10.0]),
    "dropout": three(_base(), "reg.dropout", [0.0, 0.2, 0.5]),
    "smoothing": three(_base(), "reg.label_smoothing", [0.0, 0.1, 0.3]),
    "mixup": three(_base(), "reg.mixup", [0.1, 0.4, 1.0]),
    "shift-augment": three(_base(**{"reg.augment": [{"name": "shift", "amount": 3}]}), "reg.input_noise",
                            [0.0, 0.1, 0.5]),
    "subsets-label-noise": [s.replace(**{"data.train_size": 200 + 40 * i, "data.label_noise": 0.1 * i})
                            for i, s in enumerate(three(_base(), None, [0, 0, 0]))],
    "early-stopping": three(_base(**{"data.val_fraction": 0.2, "optim.epochs": 5, "optim.lr": 0.3,
                                      "reg.early_stopping": {"patience": 1}}),
                             "reg.early_stopping.patience", [1, 2, 3]),
    "divergence-clip": three(_base(), "optim.lr", [0.05, 1e6, 0.1])[:2]
    + three(_base(**{"reg.grad_clip": 0.1}), None, [0, 0, 0])[2:],
    "padded-channels": three(_base(**{"reg.dropout": 0.2, "reg.l1": 0.5}), "model.args.channels", [2, 5, 9]),
    "cnn2d-avg-dropout": three(_base(**{"data": {"name": "digits", "train_size": 300},
                                         "model": {"name": "cnn2d", "args": {"channels": 6}}}),
                                "reg.dropout", [0.0, 0.2, 0.5]),
    "cnn2d-flatten-l1-padded": three(_base(**{"data": {"name": "digits", "train_size": 300}, "reg.l1": 0.5,
                                               "model": {"name": "cnn2d", "args": {"pool": "flatten"}}}),
                                      "model.args.channels", [3, 5, 7]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_conv_path_equals_vmap_path(case: str) -> None:
    specs = CASES[case]
    assert Pack(specs).path == "conv"  # the engine picks the conv path for this model by itself
    fast = train_pack(specs, keep_state=True, path="conv")
    general = train_pack(specs, keep_state=True, path="vmap")
    assert_same_results(case, fast, general)
    if case == "divergence-clip":
        assert [r.status for r in fast] == ["done", "diverged", "done"]


@pytest.mark.parametrize("pool", ["avg", "flatten"])
def test_max_pooled_cnn2d_equals_vmap(pool: str) -> None:
    """cnn2d max-pools inputs of 16 px and more: digits upsampled to 16×16 take both pools."""
    base = _base(**{"data": {"name": "digits", "train_size": 200}, "optim.epochs": 2, "reg.dropout": 0.3,
                    "model": {"name": "cnn2d", "args": {"channels": 4, "pool": pool}}})
    specs = three(base, "reg.l2", [0.0, 1.0, 5.0])
    d = prepared_for(base).dataset

    def up(x: torch.Tensor) -> torch.Tensor:
        return x.repeat_interleave(2, -1).repeat_interleave(2, -2)

    ds = dataclasses.replace(d, x_train=up(d.x_train), x_test=up(d.x_test))
    fast, general = Pack(specs, dataset=ds), Pack(specs, dataset=ds, path="vmap")
    assert fast.path == "conv"
    fast.fit()
    general.fit()
    for i in range(3):
        for hf, hg in zip(fast.results[i].history, general.results[i].history, strict=True):
            for k in ("train_loss", "test_loss", "test_acc"):
                assert hf[k] == pytest.approx(hg[k], abs=1e-5)
        sf, sg = fast.state_of(i), general.state_of(i)
        assert all(torch.allclose(sf[n], sg[n], atol=1e-5) for n in sg)


def test_planning_guess_agrees_and_other_models_are_refused() -> None:
    for specs in CASES.values():
        assert convs(specs[0]) == (Pack(specs[:1]).path == "conv")
    mlp = _base(**{"model": {"name": "mlp", "args": {"width": 8}}})
    assert not convs(mlp) and Pack([mlp]).path == "fused"
    with pytest.raises(ValueError, match="no conv path"):
        Pack([mlp], path="conv")


def test_a_subclass_with_its_own_forward_is_not_planned() -> None:
    from gaplab.engine.conv import conv_plan_of
    from gaplab.models.cnn import CNN1d

    class Doubled(CNN1d):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 2 * super().forward(x)

    assert conv_plan_of(CNN1d((40,), 10, 4, 0.0)) is not None
    assert conv_plan_of(Doubled((40,), 10, 4, 0.0)) is None
