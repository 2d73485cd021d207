"""dropout-bn study (C6): dropout with and without batch norm in a small ResNet on digits."""

from __future__ import annotations

import math

import pytest

from gaplab.store.db import Store
from gaplab.studies.base import run_study


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dropout_bn")
    return tmp, Store(tmp / "s.db")


def _rule(n: dict) -> bool:
    g0, g1, se0 = n["dropout_gain_without_bn"], n["dropout_gain_with_bn"], n["dropout_gain_se_without_bn"]
    return g0 > 0 and math.isfinite(se0) and g0 > 2 * se0 and g1 < g0


def test_dropout_bn_quick(env) -> None:
    tmp, store = env
    v = run_study("dropout-bn", "quick", 0, tmp / "out", store)
    n = v.numbers
    acc = n["test_accuracy"]
    assert set(acc) == {"none", "dropout", "batch_norm", "both"}
    assert all(0.5 < a <= 1.0 for a in acc.values())
    assert n["batch_norm_gain"] > 0  # BN helps this small ResNet
    assert n["dropout_gain_with_bn"] < 0.0  # with BN, dropout does not help
    assert isinstance(v.held, bool) and v.held == _rule(n), v.summary
    assert (tmp / "out" / "dropout-bn" / "dropout_bn.png").exists()


def test_dropout_bn_heavy_dropout_breaks(env) -> None:
    # Dropping 90 % of the pooled features hurts with or without BN: dropout no longer "helps alone".
    tmp, store = env
    v = run_study("dropout-bn", "quick", 0, tmp / "out2", store, overrides={"dropout": 0.9})
    assert v.held is False, v.summary
    assert v.numbers["dropout_gain_without_bn"] < 0.0
