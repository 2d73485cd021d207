"""The doctor's quick path stays light: the CLI and a doctor run import neither pandas, scipy, scikit-learn nor
matplotlib (together ≈ 3–5 s of CPU, the whole quick budget) unless a table file, MixUp or a figure needs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("pandas", "scipy", "sklearn", "matplotlib", "torch._dynamo")
SRC = str(Path(__file__).resolve().parents[2] / "src")


def _loaded(code: str) -> list[str]:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", code + f"\nimport json, sys; print(json.dumps([m for m in {HEAVY!r} "
                          "if m in sys.modules]))"], capture_output=True, text=True, env=env, check=True)
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def test_cli_import_is_light() -> None:
    assert _loaded("import gaplab.cli.app, gaplab.cli.doctor, gaplab.doctor.workflow, gaplab.engine") == []


def test_a_doctor_run_without_figures_is_light() -> None:
    # baselines (ridge, k-NN), the label-noise second opinion (logistic regression, stratified folds), the engine
    code = """
import torch
torch.set_num_threads(1)
from gaplab.doctor import diagnose
from gaplab.spec import parse_run
spec = parse_run({"data": {"name": "teacher-mlp", "args": {"n_train": 300, "n_test": 100, "classes": 3}},
                  "model": {"name": "mlp", "args": {"width": 16}}, "optim": {"epochs": 2}})
d = diagnose(spec, mode="quick", checks=["bias_variance", "label_noise"])
assert {c.family for c in d.checks} == {"bias_variance", "label_noise"}, d.checks
"""
    assert _loaded(code) == []
