"""augmentation study (C11): augmentations vs extra real data on digits."""

from __future__ import annotations

from gaplab.studies import get
from gaplab.studies.claims.augmentation import METHODS


def test_augmentation_quick(quick_verdict) -> None:
    # Four seeds resolve themselves: at seed 0 crop gains +0.033 over none (t-interval 0.020, so it helps beyond
    # min_gain 0.01) and is worth 0.86 of the 200 extra real examples (jackknife resolution 0.46): undecided on the
    # worth ratio, never "did not hold". Margins are within one resolution, so the verdict itself is not asserted.
    v = quick_verdict("augmentation")
    n = v.numbers
    assert v.held is not False, v.summary
    assert v.held is True or "a larger preset" in v.summary
    assert n["seeds"] == 4 and all(r is not None and r > 0 for r in n["gain_resolution"].values())
    acc = n["test_accuracy"]
    assert set(acc) == {"none", *METHODS, "real_2x"}
    assert set(n["equivalent_extra_data"]) == set(METHODS)
    assert max(n["gain_over_none"].values()) > 0.01  # some augmentation pays (+0.033 at seed 0)
    assert n["gain_over_none"]["flip"] < -0.01  # flipped digits are not the same digits (−0.041)
    assert n["equivalent_extra_data"]["flip"] < 0
    assert v.figures == ["augmentation.png"]


def test_augmentation_vs_ten_percent_more_data_breaks(quick_verdict) -> None:
    # Against only 10 % more real data (20 examples) the best augmentation is worth more: the rule fails (seed 0:
    # crop is worth 172 extra examples, ratio 8.6 against 1, resolution 4.6).
    v = quick_verdict("augmentation", **get("augmentation").breaking)
    assert v.held is False, v.summary
    assert {c["name"]: c["passed"] for c in v.checks}["worth_less_than_real"] is False
