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


def test_final_metrics_reuse_the_last_epochs_evaluation(monkeypatch):
    pack = Pack([SPEC, SPEC.replace(seed=1)])
    calls = []
    real = pack.evaluate
    monkeypatch.setattr(pack, "evaluate", lambda flat=None: calls.append(flat) or real(flat))
    res = pack.fit()
    # one evaluation per epoch; the final metrics are the last one's (the weights did not change since)
    assert len(calls) == 2
    again = real()
    for r, m in zip(res, again, strict=True):
        assert r.final["train_loss"] == m["train_loss"] and r.final["test_acc"] == m["test_acc"]
        assert r.final["epochs_run"] == 2 and len(r.history) == 2


def test_fit_without_metrics_trains_the_same_weights():
    with_m, without = Pack([SPEC]), Pack([SPEC])
    with_m.fit()
    res = without.fit(metrics=False)
    assert torch.equal(with_m.flat, without.flat)
    assert res[0].history == [] and res[0].final["epochs_run"] == 2 and "train_loss" not in res[0].final


def test_fit_without_metrics_refuses_early_stopping():
    import pytest

    es = SPEC.replace(**{"reg.early_stopping": {"patience": 1}})
    with pytest.raises(ValueError, match="early stopping"):
        Pack([es]).fit(metrics=False)
