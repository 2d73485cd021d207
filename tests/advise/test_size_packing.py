"""Runs of different training-set sizes never pay for steps they do not take (size-aware packing)."""

from __future__ import annotations

from gaplab.engine import pack as pack_mod
from gaplab.engine.executor import run_local
from gaplab.engine.planning import plan_packs, steps_per_epoch
from gaplab.spec import parse_run


def _spec(n: int, seed: int = 0):
    return parse_run({"data": {"name": "mnist1d", "args": {"num_samples": 1000}, "train_size": n},
                      "model": {"name": "mlp", "args": {"width": 16}},
                      "optim": {"name": "adam", "epochs": 2, "batch_size": 50}, "seed": seed})


def test_packs_hold_one_step_count_per_epoch() -> None:
    specs = [_spec(n, s) for n in (40, 50, 90, 100, 400) for s in (0, 1)]
    packs = plan_packs(specs)
    assert sorted(len(p) for p in packs) == [2, 4, 4]  # 40/50 → 1 step, 90/100 → 2 steps, 400 → 8 steps
    for p in packs:
        assert len({steps_per_epoch(s) for s in p}) == 1


def test_model_steps_computed_equal_the_runs_own_steps(monkeypatch) -> None:
    computed = []
    real_step = pack_mod.Pack.step

    def counting(self, idx, *args, **kw):
        computed.append(idx.shape[0])  # models stepped together in this call
        return real_step(self, idx, *args, **kw)

    monkeypatch.setattr(pack_mod.Pack, "step", counting)
    specs = [_spec(50), _spec(400), _spec(400, 1)]
    out = run_local(specs, None)
    assert out["trained"] == 3
    own = sum(2 * steps_per_epoch(s) for s in specs)  # 2 epochs each: 2·1 + 2·8 + 2·8
    assert sum(computed) == own == 34
