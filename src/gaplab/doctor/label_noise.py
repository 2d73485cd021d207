"""Label noise (confident-learning style): out-of-fold predicted probabilities from k models trained at once in
one pack, each on all training examples but one fold; a fitted noise rate decides whether the labels are noisy,
and the examples most likely mislabelled are ranked."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import torch

from gaplab.doctor import reference_net
from gaplab.doctor.context import Context, LabelNoiseFound
from gaplab.doctor.cost import steps_for_cost
from gaplab.doctor.folds import averaged_over_epochs, held_out
from gaplab.doctor.linear import out_of_fold_proba
from gaplab.doctor.parallel import groups_for
from gaplab.doctor.result import PASS, WARN, Finding
from gaplab.engine import Pack, run_in_threads

FAMILY = "label_noise"
SHOWN = 20  # suspect indices printed; the JSON keeps up to MAX_KEPT
MAX_KEPT = 2000
WARN_RATE = 0.05  # estimated share of wrong labels from which the check warns
# the second opinion's folds, as the reference (5-fold ``cross_val_predict``): with 3 the regression fits on
# two thirds of the pool and is the weaker (digits CNN, 20-40 % noise: F1 0.83-0.86 flagged by 3 folds' fit)
SECOND_FOLDS = 5
RETRAINED = {"conv net"}  # sources whose folds were retrained without their first round's suspects
_TEMPS = torch.logspace(-0.5, 0.7, 25)  # temperatures tried by the noise fit (0.32–5)


@dataclass
class FoldProbs:
    """Out-of-fold class probabilities of the training pool: at the end of training, and averaged over epochs."""

    idx: torch.Tensor  # (N,) training pool indices
    last: torch.Tensor  # (N, K)
    averaged: torch.Tensor  # (N, K) mean over every epoch's predictions


def fold_of(ctx: Context) -> torch.Tensor:
    """Each training example's fold (0 … ``budget.folds`` − 1), drawn from the run's seed."""
    g = torch.Generator().manual_seed(ctx.spec.seed)
    return torch.randperm(len(ctx.prepared.train_idx), generator=g) % ctx.budget.folds


def fold_epochs(ctx: Context) -> int:
    """The fold models' epochs: ``fold_steps`` steps, fewer for a model above ``lr_macs`` multiply-adds per example
    (``cost.steps_for_cost``, at least ``fold_min_steps``): on the 32-channel digits CNN the folds were a third of
    the doctor's CPU, and the flagged set comes from the second opinion there (``best_source``)."""
    b = ctx.budget
    return ctx.epochs_for(steps_for_cost(ctx, b.fold_steps, b.fold_min_steps))


def fold_probabilities(ctx: Context) -> FoldProbs:
    """Train ``budget.folds`` models in one pack, model i on every training example outside fold i, and read each
    example's probabilities from the model that never saw it, after every epoch."""
    idx = ctx.prepared.train_idx
    k = ctx.budget.folds
    fold = fold_of(ctx)
    epochs = fold_epochs(ctx)
    spec = ctx.val_spec.replace(**{"optim.epochs": epochs, "eval_every": epochs, "reg.early_stopping": None})
    x = ctx.pool.x_train[idx]
    # the folds as packs side by side where torch has more than one thread: each pack's models predict the rows of
    # their own folds (the others' rows stay 0 in its probabilities, -1 in its fold ids)
    groups = groups_for(k, spec.device)

    def train(g: int) -> tuple[torch.Tensor, torch.Tensor]:
        own = groups[g]
        pack = Pack([spec] * len(own), train_idx=[idx[fold != i] for i in own])
        local = torch.where((fold >= own.start) & (fold < own.stop), fold - own.start, -1)
        return averaged_over_epochs(ctx, pack, f"label noise ({k} folds)" if g == 0 else "",
                                    lambda: held_out(pack, x, local, ctx.k), alone=len(groups) == 1)

    parts = run_in_threads([functools.partial(train, g) for g in range(len(groups))])
    last, averaged = (torch.stack([p[i] for p in parts]).sum(0) for i in range(2))
    return FoldProbs(idx, last, averaged)


def out_of_fold(ctx: Context) -> tuple[torch.Tensor, torch.Tensor]:
    """(training pool indices, out-of-fold class probabilities) for every training example."""
    fp = fold_probabilities(ctx)
    return fp.idx, fp.averaged


@dataclass
class NoiseFit:
    """The given labels as a mixture: the tempered model's class, a uniformly random class (symmetric noise), or
    the class the model most often confuses with the given one (a systematic swap, asymmetric noise)."""

    weights: tuple[float, float, float]  # (model, uniform, swap) shares
    temperature: float
    rate: float  # estimated share of wrong labels (a uniform draw keeps the true class 1/K of the time)
    posterior: torch.Tensor  # (N,) probability that each given label is wrong
    loglik: float  # mean log-likelihood of the given labels under the fitted mixture


def noise_fit(probs: torch.Tensor, given: torch.Tensor, k: int, iters: int = 200) -> NoiseFit:
    """Maximum-likelihood mixture p(given | x) = w₀·q_T(given) + w₁/K + w₂·q_T(swap(given)), q_T the out-of-fold
    probabilities at temperature T (best of a grid), the shares by EM.

    The temperature absorbs a model that is merely unsure or over-confident (a clean but hard data set), so the
    noise shares grow only when labels are far less likely than the tempered model allows: drawn at random, or
    swapped from the one class that labels of this class are most often predicted as."""
    logp = probs.clamp_min(1e-12).log().double()
    rows = torch.arange(len(given))
    pred = probs.argmax(1)
    swap = torch.tensor([int(torch.bincount(pred[(given == c) & (pred != c)], minlength=k).argmax())
                         if bool(((given == c) & (pred != c)).any()) else (c + 1) % k for c in range(k)])
    temps = _TEMPS.double()
    q = torch.softmax(logp.unsqueeze(0) / temps.view(-1, 1, 1), -1)  # (T, N, K): every temperature at once
    comp = torch.stack([q[:, rows, given], torch.full(q.shape[:2], 1.0 / k, dtype=torch.float64),
                        q[:, rows, swap[given]]], 1)  # (T, 3, N)
    w = torch.tensor([0.9, 0.05, 0.05], dtype=torch.float64).repeat(len(temps), 1)
    for _ in range(iters):  # EM on the shares only: the components are fixed
        joint = comp * w.unsqueeze(2)
        total = joint.sum(1, keepdim=True).clamp_min(1e-300)
        resp = joint / total
        w = resp.mean(2)
    ll = total.log().mean((1, 2))
    b = int(torch.argmax(ll))  # the first best, as a scan over the grid would keep it
    temp, w, resp = float(temps[b]), w[b], resp[b].T
    wrong = resp[:, 2] + resp[:, 1] * (k - 1) / k
    return NoiseFit((float(w[0]), float(w[1]), float(w[2])), temp, float(w[2] + w[1] * (k - 1) / k),
                    wrong.float(), float(ll[b]))


def confident_joint(probs: torch.Tensor, given: torch.Tensor, k: int) -> torch.Tensor:
    """Calibrated confident joint (Northcutt et al. 2021, eqs. 1–2; cleanlab's ``compute_confident_joint`` and
    ``calibrate_confident_joint``): (K, K) counts of examples labelled i whose probability of class j reaches j's
    threshold (the mean probability of j among examples labelled j), j the likeliest such class; each row rescaled
    to the number of examples labelled i. Its off-diagonal sum counts the wrong labels."""
    rows = torch.arange(len(given))
    self_conf = probs[rows, given]
    counts = torch.bincount(given, minlength=k).double()
    thresholds = torch.zeros(k, dtype=probs.dtype).index_add_(0, given, self_conf) / counts.clamp_min(1).to(probs)
    above = probs >= thresholds - 1e-6  # cleanlab's tolerance: an example at its own class's mean counts there
    guess = torch.where(above, probs, torch.full_like(probs, -1.0)).argmax(1)
    has = above.any(1)
    joint = torch.zeros(k, k, dtype=torch.float64)
    joint.index_put_((given[has], guess[has]), torch.ones(int(has.sum()), dtype=torch.float64), accumulate=True)
    return joint / joint.sum(1, keepdim=True).clamp_min(1) * counts.unsqueeze(1)


def systematic(fit: NoiseFit) -> bool:
    """Whether the fit sees label noise that is mostly a swap between classes (more swap than uniform share)."""
    return fit.rate >= WARN_RATE and fit.weights[2] > fit.weights[1]


def flag(fit: NoiseFit, probs: torch.Tensor, given: torch.Tensor, k: int, retrained: bool = False) -> torch.Tensor:
    """Positions of the flagged examples, most suspect first: posterior of being wrong > 0.5; under systematic
    noise, the confident joint's count of wrong labels, taken in the posterior's order — unless the probabilities
    come from folds ``retrained`` without their suspects.

    Models trained on swapped labels learn the swap (an example of class c gets probability ≈ the swap rate for
    c + 1), so the likelihood explains much of it as the model's own doubt and under-counts it; the confident
    joint's per-class thresholds count it, and the posterior still ranks it well. Folds retrained without the
    suspects learned little of the swap, and there the joint over-counts (MNIST-1D, 29 % swapped: 1441 flagged
    for 941 wrong, F1 0.67; the posterior's 906 flags, F1 0.70)."""
    if systematic(fit) and not retrained:
        joint = confident_joint(probs, given, k)
        n = min(len(given), round(float(joint.sum() - joint.trace())))
        return torch.argsort(fit.posterior, descending=True, stable=True)[:n]
    pos = torch.nonzero(fit.posterior > 0.5).flatten()
    return pos[torch.argsort(fit.posterior[pos], descending=True, stable=True)]


def second_opinion(ctx: Context, idx: torch.Tensor, given: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(positions, probabilities): a logistic regression's out-of-fold probabilities (``SECOND_FOLDS`` folds) of at
    most ``budget.baseline_examples`` training examples, or None when a class is too rare for that many folds. A
    network that underfits blames the labels for its own errors; a simple model that explains them does not."""
    g = torch.Generator().manual_seed(ctx.spec.seed)
    pick = torch.randperm(len(idx), generator=g)[: ctx.budget.baseline_examples]
    x = ctx.pool.x_train[idx[pick]].reshape(len(pick), -1)
    y = given[pick]
    if int(torch.bincount(y, minlength=ctx.k).min()) < SECOND_FOLDS:
        return None
    return pick, out_of_fold_proba(x, y, ctx.k, folds=SECOND_FOLDS)


def conv_opinion(ctx: Context, given: torch.Tensor) -> torch.Tensor:
    """Out-of-fold probabilities of gaplab's conv net on a 1-D signal (``reference_net``), pruned and retrained as
    confident learning prescribes (Northcutt et al. 2021, "prune, count and rank"): the folds trained on every
    label flag their suspects, and the same folds retrain without them and predict every example again, so the
    second models learn from far fewer wrong labels (MNIST-1D, 40 % noise: F1 0.82 → 0.86)."""
    fold = fold_of(ctx)
    first = reference_net.fold_probabilities(ctx, fold, label="label noise: conv reference, 1st round")
    keep = torch.ones(len(given), dtype=torch.bool)
    keep[flag(noise_fit(first, given, ctx.k), first, given, ctx.k)] = False
    return reference_net.fold_probabilities(ctx, fold, keep, label="label noise: conv reference, pruned")


def best_source(fits: dict[str, NoiseFit]) -> str:
    """The source whose fit explains the given labels best (the highest mixture likelihood out of fold, a held-out
    score); the first on ties."""
    return max(fits, key=lambda name: fits[name].loglik)


def run(ctx: Context) -> list[Finding]:
    if not ctx.classification:
        return []
    idx, net = out_of_fold(ctx)
    given = ctx.prepared.labels[idx]
    fits = {"network": noise_fit(net, given, ctx.k)}
    probs = {"network": net}
    second = second_opinion(ctx, idx, given)
    simple = None if second is None else noise_fit(second[1], given[second[0]], ctx.k)
    # the verdict takes the lowest estimate: label noise shows in every model's eyes
    rate = min(fits["network"].rate, 1.0 if simple is None else simple.rate)
    if second is not None and simple is not None and len(second[0]) == len(idx):
        order = torch.argsort(second[0])  # back to the pool's order
        fits["logistic regression"] = replace(simple, posterior=simple.posterior[order])
        probs["logistic regression"] = second[1][order]
    if ctx.budget.conv_reference and reference_net.applies(ctx):
        probs["conv net"] = conv_opinion(ctx, given)
        fits["conv net"] = noise_fit(probs["conv net"], given, ctx.k)
        rate = min(rate, fits["conv net"].rate)
    source = best_source(fits)
    fit, oof = fits[source], probs[source]
    self_conf = oof[torch.arange(len(given)), given]
    pos = flag(fit, oof, given, ctx.k, retrained=source in RETRAINED)
    oof_error = float((oof.argmax(1) != given).float().mean())
    ranked = idx[pos]
    details = {"suspects": ranked[:MAX_KEPT].tolist(), "n_suspects": len(pos), "n_train": len(idx),
               "folds": ctx.budget.folds, "oof_error": oof_error, "noise_rate": rate, "flagged_by": source,
               "loglik": {name: f.loglik for name, f in fits.items()},
               "noise_rate_fit": fit.rate, "shares": fit.weights,
               "systematic": systematic(fit),
               "temperature": fit.temperature, "posterior": fit.posterior[pos][:MAX_KEPT].tolist(),
               "self_confidence": self_conf[pos][:MAX_KEPT].tolist()}
    ctx.found.label_noise = LabelNoiseFound(idx, pos, self_conf, oof)  # named by doctor.suspects, drawn by plots
    first = ", ".join(map(str, ranked[:5].tolist()))
    swap = (" (a class swap" + ("" if source in RETRAINED else ": counted by the confident joint") + ")"
            if systematic(fit) else "")
    shown = f"≈ {100 * rate:.1f} % wrong; {len(pos)} suspects{swap}" + (f"; first: {first}" if len(pos) else "")
    verdict = WARN if rate >= WARN_RATE else PASS
    cause = fix = ""
    if verdict == WARN:
        cause = (f"label noise: about {rate:.0%} of the training labels look wrong ({len(pos)} suspects, each "
                 f"far less likely under models that never saw it than their uncertainty explains)")
        fix = ("inspect the top suspects (by row id, most suspicious first; --suspects FILE lists them); relabel or "
               "drop the wrong ones, or train with label smoothing / early stopping")
    return [Finding(FAMILY, "label noise (heuristic)", rate, shown,
                    f"< {100 * WARN_RATE:.0f} % of training labels estimated wrong", verdict, cause, fix, details)]
