"""C3 (model size): model size is itself a regularizer: a small network cannot memorize label noise, a big one can.

Seed 000 (question and answer 6) closes the L1-collapse discussion with "model size is itself a regularizer":
fewer units, fewer functions the network can represent, so less room to fit noise. Here MLPs of growing width are
trained on scikit-learn's 8x8 digits with a fraction ``label_noise`` of the training labels replaced by random
ones, each to the end of the same epochs. The engine records the accuracy on the corrupted examples against their
noisy labels (``noisy_acc``: how much of the noise the network memorized) and the train and test accuracy.

Rule (declared as checks; thresholds in the presets; each a mean over run seeds of a difference paired by seed,
resolved by its 95 % t-interval): the widest network memorizes at least ``min_memorized_growth`` more of the
corrupted examples than the narrowest, and its generalization gap (train − test accuracy) is larger by at least
``min_gap_growth``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from gaplab.spec import RunSpec
from gaplab.studies.framework import (
    Check,
    Measured,
    Preset,
    Study,
    StudyContext,
    aside,
    run_seeds,
    run_spec,
    subplots,
    t_resolution,
)


@dataclass(frozen=True)
class P(Preset):
    widths: list[int]
    seeds: int
    train_size: int
    label_noise: float
    epochs: int
    lr: float
    min_memorized_growth: float
    min_gap_growth: float


QUICK = P(widths=[4, 32, 256], seeds=5, train_size=500, label_noise=0.2, epochs=40, lr=1e-2,
          min_memorized_growth=0.2, min_gap_growth=0.05)
FULL = replace(QUICK, widths=[2, 4, 8, 16, 32, 64, 128, 256, 512], seeds=10, train_size=1000, epochs=100)


def specs(p: P, seed: int) -> dict[tuple[int, int], RunSpec]:
    """(width, seed): a two-layer MLP of every width on the same noisy training set, Adam, to the last epoch."""
    base = run_spec({"data": {"name": "digits", "train_size": p.train_size, "label_noise": p.label_noise},
                     "model": {"name": "mlp", "args": {"depth": 2}},
                     "optim": {"name": "adam", "lr": p.lr, "epochs": p.epochs, "batch_size": 50},
                     "eval_every": p.epochs}, seed)
    return {(w, s): base.replace(**{"model.args.width": w, "seed": s})
            for w in p.widths for s in run_seeds(seed, p.seeds)}


@dataclass(frozen=True)
class M(Measured):
    memorized: dict[str, float]  # accuracy on the corrupted examples against their noisy labels
    train_accuracy: dict[str, float]
    test_accuracy: dict[str, float]
    gap: dict[str, float]  # train − test accuracy
    seeds: int
    memorized_growth: np.ndarray = aside()  # per seed: widest − narrowest
    gap_growth: np.ndarray = aside()


def measure(ctx: StudyContext, p: P) -> M:
    seeds, lo, hi = ctx.seeds(p.seeds), min(p.widths), max(p.widths)

    def final(w: int, metric: str) -> np.ndarray:
        return np.array([float(ctx.runs[(w, s)].final[metric]) for s in seeds])

    gap = {w: final(w, "train_acc") - final(w, "test_acc") for w in p.widths}
    return M(memorized={str(w): float(final(w, "noisy_acc").mean()) for w in p.widths},
             train_accuracy={str(w): float(final(w, "train_acc").mean()) for w in p.widths},
             test_accuracy={str(w): float(final(w, "test_acc").mean()) for w in p.widths},
             gap={str(w): float(gap[w].mean()) for w in p.widths}, seeds=len(seeds),
             memorized_growth=final(hi, "noisy_acc") - final(lo, "noisy_acc"), gap_growth=gap[hi] - gap[lo])


def checks(m: M, p: P) -> list[Check]:
    lo, hi = min(p.widths), max(p.widths)
    return [
        Check("big_memorizes_more", f"corrupted examples memorized, width {hi} − width {lo}",
              float(m.memorized_growth.mean()), ">", p.min_memorized_growth,
              resolution=t_resolution(m.memorized_growth)),
        Check("big_gap_larger", f"train − test accuracy, width {hi} − width {lo}", float(m.gap_growth.mean()), ">",
              p.min_gap_growth, resolution=t_resolution(m.gap_growth)),
    ]


def summary(m: M, p: P) -> str:
    lo, hi = str(min(p.widths)), str(max(p.widths))
    return (f"With {p.label_noise:.0%} of {p.train_size} digit labels corrupted, width {lo} memorized "
            f"{m.memorized[lo]:.2f} of the corrupted examples (gap {m.gap[lo]:+.3f}, test {m.test_accuracy[lo]:.3f})"
            f" and width {hi} {m.memorized[hi]:.2f} (gap {m.gap[hi]:+.3f}, test {m.test_accuracy[hi]:.3f}); seed "
            f"means over {m.seeds} seeds")


def figures(m: M, p: P) -> dict[str, Any]:
    fig, ax = subplots(1)
    for values, style, label in ((m.memorized, "o-", "corrupted examples memorized"),
                                 (m.train_accuracy, "s--", "train accuracy (noisy labels)"),
                                 (m.test_accuracy, "^-", "test accuracy")):
        ax.plot(p.widths, list(values.values()), style, label=label)
    ax.set_xscale("log", base=2)
    ax.set(xlabel="hidden width (MLP, 2 layers)", ylabel="accuracy (fraction)", ylim=(0, 1.02),
           title=f"digits, n={p.train_size}, {p.label_noise:.0%} label noise, {p.epochs} epochs")
    ax.legend(fontsize=8)
    return {"model_size": fig}


STUDY = Study(
    "model-size", "C3", "Model size is itself a regularizer: a small network cannot memorize label noise that a big "
    "one memorizes, and generalizes with a smaller gap.",
    quick=QUICK, full=FULL, specs=specs, measure=measure, checks=checks, figures=figures, summary=summary,
    breaking={"epochs": 1},  # one epoch: no width has memorized anything yet
)
