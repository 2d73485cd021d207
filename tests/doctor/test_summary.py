"""The diagnosis paragraph is derived from the checks: root causes before their symptoms, then warnings."""

from __future__ import annotations

import pytest

from gaplab.doctor.result import Diagnosis, Finding, verdict_of
from gaplab.doctor.workflow import summarize


def _c(family, name, verdict, cause="", symptom=False):
    return Finding(family, name, 1.0, "1", "band", verdict, cause, "fix " + name, {"symptom": True} if symptom else {})


def test_root_cause_comes_before_its_symptoms():
    checks = [_c("input", "beats zeroed inputs", "FAIL", "model does not use its inputs", symptom=True),
              _c("overfit", "overfit a tiny set", "FAIL", "fitted at lr 0.01 but not at yours", symptom=True),
              _c("lr", "learning rate", "FAIL", "learning rate too high"),
              _c("bias_variance", "bias / variance", "WARN", "high variance")]
    text = summarize(checks, 0.006, 1.0)
    assert text.startswith("3 checks failed. Fix this first — learning rate: learning rate too high; try: fix")
    assert text.index("model does not use") > text.index("learning rate too high")
    assert "Worth a look: bias / variance — high variance" in text and "suggests 0.006 (yours: 1)" in text


def test_data_problems_lead_and_clean_runs_say_so():
    checks = [_c("init", "initial loss", "FAIL", "init too large"), _c("data", "one-feature leakage", "FAIL", "leak")]
    assert "Fix this first — one-feature leakage: leak" in summarize(checks)
    assert summarize([_c("data", "x", "PASS")]) == "The check passed: nothing here blocks training."


def test_verdicts_and_worst():
    assert verdict_of(5, 10, 100) == "PASS" and verdict_of(50, 10, 100) == "WARN" and verdict_of(500, 10, 100) == "FAIL"
    assert verdict_of(0.01, 0.2, 0.05, higher_is_worse=False) == "FAIL"
    d = Diagnosis(spec={}, task={}, checks=[_c("data", "a", "PASS"), _c("data", "b", "WARN")])
    assert d.worst == "WARN" and d.to_dict()["counts"] == {"PASS": 1, "WARN": 1, "FAIL": 0, "n/a": 0}
    with pytest.raises(ValueError, match="verdict"):
        _c("data", "c", "MAYBE")
    with pytest.raises(KeyError, match="no check named"):
        d.check("zzz")


def test_feature_names_come_from_the_header_or_parquet_schema(tmp_path):
    """The leakage check names a table's column: from a CSV header or a Parquet schema (a stored index is no column)."""
    from types import SimpleNamespace

    import pandas as pd
    import torch

    from gaplab.doctor.data_checks import _feature_name

    df = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0], "label": [0, 1]}, index=[7, 9])
    df.to_parquet(tmp_path / "t.parquet")
    df.to_csv(tmp_path / "t.csv", index=False)
    for name in ("t.parquet", "t.csv"):
        data = SimpleNamespace(path=str(tmp_path / name), target="label")
        ctx = SimpleNamespace(spec=SimpleNamespace(data=data), raw=SimpleNamespace(x_train=torch.zeros(2, 2)))
        assert [_feature_name(ctx, i) for i in (0, 1)] == ["'a'", "'b'"]  # type: ignore[arg-type]
