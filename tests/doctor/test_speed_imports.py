"""The doctor's quick path stays light: the CLI and a doctor run import neither pandas, scipy, scikit-learn,
matplotlib nor torch._dynamo (together 3–5 s of CPU, a whole quick budget) unless a table file, MixUp or a figure
needs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("pandas", "scipy", "sklearn", "matplotlib", "torch._dynamo")
SRC = str(Path(__file__).resolve().parents[2] / "src")

# one subprocess (importing torch is most of its cost): the loaded heavy modules after the CLI's imports, then
# after a doctor run through the baselines (ridge, k-NN), the label-noise second opinion (logistic regression on
# stratified folds) and the engine
CODE = f"""
import json, sys
def heavy():
    return [m for m in {HEAVY!r} if m in sys.modules]
import gaplab.cli.app, gaplab.cli.doctor, gaplab.doctor.workflow, gaplab.engine
after_import = heavy()
import torch
torch.set_num_threads(1)
from gaplab.doctor import diagnose
from gaplab.spec import parse_run
spec = parse_run({{"data": {{"name": "teacher-mlp", "args": {{"n_train": 300, "n_test": 100, "classes": 3}}}},
                  "model": {{"name": "mlp", "args": {{"width": 16}}}}, "optim": {{"epochs": 2}}}})
d = diagnose(spec, mode="quick", checks=["bias_variance", "label_noise"])
print(json.dumps({{"import": after_import, "run": heavy(), "families": sorted({{c.family for c in d.checks}}),
                  "verdicts": [c.verdict for c in d.checks]}}))
"""


def test_cli_and_a_doctor_run_import_nothing_heavy() -> None:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["import"] == [] and got["run"] == [], got
    assert got["families"] == ["bias_variance", "label_noise"] and "n/a" not in got["verdicts"], got
