"""A check that cannot run on this model or data says n/a and why — in the Diagnosis, its JSON and the table —
instead of passing silently or vanishing."""

from __future__ import annotations

import json

import torch

import gaplab
from gaplab.doctor.result import NA


def test_regression_marks_class_only_checks_not_applicable() -> None:
    torch.set_num_threads(1)
    d = gaplab.diagnose({"data": {"name": "sine"}}, mode="quick", checks=["data", "init", "label_noise"],
                        progress=False, store=None)
    na = {c.name: c.details["reason"] for c in d.not_applicable()}
    assert "regression" in na["label noise (heuristic)"]
    assert "regression" in na["outputs are logits"]
    assert "batch norm" in na["batch size for batch norm"]
    assert "one input feature" in na["one-feature leakage"]
    assert d.check("label noise (heuristic)").shown.startswith("n/a: ")
    assert d.worst in ("PASS", "WARN", "FAIL")  # n/a never counts as a verdict
    out = json.loads(json.dumps(d.to_dict()))
    assert out["counts"][NA] == len(na) >= 4
    assert all(c["verdict"] == NA and c["details"]["reason"] for c in out["checks"] if c["name"] in na)
    assert f"{len(na)} checks n/a here" in d.summary


def test_a_missing_augmentation_is_not_applicable() -> None:
    from gaplab.api.specs import build_run
    from gaplab.doctor.context import Context
    from gaplab.doctor.input_checks import augmentation

    c = augmentation(Context(build_run({"data": {"name": "sine"}}), "quick"))
    assert c.verdict == NA and "reg.augment" in c.details["reason"]
