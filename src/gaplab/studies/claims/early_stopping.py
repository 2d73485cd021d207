"""C12/C18: early stopping barely helps with clean labels, matters with noisy ones, and costs one run, not a sweep.

Setup (seed 002, d2l §5.5.3; seed 001, Ng's course): an MLP that overfits, trained long (SGD with momentum, no
early stopping) on the preset's ``data`` set (scikit-learn's 8x8 digits: there an MLP generalizes well, so
memorized noisy labels cost test accuracy clearly; on MNIST-1D an MLP memorizes even its clean examples and the
gain at 40 % noise was only 0.01-0.05 over seeds 0-4, too close to the margin to decide robustly) at 0 / 20 /
40 % symmetric label noise with a validation split (the engine keeps validation labels clean, so validation loss
is measured against the true classes). Everything
is read from the per-epoch history: the test accuracy at the epoch of lowest validation loss vs at the end
(``gain_from_early_stopping``), the weight norm vs epoch (seed 001: "w grows with training"), and the stop
epochs of Prechelt's (1998) GL_α, PQ_α, UP_s and a patience criterion applied to the recorded loss curves
(``gaplab.regularize.early_stopping.first_stop``). The same runs with ``reg.early_stopping`` on show the engine
stopping and restoring the best weights (``best_epoch``, ``stopped_epoch``). The alternative, an L2 λ sweep
(without early stopping), is charged the epochs it trains until a λ (tried in ascending order) matches the
early-stopped run's test accuracy (within ``match_tol``; judged on test accuracy only to count the cost, which
flatters L2 since a real sweep would run the whole grid to choose by validation): ``l2_sweep_cost_ratio`` = those
epochs / the epochs of one early-stopped run (its stop epoch).

Rule (declared as checks; thresholds in the presets): the gain at the highest noise level exceeds the gain at
0 % noise by more than ``gain_margin`` (seed means); the total weight norm of the unregularized runs grows with
epochs (Spearman rank correlation of norm vs epoch ≥ ``min_norm_rho`` at every noise level, and final norm >
norm after epoch 1); and the L2 sweep costs more epochs than one early-stopped run (``l2_sweep_cost_ratio`` > 1).
Run seeds come from the study's seed (``run_seeds``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from gaplab.regularize.early_stopping import GL, PQ, UP, Patience, first_stop
from gaplab.spec import RunSpec
from gaplab.studies.framework import (
    Check,
    Measured,
    MeasuredSpread,
    Preset,
    StoredRun,
    Study,
    StudyContext,
    aside,
    run_seeds,
    run_spec,
    subplots,
)


@dataclass(frozen=True)
class P(Preset):
    noises: list[float]
    seeds: int
    data: dict[str, Any]
    val_fraction: float
    width: int
    depth: int
    epochs: int
    lr: float
    batch_size: int
    l2_grid: list[float]
    l2_noise: float
    patience: int
    criteria: list[str]
    strip: int
    gain_margin: float
    min_norm_rho: float
    match_tol: float
    threads: int


QUICK = P(noises=[0.0, 0.2, 0.4], seeds=1, data={"name": "digits", "args": {}}, val_fraction=0.25, width=128,
          depth=2, epochs=50, lr=0.02, batch_size=100, l2_grid=[3.0, 10.0, 30.0], l2_noise=0.4, patience=8,
          criteria=["GL2", "GL5", "PQ0.5", "PQ3", "UP2", "UP3"], strip=5, gain_margin=0.02, min_norm_rho=0.9,
          match_tol=0.01, threads=1)
FULL = replace(QUICK, seeds=3, val_fraction=0.2, width=256, epochs=120, lr=0.01, l2_grid=[1.0, 3.0, 10.0, 30.0, 100.0],
               patience=10)

# Seed-to-seed SD of each check's value over --seed 0-4 of the quick preset (one run seed each), measured
# 2026-12-06 with `benchmarks/verdict_table.py --seeds 0-4 --threads 1`: the resolution of a check whose runs
# cannot measure their own spread (MeasuredSpread; it applies to the quick preset without overrides).
SPREAD = MeasuredSpread(seeds=5, sd={"norm_grows": 1.24e-16, "norm_ends_larger": 0.00406, "noise_raises_gain": 0.0262},
                        log_sd={"cheaper_than_l2_sweep": 0.352})


def _key(x: float) -> str:
    return f"{x:g}"


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (ties broken by order; enough for a monotonicity check)."""
    if len(x) < 3:
        return math.nan
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    return float(np.corrcoef(rx, ry)[0, 1])


def _total_norm(h: dict[str, Any]) -> float:
    """Frobenius norm of all penalized weights together: sqrt(Σ_l ‖W_l‖²)."""
    return math.sqrt(sum(v * v for k, v in h.items() if k.startswith("wnorm/") and v is not None))


def _criterion(name: str, strip: int) -> Any:
    """'GL5' → GL(5), 'PQ0.5' → PQ(0.5, strip), 'UP3' → UP(3, strip) (Prechelt 1998's names)."""
    kind, val = name[:2], name[2:]
    if kind == "GL":
        return GL(float(val))
    if kind == "PQ":
        return PQ(float(val), strip)
    if kind == "UP":
        return UP(int(val), strip)
    raise ValueError(f"unknown stopping criterion {name!r}: use GLα, PQα or UPs (e.g. GL5, PQ0.5, UP3)")


def _criteria(p: P) -> dict[str, Any]:
    fns = {c: _criterion(c, p.strip) for c in p.criteria}
    fns[f"patience{p.patience}"] = Patience(p.patience)
    return fns


def specs(p: P, seed: int) -> dict[tuple[Any, ...], RunSpec]:
    """("long", noise, seed) runs to the end, ("l2", λ, seed) the L2 sweep at ``l2_noise``, ("es", noise, seed) the
    engine's early stopping. The long runs and the L2 sweep share a pack; the early-stopped runs form a second."""
    seeds = run_seeds(seed, p.seeds)
    base = run_spec({
        "data": {"name": p.data["name"], "args": dict(p.data["args"]), "val_fraction": p.val_fraction},
        "model": {"name": "mlp", "args": {"width": p.width, "depth": p.depth}},
        "optim": {"name": "sgd", "lr": p.lr, "momentum": 0.9, "batch_size": p.batch_size, "epochs": p.epochs},
        "eval_every": 1,
    }, seed)
    long = {("long", n, s): base.replace(**{"data.label_noise": n, "seed": s}) for n in p.noises for s in seeds}
    l2 = {("l2", lam, s): base.replace(**{"data.label_noise": p.l2_noise, "reg.l2": lam, "seed": s})
          for lam in p.l2_grid for s in seeds}
    es = {("es", n, s): base.replace(**{"data.label_noise": n, "seed": s,
                                        "reg.early_stopping": {"monitor": "val_loss", "patience": p.patience}})
          for n in p.noises for s in seeds}
    return {**long, **l2, **es}


NumByNoise = dict[str, float]


@dataclass(frozen=True)
class M(Measured):
    gain_from_early_stopping: NumByNoise = field(default_factory=dict)
    epochs_saved: NumByNoise = field(default_factory=dict)
    l2_sweep_cost_ratio: float = math.nan
    criteria: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    best_val_epoch: NumByNoise = field(default_factory=dict)
    test_acc_at_best_val: NumByNoise = field(default_factory=dict)
    test_acc_final: NumByNoise = field(default_factory=dict)
    weight_norm_spearman: NumByNoise = field(default_factory=dict)
    weight_norm_growth: NumByNoise = field(default_factory=dict)
    es_stopped_epoch: NumByNoise = field(default_factory=dict)
    es_best_epoch: NumByNoise = field(default_factory=dict)
    es_test_acc: NumByNoise = field(default_factory=dict)
    es_restore_vs_history_max_abs_diff: NumByNoise = field(default_factory=dict)
    l2_noise: float = math.nan
    l2_test_acc: NumByNoise = field(default_factory=dict)
    l2_train_acc: NumByNoise = field(default_factory=dict)
    l2_matched_lambda: float | None = None
    l2_sweep_epochs: int = 0
    bad_runs: int = 0  # long runs that diverged or were cut short: nothing else is measured
    seeds: list[int] = aside(list)
    runs: dict[str, dict[tuple[float, int], StoredRun]] = aside(dict)

    def numbers(self) -> dict[str, Any]:
        if self.bad_runs:
            return {"bad_runs": self.bad_runs}
        out = super().numbers()
        del out["bad_runs"]
        return out


def _long_run_stats(r: StoredRun, fns: dict[str, Any]) -> dict[str, Any]:
    """One long run: best-validation epoch and the test accuracy there and at the end, how the weight norm grew,
    and where each stopping criterion fires (never: training runs to the end)."""
    val, train, test = r.curve("val_loss"), r.curve("train_loss"), r.curve("test_acc")
    b = int(np.nanargmin(val))
    norms = np.array([_total_norm(h) for h in r.history])
    stops = {c: first_stop(fn, val, train) for c, fn in fns.items()}
    return {"best_epoch": b + 1, "test_at_best": test[b], "test_final": test[-1], "gain": test[b] - test[-1],
            "rho": _spearman(np.arange(len(norms)), norms), "growth": float(norms[-1] / norms[0]),
            "fired": {c: e is not None for c, e in stops.items()},
            "stop": {c: e if e is not None else len(val) for c, e in stops.items()},
            "stop_acc": {c: test[(e if e is not None else len(val)) - 1] for c, e in stops.items()}}


def _by_noise(long: dict[tuple[float, int], StoredRun], seeds: list[int], p: P) -> dict[str, dict[str, Any]]:
    """Per noise level, seed means of the long runs' statistics (the smallest ρ and growth over seeds)."""
    fns, out = _criteria(p), {}
    for n in p.noises:
        st = [_long_run_stats(long[(n, s)], fns) for s in seeds]
        out[_key(n)] = {
            "gain": float(np.mean([x["gain"] for x in st])), "best": float(np.mean([x["best_epoch"] for x in st])),
            "test_best": float(np.mean([x["test_at_best"] for x in st])),
            "test_final": float(np.mean([x["test_final"] for x in st])),
            "rho": float(np.min([x["rho"] for x in st])), "growth": float(np.min([x["growth"] for x in st])),
            "criteria": {c: {"epoch": float(np.mean([x["stop"][c] for x in st])),
                             "test_acc": float(np.mean([x["stop_acc"][c] for x in st])),
                             "fired": sum(x["fired"][c] for x in st)} for c in fns}}
    return out


def _engine_stops(es: dict[tuple[float, int], StoredRun], long: dict[tuple[float, int], StoredRun],
                  seeds: list[int], p: P) -> dict[str, dict[str, float]]:
    """The engine's early stopping: where it stopped, which epoch it restored, and what that is worth."""
    out: dict[str, dict[str, float]] = {"stopped": {}, "best": {}, "test": {}, "saved": {}, "restore_gap": {}}
    for n in p.noises:
        k = _key(n)
        stopped = [es[(n, s)].final.get("stopped_epoch") or es[(n, s)].final.get("epochs_run") or p.epochs
                   for s in seeds]
        best = [int(es[(n, s)].final["best_epoch"]) for s in seeds]
        out["stopped"][k] = float(np.mean(stopped))
        out["best"][k] = float(np.mean(best))
        out["test"][k] = float(np.mean([es[(n, s)].final["test_acc"] for s in seeds]))
        out["saved"][k] = float(p.epochs - out["stopped"][k])
        # restored weights vs the long run's own history at that epoch (same seed: same trajectory)
        out["restore_gap"][k] = float(max(abs(es[(n, s)].final["test_acc"] - long[(n, s)].curve("test_acc")[b - 1])
                                          for s, b in zip(seeds, best, strict=True)))
    return out


def _l2_match(l2_test: dict[str, float], target: float, p: P) -> tuple[int, float | None]:
    """λ tried in ascending order until one matches early stopping: how many were tried, and the match."""
    tried = 0
    for lam in sorted(p.l2_grid):
        tried += 1
        if l2_test[_key(lam)] >= target - p.match_tol:
            return tried, lam
    return tried, None


def measure(ctx: StudyContext, p: P) -> M:
    seeds = ctx.seeds(p.seeds)
    runs = {kind: {k[1:]: r for k, r in ctx.runs.items() if k[0] == kind} for kind in ("long", "l2", "es")}
    long, l2 = runs["long"], runs["l2"]
    bad = [r.run_id for r in [*long.values(), *l2.values()] if r.status != "done" or len(r.history) != p.epochs]
    if bad:
        return M(bad_runs=len(bad))
    stats, es = _by_noise(long, seeds, p), _engine_stops(runs["es"], long, seeds, p)
    l2_test = {_key(lam): float(np.mean([l2[(lam, s)].final["test_acc"] for s in seeds])) for lam in p.l2_grid}
    kn = _key(p.l2_noise)
    if kn not in es["test"]:
        raise ValueError(f"l2_noise={p.l2_noise} must be one of the noise levels {p.noises}")
    tried, matched = _l2_match(l2_test, es["test"][kn], p)

    def col(name: str) -> dict[str, Any]:
        return {k: v[name] for k, v in stats.items()}

    return M(
        gain_from_early_stopping=col("gain"), epochs_saved=es["saved"],
        l2_sweep_cost_ratio=tried * p.epochs / es["stopped"][kn], criteria=col("criteria"),
        best_val_epoch=col("best"), test_acc_at_best_val=col("test_best"), test_acc_final=col("test_final"),
        weight_norm_spearman=col("rho"), weight_norm_growth=col("growth"),
        es_stopped_epoch=es["stopped"], es_best_epoch=es["best"], es_test_acc=es["test"],
        es_restore_vs_history_max_abs_diff=es["restore_gap"], l2_noise=p.l2_noise, l2_test_acc=l2_test,
        l2_train_acc={_key(lam): float(np.mean([l2[(lam, s)].final["train_acc"] for s in seeds]))
                      for lam in p.l2_grid},
        l2_matched_lambda=matched, l2_sweep_epochs=tried * p.epochs, seeds=seeds, runs=runs)


def checks(m: M, p: P) -> list[Check]:
    if m.bad_runs:
        return [Check("runs_complete", "long runs diverged or cut short", m.bad_runs, "<=", 0,
                      exact="a guard: a diverged or cut-short run voids the measurement")]
    hi, lo, gain = _key(max(p.noises)), _key(min(p.noises)), m.gain_from_early_stopping
    return [
        Check("noise_raises_gain", f"gain from early stopping at {float(hi):.0%} noise − at {float(lo):.0%} noise",
              gain[hi] - gain[lo], ">", p.gain_margin),
        Check("norm_grows", "smallest Spearman ρ(epoch, weight norm) over noise levels",
              min(m.weight_norm_spearman.values()), ">=", p.min_norm_rho),
        Check("norm_ends_larger", "smallest final / epoch-1 weight norm over noise levels",
              min(m.weight_norm_growth.values()), ">", 1.0),
        Check("cheaper_than_l2_sweep", f"epochs of the L2 sweep / epochs of one early-stopped run at "
              f"{p.l2_noise:.0%} noise", m.l2_sweep_cost_ratio, ">", 1.0),
    ]


def summary(m: M, p: P) -> str:
    if m.bad_runs:
        return f"{m.bad_runs} long runs diverged or were cut short"
    hi, lo, kn, gain = _key(max(p.noises)), _key(min(p.noises)), _key(p.l2_noise), m.gain_from_early_stopping
    matched, l2_test = m.l2_matched_lambda, m.l2_test_acc
    match_txt = (f"the first λ to match its test accuracy was {matched:g}" if matched is not None
                 else "no λ in the grid matched its test accuracy (cost counted for the whole grid)")
    best_lam = max(l2_test, key=lambda k: l2_test[k])
    return (
        f"Test accuracy at the best-validation-loss epoch minus at the end: {gain[lo]:+.3f} at "
        f"{float(lo):.0%} noise vs {gain[hi]:+.3f} at {float(hi):.0%} noise; the weight norm grows with epochs "
        f"(min Spearman ρ {min(m.weight_norm_spearman.values()):.2f}). Early stopping with patience "
        f"{p.patience} stopped at epoch {m.es_stopped_epoch[kn]:.0f} of {p.epochs} at {p.l2_noise:.0%} noise; "
        f"{match_txt}, so the L2 sweep cost {m.l2_sweep_epochs} epochs = {m.l2_sweep_cost_ratio:.1f}× one "
        f"early-stopped run (best λ={best_lam}: test {l2_test[best_lam]:.3f} vs early stopping "
        f"{m.es_test_acc[kn]:.3f}); seed means over {len(m.seeds)} seeds"
    )


def _mean_curve(rs: list[StoredRun], metric: str) -> np.ndarray:
    return np.mean(np.array([r.curve(metric) for r in rs], dtype=float), axis=0)


def _curves_figure(m: M, p: P) -> Any:
    seeds, long, es, best_val_epoch = m.seeds, m.runs["long"], m.runs["es"], m.best_val_epoch
    criteria_fns = _criteria(p)
    ep = np.arange(1, p.epochs + 1)
    fig, ax = subplots(len(p.noises))
    fig.set_size_inches(fig.get_size_inches()[0], 5.6)
    ax = np.atleast_1d(ax)
    shown = [c for c in criteria_fns if c in ("GL5", "PQ0.5", "UP3") or c.startswith("patience")]
    markers = dict(zip(shown, ["v", "^", "s", "D"], strict=False))
    for a, n in zip(ax, p.noises, strict=True):
        rs = [long[(n, s)] for s in seeds]
        test = _mean_curve(rs, "test_acc")
        a.plot(ep, _mean_curve(rs, "train_acc"), color="C0", lw=1, label="train acc (noisy labels)")
        a.plot(ep, test, color="C1", lw=1.5, label="test acc")
        a.plot(ep, _mean_curve(rs, "val_acc"), color="C2", lw=1, alpha=0.7, label="val acc (clean labels)")
        b = best_val_epoch[_key(n)]
        a.axvline(b, color="k", ls="--", lw=1, label=f"min val loss (ep {b:.0f})")
        stop = np.mean([es[(n, s)].final.get("stopped_epoch") or p.epochs for s in seeds])
        a.axvline(stop, color="red", ls=":", lw=1.2, label=f"engine stop, patience {p.patience} (ep {stop:.0f})")
        r0 = rs[0]
        val, train = r0.curve("val_loss"), r0.curve("train_loss")
        for c in shown:
            e = first_stop(criteria_fns[c], val, train)
            if e is not None:
                a.plot([e], [r0.curve("test_acc")[e - 1]], markers[c], color="purple", ms=6,
                       label=f"{c} stop, seed {seeds[0]} (ep {e})")
        b2 = a.twinx()
        b2.plot(ep, _mean_curve(rs, "val_loss"), color="gray", lw=1, alpha=0.6)
        b2.set_ylabel("val loss (cross-entropy, gray)", color="gray", fontsize=8)
        b2.grid(False)
        a.set_xlabel("epoch")
        a.set_ylabel("accuracy")
        a.set_ylim(0, 1.02)
        a.set_title(f"{n:.0%} label noise")
        a.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    return fig


def _norm_l2_figure(m: M, p: P) -> Any:
    seeds, long, l2, best_val_epoch, l2_test = m.seeds, m.runs["long"], m.runs["l2"], m.best_val_epoch, m.l2_test_acc
    target = m.es_test_acc[_key(p.l2_noise)]
    ep = np.arange(1, p.epochs + 1)
    fig, ax = subplots(2)
    for n in p.noises:
        norms = np.mean([[_total_norm(h) for h in long[(n, s)].history] for s in seeds], axis=0)
        line, = ax[0].plot(ep, norms, label=f"{n:.0%} noise, no penalty")
        b = int(round(best_val_epoch[_key(n)]))
        ax[0].plot([b], [norms[b - 1]], "o", color=line.get_color(), ms=6)
    for lam in sorted(p.l2_grid):
        norms = np.mean([[_total_norm(h) for h in l2[(lam, s)].history] for s in seeds], axis=0)
        ax[0].plot(ep, norms, ls="--", lw=1, label=f"{p.l2_noise:.0%} noise, L2 λ={lam:g}")
    ax[0].set_xlabel("epoch")
    ax[0].set_ylabel("‖W‖ (Frobenius, all weight matrices)")
    ax[0].set_title("weight norm grows with training (dots: min val loss)")
    ax[0].legend(fontsize=7)
    lams = sorted(p.l2_grid)
    ax[1].plot(lams, [l2_test[_key(x)] for x in lams], "o-", label=f"L2 sweep, final test acc ({p.epochs} ep each)")
    ax[1].axhline(target, color="red", ls=":", label="early stopping (one run), test acc")
    plain = float(np.mean([long[(p.l2_noise, s)].final["test_acc"] for s in seeds]))
    ax[1].axhline(plain, color="gray", ls="--", label="no regularization, final test acc")
    ax[1].set_xscale("log")
    ax[1].set_xticks(lams, [f"{x:g}" for x in lams])
    ax[1].minorticks_off()
    ax[1].set_xlabel("L2 strength λ (penalty λ/2m·Σ‖W‖²)")
    ax[1].set_ylabel("test accuracy")
    ax[1].set_title(f"L2 sweep vs early stopping, {p.l2_noise:.0%} noise")
    ax[1].legend(fontsize=7)
    return fig


def figures(m: M, p: P) -> dict[str, Any]:
    if m.bad_runs:
        return {}
    return {"early_stopping_curves": _curves_figure(m, p), "early_stopping_norm_l2": _norm_l2_figure(m, p)}


STUDY = Study(
    "early-stopping", "C12/C18",
    "Early stopping (stop at the best dev error, with patience) barely helps with clean labels and matters "
    "a lot with noisy ones; weights grow with training, so stopping early ≈ small weights; one early-"
    "stopped run costs less than an L2 sweep.",
    quick=QUICK, full=FULL, specs=specs, measure=measure, checks=checks, figures=figures, summary=summary,
    spread=SPREAD,
    breaking={"epochs": 6},  # six epochs: nothing is memorized yet, so stopping early gains nothing at any noise
)
