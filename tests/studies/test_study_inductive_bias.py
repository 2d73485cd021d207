"""inductive-bias study (C5): MLP vs CNN-1D on MNIST-1D, ordered vs fixed-shuffled inputs."""

from __future__ import annotations

import pytest

from gaplab.store.db import Store
from gaplab.studies.base import run_study


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("inductive_bias")
    return tmp, Store(tmp / "s.db")


def test_inductive_bias_quick_holds(env) -> None:
    tmp, store = env
    v = run_study("inductive-bias", "quick", 0, tmp / "out", store)
    n = v.numbers
    assert v.held is True, v.summary
    acc = n["test_accuracy"]
    assert set(acc) == {"mlp", "cnn1d"} and all(set(acc[m]) == {"false", "true"} for m in acc)
    assert acc["cnn1d"]["false"] > acc["mlp"]["false"] + 0.05
    assert acc["cnn1d"]["false"] - acc["cnn1d"]["true"] > 0.1
    assert abs(acc["mlp"]["false"] - acc["mlp"]["true"]) < 0.05
    assert n["param_count"]["cnn1d"] < n["param_count"]["mlp"]
    assert (tmp / "out" / "inductive-bias" / "inductive_bias.png").exists()


def test_inductive_bias_one_channel_breaks(env) -> None:
    # A CNN with a single channel has the right bias but no capacity: it does not beat the MLP (MLP runs reused).
    tmp, store = env
    v = run_study("inductive-bias", "quick", 0, tmp / "out2", store, overrides={"cnn_channels": 1})
    assert v.held is False, v.summary
