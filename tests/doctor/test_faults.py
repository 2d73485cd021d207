"""The doctor's injected-fault catalogue: each fault must make the right check FAIL (or WARN) with the right cause,
and healthy set-ups must give no FAIL. Quick budgets; each fault runs only the check families it concerns.

Margins (checked over seeds 0-4 in quick mode, see benchmarks/doctor_catalogue.py for the default mode): every
asserted FAIL below sits orders of magnitude past its threshold (initial loss 10⁴-10⁵ × ln K against 3×; 100 %
dead units against 50 %; RMS 10⁴ against 100; 100 % duplicates against 5 %; one-feature skill 1.0 against 0.98),
or is decided by a margin of several standard errors (zero-input comparison) or a 10× learning-rate ratio.
"""

from __future__ import annotations

import json
from pathlib import Path

import doctor_faults as F
import pytest
import torch

from gaplab.doctor import diagnose
from gaplab.engine.datacache import prepared_for
from gaplab.engine.validate import with_fingerprint
from gaplab.spec import parse_run


def _spec(**over):
    return with_fingerprint(parse_run({"seed": 0, **over}))


def _run(spec, checks=None, **kw):
    torch.set_num_threads(1)
    return diagnose(spec, mode="quick", checks=checks, **kw)


def _flagged(diag, name, verdicts=("FAIL",), words=()):
    c = diag.check(name)
    assert c.verdict in verdicts, (c.verdict, c.shown, c.cause)
    for w in words:
        assert w in c.cause, (w, c.cause)
    return c


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("doctor_data")


@pytest.fixture(scope="module")
def healthy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("doctor_plots")
    return _run(_spec(), folder=folder), folder


# ---- healthy set-ups: no FAIL --------------------------------------------------------------------------------
def test_healthy_mnist1d_mlp_has_no_fail(healthy):
    diag, folder = healthy
    assert not diag.failed(), [(c.name, c.cause) for c in diag.failed()]
    assert {c.family for c in diag.checks} == {"data", "init", "input", "overfit", "lr", "dynamics", "bias_variance",
                                               "label_noise"}
    # the suggestion exists (the range's validation-loss minimum, or a tenth of it) and sits within a decade of the
    # rate MNIST-1D MLPs are trained at (Adam 1e-2)
    assert diag.suggested_lr is not None and 1e-4 <= diag.suggested_lr <= 1e-2
    assert "No check failed" in diag.summary or "checks passed" in diag.summary
    data = json.loads(json.dumps(diag.to_dict()))
    assert data["counts"]["FAIL"] == 0 and len(data["checks"]) == len(diag.checks)
    assert set(diag.plots) >= {"lr_range.png", "dynamics.png", "overfit_tiny.png"}
    assert all((folder / p).stat().st_size > 1000 for p in diag.plots)


# The CNNs skip the costly learning-rate pack here (the catalogue benchmark runs every family on them).
@pytest.mark.parametrize("over, checks", [
    ({"model": {"name": "cnn1d"}}, ["init", "input", "overfit", "dynamics"]),
    ({"data": {"name": "digits"}, "model": {"name": "cnn2d", "args": {"channels": 8}}},
     ["data", "init", "input", "overfit", "dynamics"]),
], ids=["mnist1d-cnn", "digits-cnn"])
def test_healthy_cnns_have_no_fail(over, checks):
    diag = _run(_spec(**over), checks=checks)
    assert not diag.failed(), [(c.name, c.cause) for c in diag.failed()]


def test_healthy_tabular_csv_has_no_fail(files):
    csv = F.tabular_csv(files)
    diag = _run(_spec(data={"name": "file", "path": csv}, model={"name": "mlp", "args": {"width": 64}}))
    assert not diag.failed(), [(c.name, c.cause) for c in diag.failed()]


# ---- faults ---------------------------------------------------------------------------------------------------
def test_learning_rate_100x_too_high():
    diag = _run(_spec(optim={"lr": 1.0}), checks=["lr"])
    _flagged(diag, "learning rate", words=("too high",))


def test_learning_rate_1000x_too_low():
    diag = _run(_spec(optim={"lr": 1e-5}), checks=["lr", "dynamics"])
    _flagged(diag, "learning rate", words=("too low",))
    _flagged(diag, "loss falls", ("WARN", "FAIL"), words=("too low",))


def test_init_100x_too_large():
    diag = _run(_spec(model={"name": "doctor_faults:big_init"}), checks=["init"])
    _flagged(diag, "initial loss", words=("initialization too large",))
    _flagged(diag, "output scale at init", words=("initialization too large",))


def test_dead_relu_at_init():
    diag = _run(_spec(model={"name": "doctor_faults:dead_relu"}), checks=["init"])
    c = _flagged(diag, "dead ReLU at init", words=("dead ReLU", "biases"))
    assert c.value == 1.0


def test_unscaled_features_with_standardization_off(files):
    diag = _run(_spec(data={"name": "file", "path": F.mnist1d_npz(files, "scaled"), "standardize": False}),
                checks=["data"])
    _flagged(diag, "feature scale", words=("unscaled",))


def test_test_set_copied_into_training(files):
    diag = _run(_spec(data={"name": "file", "path": F.mnist1d_npz(files, "leak_test")}), checks=["data"])
    c = _flagged(diag, "train/test duplicates", words=("leakage",))
    assert c.value == 1.0


def test_target_copied_into_a_feature(files):
    diag = _run(_spec(data={"name": "file", "path": F.tabular_csv(files, leak=True)}), checks=["data"])
    _flagged(diag, "one-feature leakage", words=("leakage", "diagnosis_code"))


def test_labels_shuffled_relative_to_inputs(files):
    diag = _run(_spec(data={"name": "file", "path": F.mnist1d_npz(files, "shuffled")}), checks=["input"])
    _flagged(diag, "beats zeroed inputs", words=("labels do not depend on the inputs",))


def test_model_that_ignores_its_input():
    diag = _run(_spec(model={"name": "doctor_faults:ignores_input"}), checks=["input", "overfit"])
    _flagged(diag, "beats zeroed inputs", words=("does not depend on its input",))
    _flagged(diag, "overfit a tiny set", words=("label/input mismatch",))


def test_label_noise_suspects_are_mostly_flipped_examples():
    spec = _spec(data={"name": "mnist1d", "label_noise": 0.3})
    diag = _run(spec, checks=["label_noise"])
    c = diag.check("label noise (heuristic)")
    p = prepared_for(spec.replace(**{"data.val_fraction": 0.2}))
    top = torch.tensor(c.details["suspects"][:200])
    precision = float(p.corrupted[top].float().mean())
    # 30 % noise: a random pick is flipped 27 % of the time (1 in 10 redraws keeps its label)
    assert precision >= 0.7, precision
    assert c.verdict == "WARN"


def test_unknown_family_is_a_spec_error():
    from gaplab.errors import SpecError

    with pytest.raises(SpecError, match="checks"):
        diagnose(_spec(), checks=["nope"])


def test_regression_leak_is_caught_and_a_single_feature_is_not_a_leak(files):
    import numpy as np
    import pandas as pd

    g = np.random.default_rng(0)
    x = g.normal(size=(400, 3))
    df = pd.DataFrame(x, columns=["a", "b", "c"])
    df["target"] = x[:, 0] + 0.5 * x[:, 1] + 0.3 * g.normal(size=400)
    df.to_csv(files / "reg.csv", index=False)
    df.insert(1, "copy", df["target"])
    df.to_csv(files / "reg_leak.csv", index=False)
    ok = _run(_spec(data={"name": "file", "path": str(files / "reg.csv")}), checks=["data"])
    assert not ok.failed() and ok.task["kind"] == "regression"
    leak = _run(_spec(data={"name": "file", "path": str(files / "reg_leak.csv")}), checks=["data"])
    _flagged(leak, "one-feature leakage", words=("'copy'",))
    sine = _run(_spec(data={"name": "sine"}), checks=["data"])  # y = sin(x): its one feature must not be flagged
    assert sine.check("one-feature leakage").verdict == "n/a"  # one feature: nothing to single out
