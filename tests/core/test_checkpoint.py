"""Pack checkpoints: a pack stopped after epoch k and resumed gives exactly the uninterrupted numbers."""

from __future__ import annotations

import pytest
import torch

from gaplab.engine.checkpoint import Checkpointer
from gaplab.engine.pack import train_pack
from gaplab.spec import RunSpec, parse_run

SMALL = {"name": "mnist1d", "args": {"num_samples": 600}}
EPOCHS = 6


class Killed(Exception):
    """Stands in for SIGKILL: raised from the epoch callback right after a checkpoint was written."""


def _pack(optim: str) -> list[RunSpec]:
    base = parse_run({"data": {**SMALL, "val_fraction": 0.2}, "model": {"name": "mlp", "args": {"width": 16}},
                      "optim": {"name": optim, "lr": 0.05, "momentum": 0.9 if optim == "sgd" else 0.0,
                                "epochs": EPOCHS, "batch_size": 50, "schedule": "cosine"},
                      "reg": {"early_stopping": {"patience": 2}}})
    return [
        base,
        base.replace(**{"model.args.width": 24, "reg.dropout": 0.3, "reg.l2": 1.0, "seed": 1}),  # padded, dropout
        # min_delta 10: never improves after epoch 1, so these stop at epochs 2 (before the kill) and 4 (after)
        base.replace(**{"optim.lr": 0.4, "reg.l1": 0.5, "reg.early_stopping.patience": 1,
                        "reg.early_stopping.min_delta": 10.0, "seed": 2}),
        base.replace(**{"reg.early_stopping.patience": 3, "reg.early_stopping.min_delta": 10.0, "seed": 4}),
        base.replace(**{"optim.lr": 1e6, "seed": 3}),  # diverges: its stop record must survive the resume
    ]


def _ids(specs: list[RunSpec]) -> list[str]:
    return [s.run_id for s in specs]


def _assert_same(a, b) -> None:
    for x, y in zip(a, b, strict=True):
        assert x.history == y.history  # every per-epoch float, exactly
        assert x.final == y.final and x.status == y.status
        assert set(x.state) == set(y.state)
        assert all(torch.equal(x.state[n], y.state[n]) for n in x.state)


@pytest.mark.parametrize("optim", ["sgd", "adam"])
def test_resumed_pack_is_bit_for_bit(tmp_path, optim: str) -> None:
    specs = _pack(optim)
    whole = train_pack(specs, keep_state=True)
    # the pack exercises early stopping (some stop before the end) and, with SGD, divergence
    assert [len(r.history) for r in whole][2:4] == [2, 4]
    assert optim != "sgd" or any(r.status == "diverged" for r in whole)

    def kill_at(k: int):
        def on_epoch(e: int, _total: int) -> None:
            if e == k:
                raise Killed
        return on_epoch

    with pytest.raises(Killed):  # every=1e-9: a checkpoint after every epoch
        train_pack(specs, kill_at(3), checkpoint=Checkpointer(tmp_path, _ids(specs), every=1e-9))
    ck = Checkpointer(tmp_path, _ids(specs), every=1e-9)
    assert ck.load()["epoch"] == 3
    seen: list[int] = []
    resumed = train_pack(specs, lambda e, _t: seen.append(e), keep_state=True, checkpoint=ck)
    assert seen[0] == 4  # it really started after epoch 3
    _assert_same(whole, resumed)


def test_bad_checkpoints_are_discarded(tmp_path, capfd) -> None:
    specs = _pack("sgd")[:2]
    whole = train_pack(specs, keep_state=True)
    ck = Checkpointer(tmp_path, _ids(specs), every=1e-9)

    with pytest.raises(Killed):
        train_pack(specs, lambda e, _t: (_ for _ in ()).throw(Killed) if e == 2 else None, checkpoint=ck)
    good = ck.path.read_bytes()
    # truncated file
    ck.path.write_bytes(good[: len(good) // 2])
    seen: list[int] = []
    again = train_pack(specs, lambda e, _t: seen.append(e), keep_state=True, checkpoint=ck)
    assert "discarded checkpoint" in capfd.readouterr().err and seen[0] == 1
    _assert_same(whole, again)
    # a checkpoint of another pack (different spec) under this pack's name
    other = Checkpointer(tmp_path / "o", _ids(specs[::-1]), every=1e-9)
    other.save({"epoch": 1})
    ck.path.write_bytes(other.path.read_bytes())
    assert ck.load() is None and not ck.path.exists()
    assert "another pack" in capfd.readouterr().err
    # right fingerprint, wrong shapes: rejected by the pack, not trusted
    ck.path.write_bytes(good)
    state = ck.load()
    state["flat"] = state["flat"][:, :1]
    ck.save(state)
    seen.clear()
    _assert_same(whole, train_pack(specs, lambda e, _t: seen.append(e), keep_state=True, checkpoint=ck))
    assert seen[0] == 1 and "discarded checkpoint" in capfd.readouterr().err


def test_checkpoint_every_zero_never_writes(tmp_path) -> None:
    specs = _pack("sgd")[:1]
    ck = Checkpointer(tmp_path, _ids(specs), every=0)
    train_pack(specs, checkpoint=ck)
    assert list(tmp_path.iterdir()) == []
