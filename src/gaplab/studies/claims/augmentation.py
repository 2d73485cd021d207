"""C11: data augmentation is cheap extra data, worth less than independent new data.

Setup (seed documents 001 and 003; 000's comment "many rotated cats are not one regularized cat"): a small CNN
(``cnn2d``, flatten head) on sklearn digits (1×8×8, raw pixels in [0, 1] so that zero fill is background) with a
small training set n, trained with no augmentation, random horizontal flips, pad-and-crop, rotation, CutOut
(DeVries & Taylor 2017), MixUp (Zhang et al. 2018) or CutMix (Yun et al. 2019), and without augmentation on
``real_factor``·n real examples. A learning curve of the plain model (sizes n·2^(k/2)) converts every accuracy into
"equivalent real examples": the n at which the plain curve reaches that accuracy (isotonic curve, interpolated in
log-log on the error; power-law extrapolation outside the measured range), minus n.
Horizontal flips change the meaning of some digits (2/5, 3, 7, ...), so flipping is expected to hurt here.

Rule (declared as checks; thresholds in the presets): at least one augmentation helps (the best gain in mean test
accuracy over no augmentation above ``min_gain``), and no augmentation is worth as much as the extra real data (the
largest equivalent_extra_data divided by the (real_factor − 1)·n extra real examples below 1). Resolutions: the
95 % t-interval over seeds of the seed-paired gain, and t × the jackknife standard error over seeds of the worth
ratio.

Full preset, measured (one thread, 2026-12-01): with 4 seeds the verdict flipped with --seed (0: held, crop
+0.032 ± 0.006 SE; 1: did not hold, crop −0.002 ± 0.005); at 16 seeds (100 epochs, Adam 1e-2) the best gains were
+0.005 (one crop run collapsed: crop −0.046 ± 0.054) and +0.011 ± 0.004, at ``min_gain``: undecided. Two things
changed that: augmentation needs longer training to pay (crop at 8 seeds: +0.009 after 60 epochs, +0.015 after
100, +0.025 after 200), and Adam at 1e-2 now and then collapses a crop run (at 200 epochs, --seed 1: crop
−0.103 ± 0.106); at 3e-3 no run collapsed (crop +0.018 / +0.022 ± 0.006 at 200 epochs, +0.023 / +0.021 at 400).
So the full preset trains 200 epochs with Adam 3e-3 over 32 seeds (≈ 6 min of one core): --seed 0 held (best
crop +0.017 ± 0.003 over none, 1.2 resolutions above ``min_gain``; cutmix +0.015; flips −0.040; the best
augmentation is worth 0.67 of the 200 extra real examples), --seed 1 held (cutmix +0.018 ± 0.003, crop +0.015,
1.3 resolutions; worth 0.70). n = 100 does not enlarge the gain (--seed 1, old settings: best gain −0.001).

The quick preset trains 4 seeds for 100 epochs (Adam 1e-2; ≈ 45 s of one core, packed) so that both checks take
their resolution from the study's own seeds, as the full preset's do. With one seed it had to borrow a spread
measured on the tuned seeds 0–4, which was too small for fresh seeds: at ``--seed 12`` a wobble read "did not
hold". 100 rather than 60 epochs because augmentation pays only with longer training (at 60 epochs the best gain
over 4 seeds sat at ``min_gain``, +0.003…+0.027 at --seed 0–4, and the breaking case was not decided: the best
augmentation's equivalent extra data was only 1.2 resolutions from zero). The gain's 95 % t-interval over 4 seeds
is ≈ 0.02, so the quick verdict is often undecided; the full preset decides. Its learning curve reaches n·2^1.5
(566 examples), past the 2n of the comparison, so an augmentation that beats 2n is read off the curve, not
extrapolated. Measurements: ``docs/verdicts.md``.
"""

from __future__ import annotations

import math
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
    jackknife_resolution,
    run_seeds,
    run_spec,
    standard_error,
    subplots,
    t_resolution,
)
from gaplab.studies.framework.curves import equivalent_n, size_ticks

METHODS = ("flip", "crop", "rotate", "cutout", "mixup", "cutmix")

@dataclass(frozen=True)
class P(Preset):
    train_size: int
    real_factor: float
    curve_exponents: list[int]
    seeds: int
    epochs: int
    lr: float
    channels: int
    crop: int
    rotate: float
    cutout: int
    mixup: float
    cutmix: float
    min_gain: float


QUICK = P(train_size=200, real_factor=2.0, curve_exponents=[-2, -1, 0, 1, 2, 3], seeds=4, epochs=100, lr=1e-2,
          channels=8, crop=1, rotate=15.0, cutout=3, mixup=0.4, cutmix=1.0, min_gain=0.01)
FULL = replace(QUICK, curve_exponents=[-4, -3, -2, -1, 0, 1, 2, 3, 4], seeds=32, epochs=200, lr=3e-3)


def _sizes(p: P) -> tuple[int, int, list[int]]:
    """n, the real-data comparison size, and the learning curve's sizes (including both)."""
    n = int(p.train_size)
    n_real = int(round(p.real_factor * n))
    return n, n_real, sorted({max(10, int(round(n * 2 ** (k / 2)))) for k in p.curve_exponents} | {n, n_real})


def specs(p: P, seed: int) -> dict[tuple[str, int, int], RunSpec]:
    """("plain", size, seed) along the learning curve, (method, n, seed) for every augmentation at n."""
    n, _, curve = _sizes(p)
    seeds = run_seeds(seed, p.seeds)
    base = run_spec({"data": {"name": "digits", "train_size": n, "standardize": False},
                     "model": {"name": "cnn2d", "args": {"channels": p.channels, "pool": "flatten"}},
                     "optim": {"name": "adam", "lr": p.lr, "epochs": p.epochs, "batch_size": 50},
                     "eval_every": p.epochs}, seed)
    change: dict[str, dict[str, Any]] = {
        "flip": {"reg.augment": [{"name": "flip"}]},
        "crop": {"reg.augment": [{"name": "crop", "amount": p.crop}]},
        "rotate": {"reg.augment": [{"name": "rotate", "amount": p.rotate}]},
        "cutout": {"reg.augment": [{"name": "cutout", "amount": p.cutout}]},
        "mixup": {"reg.mixup": p.mixup},
        "cutmix": {"reg.cutmix": p.cutmix},
    }
    out = {("plain", size, sd): base.replace(**{"data.train_size": size, "seed": sd}) for size in curve for sd in seeds}
    out.update({(m, n, sd): base.replace(**{**ch, "seed": sd}) for m, ch in change.items() for sd in seeds})
    return out


@dataclass(frozen=True)
class M(Measured):
    test_accuracy: dict[str, float]
    test_accuracy_std: dict[str, float]
    equivalent_extra_data: dict[str, float | None]
    equivalent_extra_data_extrapolated: dict[str, bool]
    gain_over_none: dict[str, float]
    gain_se: dict[str, float]
    gain_resolution: dict[str, float]
    helping: list[str]
    plain_curve: dict[str, float]
    train_size: int
    real_size: int
    seeds: int
    extra: dict[str, float] = aside()  # equivalent extra real data (inf when unreachable)
    worth_resolution: float = aside()


def _worth_resolution(acc: dict[tuple[str, int, int], float], seeds: list[int], method: str, p: P) -> float:
    """Jackknife resolution of the worth ratio: recomputed on subsets of the seeds."""
    n, n_real, curve = _sizes(p)

    def worth(kept: list[int]) -> float:
        ks = [seeds[i] for i in kept]
        errs_k = [1.0 - float(np.mean([acc[("plain", size, s)] for s in ks])) for size in curve]
        return (equivalent_n(curve, errs_k, 1.0 - float(np.mean([acc[(method, n, s)] for s in ks])))[0]
                - n) / (n_real - n)

    return jackknife_resolution(worth, len(seeds))


def measure(ctx: StudyContext, p: P) -> M:
    n, n_real, curve = _sizes(p)
    seeds = ctx.seeds(p.seeds)
    acc = {k: float(r.final["test_acc"]) for k, r in ctx.runs.items()}

    def seed_mean(m: str, size: int) -> float:
        return float(np.mean([acc[(m, size, s)] for s in seeds]))

    plain_curve = [seed_mean("plain", size) for size in curve]
    test_acc = {"none": seed_mean("plain", n), **{m: seed_mean(m, n) for m in METHODS},
                "real_2x": seed_mean("plain", n_real)}
    spread = {m: float(np.std([acc[(m if m in METHODS else "plain", n_real if m == "real_2x" else n, s)]
                               for s in seeds])) for m in test_acc}
    diffs = {m: np.array([acc[(m, n, s)] - acc[("plain", n, s)] for s in seeds]) for m in METHODS}
    gain = {m: float(d.mean()) for m, d in diffs.items()}
    res = {m: t_resolution(d) for m, d in diffs.items()}
    eq = {m: equivalent_n(curve, [1.0 - a for a in plain_curve], 1.0 - test_acc[m]) for m in METHODS}
    extra = {m: eq[m][0] - n for m in METHODS}
    return M(
        test_accuracy=test_acc, test_accuracy_std=spread,
        equivalent_extra_data={m: (None if not math.isfinite(extra[m]) else extra[m]) for m in METHODS},
        equivalent_extra_data_extrapolated={m: eq[m][1] for m in METHODS}, gain_over_none=gain,
        gain_se={m: standard_error(d) for m, d in diffs.items()}, gain_resolution=res,
        helping=[m for m in METHODS if gain[m] > p.min_gain and (len(seeds) < 2 or gain[m] - p.min_gain > res[m])],
        plain_curve={str(s_): a for s_, a in zip(curve, plain_curve, strict=True)}, train_size=n, real_size=n_real,
        seeds=len(seeds), extra=extra,
        worth_resolution=_worth_resolution(acc, seeds, max(METHODS, key=lambda m: extra[m]), p))


def checks(m: M, p: P) -> list[Check]:
    top = max(METHODS, key=lambda k: m.gain_over_none[k])
    worth_most = max(METHODS, key=lambda k: m.extra[k])
    budget = m.real_size - m.train_size
    return [
        Check("augmentation_helps", f"best augmentation's ({top}) test-accuracy gain over none", m.gain_over_none[top],
              ">", p.min_gain, resolution=m.gain_resolution[top]),
        Check("worth_less_than_real", f"largest equivalent extra real data ({worth_most}) / {budget} extra real "
              "examples", m.extra[worth_most] / budget, "<", 1.0, resolution=m.worth_resolution),
    ]


def summary(m: M, p: P) -> str:
    acc, eq = m.test_accuracy, m.extra
    best = max(METHODS, key=lambda k: acc[k])
    return (
        f"With n={m.train_size} digits the CNN reaches {acc['none']:.3f} without augmentation and "
        f"{acc['real_2x']:.3f} with {m.real_size} real examples; the best augmentation, {best}, reaches "
        f"{acc[best]:.3f} (worth {eq[best]:+.0f} real examples), flips {acc['flip']:.3f} ({eq['flip']:+.0f}). "
        f"Augmentations that help (> {p.min_gain:g} by more than the 95 % t-interval over seeds): "
        f"{', '.join(m.helping) or 'none'}."
    )


def figures(m: M, p: P) -> dict[str, Any]:
    n, n_real, curve = _sizes(p)
    test_acc, eq = m.test_accuracy, m.extra
    fig, ax = subplots(2)
    ax[0].plot(curve, list(m.plain_curve.values()), "ko-", label="no augmentation, real examples")
    for i, meth in enumerate(METHODS):
        ax[0].plot([n], [test_acc[meth]], "o", color=f"C{i}", label=f"{meth} at n={n}")
        if math.isfinite(eq[meth]) and eq[meth] + n > 0:
            ax[0].plot([n, n + eq[meth]], [test_acc[meth]] * 2, ":", color=f"C{i}", lw=1)
    ax[0].axvline(n_real, color="gray", ls="--", lw=0.8, label=f"{p.real_factor:g}× real data")
    size_ticks(ax[0], curve)
    ax[0].tick_params(axis="x", labelsize=7)
    ax[0].set(xlabel="training-set size (real examples)", ylabel="test accuracy (fraction correct)",
              title=f"digits, cnn2d; dotted: equivalent real data ({m.seeds} seed(s))")
    ax[0].legend(fontsize=7)
    names = list(test_acc)
    ys = [test_acc[k] for k in names]
    colors = ["k"] + [f"C{i}" for i in range(len(METHODS))] + ["gray"]
    ax[1].bar(names, ys, yerr=[m.test_accuracy_std[k] for k in names], capsize=3, color=colors)
    bottom = min(ys) - 0.08
    for i, k in enumerate(names):
        label = f"{ys[i]:.3f}" if k not in eq else f"{ys[i]:.3f}\n{eq[k]:+.0f}"
        ax[1].text(i, bottom + 0.005, label, ha="center", fontsize=7, color="white")
    ax[1].set_ylim(bottom, min(1.0, max(ys) + 0.03))
    ax[1].set_ylabel("test accuracy (fraction correct)")
    ax[1].set_title(f"n={n}: accuracy and equivalent extra real examples\n(real_2x: {n_real} real examples)",
                    fontsize=9)
    ax[1].tick_params(axis="x", labelrotation=30, labelsize=8)
    return {"augmentation": fig}


STUDY = Study(
    "augmentation", "C11",
    "Data augmentation (flip, crop, rotation; MixUp, CutOut, CutMix) is cheap extra data, worth less than "
    "independent new data.",
    quick=QUICK, full=FULL, specs=specs, measure=measure, checks=checks, figures=figures, summary=summary,
    breaking={"real_factor": 1.1},  # against only 10 % more real data the best augmentation is worth more
)
