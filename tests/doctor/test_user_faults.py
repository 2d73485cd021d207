"""Mistakes users really make, each injected and flagged with its root cause in the diagnosis's first sentence;
healthy set-ups stay quiet. Quick budgets; each fault runs only the check families it concerns.

Margins: the static checks are exact (outputs summing to 1 to 1e-4, a zero input gradient, labels 1..K, a batch
of 2, a target RMS 10⁴ against the 10³ FAIL line, test statistics exact to 1e-3 where training's are off by
≥ 0.07); near-copies give a nearest-neighbour ratio ≈ 0.1 against the 0.25 FAIL line (healthy ≈ 1); the rotated
digits' validation error rises by ≈ 0.1 against a ≈ 0.03 margin.
"""

from __future__ import annotations

from pathlib import Path

import doctor_faults as F
import pytest
import torch

from gaplab.doctor import diagnose
from gaplab.engine.validate import with_fingerprint
from gaplab.spec import parse_run


def _spec(**over):
    return with_fingerprint(parse_run({"seed": 0, **over}))


def _first_sentence(diag) -> str:
    # the paragraph's first sentence runs to the first ". " after the cause (causes contain no ". ")
    return diag.summary.split("; try:")[0] if "Fix this first" in diag.summary else diag.summary.split(". ")[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("user_faults")


def _files(folder: Path) -> dict[str, str]:
    return {f: F.mnist1d_npz(folder, f) for f in ("one_based", "test_stats", "noisy_copies")}


# (case, spec overrides (a callable of the data folder), families, check, verdict, words of the root cause)
CASES = [
    ("model ends in Softmax", lambda d: {"model": {"name": "doctor_faults:softmax_output"}}, ["init"],
     "outputs are logits", "FAIL", "outputs are probabilities (rows sum to 1): the loss expects logits"),
    ("labels 1..K (off by one)", lambda d: {"data": {"name": "file", "path": F.mnist1d_npz(d, "one_based")}},
     ["data"], "labels in range", "FAIL", "labels off by one"),
    ("normalized with the test set's statistics",
     lambda d: {"data": {"name": "file", "path": F.mnist1d_npz(d, "test_stats")}}, ["data"],
     "normalization statistics", "WARN", "normalization statistics taken from the test set"),
    ("batch size 2 with batch norm", lambda d: {"model": {"name": "mlp", "args": {"batch_norm": True}},
                                                "optim": {"batch_size": 2}}, ["init"],
     "batch size for batch norm", "FAIL", "batch size 2 with batch norm"),
    ("regression target ×1e4", lambda d: {"data": {"name": "file", "path": F.regression_csv(d, 1e4)}}, ["data"],
     "target scale", "FAIL", "target's scale is 1.2e+04"),
    ("validation split leaks groups (noisy copies)",
     lambda d: {"data": {"name": "file", "path": F.mnist1d_npz(d, "noisy_copies")}}, ["data"],
     "validation split leak", "FAIL", "groups leak across the validation split"),
    ("output ignores some input features", lambda d: {"model": {"name": "doctor_faults:drops_features"}},
     ["init", "input"], "every input feature used", "FAIL", "does not depend on input features 30, 31"),
    ("label-changing augmentation (digits turned up to 180°)",
     lambda d: {"data": {"name": "digits"}, "reg": {"augment": [{"name": "rotate", "amount": 180}]}}, ["input"],
     "augmentation keeps labels", "WARN", "changes what the label means"),
]


@pytest.mark.parametrize("case, over, families, check, verdict, words", CASES, ids=[c[0] for c in CASES])
def test_user_fault_is_flagged_with_its_root_cause_first(files, case, over, families, check, verdict, words):
    torch.set_num_threads(1)
    diag = diagnose(_spec(**over(files)), mode="quick", checks=families)
    c = diag.check(check)
    assert c.verdict == verdict, (c.verdict, c.shown, c.cause)
    assert words in c.cause, (words, c.cause)
    assert words in _first_sentence(diag), diag.summary


def test_healthy_inputs_raise_none_of_the_new_checks(files):
    """The new data checks stay PASS on clean MNIST-1D, a unit-scale regression and the wine table."""
    torch.set_num_threads(1)
    new = {"normalization statistics", "validation split leak", "target scale", "labels in range",
           "outputs are logits", "batch size for batch norm", "constant features"}
    for over in ({}, {"data": {"name": "file", "path": F.regression_csv(files, 1.0)}},
                 {"data": {"name": "file", "path": F.wine_csv(files)}}, {"data": {"name": "digits"}},
                 {"model": {"name": "mlp", "args": {"batch_norm": True}}}):
        diag = diagnose(_spec(**over), mode="quick", checks=["data", "init"])
        flagged = [(c.name, c.shown) for c in diag.checks if c.name in new and c.verdict not in ("PASS", "n/a")]
        assert not flagged, (over, flagged)
        leak = [c for c in diag.checks if c.name == "validation split leak"]
        assert not leak or leak[0].value is None or leak[0].value > 0.6, leak[0].shown


def test_noise_fit_estimates_the_rate_and_passes_clean_labels():
    """Synthetic out-of-fold probabilities of a decent but unsure model (right class 0.5–0.9): symmetric noise's
    share is recovered within 3 points, a swap c → c+1 is counted, clean labels estimate < 2 %."""
    from gaplab.doctor.label_noise import noise_fit

    g = torch.Generator().manual_seed(0)
    n, k = 3000, 10
    true = torch.randint(0, k, (n,), generator=g)
    logits = torch.randn(n, k, generator=g)
    logits[torch.arange(n), true] += 2.5 + torch.rand(n, generator=g)
    probs = torch.softmax(logits, -1)
    assert noise_fit(probs, true, k).rate < 0.02
    hit = torch.rand(n, generator=g) < 0.3
    noisy = torch.where(hit, torch.randint(0, k, (n,), generator=g), true)
    fit = noise_fit(probs, noisy, k)
    assert abs(fit.rate - float((noisy != true).float().mean())) < 0.03, fit.rate
    swapped = torch.where(hit, (true + 1) % k, true)
    assert noise_fit(probs, swapped, k).rate > 0.1


def test_clean_mnist1d_label_noise_passes():
    torch.set_num_threads(1)
    c = diagnose(_spec(), mode="quick", checks=["label_noise"]).check("label noise (heuristic)")
    assert c.verdict == "PASS" and c.value < 0.04, c.shown


def test_flags_come_from_the_model_that_explains_the_labels_better():
    """A network that learned little (its right class barely above the rest) loses to a sharper simple model on
    the mixture likelihood, so the simple model's fit flags; the sharper one wins either way round."""
    from gaplab.doctor.label_noise import best_source, noise_fit

    g = torch.Generator().manual_seed(0)
    n, k = 2000, 10
    true = torch.randint(0, k, (n,), generator=g)
    hit = torch.rand(n, generator=g) < 0.2
    given = torch.where(hit, torch.randint(0, k, (n,), generator=g), true)

    def model(strength: float) -> torch.Tensor:
        logits = torch.randn(n, k, generator=g)
        logits[torch.arange(n), true] += strength
        return torch.softmax(logits, -1)

    weak, sharp = noise_fit(model(0.7), given, k), noise_fit(model(4.0), given, k)
    assert best_source({"network": weak, "logistic regression": sharp}) == "logistic regression"
    assert best_source({"network": sharp, "logistic regression": weak}) == "network"
    wrong = given != true
    flagged = sharp.posterior > 0.5
    assert float((flagged & wrong).sum()) / float(flagged.sum()) > 0.8
