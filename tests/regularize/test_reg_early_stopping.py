"""Batched EarlyStopping and Prechelt's GL / PQ / UP / Patience criteria on hand-made curves."""

from __future__ import annotations

import math

import pytest
import torch

from gaplab.regularize import GL, PQ, UP, EarlyStopping, Patience, first_stop


def _run(es: EarlyStopping, seqs: list[list[float]]) -> list[int | None]:
    """Feed per-model sequences; return the epoch each model stopped at."""
    stop_at: list[int | None] = [None] * es.k
    for e, vals in enumerate(zip(*seqs, strict=True), start=1):
        _, stop = es.update(torch.tensor(vals), e)
        for k in stop.nonzero().flatten().tolist():
            stop_at[k] = e
    return stop_at


def test_hand_sequence_stops_at_right_epoch():
    es = EarlyStopping(1, patience=3)
    seq = [5.0, 4.0, 4.5, 3.0, 3.2, 3.1, 3.05]
    imp = [bool(es.update(torch.tensor([v]), e)[0][0]) for e, v in enumerate(seq[:4], start=1)]
    assert imp == [True, True, False, True]
    es = EarlyStopping(1, patience=3)
    assert _run(es, [seq]) == [7]
    assert es.best_epoch.tolist() == [4] and es.best.tolist() == [3.0] and es.stopped.tolist() == [True]
    improved, stop = es.update(torch.tensor([0.1]), 8)  # stopped models are frozen
    assert not improved.any() and not stop.any() and es.best.tolist() == [3.0]


def test_state_before_any_update_and_min_delta():
    es = EarlyStopping(2, min_delta=torch.tensor([0.0, 0.1]), patience=5)
    assert es.best_epoch.tolist() == [-1, -1]
    _run(es, [[1.0, 0.95, 0.85], [1.0, 0.95, 0.85]])
    assert es.best_epoch.tolist() == [3, 3]
    assert es.wait.tolist() == [0, 0]
    es = EarlyStopping(1, min_delta=0.1, patience=5)
    _run(es, [[1.0, 0.95, 0.91]])
    assert es.best_epoch.tolist() == [1] and es.wait.tolist() == [2]


def test_per_model_patience_and_pack_equals_alone():
    seqs = [[5, 4, 4.5, 4.6, 4.7, 4.8], [5, 4, 4.5, 4.6, 4.7, 4.8], [3, 2, 1, 0.5, 0.4, 0.3]]
    es = EarlyStopping(3, patience=torch.tensor([1, 3, 2]))
    assert _run(es, seqs) == [3, 5, None]
    assert es.best_epoch.tolist() == [2, 2, 6]
    for k, p in enumerate([1, 3, 2]):
        alone = EarlyStopping(1, patience=p)
        assert _run(alone, [seqs[k]]) == [[3, 5, None][k]]


def test_nan_is_not_improvement_and_max_mode():
    es = EarlyStopping(1, patience=2)
    assert _run(es, [[1.0, math.nan, math.nan]]) == [3]
    assert es.best.tolist() == [1.0]
    es = EarlyStopping(1, mode="max", patience=2, min_delta=0.05)
    assert _run(es, [[0.5, 0.6, 0.62, 0.64, 0.7]]) == [4]
    assert es.best_epoch.tolist() == [2]
    with pytest.raises(ValueError):
        EarlyStopping(1, mode="median")  # type: ignore[arg-type]


def test_state_dict_round_trip():
    es = EarlyStopping(2, patience=2)
    _run(es, [[3, 2, 2.5], [1, 2, 3]])
    other = EarlyStopping(2)
    other.load_state_dict(es.state_dict())
    a, b = es.update(torch.tensor([2.6, 4.0]), 4), other.update(torch.tensor([2.6, 4.0]), 4)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


VAL_GL = [1.0, 0.8, 0.7, 0.72, 0.75, 0.74, 0.80]  # E_opt = 0.7 from epoch 3; GL(4..7) = 2.9, 7.1, 5.7, 14.3


def test_gl():
    assert first_stop(GL(2), VAL_GL) == 4
    assert first_stop(GL(5), VAL_GL) == 5
    assert first_stop(GL(10), VAL_GL) == 7
    assert first_stop(GL(20), VAL_GL) is None


# strip k = 5; E_opt = 0.6 at epoch 5; GL(10) = 10; P_5(10) = 1000·(0.51/(5·0.10) − 1) = 20 ⇒ PQ(10) = 0.5
VAL_PQ = [1.0, 0.9, 0.8, 0.7, 0.6, 0.62, 0.63, 0.64, 0.65, 0.66]
TRAIN_PQ = [1.0, 0.8, 0.6, 0.5, 0.4, 0.11, 0.10, 0.10, 0.10, 0.10]


def test_pq():
    assert first_stop(GL(2), VAL_PQ) == 6  # GL alone fires mid-strip ...
    assert first_stop(PQ(0.4), VAL_PQ, TRAIN_PQ) == 10  # ... PQ only at strip ends
    assert first_stop(PQ(0.6), VAL_PQ, TRAIN_PQ) is None
    with pytest.raises(ValueError, match="train_losses"):
        first_stop(PQ(0.4), VAL_PQ)


def test_up():
    val = [9.0] * 25  # only strip ends (5, 10, 15, 20, 25) are looked at
    for e, v in zip([5, 10, 15, 20, 25], [0.5, 0.45, 0.5, 0.55, 0.6], strict=True):
        val[e - 1] = v
    assert first_stop(UP(1), val) == 15
    assert first_stop(UP(2), val) == 20
    assert first_stop(UP(3), val) == 25
    assert first_stop(UP(4), val) is None
    assert first_stop(UP(1, strip=1), [1.0, 0.9, 0.95]) == 3


def test_patience_criterion_matches_early_stopping():
    seq = [5.0, 4.0, 4.5, 3.0, 3.2, 3.1, 3.05]
    assert first_stop(Patience(3), seq) == 7
    assert first_stop(Patience(2, min_delta=0.5), [5.0, 4.8, 4.7, 4.0]) == 3
    assert first_stop(Patience(2), [5.0, 4.8, 4.7, 4.0]) is None
    assert _run(EarlyStopping(1, patience=2, min_delta=0.5), [[5.0, 4.8, 4.7, 4.0]]) == [3]
