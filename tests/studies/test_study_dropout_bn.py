"""dropout-bn study (C6): dropout with and without batch norm in a small ResNet on digits.

The quick preset (dropout before the head, 4 seeds) cannot resolve dropout's effect (about one standard error), so
its verdict is "undecided at this size" with the reason, while batch norm's own gain is resolved; heavy dropout
(the breaking case) hurts decisively. The full preset (dropout inside the blocks, 20 seeds) decides: it takes
minutes, so it is measured in the study's docstring, not here.
"""

from __future__ import annotations

import pytest

from gaplab.studies import get


def test_dropout_bn_quick(quick_verdict) -> None:
    v = quick_verdict("dropout-bn")
    n = v.numbers
    acc = n["test_accuracy"]
    assert set(acc) == {"none", "dropout", "batch_norm", "both"}
    assert all(0.5 < a <= 1.0 for a in acc.values())
    assert n["seeds"] == 4 and n["dropout_gain_se_without_bn"] > 0
    checks = {c["name"]: c for c in v.checks}
    assert set(checks) == {"batch_norm_helps_alone", "dropout_helps_alone", "less_with_bn"}
    # BN helps this small ResNet decisively (seeds 0-4: 2.0 to 10 resolutions of 2 SE; seed 0: 10)
    assert checks["batch_norm_helps_alone"]["passed"] and checks["batch_norm_helps_alone"]["resolved"]
    assert n["batch_norm_gain"] > 0.02  # seeds 0-4: +0.04 and more
    # each check's resolution is the 95 % t-interval of its paired difference over the 4 seeds: t(3) = 3.18 SE
    assert checks["dropout_helps_alone"]["resolution"] == pytest.approx(3.1824 * n["dropout_gain_se_without_bn"],
                                                                        rel=1e-4)
    assert checks["batch_norm_helps_alone"]["resolution"] == pytest.approx(3.1824 * n["batch_norm_gain_se"], rel=1e-4)
    assert v.held is None, v.summary
    assert "below the resolution" in v.undecided_reason and "a larger preset" in v.summary
    assert "batch_norm_helps_alone" not in v.undecided_reason
    assert "before the linear head" in v.summary
    assert v.figures == ["dropout_bn.png"]


def test_dropout_bn_heavy_dropout_breaks(quick_verdict) -> None:
    # Dropping 90 % of the pooled features hurts with or without BN: dropout no longer "helps alone".
    v = quick_verdict("dropout-bn", **get("dropout-bn").breaking)
    assert v.held is False, v.summary
    assert v.numbers["dropout_gain_without_bn"] < 0.0
    checks = {c["name"]: c for c in v.checks}
    assert checks["dropout_helps_alone"]["passed"] is False and checks["dropout_helps_alone"]["resolved"] is True

