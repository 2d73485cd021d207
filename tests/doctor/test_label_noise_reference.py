"""The label-noise family's conv-net second opinion: trained on 1-D signals only, pruned before its second round,
and the flags come from the source whose out-of-fold likelihood is highest."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from gaplab.doctor import diagnose, reference_net
from gaplab.doctor import label_noise as L
from gaplab.doctor.context import BUDGETS, Context
from gaplab.engine.validate import with_fingerprint
from gaplab.spec import parse_run

torch.set_num_threads(1)  # the suite runs on a shared machine: no spinning threads


def _spec(data: dict, noise: float = 0.0, model: str = "mlp"):
    return with_fingerprint(parse_run({"seed": 0, "model": {"name": model},
                                       "data": {**data, "label_noise": noise}, "optim": {"epochs": 5}}))


def test_best_source_is_the_highest_likelihood_first_on_ties() -> None:
    g = torch.Generator().manual_seed(0)
    given = torch.randint(0, 10, (500,), generator=g)
    sharp = torch.softmax(torch.nn.functional.one_hot(given, 10) * 4.0 + torch.randn(500, 10, generator=g), -1)
    blurred = torch.softmax(torch.randn(500, 10, generator=g), -1)
    fits = {"network": L.noise_fit(blurred, given, 10), "conv net": L.noise_fit(sharp, given, 10)}
    assert L.best_source(fits) == "conv net"
    assert L.best_source({"network": fits["conv net"], "logistic regression": fits["conv net"]}) == "network"


def _shaped(shape: tuple[int, ...], classification: bool = True) -> Context:
    """What ``applies`` reads of a context: the input's shape and the task."""
    return SimpleNamespace(pool=SimpleNamespace(input_shape=shape), classification=classification)  # type: ignore


def test_the_reference_applies_to_signals_only_and_not_in_quick_mode() -> None:
    assert reference_net.applies(_shaped((40,))) and reference_net.applies(_shaped((3, 40)))
    assert not reference_net.applies(_shaped((13,)))  # a short table: no signal
    assert not reference_net.applies(_shaped((4096,)))  # too long to train within the budget
    assert not reference_net.applies(_shaped((1, 8, 8)))  # images: no 2-D reference (digits meets the bars)
    assert not reference_net.applies(_shaped((40,), classification=False))
    assert BUDGETS["default"].conv_reference and not BUDGETS["quick"].conv_reference


def test_pruned_examples_leave_every_fold_models_training() -> None:
    ctx = Context(_spec({"name": "mnist1d", "train_size": 200}, 0.3))
    fold = L.fold_of(ctx)
    keep = torch.ones(len(fold), dtype=torch.bool)
    keep[::3] = False
    # an MNIST-1D fold trains 20 epochs (38 steps each); a pool four times larger, 800 steps' worth
    assert (reference_net.spec_for(ctx, 2400).optim.epochs, reference_net.spec_for(ctx, 9600).optim.epochs) == (20, 5)
    spec = reference_net.spec_for(ctx, 100)
    assert (spec.model.name, spec.optim.batch_size, spec.reg.dropout) == ("cnn1d", reference_net.BATCH, 0.0)
    probs = reference_net.fold_probabilities(ctx, fold, keep)
    assert probs.shape == (len(fold), 10) and torch.allclose(probs.sum(1), torch.ones(len(fold)), atol=1e-5)


def test_on_a_signal_the_flags_come_from_the_likeliest_source() -> None:
    """MNIST-1D with an MLP and 30 % noise (400 examples): the check consults the conv net and flags with the source
    of the highest likelihood; the noise is found."""
    c = diagnose(_spec({"name": "mnist1d", "train_size": 400}, 0.3), checks=["label_noise"]).check(
        "label noise (heuristic)")
    ll = c.details["loglik"]
    assert set(ll) == {"network", "logistic regression", "conv net"}, ll
    assert c.details["flagged_by"] == max(ll, key=ll.get)
    assert c.verdict == "WARN" and c.value > 0.1, c.shown
