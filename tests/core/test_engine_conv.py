"""The conv path (batched im2col conv nets) gives the general vmap path's numbers, regularizer by regularizer.

As tests/core/test_engine_fused.py: each case trains a pack of three ``cnn1d`` models whose per-model settings differ,
once per path, and compares every per-epoch metric and the final weights to 1e-5.
"""

from __future__ import annotations

import pytest
import torch

from gaplab.engine.conv import convs
from gaplab.engine.pack import Pack, train_pack
from gaplab.spec import RunSpec, parse_run

KEYS = ("train_loss", "test_loss", "train_acc", "test_acc", "val_loss")


def _base(**over) -> RunSpec:
    s = parse_run({"data": {"name": "mnist1d", "args": {"num_samples": 500}},
                   "model": {"name": "cnn1d", "args": {"channels": 6}},
                   "optim": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "epochs": 3, "batch_size": 50}})
    return s.replace(**over) if over else s


def _three(base: RunSpec, field: str | None, values: list) -> list[RunSpec]:
    out = []
    for i, v in enumerate(values):
        s = base.replace(seed=i)
        out.append(s.replace(**{field: v}) if field else s)
    return out


CASES: dict[str, list[RunSpec]] = {
    "sgd-lr": _three(_base(), "optim.lr", [0.01, 0.05, 0.2]),
    "adamw-decay": _three(_base(**{"optim.name": "adamw", "optim.momentum": 0.0, "optim.lr": 3e-3}),
                          "reg.weight_decay", [0.0, 0.05, 0.5]),
    "l2": _three(_base(), "reg.l2", [0.0, 1.0, 10.0]),
    "l1": _three(_base(), "reg.l1", [0.0, 1.0, 10.0]),
    "dropout": _three(_base(), "reg.dropout", [0.0, 0.2, 0.5]),
    "smoothing": _three(_base(), "reg.label_smoothing", [0.0, 0.1, 0.3]),
    "mixup": _three(_base(), "reg.mixup", [0.1, 0.4, 1.0]),
    "shift-augment": _three(_base(**{"reg.augment": [{"name": "shift", "amount": 3}]}), "reg.input_noise",
                            [0.0, 0.1, 0.5]),
    "subsets-label-noise": [s.replace(**{"data.train_size": 200 + 40 * i, "data.label_noise": 0.1 * i})
                            for i, s in enumerate(_three(_base(), None, [0, 0, 0]))],
    "early-stopping": _three(_base(**{"data.val_fraction": 0.2, "optim.epochs": 6, "optim.lr": 0.3,
                                      "reg.early_stopping": {"patience": 1}}),
                             "reg.early_stopping.patience", [1, 2, 3]),
    "divergence-clip": _three(_base(), "optim.lr", [0.05, 1e6, 0.1])[:2]
    + _three(_base(**{"reg.grad_clip": 0.1}), None, [0, 0, 0])[2:],
    "padded-channels": _three(_base(**{"reg.dropout": 0.2, "reg.l1": 0.5}), "model.args.channels", [2, 5, 9]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_conv_path_equals_vmap_path(case: str) -> None:
    specs = CASES[case]
    assert Pack(specs).path == "conv"  # the engine picks the conv path for this model by itself
    fast = train_pack(specs, keep_state=True, path="conv")
    general = train_pack(specs, keep_state=True, path="vmap")
    for f, g in zip(fast, general, strict=True):
        assert f.status == g.status and len(f.history) == len(g.history)
        for hf, hg in zip(f.history, g.history, strict=True):
            for k in KEYS:
                if k in hg:
                    assert hf[k] == pytest.approx(hg[k], abs=1e-5, nan_ok=True), (case, k, hf["epoch"])
        assert f.final.get("best_epoch") == g.final.get("best_epoch")
        assert f.state is not None and g.state is not None
        if g.status == "diverged":
            continue
        for n, t in g.state.items():
            assert torch.allclose(f.state[n], t, atol=1e-5, equal_nan=True), (case, n)
    if case == "divergence-clip":
        assert [r.status for r in fast] == ["done", "diverged", "done"]


def test_planning_guess_agrees_and_other_models_are_refused() -> None:
    for specs in CASES.values():
        assert convs(specs[0]) == (Pack(specs[:1]).path == "conv")
    mlp = _base(**{"model": {"name": "mlp", "args": {"width": 8}}})
    assert not convs(mlp) and Pack([mlp]).path == "fused"
    with pytest.raises(ValueError, match="no conv path"):
        Pack([mlp], path="conv")
