"""The label-noise flags on synthetic out-of-fold probabilities: a class swap the models learned is counted by
the confident joint (which matches cleanlab's), symmetric noise and clean labels keep the posterior's flags."""

from __future__ import annotations

import torch

from gaplab.doctor.label_noise import NoiseFit, confident_joint, flag, noise_fit, systematic

N, K = 3000, 10
torch.set_num_threads(1)  # the suite runs on a shared machine: no spinning threads


def _learned(true: torch.Tensor, swap_rate: float, g: torch.Generator) -> torch.Tensor:
    """Probabilities of models that learned the labels they were given: the true class, with ``swap_rate`` of its
    mass moved to the next class (a c → c + 1 swap learned), blurred by noise."""
    logits = torch.randn(N, K, generator=g) * 0.5
    logits[torch.arange(N), true] += 3.0
    probs = torch.softmax(logits, -1)
    moved = probs[torch.arange(N), true] * swap_rate
    probs[torch.arange(N), true] -= moved
    probs[torch.arange(N), (true + 1) % K] += moved
    return probs


def test_confident_joint_matches_cleanlab() -> None:
    from cleanlab.count import calibrate_confident_joint, compute_confident_joint

    g = torch.Generator().manual_seed(1)
    given = torch.randint(0, K, (N,), generator=g)
    probs = torch.softmax(torch.randn(N, K, generator=g) * 2, -1)
    ours = confident_joint(probs.double(), given, K)
    theirs = calibrate_confident_joint(compute_confident_joint(given.numpy(), probs.double().numpy()),
                                       given.numpy())
    assert torch.allclose(ours, torch.as_tensor(theirs, dtype=torch.float64), atol=1.0)


def _swapped(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, NoiseFit]:
    """30 % of the labels swapped c → c + 1, models that learned the swap: (wrong mask, given, probs, fit)."""
    g = torch.Generator().manual_seed(seed)
    true = torch.randint(0, K, (N,), generator=g)
    wrong = torch.rand(N, generator=g) < 0.3
    given = torch.where(wrong, (true + 1) % K, true)
    probs = _learned(true, 0.3, g)
    return wrong, given, probs, noise_fit(probs, given, K)


def test_a_learned_swap_is_counted_and_ranked() -> None:
    wrong, given, probs, fit = _swapped(0)
    assert systematic(fit), fit.weights
    assert fit.rate < 0.2  # the likelihood alone under-counts what the models learned
    flagged = torch.zeros(N, dtype=torch.bool)
    flagged[flag(fit, probs, given, K)] = True
    precision = float((flagged & wrong).sum() / flagged.sum())
    recall = float((flagged & wrong).sum() / wrong.sum())
    assert precision > 0.85 and recall > 0.85, (precision, recall)


def test_symmetric_noise_and_clean_labels_keep_the_posterior() -> None:
    g = torch.Generator().manual_seed(2)
    true = torch.randint(0, K, (N,), generator=g)
    probs = _learned(true, 0.0, g)
    clean = noise_fit(probs, true, K)
    assert not systematic(clean)
    hit = torch.rand(N, generator=g) < 0.3
    noisy = torch.where(hit, torch.randint(0, K, (N,), generator=g), true)
    fit = noise_fit(probs, noisy, K)
    assert not systematic(fit)
    pos = flag(fit, probs, noisy, K)
    assert torch.equal(torch.sort(pos).values, torch.nonzero(fit.posterior > 0.5).flatten())
    assert bool((fit.posterior[pos][:-1] >= fit.posterior[pos][1:]).all())  # most suspect first


def test_retrained_folds_keep_the_posterior_under_a_swap() -> None:
    """Folds retrained without their suspects (the conv second opinion) learned little of the swap: their flags are
    the posterior's, not the confident joint's count."""
    _, given, probs, fit = _swapped(3)
    assert systematic(fit)
    pos = flag(fit, probs, given, K, retrained=True)
    assert torch.equal(torch.sort(pos).values, torch.nonzero(fit.posterior > 0.5).flatten())
    assert len(pos) < len(flag(fit, probs, given, K))
