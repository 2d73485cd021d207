"""C17: with label noise, a network fits the clean examples first and memorizes the noisy ones later.

Setup (seed 002, d2l §5.5.3, after Arpit et al. 2017 "A closer look at memorization in deep networks" and Rolnick
et al. 2017): an MLP wide enough to memorize MNIST-1D, trained with SGD + momentum at 20 % and 40 % symmetric
label noise. Per epoch the engine records accuracy on the clean training examples (``clean_acc``), on the
corrupted ones against their noisy labels (``noisy_acc``), the fraction of corrupted ones predicted as their
TRUE class (``noisy_true_acc``) and the test accuracy. Curves are averaged over seeds.

"Fitted" means an ABSOLUTE accuracy of at least ``fit_level`` (0.95): ``epoch_clean_fit_95`` is the first epoch
with mean clean_acc ≥ 0.95, ``epoch_noisy_fit_95`` the first with mean noisy_acc ≥ 0.95 (None: never).

Rule for ``held``: at every noise level both epochs exist (the net does memorize), epoch_clean_fit_95 <
epoch_noisy_fit_95, and the test accuracy peaks before the end: best − final > ``min_test_drop``.
"""

from __future__ import annotations

import numpy as np

from gaplab.studies.base import Outcome, Params, StudyContext, study
from gaplab.studies.plotting import subplots


def _first_at_least(epochs: np.ndarray, curve: np.ndarray, level: float) -> int | None:
    hit = np.nonzero(curve >= level)[0]
    return int(epochs[hit[0]]) if len(hit) else None


@study(
    "memorization",
    claim_id="C17",
    claim="With label noise, networks fit the clean examples first and memorize the noisy ones later.",
    quick={"noises": [0.2, 0.4], "seeds": [0], "num_samples": 5000, "width": 256, "depth": 2, "epochs": 35,
           "lr": 0.05, "batch_size": 100, "fit_level": 0.95, "min_test_drop": 0.01, "threads": 1},
    full={"noises": [0.2, 0.4], "seeds": [0, 1, 2], "num_samples": 5000, "width": 256, "depth": 2, "epochs": 120,
          "lr": 0.01, "batch_size": 100, "fit_level": 0.95, "min_test_drop": 0.01, "threads": 1},
)
def memorization(ctx: StudyContext, p: Params) -> Outcome:
    data_args = {} if p.num_samples == 5000 else {"num_samples": p.num_samples}
    base = ctx.spec({
        "data": {"name": "mnist1d", "args": data_args},
        "model": {"name": "mlp", "args": {"width": p.width, "depth": p.depth}},
        "optim": {"name": "sgd", "lr": p.lr, "momentum": 0.9, "batch_size": p.batch_size, "epochs": p.epochs},
        "eval_every": 1,
    })
    keys = [(n, s) for n in p.noises for s in p.seeds]
    specs = [base.replace(**{"data.label_noise": n, "seed": s}) for n, s in keys]
    runs = dict(zip(keys, ctx.train(specs, threads=p.threads), strict=True))
    if any(r.status != "done" or len(r.history) != p.epochs for r in runs.values()):
        return Outcome(held=None, summary="Some runs diverged or were cut short; cannot decide.", numbers={})

    metrics = ("train_acc", "clean_acc", "noisy_acc", "noisy_true_acc", "test_acc")
    curves: dict[float, dict[str, np.ndarray]] = {}
    for n in p.noises:
        curves[n] = {m: np.mean([runs[(n, s)].curve(m) for s in p.seeds], axis=0) for m in metrics}
    epochs = np.array([h["epoch"] for h in runs[keys[0]].history])

    clean_fit, noisy_fit, best_test, best_epoch, final_test = {}, {}, {}, {}, {}
    clean_at_best, noisy_at_best, noisy_true_max, final_train = {}, {}, {}, {}
    ok: dict[str, bool] = {}
    for n in p.noises:
        k, c = f"{n:g}", curves[n]
        clean_fit[k] = _first_at_least(epochs, c["clean_acc"], p.fit_level)
        noisy_fit[k] = _first_at_least(epochs, c["noisy_acc"], p.fit_level)
        b = int(np.argmax(c["test_acc"]))
        best_test[k], best_epoch[k], final_test[k] = float(c["test_acc"][b]), int(epochs[b]), float(c["test_acc"][-1])
        clean_at_best[k], noisy_at_best[k] = float(c["clean_acc"][b]), float(c["noisy_acc"][b])
        noisy_true_max[k] = float(np.max(c["noisy_true_acc"]))
        final_train[k] = float(c["train_acc"][-1])
        ok[k] = bool(clean_fit[k] is not None and noisy_fit[k] is not None and clean_fit[k] < noisy_fit[k]
                     and best_test[k] - final_test[k] > p.min_test_drop)
    held = all(ok.values())

    fig, ax = subplots(len(p.noises))
    fig.set_size_inches(fig.get_size_inches()[0], 5.2)
    ax = np.atleast_1d(ax)
    for a, n in zip(ax, p.noises, strict=True):
        k, c = f"{n:g}", curves[n]
        a.plot(epochs, c["clean_acc"], color="C0", label="clean examples (acc)")
        a.plot(epochs, c["noisy_acc"], color="C3", label="corrupted examples vs noisy label")
        a.plot(epochs, c["noisy_true_acc"], color="C3", ls="--", label="corrupted examples vs TRUE label")
        a.plot(epochs, c["test_acc"], color="C1", lw=2, label="test acc")
        for e, col in ((clean_fit[k], "C0"), (noisy_fit[k], "C3")):
            if e is not None:
                a.axvline(e, color=col, ls=":", lw=1.2)
        a.plot([best_epoch[k]], [best_test[k]], "*", color="C1", ms=11, label=f"best test (ep {best_epoch[k]})")
        a.axhline(p.fit_level, color="gray", lw=0.8, ls="-.", label=f"fit level {p.fit_level:g} (dotted: first epoch)")
        a.set_xlabel("epoch")
        a.set_ylabel("accuracy (fraction of examples)")
        a.set_ylim(0, 1.02)
        a.set_title(f"{n:.0%} label noise: clean fit ≥{p.fit_level:g} ep {clean_fit[k]}, noisy ep {noisy_fit[k]}",
                    fontsize=9)
        a.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    ctx.savefig(fig, "memorization")

    parts = [f"{float(k):.0%} noise: clean ≥{p.fit_level:g} at epoch {clean_fit[k]}, noisy at {noisy_fit[k]}, test "
             f"{best_test[k]:.3f} at ep {best_epoch[k]} (when {clean_at_best[k]:.0%} of clean vs "
             f"{noisy_at_best[k]:.0%} of corrupted examples were fitted) → {final_test[k]:.3f} at the end"
             for k in clean_fit]
    summary = ("; ".join(parts) + f". Rule (per noise level: clean fitted strictly before noisy, and best − final "
               f"test accuracy > {p.min_test_drop}): claim {'held' if held else 'did not hold'}"
               + ("" if held else f" (failing at noise {', '.join(k for k, v in ok.items() if not v)})") + ".")
    numbers = {
        "fit_definition": f"first epoch with seed-mean accuracy >= {p.fit_level:g} (absolute)",
        "epoch_clean_fit_95": clean_fit, "epoch_noisy_fit_95": noisy_fit, "best_test_accuracy": best_test,
        "final_test_accuracy": final_test, "best_test_epoch": best_epoch, "clean_acc_at_best_test": clean_at_best,
        "noisy_acc_at_best_test": noisy_at_best, "noisy_true_acc_max": noisy_true_max,
        "final_train_accuracy": final_train, "holds_per_noise": ok,
    }
    return Outcome(held=held, summary=summary, numbers=numbers)
