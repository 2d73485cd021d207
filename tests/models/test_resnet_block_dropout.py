"""ResNet with dropout inside its residual blocks (wide-ResNet style): exact alone and in a pack, off at rate 0."""

from __future__ import annotations

import pytest
import torch

from gaplab.engine.pack import train_pack
from gaplab.models import create_model
from gaplab.models.layers import Dropout
from gaplab.spec import RunSpec, parse_run


def _spec(**over: object) -> RunSpec:
    s = parse_run({"data": {"name": "digits", "train_size": 200},
                   "model": {"name": "resnet", "args": {"channels": 8, "blocks": 2, "block_dropout": True}},
                   "optim": {"name": "adam", "lr": 0.01, "epochs": 3, "batch_size": 50},
                   "reg": {"dropout": 0.3}})
    return s.replace(**over) if over else s


METRICS = ("train_loss", "test_loss", "train_acc", "test_acc")


def _metrics(r, keys: tuple[str, ...] = METRICS) -> list[list[float]]:
    return [[h[k] for k in keys] for h in r.history]


def test_dropout_sits_in_every_block_and_not_before_the_head() -> None:
    m = create_model("resnet", (1, 8, 8), 10, channels=8, blocks=3, dropout=0.2, block_dropout=True)
    sites = [n for n, d in m.named_modules() if isinstance(d, Dropout)]
    assert sites == ["blocks.0.drop", "blocks.1.drop", "blocks.2.drop"]
    plain = create_model("resnet", (1, 8, 8), 10, channels=8, blocks=3, dropout=0.2)
    assert [n for n, d in plain.named_modules() if isinstance(d, Dropout)] == ["drop"]


@pytest.mark.parametrize("batch_norm", [False, True])
def test_block_dropout_alone_equals_in_pack(batch_norm: bool) -> None:
    # SGD with momentum: under Adam a weight whose gradient is rounding noise takes steps of about lr whatever the
    # noise's size, so the conv path's batched sums (another summation order alone than in a pack) move such
    # weights by up to 1e-3 while every metric still agrees to 1e-6; SGD keeps alone and packed within 3e-8. At lr
    # 0.05 with batch norm, one AMD EPYC machine's kernels set the two rounding paths apart by 2.7e-4 in the third
    # epoch (from 6e-8 in the second: a chaotic flip, not a drift); at 0.02 both stay within 6e-8 there
    spec = _spec(**{"model.args.batch_norm": batch_norm, "optim.name": "sgd", "optim.momentum": 0.9,
                    "optim.lr": 0.02})
    # pack-mates differ in seed, dropout rate, learning rate and training subset; their sizes keep 4 steps per
    # epoch, as the planner packs only runs with equal steps per epoch (engine.planning.pack_key)
    mates = [spec.replace(**{"seed": 10 + i, "reg.dropout": 0.1 * i, "optim.lr": 0.005 * (1 + i % 2),
                             "data.train_size": 200 - 10 * i}) for i in range(5)]
    alone = train_pack([spec], keep_state=True)[0]
    packed = train_pack([*mates[:2], spec, *mates[2:]], keep_state=True)[2]
    # with batch norm the training metrics too: a pack of BN models evaluates the whole pool (PackData.whole_pool)
    for a, b in zip(_metrics(alone), _metrics(packed), strict=True):
        assert a == pytest.approx(b, abs=1e-5)
    for n, t in alone.state.items():
        assert torch.allclose(packed.state[n], t, atol=1e-5), n


def test_block_dropout_at_rate_zero_is_the_plain_model() -> None:
    with_sites = train_pack([_spec(**{"reg.dropout": 0.0})], keep_state=True)[0]
    plain = train_pack([_spec(**{"reg.dropout": 0.0, "model.args.block_dropout": False})], keep_state=True)[0]
    assert _metrics(with_sites) == _metrics(plain)
    weights = {n for n in plain.state if ".drop." not in n and not n.startswith("drop.")}  # dropout buffers differ
    assert weights and all(torch.equal(with_sites.state[n], plain.state[n]) for n in weights)
    # and at a positive rate the block masks change training (the dropout is really there)
    dropped = train_pack([_spec()])[0]
    assert _metrics(dropped) != _metrics(plain)
