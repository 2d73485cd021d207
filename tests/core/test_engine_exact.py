"""The pack engine is exact: it matches plain torch.optim training, and a run alone equals the run in a pack."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gaplab import rng
from gaplab.engine.batches import epoch_batches
from gaplab.engine.datacache import prepared_for
from gaplab.engine.pack import INIT, SHUFFLE, train_pack
from gaplab.models import create_model
from gaplab.spec import RunSpec, parse_run

SMALL = {"name": "mnist1d", "args": {"num_samples": 1000}}


def _spec(**over) -> RunSpec:
    base = {"data": dict(SMALL), "model": {"name": "mlp", "args": {"width": 32}},
            "optim": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "epochs": 3, "batch_size": 50}}
    s = parse_run(base)
    return s.replace(**over) if over else s


def _plain_torch(spec: RunSpec) -> list[float]:
    """The textbook loop: nn.Module, torch.optim, mean cross-entropy + λ/(2m)·Σ‖W‖²."""
    prep = prepared_for(spec)
    ds = prep.dataset
    torch.manual_seed(rng.derive_key(spec.seed, INIT))
    model = create_model(spec.model.name, ds.input_shape, ds.output_dim, **spec.model.args)
    o = spec.optim
    if o.name == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=o.lr, momentum=o.momentum)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=o.lr)
    m = len(prep.train_idx)
    weights = [p for n, p in model.named_parameters() if n.endswith("weight")]
    losses = []
    for epoch in range(o.epochs):
        idx, w, _ = epoch_batches([prep.train_idx], o.batch_size, [rng.derive_key(spec.seed, SHUFFLE, epoch)])
        for st in range(idx.shape[1]):
            sel = idx[0, st][w[0, st] > 0]
            loss = F.cross_entropy(model(ds.x_train[sel]), prep.labels[sel])
            loss = loss + spec.reg.l2 / (2 * m) * sum((p**2).sum() for p in weights)
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            losses.append(float(F.cross_entropy(model(ds.x_train[prep.train_idx]), prep.labels[prep.train_idx])))
        model.train()
    return losses


@pytest.mark.parametrize("optim", [{"optim.name": "sgd"}, {"optim.name": "adam", "optim.lr": 0.003,
                                                              "optim.momentum": 0.0}])
def test_matches_plain_torch_optim(optim: dict) -> None:
    spec = _spec(**optim, **{"reg.l2": 2.0})
    ours = [h["train_loss"] for h in train_pack([spec])[0].history]
    ref = _plain_torch(spec)
    assert ours == pytest.approx(ref, abs=1e-5)


def _metrics(r) -> list[list[float]]:
    keys = ("train_loss", "test_loss", "train_acc", "test_acc")
    return [[h[k] for k in keys if k in h] for h in r.history]


CASES = {
    "mlp-dropout-l1-l2": {"reg.dropout": 0.3, "reg.l1": 0.5, "reg.l2": 1.0},
    "mlp-decay-noise-subset": {"reg.weight_decay": 0.01, "data.label_noise": 0.2, "data.train_size": 300},
    "mlp-mixup-smoothing": {"reg.mixup": 0.4, "reg.label_smoothing": 0.1},
    "mlp-early-stop": {"data.val_fraction": 0.2, "reg.early_stopping": {"patience": 1}, "optim.epochs": 6},
    "cnn1d-dropout-adamw": {"model": {"name": "cnn1d", "args": {"channels": 8}}, "reg.dropout": 0.2,
                            "optim.name": "adamw", "optim.lr": 0.01, "optim.momentum": 0.0,
                            "reg.weight_decay": 0.05},
}


@pytest.mark.parametrize("case", list(CASES))
def test_alone_equals_in_pack_of_16(case: str) -> None:
    spec = _spec(**CASES[case])
    mates = []
    for i in range(15):  # pack-mates differ in everything that may vary per model
        mates.append(spec.replace(**{"seed": 100 + i, "optim.lr": 0.01 * (1 + i % 4),
                                     "data.train_size": 200 + 25 * i, "data.label_noise": 0.05 * (i % 3)}))
    alone = train_pack([spec])[0]
    packed = train_pack([*mates[:7], spec, *mates[7:]])[7]
    assert len(alone.history) == len(packed.history)
    for a, b in zip(_metrics(alone), _metrics(packed), strict=True):
        assert a == pytest.approx(b, abs=1e-5)
    assert alone.final.get("best_epoch") == packed.final.get("best_epoch")


@pytest.mark.parametrize("model", [{"name": "mlp", "args": {"width": 32}}, {"name": "cnn1d", "args": {"channels": 8}}])
def test_dropout_masks_do_not_depend_on_mates_with_more_steps(model: dict) -> None:
    # each model's dropout counter is epoch · its own steps per epoch + step: mates that take more steps per epoch
    # (here 8-12 against 4) must not shift its masks (they did, by 1.5e-2 in the loss, with one shared counter)
    spec = _spec(**{"model": model, "reg.dropout": 0.3, "data.train_size": 200})
    mates = [spec.replace(**{"seed": 30 + i, "data.train_size": 400 + 100 * i}) for i in range(3)]
    alone = train_pack([spec])[0]
    packed = train_pack([mates[0], spec, *mates[1:]])[1]
    for a, b in zip(_metrics(alone), _metrics(packed), strict=True):
        assert a == pytest.approx(b, abs=1e-5)


def test_diverged_model_is_masked_and_mates_finish() -> None:
    good = _spec()
    bad = good.replace(**{"optim.lr": 1e6, "seed": 5})
    alone = train_pack([good])[0]
    res = train_pack([good, bad])
    assert res[1].status == "diverged" and res[1].final["diverged_epoch"] == 1
    assert res[0].status == "done"
    for a, b in zip(_metrics(res[0]), _metrics(alone), strict=True):
        assert a == pytest.approx(b, abs=1e-5)


def test_early_stopping_restores_best_weights() -> None:
    spec = _spec(**{"data.val_fraction": 0.2, "reg.early_stopping": {"patience": 2},
                    "optim.epochs": 40, "optim.lr": 0.2, "data.train_size": 200})
    r = train_pack([spec])[0]
    best = r.final["best_epoch"]
    assert r.final["stopped_epoch"] is not None and r.final["stopped_epoch"] < 40
    best_val = min(h["val_loss"] for h in r.history)
    assert r.history[best - 1]["val_loss"] == pytest.approx(best_val)
    assert r.final["val_loss"] == pytest.approx(best_val, abs=1e-6)


@pytest.mark.parametrize("model", [{"name": "mlp", "args": {"width": 8, "activation": "tanh"}},
                                   {"name": "cnn1d", "args": {"channels": 4}}])
def test_narrow_model_padded_into_wide_pack_is_exact(model: dict) -> None:
    arg = "width" if model["name"] == "mlp" else "channels"
    spec = _spec(**{"model": model, "reg.dropout": 0.2, "reg.l1": 0.3, "reg.l2": 0.5})
    wide = [spec.replace(**{f"model.args.{arg}": 24 + 8 * i, "seed": 10 + i}) for i in range(3)]
    alone = train_pack([spec], keep_state=True)[0]
    packed = train_pack([wide[0], spec, *wide[1:]], keep_state=True)[1]
    for a, b in zip(_metrics(alone), _metrics(packed), strict=True):
        assert a == pytest.approx(b, abs=1e-5)
    for n, t in alone.state.items():
        assert packed.state[n].shape == t.shape
        assert torch.allclose(packed.state[n], t, atol=1e-5)


@pytest.mark.parametrize("optim", [{"name": "sgd", "momentum": 0.9}, {"name": "adam"}])
def test_a_conv_pack_built_wider_for_speed_changes_no_number(optim: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    # 23 channels are built at 24 (``padding.built_width``): the same numbers as built at 23, with dropout, L1 and L2
    from gaplab.engine import pack as pack_module
    from gaplab.engine.padding import built_width

    spec = _spec(**{"model": {"name": "cnn1d", "args": {"channels": 23}}, "optim": {**optim, "lr": 0.05},
                    "reg.dropout": 0.2, "reg.l1": 0.3, "reg.l2": 0.5})
    assert built_width(spec, 23) == 24
    wider = train_pack([spec, spec.replace(seed=7)], keep_state=True)
    monkeypatch.setattr(pack_module, "built_width", lambda _spec, width: width)
    as_is = train_pack([spec, spec.replace(seed=7)], keep_state=True)
    for w, a in zip(wider, as_is, strict=True):
        for x, y in zip(_metrics(w), _metrics(a), strict=True):
            assert x == pytest.approx(y, abs=1e-5)
        for n, t in a.state.items():
            assert w.state[n].shape == t.shape
            assert torch.allclose(w.state[n], t, atol=1e-5)


def test_only_1d_conv_channel_counts_off_a_multiple_of_4_are_built_wider() -> None:
    from gaplab.engine.padding import built_width

    conv, mlp = _spec(**{"model": {"name": "cnn1d"}}), _spec()
    assert [built_width(conv, c) for c in (5, 10, 20, 23, 45, 55, 65, 75, 100)] == [5, 10, 20, 24, 48, 56, 65, 80, 100]
    assert built_width(mlp, 55) == 55


def test_plan_packs_buckets_widths() -> None:
    from gaplab.engine.planning import plan_packs

    widths = [2, 3, 4, 5, 7, 9, 13, 17, 23, 31, 41, 55, 73, 97, 130, 174, 233, 300]
    specs = [_spec(**{"model.args.width": w, "data.label_noise": nz}) for w in widths for nz in (0.0, 0.15)]
    packs = plan_packs(specs)
    assert sorted(s.run_id for p in packs for s in p) == sorted(s.run_id for s in specs)
    assert 2 <= len(packs) <= 8
    # buckets are disjoint, contiguous width ranges; a width's runs (both noise levels) share one pack
    ranges = sorted((min(w), max(w)) for w in ({s.model.args["width"] for s in p} for p in packs))
    assert all(hi < next_lo for (_, hi), (next_lo, _) in zip(ranges, ranges[1:], strict=False))
    assert ranges[0][0] == 2 and ranges[-1][1] == 300 and ranges[0][1] < 300  # 2 is never padded to 300


def test_plan_packs_keeps_a_pack_table_within_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    from gaplab.engine import planning

    spec = _spec(**{"model.args.width": 128})  # 40-128-128-10: 23 050 parameters, 92 200 bytes per model
    specs = [spec.replace(seed=i) for i in range(64)]
    monkeypatch.setattr(planning, "cache_bytes", lambda: 4 * 2**20)  # 0.8 × 4 MB holds 36 models' tables
    assert [len(p) for p in planning.plan_packs(specs)] == [32, 32]
    monkeypatch.setattr(planning, "cache_bytes", lambda: 64 * 2**20)
    assert [len(p) for p in planning.plan_packs(specs)] == [64]


def test_bucket_widths_is_the_cheapest_contiguous_split() -> None:
    from itertools import combinations

    from gaplab.engine.padding import bucket_widths, flops_per_example
    from gaplab.engine.planning import PACK_OVERHEAD

    overhead = PACK_OVERHEAD["fused"]  # an MLP: planned for the fused path

    spec = _spec()
    widths = [2, 2, 5, 9, 17, 31, 64, 64, 64, 130, 300]
    distinct = sorted(set(widths))

    def cost(buckets: list[list[int]]) -> float:
        return sum(sum(widths.count(w) for w in b) * flops_per_example(spec, max(b)) + overhead for b in buckets)

    every = [[distinct[i:j] for i, j in zip((0, *cuts), (*cuts, len(distinct)), strict=True)]
             for k in range(len(distinct)) for cuts in combinations(range(1, len(distinct)), k)]
    chosen = bucket_widths(widths, lambda w: flops_per_example(spec, w), overhead)
    assert [w for b in chosen for w in b] == distinct
    assert cost(chosen) == pytest.approx(min(cost(b) for b in every))
    assert 1 < len(chosen) < len(distinct)  # neither one pack nor one pack per width is best here


def test_worker_processes_give_the_same_results() -> None:
    from gaplab.engine.executor import run_local

    specs = [_spec(**{"model.args.depth": d, "seed": s, "optim.epochs": 2}) for d in (1, 2) for s in (0, 1)]
    one = {r.run_id: r.final for r in run_local(specs, None)["results"]}
    two = run_local(specs, None, workers=2)
    assert two["trained"] == 4 and two["failed"] == 0
    for r in two["results"]:
        assert r.final["test_acc"] == pytest.approx(one[r.run_id]["test_acc"], abs=1e-6)
        assert r.final["train_loss"] == pytest.approx(one[r.run_id]["train_loss"], abs=1e-5)
