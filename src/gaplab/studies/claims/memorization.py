"""C17: with label noise, a network fits the clean examples first and memorizes the noisy ones later.

Setup (seed 002, d2l §5.5.3, after Arpit et al. 2017 "A closer look at memorization in deep networks" and Rolnick
et al. 2017 "Deep learning is robust to massive label noise"): an MLP wide enough to memorize, trained with SGD +
momentum at 20 % and 40 % symmetric label noise. Per epoch the engine records accuracy on the clean training
examples (``clean_acc``), on the corrupted ones against their noisy labels (``noisy_acc``), the fraction of
corrupted ones predicted as their TRUE class (``noisy_true_acc``) and the test accuracy. Curves are averaged over
the study's seeds (``run_seeds``).

The first data set decides (scikit-learn's 8x8 digits: an MLP generalizes well there, ≈97 % test accuracy, as on
the MNIST/CIFAR of the papers, so its clean examples are *learnable* and are fitted within a few epochs, long
before the corrupted ones). Further data sets are measured and reported, not ruled on: on MNIST-1D an MLP reaches
only ≈55-65 % test accuracy, so it fits even its clean training examples largely by memorizing them, and
"clean first" is blurred (clean and noisy reach 0.95 within ≈15 epochs of each other).

"Fitted" means an ABSOLUTE accuracy of at least ``fit_level`` (0.95): ``epoch_clean_fit_95`` is the first epoch
with seed-mean clean_acc ≥ 0.95, ``epoch_noisy_fit_95`` the first with seed-mean noisy_acc ≥ 0.95 (None: never).

Rule (declared as checks on the first data set, at every noise level; thresholds in the presets): the corrupted
examples are memorized by the end (final noisy_acc ≥ ``fit_level``); they are fitted at least
``min_fit_ratio`` times later than the clean ones (epoch_noisy_fit_95 / epoch_clean_fit_95); and the test accuracy
peaks while the clean examples are fitted and the noisy ones not yet, then falls as they are memorized
(best − final test accuracy ≥ ``min_test_drop``).
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
    MeasuredSpread,
    Preset,
    Study,
    StudyContext,
    aside,
    run_seeds,
    run_spec,
    subplots,
)

NAMES = {"digits": "digits (8x8)", "mnist1d": "MNIST-1D"}
METRICS = ("train_acc", "clean_acc", "noisy_acc", "noisy_true_acc", "test_acc")


@dataclass(frozen=True)
class P(Preset):
    noises: list[float]
    seeds: int
    width: int
    depth: int
    batch_size: int
    datasets: dict[str, dict[str, Any]]  # name → epochs, lr, data args; the first one is ruled on
    fit_level: float
    min_fit_ratio: float
    min_test_drop: float
    threads: int


# digits, SGD 0.05: clean ≥ 0.95 at epochs 3-4, noisy at ≈30; at 40 epochs the final noisy accuracy was only
# 0.97-1.0 (margin 0.02 over 0.95 at seed 1), hence 50 epochs; best − final test accuracy 0.056-0.24 (seeds 0-4)
QUICK = P(noises=[0.2, 0.4], seeds=1, width=256, depth=2, batch_size=100,
          datasets={"digits": {"epochs": 50, "lr": 0.05}}, fit_level=0.95, min_fit_ratio=3.0, min_test_drop=0.02,
          threads=1)
# the papers' SGD lr 0.01 (Arpit et al.), and MNIST-1D as the second, harder data set
FULL = replace(QUICK, seeds=3, datasets={"digits": {"epochs": 150, "lr": 0.01},
                                         "mnist1d": {"epochs": 120, "lr": 0.01, "args": {"num_samples": 5000}}})

# Seed-to-seed SD of each check's value over --seed 0-4 of the quick preset (one run seed each), measured
# 2026-12-06 with `benchmarks/verdict_table.py --seeds 0-4 --threads 1`: the resolution of a check whose runs
# cannot measure their own spread (MeasuredSpread; it applies to the quick preset without overrides).
SPREAD = MeasuredSpread(
    seeds=5, sd={"noisy_memorized_0.2": 0.0, "noisy_memorized_0.4": 0.00181, "test_peaks_early_0.2": 0.0209,
                 "test_peaks_early_0.4": 0.0249},
    log_sd={"clean_first_0.2": 0.154, "clean_first_0.4": 0.208})


def specs(p: P, seed: int) -> dict[tuple[str, float, int], RunSpec]:
    """(data set, label noise, seed): an MLP wide enough to memorize, SGD with momentum, evaluated every epoch."""
    out = {}
    for name, d in p.datasets.items():
        base = run_spec({
            "data": {"name": name, "args": dict(d.get("args", {}))},
            "model": {"name": "mlp", "args": {"width": p.width, "depth": p.depth}},
            "optim": {"name": "sgd", "lr": d["lr"], "momentum": 0.9, "batch_size": p.batch_size,
                      "epochs": d["epochs"]},
            "eval_every": 1,
        }, seed)
        out.update({(name, n, s): base.replace(**{"data.label_noise": n, "seed": s})
                    for n in p.noises for s in run_seeds(seed, p.seeds)})
    return out


@dataclass(frozen=True)
class M(Measured):
    fit_definition: str
    ruled_dataset: str
    seeds: list[int]
    per_dataset: dict[str, dict[str, dict[str, Any]]]
    broken_runs: int = aside()
    curves: dict[tuple[str, float], dict[str, np.ndarray]] = aside()

    def numbers(self) -> dict[str, Any]:
        """Also the ruled data set's numbers at the top level, by noise level."""
        ruled = self.per_dataset[self.ruled_dataset]
        top = {"epoch_clean_fit_95": "epoch_clean_fit", "epoch_noisy_fit_95": "epoch_noisy_fit",
               "best_test_accuracy": "best_test", "final_test_accuracy": "final_test",
               "clean_acc_at_best_test": "clean_at_best", "noisy_acc_at_best_test": "noisy_at_best",
               "final_train_accuracy": "final_train"}
        return {**super().numbers(), **{key: {k: r[field] for k, r in ruled.items()} for key, field in top.items()}}


def _first_at_least(epochs: np.ndarray, curve: np.ndarray, level: float) -> int | None:
    hit = np.nonzero(curve >= level)[0]
    return int(epochs[hit[0]]) if len(hit) else None


def _result(c: dict[str, np.ndarray], level: float) -> dict[str, Any]:
    """One (data set, noise) cell: when clean and noisy examples are fitted, and the test accuracy's peak."""
    b = int(np.argmax(c["test_acc"]))
    return {
        "epoch_clean_fit": _first_at_least(c["epoch"], c["clean_acc"], level),
        "epoch_noisy_fit": _first_at_least(c["epoch"], c["noisy_acc"], level),
        "best_test": float(c["test_acc"][b]), "best_epoch": int(c["epoch"][b]),
        "final_test": float(c["test_acc"][-1]), "clean_at_best": float(c["clean_acc"][b]),
        "noisy_at_best": float(c["noisy_acc"][b]), "final_noisy": float(c["noisy_acc"][-1]),
        "noisy_true_max": float(np.max(c["noisy_true_acc"])), "final_train": float(c["train_acc"][-1]),
    }


def measure(ctx: StudyContext, p: P) -> M:
    seeds, runs = ctx.seeds(p.seeds), ctx.runs
    bad = [k for k, r in runs.items() if r.status != "done" or len(r.history) != p.datasets[k[0]]["epochs"]]
    res: dict[str, dict[str, dict[str, Any]]] = {}
    curves: dict[tuple[str, float], dict[str, np.ndarray]] = {}
    for name in p.datasets:
        res[name] = {}
        for n in p.noises:
            c = {m: np.mean([runs[(name, n, s)].curve(m) for s in seeds], axis=0) for m in METRICS}
            c["epoch"] = np.array([h["epoch"] for h in runs[(name, n, seeds[0])].history])
            curves[(name, n)] = c
            res[name][f"{n:g}"] = _result(c, p.fit_level)
    return M(fit_definition=f"first epoch with seed-mean accuracy >= {p.fit_level:g} (absolute)",
             ruled_dataset=next(iter(p.datasets)), seeds=seeds, per_dataset=res, broken_runs=len(bad), curves=curves)


def checks(m: M, p: P) -> list[Check]:
    ruled = m.ruled_dataset
    out = []
    for n in p.noises:
        r = m.per_dataset[ruled][f"{n:g}"]
        ec, en = r["epoch_clean_fit"], r["epoch_noisy_fit"]
        # never fitted: noisy "later than the end" (the memorized check fails); clean never fitted: unmeasurable
        ratio = math.nan if ec is None else (math.inf if en is None else en / ec)
        tag = f"{NAMES.get(ruled, ruled)}, {n:.0%} noise"
        out += [
            Check(f"noisy_memorized_{n:g}", f"{tag}: final accuracy on the corrupted labels", r["final_noisy"], ">=",
                  p.fit_level),
            Check(f"clean_first_{n:g}", f"{tag}: epoch the corrupted examples reach {p.fit_level:g} / epoch the "
                  "clean ones do", ratio, ">=", p.min_fit_ratio),
            Check(f"test_peaks_early_{n:g}", f"{tag}: best − final test accuracy", r["best_test"] - r["final_test"],
                  ">=", p.min_test_drop),
        ]
    if m.broken_runs:
        out.append(Check("runs_complete", "runs diverged or cut short", m.broken_runs, "<=", 0,
                         exact="a guard: a diverged or cut-short run voids the measurement"))
    return out


def summary(m: M, p: P) -> str:
    parts = []
    for name, cells in m.per_dataset.items():
        for k, r in cells.items():
            parts.append(f"{NAMES.get(name, name)}, {float(k):.0%} noise: clean ≥{p.fit_level:g} at epoch "
                         f"{r['epoch_clean_fit']}, noisy at {r['epoch_noisy_fit']}; test {r['best_test']:.3f} at "
                         f"epoch {r['best_epoch']} (when {r['clean_at_best']:.0%} of clean vs {r['noisy_at_best']:.0%}"
                         f" of corrupted examples were fitted) → {r['final_test']:.3f} at the end")
    ruled = m.ruled_dataset
    return "; ".join(parts) + f" (seed means over {len(m.seeds)} seeds; ruled on {NAMES.get(ruled, ruled)})"


def figures(m: M, p: P) -> dict[str, Any]:
    curves, res = m.curves, m.per_dataset
    panels = [(name, n) for name in p.datasets for n in p.noises]
    fig, ax = subplots(len(p.noises), len(p.datasets))
    fig.set_size_inches(fig.get_size_inches()[0], 5.2 * len(p.datasets))
    ax = np.atleast_1d(ax).ravel()
    for a, (name, n) in zip(ax, panels, strict=False):
        c, r = curves[(name, n)], res[name][f"{n:g}"]
        ep = c["epoch"]
        a.plot(ep, c["clean_acc"], color="C0", label="clean examples (acc)")
        a.plot(ep, c["noisy_acc"], color="C3", label="corrupted examples vs noisy label")
        a.plot(ep, c["noisy_true_acc"], color="C3", ls="--", label="corrupted examples vs TRUE label")
        a.plot(ep, c["test_acc"], color="C1", lw=2, label="test acc")
        for e, col in ((r["epoch_clean_fit"], "C0"), (r["epoch_noisy_fit"], "C3")):
            if e is not None:
                a.axvline(e, color=col, ls=":", lw=1.2)
        a.plot([r["best_epoch"]], [r["best_test"]], "*", color="C1", ms=11, label=f"best test (ep {r['best_epoch']})")
        a.axhline(p.fit_level, color="gray", lw=0.8, ls="-.", label=f"fit level {p.fit_level:g} (dotted: first epoch)")
        a.set_xlabel("epoch")
        a.set_ylabel("accuracy (fraction of examples)")
        a.set_ylim(0, 1.02)
        a.set_title(f"{NAMES.get(name, name)}, {n:.0%} noise: clean ≥{p.fit_level:g} ep {r['epoch_clean_fit']}, "
                    f"noisy ep {r['epoch_noisy_fit']}", fontsize=9)
        a.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    return {"memorization": fig}


STUDY = Study(
    "memorization", "C17", "With label noise, networks fit the clean examples first and memorize the noisy ones later.",
    quick=QUICK, full=FULL, specs=specs, measure=measure, checks=checks, figures=figures, summary=summary,
    spread=SPREAD,
    breaking={"datasets": {"digits": {"epochs": 4, "lr": 0.05}}},  # four epochs: nothing noisy is memorized yet
)
