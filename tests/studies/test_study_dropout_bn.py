"""dropout-bn study (C6): dropout with and without batch norm in a small ResNet on digits.

The quick preset cannot resolve the effect (about one standard error over its 4 seeds), so its verdict is
"undecided at this size" with the reason; heavy dropout (the breaking case) hurts decisively.
"""

from __future__ import annotations

from gaplab.studies.registry import get


def test_dropout_bn_quick(quick_verdict) -> None:
    v = quick_verdict("dropout-bn")
    n = v.numbers
    acc = n["test_accuracy"]
    assert set(acc) == {"none", "dropout", "batch_norm", "both"}
    assert all(0.5 < a <= 1.0 for a in acc.values())
    assert n["batch_norm_gain"] > 0.02  # BN helps this small ResNet (seeds 0-4: +0.04 and more)
    assert n["seeds"] == 4 and n["dropout_gain_se_without_bn"] > 0
    checks = {c["name"]: c for c in v.checks}
    assert set(checks) == {"dropout_helps_alone", "less_with_bn"}
    # each check's resolution is 2 standard errors of its paired difference, measured over the seeds
    assert checks["dropout_helps_alone"]["resolution"] == 2 * n["dropout_gain_se_without_bn"]
    assert v.held is None, v.summary
    assert "below the resolution" in v.undecided_reason and "a larger preset" in v.summary
    assert v.figures == ["dropout_bn.png"]


def test_dropout_bn_heavy_dropout_breaks(quick_verdict) -> None:
    # Dropping 90 % of the pooled features hurts with or without BN: dropout no longer "helps alone".
    v = quick_verdict("dropout-bn", **get("dropout-bn").breaking)
    assert v.held is False, v.summary
    assert v.numbers["dropout_gain_without_bn"] < 0.0
    checks = {c["name"]: c for c in v.checks}
    assert checks["dropout_helps_alone"]["passed"] is False and checks["dropout_helps_alone"]["resolved"] is True
