"""Engine additions the doctor uses: per-model training indices, a replacement pool, and a per-step callback."""

from __future__ import annotations

from dataclasses import replace

import torch

from gaplab.engine.datacache import prepared_for
from gaplab.engine.pack import Pack
from gaplab.spec import parse_run

SPEC = parse_run({"data": {"name": "blobs"}, "model": {"name": "mlp", "args": {"width": 8, "depth": 1}},
                  "optim": {"epochs": 2, "batch_size": 32}})


def test_per_model_train_indices_match_training_alone():
    idx = prepared_for(SPEC).train_idx
    a, b = idx[: len(idx) // 2], idx[len(idx) // 2:]
    together = Pack([SPEC, SPEC], train_idx=[a, b])
    res = together.fit()
    alone = Pack([SPEC], train_idx=[b])
    res_alone = alone.fit()
    assert together.data.train_mask[0].sum() == len(a) and together.data.train_mask[1].sum() == len(b)
    assert abs(res[1].final["train_loss"] - res_alone[0].final["train_loss"]) < 1e-5
    assert abs(res[0].final["train_loss"] - res[1].final["train_loss"]) > 1e-6  # different subsets, different runs


def test_replacement_pool_and_step_callback():
    pool = prepared_for(SPEC).dataset
    zeros = replace(pool, x_train=torch.zeros_like(pool.x_train), x_test=torch.zeros_like(pool.x_test))
    pack = Pack([SPEC], dataset=zeros)
    seen = []
    pack.fit(on_step=lambda epoch, step, losses: seen.append((epoch, step, losses.shape)))
    steps = -(-len(prepared_for(SPEC).train_idx) // 32)
    assert len(seen) == 2 * steps and seen[0] == (0, 0, torch.Size([1]))
    assert float(pack.x_pool.abs().sum()) == 0 and float(pack.x_test.abs().sum()) == 0
    out = pack.logits(pool.x_test[:5])
    assert out.shape == (1, 5, pool.num_classes)
