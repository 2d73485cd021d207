"""The two bugs the first session noticed: an all-NaN loss history warned numpy's "Mean of empty slice", and
advise printed a zero-width paired interval when its seeds' differences were identical."""

from __future__ import annotations

import math
import warnings
from types import SimpleNamespace
from typing import Any, cast

from gaplab.advise.analysis import _paired
from gaplab.advise.sweep import Row
from gaplab.doctor.dynamics import loss_checks
from gaplab.doctor.main_run import MainRun


def _run(losses: list[list[float]], status: str) -> MainRun:
    return MainRun(pack=cast(Any, None), results=cast(Any, [SimpleNamespace(status=status)] * len(losses[0])),
                   losses=losses, ratios={}, ratio_steps=[])


def test_all_nan_losses_fail_without_numpy_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        checks = loss_checks(cast(Any, None), _run([[math.nan, math.nan]] * 20, "diverged"), 0.01, None)
    assert [c.verdict for c in checks] == ["FAIL"]
    assert "explodes" in checks[0].cause


def test_nan_after_finite_start_still_measured() -> None:
    losses = [[2.0, 2.1]] * 10 + [[math.nan, math.nan]] * 10
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        checks = loss_checks(cast(Any, None), _run(losses, "diverged"), 0.01, None)
    assert checks[0].verdict == "FAIL" and checks[0].details["initial"] == 2.05


def _row(config: str, seed: int, err: float) -> Row:
    return Row(config, 100, seed, err, 0.0, False, "done")


def test_identical_paired_differences_keep_a_width() -> None:
    plain = [_row("plain", 0, 0.30), _row("plain", 1, 0.32)]
    other = [_row("l2", 0, 0.25), _row("l2", 1, 0.27)]  # both seeds 0.05 better: sd 0
    p = _paired(plain, other, resolution=1 / 200)
    assert p["pairs"] == 2 and math.isclose(p["mean"], -0.05)
    assert p["high"] - p["low"] > 0.04  # t(0.95, 1 df) = 6.31 × (1/200) / √2 = 0.022 on each side
    assert p["low"] < p["mean"] < p["high"]
