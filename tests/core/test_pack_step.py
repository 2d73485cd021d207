"""A pack step skips work only while every model steps: a model stopped mid-epoch (by ``halt`` or by a caller
writing ``stop.stopped``, as the doctor's LR range does) keeps its weights from the next step on; it builds the
models' step counters only where a net reads them."""

from __future__ import annotations

import pytest
import torch

from gaplab.engine.pack import AnyOf, Pack
from gaplab.spec import parse_run

SPEC = {"data": {"name": "mnist1d", "args": {"num_samples": 600}}, "model": {"name": "mlp", "args": {"width": 8}},
        "optim": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "epochs": 2, "batch_size": 50}}


def _pack(k: int = 3) -> Pack:
    base = parse_run(SPEC)
    return Pack([base.replace(seed=i) for i in range(k)])


def test_halt_inside_an_epoch_stops_every_model_after_that_step() -> None:
    pack = _pack()

    def on_step(epoch: int, step: int, _losses: torch.Tensor) -> None:
        if (epoch, step) == (0, 3):
            pack.halt()

    pack.fit(on_step=on_step, metrics=False)
    assert pack.opt.steps.tolist() == [4.0, 4.0, 4.0]


def test_a_model_stopped_mid_epoch_keeps_its_weights_and_its_mates_train() -> None:
    pack = _pack()
    seen: dict[int, torch.Tensor] = {}

    def on_step(epoch: int, step: int, _losses: torch.Tensor) -> None:
        if (epoch, step) == (0, 2):
            pack.stop.stopped[1] = True  # as doctor.lr_range stops a diverging rate
            seen[1] = pack.flat[1].clone()
            seen[0] = pack.flat[0].clone()

    pack.fit(on_step=on_step, metrics=False)
    assert torch.equal(pack.flat[1], seen[1]) and not torch.equal(pack.flat[0], seen[0])
    steps = pack.opt.steps.tolist()
    assert steps[1] == 3.0 and steps[0] == steps[2] > 3.0


def test_any_of_reads_a_mask_again_only_when_it_changed() -> None:
    mask = torch.zeros(4, dtype=torch.bool)
    flag = AnyOf()
    assert not flag.any(mask)
    mask[2] = True  # in place: the tensor's version moves
    assert flag.any(mask)
    assert not flag.any(torch.zeros(4, dtype=torch.bool))  # another tensor


def test_epoch_batches_stack_equals_the_padded_tables() -> None:
    from gaplab.engine.batches import epoch_batches

    even = [torch.arange(200) + 1000 * i for i in range(3)]  # 4 full batches each: the stacked fast case
    idx, w, steps = epoch_batches(even, 50, [7, 8, 9])
    padded, pw, _ = epoch_batches([*even, torch.arange(30)], 50, [7, 8, 9, 10])  # a short mate: the padded case
    assert torch.equal(idx, padded[:3]) and torch.equal(w, pw[:3]) and bool((w == 1).all())
    assert steps.tolist() == [4, 4, 4] and pw[3].sum() == 30


CNN = {"name": "cnn1d", "args": {"channels": 4}}
MLP_BN = {"name": "mlp", "args": {"width": 8, "batch_norm": True}}


def _trained(model: dict, rates: list[float], path: str, counted: bool | None = None) -> Pack:
    base = parse_run({**SPEC, "model": model, "optim": {**SPEC["optim"], "epochs": 1}})
    pack = Pack([base.replace(seed=i, **{"reg.dropout": r}) for i, r in enumerate(rates)], path=path)
    if counted is not None:
        pack.counted = counted
    pack.fit(metrics=False)
    return pack


@pytest.mark.parametrize(("model", "path"), [(SPEC["model"], "fused"), (CNN, "conv"), (MLP_BN, "vmap")])
def test_the_step_counter_is_built_only_where_a_model_drops_out(model: dict, path: str) -> None:
    plain = _trained(model, [0.0, 0.0], path)
    assert plain.path == path and not plain.counted
    assert torch.equal(plain.flat, _trained(model, [0.0, 0.0], path, counted=True).flat)  # bit for bit
    dropped = _trained(model, [0.0, 0.3], path)  # one model of the pack drops out: every model counts
    assert dropped.counted
    assert not torch.equal(dropped.flat, _trained(model, [0.0, 0.3], path, counted=False).flat)  # it is read


def test_a_loop_net_always_counts_its_steps() -> None:
    assert _trained(SPEC["model"], [0.0], "loop").counted  # it seeds the model's own random ops
