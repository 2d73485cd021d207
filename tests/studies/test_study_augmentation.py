"""augmentation study (C11): augmentations vs extra real data on digits."""

from __future__ import annotations

import pytest

from gaplab.store.db import Store
from gaplab.studies.augmentation import METHODS
from gaplab.studies.base import run_study


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("augmentation")
    return tmp, Store(tmp / "s.db")


def test_augmentation_quick_holds(env) -> None:
    tmp, store = env
    v = run_study("augmentation", "quick", 0, tmp / "out", store)
    n = v.numbers
    assert v.held is True, v.summary
    acc = n["test_accuracy"]
    assert set(acc) == {"none", *METHODS, "real_2x"}
    assert set(n["equivalent_extra_data"]) == set(METHODS)
    assert all(x is not None and x < 200 for x in n["equivalent_extra_data"].values())
    assert acc["real_2x"] > max(acc[m] for m in METHODS)
    assert n["helping"]
    assert n["equivalent_extra_data"]["flip"] < 0  # flipped digits are not the same digits
    assert (tmp / "out" / "augmentation" / "augmentation.png").exists()


def test_augmentation_vs_ten_percent_more_data_breaks(env) -> None:
    # Against only 10 % more real data (20 examples) the best augmentation is worth more: the rule fails.
    tmp, store = env
    v = run_study("augmentation", "quick", 0, tmp / "out2", store, overrides={"real_factor": 1.1})
    assert v.held is False, v.summary
