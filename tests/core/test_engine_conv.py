"""The conv path (engine.conv) gives the general vmap path's numbers, regularizer by regularizer.

As tests/core/test_engine_fused.py: each case trains a pack of three ``cnn1d``, ``cnn2d``, ``resnet`` or user
``nn.Sequential`` models whose per-model settings differ, once per path, and compares every per-epoch metric and the
final weights (running statistics included) to 1e-5.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from exact_tools import assert_same_results, three

from gaplab.api.specs import build_run
from gaplab.engine.conv import convs
from gaplab.engine.datacache import prepared_for
from gaplab.engine.fused import fuses
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
    # padded to 17 channels: engine.conv's products for 16 or more output channels (the other cases' are narrower)
    "padded-channels": three(_base(**{"reg.dropout": 0.2, "reg.l1": 0.5}), "model.args.channels", [2, 5, 17]),
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


BN = {"data": {"name": "digits", "train_size": 300}, "optim.epochs": 2}
ZOO = Path(__file__).parents[1] / "models" / "zoo" / "zoo.py"
MINE = Path(__file__).parent / "conv_user_models.py"
USER_CASES: dict[str, list[RunSpec]] = {
    # batch norm with running statistics, residual blocks, bias-free convs, dropout inside the blocks (1-D and 2-D)
    "resnet1d-block-dropout": three(_base(**{"model": {"name": "resnet", "args": {
        "channels": 4, "blocks": 1, "block_dropout": True}}}), "reg.dropout", [0.0, 0.2, 0.5]),
    "resnet2d-l2": three(_base(**BN, **{"model": {"name": "resnet", "args": {"channels": 4, "blocks": 1}}}),
                         "reg.l2", [0.0, 1.0, 5.0]),
    # a user's Sequentials: the zoo's 2-D CNN (batch norm, channel dropout, max pool, global average) and a 1-D one
    # (Unflatten, cumulative-average and non-affine batch norm, 1-D max pools, a two-layer head with dropout)
    "user-zoo-cnn2d": three(build_run({"data": {"name": "digits", "train_size": 300},
                                       "model": {"name": f"{ZOO}:cnn", "args": {"channels": 4}},
                                       "optim": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "epochs": 2,
                                                 "batch_size": 50}}, {}), "reg.l2", [0.0, 1.0, 5.0]),
    "user-cnn1d": three(build_run({"data": {"name": "mnist1d", "args": {"num_samples": 500}},
                                   "model": {"name": f"{MINE}:signal_cnn"},
                                   # SGD: the bias of a conv before a batch norm has a zero gradient up to
                                   # rounding, which Adam would scale up to lr-sized steps of either sign
                                   "optim": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "epochs": 2,
                                             "batch_size": 50}}, {}), "reg.weight_decay", [0.0, 0.05, 0.5]),
}


@pytest.mark.parametrize("case", list(USER_CASES))
def test_norms_residuals_and_user_sequentials_equal_vmap(case: str) -> None:
    specs = USER_CASES[case]
    pack = Pack(specs)
    assert pack.path == "conv" and "conv stages" in pack.path_reason
    fast = train_pack(specs, keep_state=True, path="conv")
    general = train_pack(specs, keep_state=True, path="vmap")
    assert_same_results(case, fast, general)
    assert fast[0].final["engine_path"] == "conv" and general[0].final["engine_path"] == "vmap"
    # the running statistics moved, and equally on both paths (assert_same_results compares every state entry)
    stats = [n for n in fast[0].state if n.endswith("running_var")]
    assert stats and all(not torch.allclose(fast[0].state[n], torch.ones_like(fast[0].state[n])) for n in stats)


def test_user_models_are_planned_by_building_them() -> None:
    """``convs``/``fuses`` agree with the pack for user models; one the conv path refuses says which layer."""
    spec = USER_CASES["user-cnn1d"][0]
    assert convs(spec) and not fuses(spec)
    leaky = spec.replace(**{"model": {"name": f"{MINE}:leaky_cnn"}})
    assert not convs(leaky)
    pack = Pack([leaky])
    assert pack.path == "vmap" and "'2' (LeakyReLU)" in pack.path_reason
    mlp = build_run({"data": {"name": "mnist1d", "args": {"num_samples": 500}},
                     "model": {"name": f"{ZOO}:mlp"}, "optim": {"name": "sgd", "epochs": 1}}, {})
    assert fuses(mlp) and not convs(mlp)


def test_dry_run_names_each_packs_path() -> None:
    from gaplab.api.sweep import plan

    out = plan([*USER_CASES["user-cnn1d"], *CASES["sgd-lr"][:1]], None)
    assert out["packs"] == [3, 1]
    assert [p["path"] for p in out["paths"]] == ["conv", "conv"] and "conv stages" in out["paths"][0]["reason"]


def test_a_pack_trained_in_chunks_of_models_gives_the_same_numbers() -> None:
    """Large packs step in chunks of models (ConvNet.models_per_chunk): one model per chunk changes nothing, running
    statistics included."""
    specs = USER_CASES["resnet2d-l2"]
    whole, chunked = Pack(specs), Pack(specs)
    chunked.net.chunk_bytes = 1
    assert chunked.net.models_per_chunk(50) == 1 and whole.net.models_per_chunk(50) >= 3
    whole.fit()
    chunked.fit()
    for i in range(3):
        for hw, hc in zip(whole.results[i].history, chunked.results[i].history, strict=True):
            assert hc["test_loss"] == pytest.approx(hw["test_loss"], abs=1e-5)
        sw, sc = whole.state_of(i), chunked.state_of(i)
        assert all(torch.allclose(sc[n], sw[n], atol=1e-5) for n in sw)



def test_freed_blocks_are_reused_instead_of_faulted_in_again() -> None:
    """engine.memory (raised by every conv pack): tensors of 20-30 MB allocated and freed again and again come from
    the heap without fresh pages; with glibc's defaults the same cycles fault ≈ 7500 pages in."""
    import resource
    import sys

    from gaplab.engine import memory

    if not sys.platform.startswith("linux"):  # glibc's mallopt: elsewhere it says it did nothing
        assert not memory.keep_freed_memory()
        return
    assert memory.keep_freed_memory()

    def cycle() -> None:
        for mb in (20, 25, 30):
            torch.empty(mb << 18).fill_(1.0)

    cycle()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    cycle()
    cycle()
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before < 1000


CHAIN_CASES = {
    # narrow (< 16 channels: the transposed products) and wide convolutions, flatten, SGD and AdamW
    "cnn1d-narrow": CASES["sgd-lr"],
    "cnn1d-wide-adamw": three(_base(**{"model.args.channels": 17, "optim.name": "adamw", "optim.momentum": 0.0,
                                       "optim.lr": 3e-3}), "reg.weight_decay", [0.0, 0.05, 0.5]),
    "cnn1d-dropout-zero": three(_base(**{"reg.dropout": 0.0}), "reg.l2", [0.0, 1.0, 5.0]),
}


@pytest.mark.parametrize("case", list(CHAIN_CASES))
def test_a_plain_conv_chain_steps_in_one_scripted_call_with_the_same_numbers(
        case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """ConvNet runs a 1-D Conv/ReLU chain's whole step as ``conv_chain_train`` (TorchScript, engine.script): the same
    kernels in the same order as its stages one by one in Python, so every number is equal bit for bit."""
    from gaplab.engine import conv, script

    specs = CHAIN_CASES[case]
    assert Pack(specs).net.chain is not None
    assert isinstance(script.scripted(conv.conv_chain_train), torch.jit.ScriptFunction)
    chained = train_pack(specs, keep_state=True)
    monkeypatch.setattr(conv.ConvNet, "_chain", lambda self: None)
    assert Pack(specs).net.chain is None
    staged = train_pack(specs, keep_state=True)
    for a, b in zip(chained, staged, strict=True):
        assert a.history == b.history
        assert a.state is not None and b.state is not None
        assert all(torch.equal(a.state[n], b.state[n]) for n in b.state)


def test_only_plain_1d_chains_take_the_scripted_step() -> None:
    """Dropout that acts, norms, residual blocks, pools and 2-D nets keep the stage-by-stage step."""
    assert Pack(CASES["dropout"]).net.chain is None  # two of the three models drop out
    assert Pack(USER_CASES["resnet1d-block-dropout"]).net.chain is None
    assert Pack(USER_CASES["user-cnn1d"]).net.chain is None  # batch norm, max pools
    assert Pack(CASES["cnn2d-avg-dropout"][:1]).net.chain is None
