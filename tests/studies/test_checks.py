"""The verdict framework: checks → held, margins, undecided at this size, derived summary words, seeds."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import pytest

from gaplab.studies.framework import Measured, Preset, Study, no_runs, run_seeds
from gaplab.studies.framework.checks import (
    Check,
    MeasuredSpread,
    compose_summary,
    decide,
    jackknife_resolution,
    rule_sentence,
    spread_resolution,
    t_resolution,
    tightest,
)
from gaplab.studies.framework.run import run


def test_margins_follow_the_comparison() -> None:
    above = Check("a", "ratio", 1.3, ">", 1.0)
    below = Check("b", "error", 0.3, "<", 0.5)
    assert above.passed and above.margin == pytest.approx(0.3) and above.relative_margin == pytest.approx(0.3)
    assert below.passed and below.margin == pytest.approx(0.2) and below.relative_margin == pytest.approx(0.4)
    failed = Check("c", "error", 0.7, "<=", 0.5)
    assert not failed.passed and failed.margin == pytest.approx(-0.2)
    assert Check("d", "x", 1.0, ">=", 1.0).passed and not Check("e", "x", 1.0, ">", 1.0).passed
    with pytest.raises(ValueError, match="comparison"):
        Check("f", "x", 1.0, "==", 1.0)


def test_held_false_true_and_undecided() -> None:
    ok = Check("ok", "x", 2.0, ">", 1.0)
    assert decide([ok]) == (True, "")
    assert decide([ok, Check("bad", "y", 0.0, ">", 1.0)])[0] is False
    # a passed check within its resolution: undecided, with the reason naming it
    held, reason = decide([ok, Check("close", "gain", 0.01, ">", 0.0, resolution=0.02)])
    assert held is None and "close" in reason and "resolution" in reason
    # a failed check within its resolution does not decide either ...
    assert decide([ok, Check("close", "gain", -0.01, ">", 0.0, resolution=0.02)])[0] is None
    # ... but any decisive failure does
    assert decide([Check("bad", "y", 0.0, ">", 1.0), Check("close", "g", 0.01, ">", 0.0, resolution=0.02)])[0] is False
    # a value that could not be measured decides nothing; a NaN resolution (one seed) means no resolution
    assert decide([ok, Check("nan", "z", math.nan, "<", 1.0)]) == (None, "nan could not be measured")
    assert Check("r", "z", 0.5, "<", 1.0, resolution=math.nan).resolution is None
    with pytest.raises(ValueError):
        decide([])


def test_summary_words_are_derived_and_rule_is_listed() -> None:
    checks = [Check("a", "plain error at n=2000", 0.2, "<", 0.3), Check("b", "gain", 0.01, ">", 0.0, resolution=0.1)]
    held, text, reason = compose_summary(checks, "We measured things")
    assert held is None and text.startswith("Undecided at this size: We measured things.")
    assert reason in text and "a larger preset" in text
    assert text.endswith(f"Rule: {rule_sentence(checks)}.")
    assert rule_sentence(checks) == "held iff all of: plain error at n=2000 < 0.3; gain > 0"
    assert tightest(checks).name == "b"


@dataclass(frozen=True)
class _P(Preset):
    value: float


@dataclass(frozen=True)
class _M(Measured):
    value: float


def _toy(checks: list[Check]) -> Study[_P, _M]:
    return Study("toy", "C0", "a toy claim", quick=_P(1.0), full=_P(2.0), specs=no_runs,
                 measure=lambda ctx, p: _M(p.value), checks=lambda m, p: checks, figures=lambda m, p: {},
                 summary=lambda m, p: "x")


def test_the_verdict_is_derived_and_has_no_back_door(tmp_path) -> None:
    v = run(_toy([Check("a", "v", 1.0, "<", 0.5)]), out=tmp_path)
    assert v.held is False and v.summary.startswith("Claim did not hold: x.") and "Failed: v 1 < 0.5" in v.summary
    assert v.numbers == {"value": 1.0} and v.params == {"value": 1.0}
    assert "held" not in {f.name for f in fields(Study)}  # a study declares checks; nothing states a verdict
    with pytest.raises(ValueError, match="at least one check"):
        run(_toy([]), out=tmp_path)


def test_resolutions_come_from_the_measured_spread() -> None:
    # the t-interval of a mean: t(0.975, 3) = 3.182 standard errors for 4 seeds; one seed measures no spread
    v = [0.1, 0.3, 0.2, 0.4]
    se = np.std(v, ddof=1) / 2
    assert t_resolution(v) == pytest.approx(3.1824 * se, rel=1e-4)
    assert math.isnan(t_resolution([0.5]))
    # a one-seed check at a wobble of 0.8 × the spread: undecided, not "did not hold" (it would be without one)
    wobble = Check("gain", "gain", -0.08, ">", 0.0, resolution=spread_resolution(0.1, 5))
    assert wobble.resolution == pytest.approx(2.7764 * 0.1, rel=1e-4) and decide([wobble])[0] is None
    assert decide([Check("gain", "gain", -0.08, ">", 0.0)])[0] is False
    # the jackknife SE of a mean is its standard error
    assert jackknife_resolution(lambda kept: float(np.mean([v[i] for i in kept])), 4) == pytest.approx(
        t_resolution(v))
    # a measured spread fills only checks that have neither a resolution nor an exactness reason
    spread = MeasuredSpread(seeds=5, sd={"a": 0.1, "b": 0.1, "c": 0.1})
    a, b, c, d = spread.apply([Check("a", "x", 1.0, ">", 0.0), Check("b", "x", 1.0, ">", 0.0, resolution=0.5),
                               Check("c", "x", 0.0, "<=", 0.0, exact="an identity"), Check("d", "x", 1.0, ">", 0.0)],
                              as_measured=True)
    assert spread.apply([Check("a", "x", 1.0, ">", 0.0)], as_measured=False)[0].resolution is None
    assert a.resolution == pytest.approx(0.27764, rel=1e-4) and b.resolution == 0.5
    assert c.resolution is None and c.exact and d.resolution is None
    with pytest.raises(ValueError, match="not both"):
        Check("e", "x", 1.0, ">", 0.0, resolution=0.1, exact="an identity")
    assert Check.from_row(a.row()) == a and Check.from_row(c.row()) == c
    # a ratio spread over orders of magnitude: resolved iff |ln(value / threshold)| >= t·log_sd
    logs = MeasuredSpread(seeds=5, sd={}, log_sd={"r": 0.5})  # t·log_sd = 1.388: a factor of 4.01
    assert decide(logs.apply([Check("r", "ratio", 50.0, ">", 10.0)], True))[0] is True  # a factor of 5
    assert decide(logs.apply([Check("r", "ratio", 30.0, ">", 10.0)], True))[0] is None  # a factor of 3
    assert decide(logs.apply([Check("r", "ratio", 3.0, ">", 10.0)], True))[0] is None
    assert decide(logs.apply([Check("r", "ratio", 2.0, ">", 10.0)], True))[0] is False


def test_seeds_are_derived_from_the_study_seed() -> None:
    assert run_seeds(0, 3) == [0, 1, 2] and run_seeds(1, 3) == [3, 4, 5]
    assert not set(run_seeds(0, 4)) & set(run_seeds(1, 4))
    with pytest.raises(ValueError):
        run_seeds(0, 0)


def test_report_shows_checks_and_undecided_reason(tmp_path) -> None:
    from gaplab.report.html import write_report
    from gaplab.store.db import Store
    from gaplab.studies import Verdict

    checks = [Check("gain", "dropout gain", 0.01, ">", 0.0, resolution=0.03)]
    held, summary, reason = compose_summary(checks, "Measured a small gain")
    v = Verdict(study="toy", claim="A toy claim.", held=held, summary=summary, numbers={"gain": 0.01}, preset="quick",
                seed=0, runs=[], claim_id="C99", checks=[c.row() for c in checks], undecided_reason=reason)
    store = Store(tmp_path / "s.db")
    (tmp_path / "toy").mkdir()
    store.save_study("toy", "quick", 0, v.to_json(), str(tmp_path / "toy"))
    index = write_report(store, tmp_path / "report").read_text()
    assert "undecided at this size" in index and "below the resolution" in index and "1 undecided" in index
    page = (tmp_path / "report" / "toy" / "index.html").read_text()
    assert "<table id=checks>" in page and "within resolution" in page and "dropout gain" in page
