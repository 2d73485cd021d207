"""The fused path (hand-written batched MLPs) gives the general vmap path's numbers, regularizer by regularizer.

Each case trains a pack of three models whose per-model settings differ, once per path, and compares every
per-epoch metric and the final weights to 1e-5.
"""

from __future__ import annotations

import pytest
import torch
from exact_tools import assert_same_results, three

from gaplab.engine.fused import fuses
from gaplab.engine.pack import Pack, train_pack
from gaplab.spec import RunSpec, parse_run

MNIST = {"name": "mnist1d", "args": {"num_samples": 600}}


def _base(**over) -> RunSpec:
    s = parse_run({"data": dict(MNIST), "model": {"name": "mlp", "args": {"width": 24}},
                   "optim": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "epochs": 3, "batch_size": 50}})
    return s.replace(**over) if over else s


CASES: dict[str, list[RunSpec]] = {
    "sgd-lr": three(_base(), "optim.lr", [0.01, 0.05, 0.2]),
    "momentum": three(_base(), "optim.momentum", [0.0, 0.5, 0.9]),
    "nesterov": three(_base(**{"optim.nesterov": True}), "optim.lr", [0.01, 0.05, 0.1]),
    "adam": three(_base(**{"optim.name": "adam", "optim.momentum": 0.0}), "optim.lr", [1e-3, 3e-3, 1e-2]),
    "adamw-decay": three(_base(**{"optim.name": "adamw", "optim.momentum": 0.0, "optim.lr": 3e-3}),
                          "reg.weight_decay", [0.0, 0.05, 0.5]),
    "sgd-decay": three(_base(), "reg.weight_decay", [0.0, 0.01, 0.1]),
    "l2": three(_base(), "reg.l2", [0.0, 1.0, 10.0]),
    "l1": three(_base(), "reg.l1", [0.0, 1.0, 10.0]),
    "l2-bias": three(_base(**{"reg.penalize_bias": True}), "reg.l2", [0.0, 1.0, 10.0]),
    "dropout": three(_base(), "reg.dropout", [0.0, 0.2, 0.5]),
    "smoothing": three(_base(), "reg.label_smoothing", [0.0, 0.1, 0.3]),
    "input-noise": three(_base(), "reg.input_noise", [0.0, 0.1, 0.5]),
    "mixup": three(_base(), "reg.mixup", [0.1, 0.4, 1.0]),
    "cutmix": three(_base(), "reg.cutmix", [0.1, 0.4, 1.0]),
    "shift-augment": three(_base(**{"reg.augment": [{"name": "shift", "amount": 3}]}), "optim.lr", [0.01, 0.05, 0.1]),
    "subsets-label-noise": [s.replace(**{"data.train_size": 200 + 40 * i, "data.label_noise": 0.1 * i})
                            for i, s in enumerate(three(_base(), None, [0, 0, 0]))],
    "early-stopping": three(_base(**{"data.val_fraction": 0.2, "optim.epochs": 8, "optim.lr": 0.3,
                                      "reg.early_stopping": {"patience": 1}}),
                             "reg.early_stopping.patience", [1, 2, 3]),
    "divergence": three(_base(), "optim.lr", [0.05, 1e6, 0.1]),
    "grad-clip": three(_base(), "reg.grad_clip", [None, 0.1, 1.0]),
    "cosine-schedule": three(_base(**{"optim.schedule": "cosine"}), "optim.lr", [0.01, 0.05, 0.1]),
    "padded-widths": three(_base(**{"reg.dropout": 0.2, "reg.l1": 0.5}), "model.args.width", [4, 16, 40]),
    "residual-gelu": three(_base(**{"model.args": {"width": 40, "depth": 3, "residual": True,
                                                    "activation": "gelu"}}), "reg.dropout", [0.0, 0.1, 0.3]),
    "tanh-deep": three(_base(**{"model.args": {"width": 16, "depth": 4, "activation": "tanh"}}),
                        "optim.lr", [0.01, 0.05, 0.1]),
    "linear-dropout": three(_base(**{"model": {"name": "linear"}}), "reg.dropout", [0.0, 0.2, 0.5]),
    "logistic-l2": three(_base(**{"model": {"name": "logistic"}}), "reg.l2", [0.0, 1.0, 10.0]),
    "random-features": three(_base(**{"model": {"name": "random-features", "args": {"width": 64}}}),
                              "reg.dropout", [0.0, 0.1, 0.3]),
    "regression-mse": three(_base(**{"data": {"name": "sine", "args": {"n_train": 200}},
                                      "optim.lr": 0.01}), "reg.l2", [0.0, 0.1, 1.0]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_fused_path_equals_vmap_path(case: str) -> None:
    specs = CASES[case]
    assert Pack(specs).path == "fused"  # the engine picks the fused path for this model by itself
    fused = train_pack(specs, keep_state=True, path="fused")
    general = train_pack(specs, keep_state=True, path="vmap")
    assert_same_results(case, fused, general)
    if case == "divergence":
        assert [r.status for r in fused] == ["done", "diverged", "done"]


def test_models_outside_the_family_take_the_vmap_path() -> None:
    bn = _base(**{"model.args": {"width": 8, "batch_norm": True}})
    cnn = _base(**{"model": {"name": "cnn1d", "args": {"channels": 4}}})
    assert Pack([bn]).path == "vmap" and Pack([cnn]).path == "conv"  # cnn1d: engine.conv
    # planning's cheap guess (no model built) agrees with the pack's choice
    for specs in [[bn], [cnn], *CASES.values()]:
        assert fuses(specs[0]) == (Pack(specs[:1]).path == "fused")
    with pytest.raises(ValueError, match="no fused path"):
        Pack([cnn], path="fused")


def test_compacted_pack_gives_the_numbers_of_a_whole_one() -> None:
    """Stopped models leave a compacting pack (train_pack) with the metrics and weights they would have had."""
    base = _base(**{"data.val_fraction": 0.2, "optim.epochs": 8, "optim.lr": 0.3,
                    "reg.early_stopping": {"patience": 1, "min_delta": 0.0}})
    specs = [base.replace(**{"seed": i, "reg.early_stopping.patience": 1 + i % 4,
                             "reg.early_stopping.min_delta": 10.0 if i < 3 else 0.0}) for i in range(8)]
    specs.append(base.replace(**{"seed": 9, "optim.lr": 1e6}))  # diverges in epoch 1
    whole = Pack(specs)  # compact off
    whole.fit()
    compacting = Pack(specs, compact=True)
    seen_k = []
    compacting.fit(on_epoch=lambda e, _t: seen_k.append(compacting.k))
    assert len(set(seen_k) - {len(specs)}) >= 2, seen_k  # it did shrink, more than once
    for i, (a, b) in enumerate(zip(whole.results, compacting.results, strict=True)):
        assert a.status == b.status and a.history == b.history and a.final == b.final
        sa, sb = whole.state_of(i), compacting.state_of(i)
        assert all(torch.equal(sa[n], sb[n]) for n in sa)


def test_user_sequential_mlp_takes_the_fused_path() -> None:
    """A user's nn.Sequential MLP (its nn.Dropout swapped for gaplab's, its own rates: reg.dropout None) runs fused,
    with the vmap path's numbers, its dropout read from the stacked rates."""
    from pathlib import Path

    from gaplab.api.specs import build_run

    zoo = Path(__file__).parents[1] / "models" / "zoo" / "zoo.py"
    base = build_run({"data": dict(MNIST), "model": {"name": f"{zoo}:mlp", "args": {"hidden": 24}},
                      "optim": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "epochs": 3, "batch_size": 50}}, {})
    assert base.reg.dropout is None
    specs = three(base, "reg.l2", [0.0, 1.0, 10.0])
    pack = Pack(specs)
    assert pack.path == "fused" and pack.net.dropout_on  # its own nn.Dropout(0.3) is on
    fused = train_pack(specs, keep_state=True, path="fused")
    general = train_pack(specs, keep_state=True, path="vmap")
    assert_same_results("user-sequential-mlp", fused, general)
