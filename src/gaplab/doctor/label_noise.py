"""Label noise (confident-learning style): out-of-fold predicted probabilities from k models trained at once in
one pack, each on all training examples but one fold; a fitted noise rate decides whether the labels are noisy,
and the examples most likely mislabelled are ranked."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gaplab.doctor.context import Context
from gaplab.doctor.result import PASS, WARN, Check
from gaplab.engine.pack import Pack

FAMILY = "label_noise"
SHOWN = 20  # suspect indices printed; the JSON keeps up to MAX_KEPT
MAX_KEPT = 2000
WARN_RATE = 0.05  # estimated share of wrong labels from which the check warns
_TEMPS = torch.logspace(-0.5, 0.7, 25)  # temperatures tried by the noise fit (0.32–5)
_RHOS = torch.linspace(0.0, 0.8, 161)  # uniform-label shares tried (step 0.005)


@dataclass
class FoldProbs:
    """Out-of-fold class probabilities of the training pool: at the end of training, and averaged over epochs."""

    idx: torch.Tensor  # (N,) training pool indices
    last: torch.Tensor  # (N, K)
    averaged: torch.Tensor  # (N, K) mean over every epoch's predictions


def fold_probabilities(ctx: Context) -> FoldProbs:
    """Train ``budget.folds`` models in one pack, model i on every training example outside fold i, and read each
    example's probabilities from the model that never saw it, after every epoch."""
    idx = ctx.prepared.train_idx
    k = ctx.budget.folds
    g = torch.Generator().manual_seed(ctx.spec.seed)
    fold = torch.randperm(len(idx), generator=g) % k
    epochs = ctx.epochs_for(ctx.budget.fold_steps)
    spec = ctx.val_spec.replace(**{"optim.epochs": epochs, "eval_every": epochs})
    pack = Pack([spec] * k, train_idx=[idx[fold != i] for i in range(k)])
    x = ctx.pool.x_train[idx]
    rows = torch.arange(len(idx))
    total = torch.zeros(len(idx), ctx.k)
    label = f"label noise ({k} folds)"

    def on_epoch(e: int, n: int) -> None:
        # averaging over the trajectory keeps the early epochs, before the models memorize the wrong labels
        total.add_(torch.softmax(pack.logits(x), -1)[fold, rows])
        ctx.progress(label, e, n)

    ctx.progress(label, 0, epochs)
    pack.fit(on_epoch)
    last = torch.softmax(pack.logits(x), -1)[fold, rows]
    return FoldProbs(idx, last, total / epochs)


def out_of_fold(ctx: Context) -> tuple[torch.Tensor, torch.Tensor]:
    """(training pool indices, out-of-fold class probabilities) for every training example."""
    fp = fold_probabilities(ctx)
    return fp.idx, fp.averaged


@dataclass
class NoiseFit:
    """The labels as a mixture: a share ``rho`` drawn uniformly at random, the rest from the tempered model."""

    rho: float  # share of labels drawn uniformly (a uniform draw keeps the true class 1/K of the time)
    temperature: float
    rate: float  # estimated share of wrong labels, rho·(K−1)/K
    posterior: torch.Tensor  # (N,) probability that each given label is a random draw


def noise_fit(probs: torch.Tensor, given: torch.Tensor, k: int) -> NoiseFit:
    """Maximum-likelihood noise share: p(given | x) = (1 − ρ)·softmax(log p / T)[given] + ρ/K over a grid of ρ, T.

    The temperature absorbs a model that is merely unsure or over-confident (a clean but hard data set), so ρ
    grows only when some labels are far less likely than the model's tempered probabilities allow: labels drawn
    at random, as symmetric noise draws them."""
    logp = probs.clamp_min(1e-12).log()
    rows = torch.arange(len(given))
    # (T, N): the given label's tempered probability
    tempered = torch.softmax(logp.unsqueeze(0) / _TEMPS.view(-1, 1, 1), -1)[:, rows, given]
    mix = (1 - _RHOS.view(1, -1, 1)) * tempered.unsqueeze(1) + _RHOS.view(1, -1, 1) / k  # (T, R, N)
    ll = mix.clamp_min(1e-30).log().mean(-1)
    best = int(ll.argmax())
    t, r = divmod(best, len(_RHOS))
    rho, p = float(_RHOS[r]), tempered[t]
    posterior = (rho / k) / ((1 - rho) * p + rho / k).clamp_min(1e-30)
    return NoiseFit(rho, float(_TEMPS[t]), rho * (k - 1) / k, posterior)


def run(ctx: Context) -> list[Check]:
    if not ctx.classification:
        return []
    idx, oof = out_of_fold(ctx)
    given = ctx.prepared.labels[idx]
    fit = noise_fit(oof, given, ctx.k)
    self_conf = oof[torch.arange(len(given)), given]
    pos = torch.nonzero(fit.posterior > 0.5).flatten()
    pos = pos[torch.argsort(fit.posterior[pos], descending=True)]
    oof_error = float((oof.argmax(1) != given).float().mean())
    ranked = idx[pos]
    details = {"suspects": ranked[:MAX_KEPT].tolist(), "n_suspects": len(pos), "n_train": len(idx),
               "folds": ctx.budget.folds, "oof_error": oof_error, "noise_rate": fit.rate, "rho": fit.rho,
               "temperature": fit.temperature, "posterior": fit.posterior[pos][:MAX_KEPT].tolist(),
               "self_confidence": self_conf[pos][:MAX_KEPT].tolist()}
    ctx.cache["label_noise"] = (idx, pos, self_conf)
    first = ", ".join(map(str, ranked[:5].tolist()))
    shown = f"≈ {100 * fit.rate:.1f} % wrong; {len(pos)} suspects" + (f"; first: {first}" if len(pos) else "")
    verdict = WARN if fit.rate >= WARN_RATE else PASS
    cause = fix = ""
    if verdict == WARN:
        cause = (f"label noise: about {fit.rate:.0%} of the training labels look drawn at random ({len(pos)} "
                 f"suspects, each far less likely under models that never saw it than the model's uncertainty "
                 f"explains)")
        fix = ("inspect the top suspects (indices into the training pool, most suspicious first); relabel or drop "
               "the wrong ones, or train with label smoothing / early stopping")
    # only symmetric (uniformly drawn) wrong labels raise the estimate: a systematic swap of two classes looks
    # like classes the model confuses and is not counted (see benchmarks/label_noise_truth.py)
    return [Check(FAMILY, "label noise (heuristic)", fit.rate, shown,
                  f"< {100 * WARN_RATE:.0f} % of training labels estimated wrong", verdict, cause, fix, details)]
