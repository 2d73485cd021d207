"""Check advise's learning-curve extrapolations against truth on (data, model) pairs with a large pool each.

For every pair advise's own plan (``base_plan``: its sizes up to the user's n, its recipe, its configurations;
not shrunk to a budget) is trained, and so is the plain model at 2×, 4× and 8× n with the same recipe, 3 seeds,
on the data's one fixed test set; configurations are also trained at 2n, to check that the configuration
advise recommends at n is still the best there (among plain and the best three configurations at n, which are
the ones trained at 2n). Training results are stored (``--store``) and the measured curves cached in
``benchmarks/results/advise_truth_curves.json``, so fitting methods are compared without training again.

Every extrapolation method (each curve family alone, ``last1``, the held-out choice, the ensemble) is fitted to
the curve up to n and scored at 2×/4×/8× n: absolute error, mean rank per horizon (LCDB's protocol: rank of the
methods on each curve, averaged), and whether the 90 % interval holds the measured mean. Three parts: TUNING
(the ensemble rule and κ are chosen on it alone), HELD_OUT (scored in sessions 1–3 and examined pair by pair
since: no longer blind) and FRESH (declared before they were trained, scored once after rule and κ were frozen).
Every pair runs under advise's patience rule; the first session's fixed-recipe curves are kept in
``advise_truth_curves_fixed.json`` and the tuning pairs are also scored that way. Held-out and fresh pairs'
numbers are not printed while they train.

    python benchmarks/advise_truth.py                # train what is missing (1 thread), then evaluate
    python benchmarks/advise_truth.py --evaluate     # only evaluate the cached curves
    python benchmarks/advise_truth.py --evaluate --tuning-only   # the tuning pairs alone (to /tmp)
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent
CURVES_JSON = ROOT / "results" / "advise_truth_curves.json"
# the first session's fixed-recipe curves of the 12 pairs it measured, kept beside their re-measurement under the
# patience rule (the held-out part "as first measured")
CURVES_FIXED_JSON = ROOT / "results" / "advise_truth_curves_fixed.json"
RESULT_JSON = ROOT / "results" / "advise_truth.json"
FIGURE = ROOT.parent / "docs" / "advise-truth-calibration.png"
# every run is stored here (a rerun skips what is stored); the measured curves, per pair, in CURVES_JSON (committed)
STORE = Path.home() / ".cache" / "gaplab" / "advise-truth" / "advise-truth.db"
HORIZONS = (2, 4, 8)
SEEDS = 3
TOP = 3  # configurations (besides plain) trained at 2n: the best TOP at n


@dataclass(frozen=True)
class Pair:
    """One (data, model) case: the data as advise takes it, the model (None: advise's default) and the user's n."""

    key: str
    data: dict[str, Any]
    model: str | None
    n: int
    model_args: dict[str, Any] = field(default_factory=dict)


MNIST1D = {"name": "mnist1d", "args": {"num_samples": 12500}}  # 10 000 to train from, 2 500 test
DIGITS = {"name": "digits", "args": {"test_fraction": 0.15}}  # 1527 to train from, 270 test
TEACHER = {"d": 10, "hidden": 32, "n_train": 4000, "n_test": 2000}

TUNING = [
    Pair("mnist1d-mlp-1000", MNIST1D, "mlp", 1000, {"width": 128}),
    Pair("mnist1d-cnn-500", MNIST1D, "cnn1d", 500),
    Pair("digits-mlp-190", DIGITS, "mlp", 190, {"width": 128}),
    Pair("teacher-cls-500", {"name": "teacher-mlp", "args": {**TEACHER, "classes": 3}}, "mlp", 500),
    Pair("breast-cancer-mlp-110", {"name": "file", "path": "@/cancer.csv", "target": "target"}, "mlp", 110),
    Pair("folder-digits-cnn-170", {"name": "file", "path": "@/digits_png"}, "cnn2d", 170),
]
HELD_OUT = [
    Pair("mnist1d-mlp-500", MNIST1D, "mlp", 500, {"width": 128}),
    Pair("mnist1d-cnn-1000", MNIST1D, "cnn1d", 1000),
    Pair("digits-cnn-190", DIGITS, "cnn2d", 190),
    Pair("teacher-cls-noisy-500", {"name": "teacher-mlp", "args": {**TEACHER, "classes": 3}, "label_noise": 0.2},
         "mlp", 500),
    Pair("teacher-reg-500", {"name": "teacher-mlp", "args": TEACHER}, "mlp", 500),
    Pair("table-easy-500", {"name": "file", "path": "@/table_easy.csv", "target": "label"}, "mlp", 500),
    Pair("table-hard-500", {"name": "file", "path": "@/table_hard.csv", "target": "label"}, "mlp", 500),
    Pair("folder-digits16-cnn-170", {"name": "file", "path": "@/digits16_png"}, "cnn2d", 170),
    # declared in the first session, measured in the second (under the patience rule: see ``collect``)
    Pair("table-medium-500", {"name": "file", "path": "@/table_medium.csv", "target": "label"}, "mlp", 500),
    Pair("teacher-reg-noisy-500", {"name": "teacher-mlp", "args": {**TEACHER, "noise": 0.25}}, "mlp", 500),
]


# fourth session: pairs never used before, declared (this list committed) before any of them was trained; the
# HELD_OUT pairs above have all been looked at, these are the blind part. Data and n new: a make_classification
# table with 5 classes and 30 features, Friedman #1 regression (target standardized, so its MSE is a fraction of
# the variance), Hastie et al.'s 10-dimensional chi-square rule, a second teacher MLP (20 inputs, 64 ReLU units,
# 4 classes, other seed) at n = 400, and Gaussian quantiles (3 classes, 8 dims) at n = 300.
FRESH = [
    Pair("table-5class-500", {"name": "file", "path": "@/table_5class.csv", "target": "label"}, "mlp", 500),
    Pair("friedman1-mlp-500", {"name": "file", "path": "@/friedman1.csv", "target": "y"}, "mlp", 500),
    Pair("hastie-mlp-500", {"name": "file", "path": "@/hastie.csv", "target": "label"}, "mlp", 500),
    Pair("teacher2-cls-400", {"name": "teacher-mlp", "args": {"d": 20, "hidden": 64, "activation": "relu",
                                                               "classes": 4, "seed": 5, "n_train": 4000,
                                                               "n_test": 2000}}, "mlp", 400),
    Pair("quantiles-mlp-300", {"name": "file", "path": "@/quantiles.csv", "target": "label"}, "mlp", 300),
]


# ----------------------------------------------------------------------------------------------- data files
def write_data(folder: Path) -> None:
    """The file-based data sets (deterministic: same bytes every time, so stored runs are reused)."""
    import pandas as pd
    from PIL import Image
    from sklearn.datasets import load_breast_cancer, load_digits, make_classification

    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "cancer.csv").exists():
        b = load_breast_cancer()
        df = pd.DataFrame(b.data, columns=[c.replace(" ", "_") for c in b.feature_names])
        df["target"] = b.target
        df.to_csv(folder / "cancer.csv", index=False)
    # make_classification tables of three difficulties; 5000 rows: 4000 to train from, 1000 test
    tables = {"easy": dict(n_classes=2, n_informative=5, class_sep=1.5, flip_y=0.0),
              "medium": dict(n_classes=4, n_informative=8, class_sep=1.0, flip_y=0.02),
              "hard": dict(n_classes=3, n_informative=6, class_sep=0.6, flip_y=0.05)}
    for name, kw in tables.items():
        path = folder / f"table_{name}.csv"
        if path.exists():
            continue
        x, y = make_classification(n_samples=5000, n_features=20, n_redundant=2, random_state=7, **kw)  # type: ignore[arg-type]
        df = pd.DataFrame(x.round(5), columns=[f"x{i}" for i in range(x.shape[1])])
        df["label"] = y
        df.to_csv(path, index=False)
    _write_fresh(folder)
    d = load_digits()
    if not (folder / "digits_png").exists():
        for i, (img, label) in enumerate(zip(d.images, d.target, strict=True)):
            sub = folder / "digits_png" / str(label)
            sub.mkdir(parents=True, exist_ok=True)
            Image.fromarray((img * 255 / 16).astype(np.uint8), mode="L").save(sub / f"{i}.png")
    if not (folder / "digits16_png").exists():
        # a harder image folder: digits upscaled to 16×16, shifted by up to 3 pixels and with pixel noise
        rng = np.random.default_rng(3)
        for i, (img, label) in enumerate(zip(d.images, d.target, strict=True)):
            big = np.kron(img / 16.0, np.ones((2, 2)))
            canvas = np.zeros((22, 22))
            dy, dx = rng.integers(0, 7, size=2)
            canvas[dy:dy + 16, dx:dx + 16] = big
            canvas = np.clip(canvas[3:19, 3:19] + rng.normal(0, 0.25, (16, 16)), 0, 1)
            sub = folder / "digits16_png" / str(label)
            sub.mkdir(parents=True, exist_ok=True)
            Image.fromarray((canvas * 255).astype(np.uint8), mode="L").save(sub / f"{i}.png")


def _write_fresh(folder: Path) -> None:
    """The fourth session's tables (``FRESH``): 5000 rows each, 4000 to train from, 1000 test."""
    import pandas as pd
    from sklearn.datasets import make_classification, make_friedman1, make_gaussian_quantiles, make_hastie_10_2

    def save(name: str, x: np.ndarray, y: np.ndarray, target: str) -> None:
        df = pd.DataFrame(x.round(5), columns=[f"x{i}" for i in range(x.shape[1])])
        df[target] = y
        df.to_csv(folder / name, index=False)

    if not (folder / "table_5class.csv").exists():
        x, y = make_classification(n_samples=5000, n_features=30, n_informative=10, n_redundant=4, n_classes=5,
                                   class_sep=0.8, flip_y=0.03, random_state=11)
        save("table_5class.csv", x, y, "label")
    if not (folder / "friedman1.csv").exists():
        x, y = make_friedman1(n_samples=5000, n_features=10, noise=1.0, random_state=12)
        save("friedman1.csv", x, ((y - y.mean()) / y.std()).round(5), "y")
    if not (folder / "hastie.csv").exists():
        x, y = make_hastie_10_2(n_samples=5000, random_state=13)
        save("hastie.csv", x, (y > 0).astype(int), "label")
    if not (folder / "quantiles.csv").exists():
        x, y = make_gaussian_quantiles(n_samples=5000, n_features=8, n_classes=3, random_state=14)
        save("quantiles.csv", x, y, "label")


def resolved(pair: Pair, folder: Path) -> dict[str, Any]:
    d = dict(pair.data)
    if str(d.get("path", "")).startswith("@/"):
        d["path"] = str(folder / d["path"][2:])
    return d


# ----------------------------------------------------------------------------------------------- training
def collect(pair: Pair, folder: Path, store: Any) -> dict[str, Any]:
    """Train (or read from the store) the pair's curve, its truth, every configuration at n and the best at 2n."""
    from gaplab.advise import data_spec
    from gaplab.advise.analysis import start_error
    from gaplab.advise.plan import base_plan
    from gaplab.engine.executor import run_local

    t0 = time.perf_counter()
    plan = base_plan(data_spec(resolved(pair, folder)), pair.model, pair.model_args or None, pair.n)
    truth = [h * pair.n for h in HORIZONS if h * pair.n <= plan.pool]
    configs = {c.name: c for c in plan.configs}
    want: list[tuple[str, int, int, Any]] = []
    for m in plan.sizes + truth:
        want += [("plain", m, s, plan.spec(configs["plain"], m, s)) for s in range(SEEDS)]
    want += [(c.name, pair.n, s, plan.spec(c, pair.n, s)) for c in plan.configs if c.name != "plain"
             for s in range(SEEDS)]
    out = run_local([w[3] for w in want], store, group=f"advise-truth/{pair.key}", workers=1)
    # at 2n: the TOP configurations at n (advise recommends the first); the rest are too far behind to matter
    at_n = {c.name: np.mean([_error(store, plan.spec(c, pair.n, s).run_id) for s in range(SEEDS)])
            for c in plan.configs if c.name != "plain"}
    top = sorted(at_n, key=lambda k: at_n[k])[:TOP]
    more = [(name, 2 * pair.n, s, plan.spec(configs[name], 2 * pair.n, s)) for name in top for s in range(SEEDS)
            if 2 * pair.n <= plan.pool]
    out2 = run_local([w[3] for w in more], store, group=f"advise-truth/{pair.key}", workers=1)
    want += more
    errs: dict[str, dict[str, list[float]]] = {}
    for name, m, _s, spec in want:
        errs.setdefault(name, {}).setdefault(str(m), []).append(_error(store, spec.run_id))
    secs = time.perf_counter() - t0
    capped = [_capped(store, spec) for *_, spec in want]
    # a held-out pair's numbers are not printed: they are first looked at by ``--evaluate``
    shown = "" if pair in HELD_OUT + FRESH else "; plain " + ", ".join(f"{m}: {np.mean(v):.3f}"
                                                               for m, v in errs["plain"].items())
    print(f"{pair.key}: {out.get('trained', 0) + out2.get('trained', 0)} trained in {secs:.0f} s; "
          f"{sum(capped)} of {len(capped)} runs reached the epoch cap{shown}", flush=True)
    return {"key": pair.key, "n": pair.n, "sizes": plan.sizes, "truth_sizes": truth, "pool": plan.pool,
            "model": plan.model, "recipe": {"lr": plan.lr, "batch": plan.batch_size, "epochs": plan.epochs,
                                            "min_steps": plan.min_steps,
                                            "stopping": "patience" if plan.converge else "fixed"},
            "at_cap": sum(capped),
            "task": _task(plan),
            "errors": errs, "seconds": round(secs, 1), "start_error": start_error(plan)}


def _task(plan: Any) -> str:
    """``classification`` or ``regression``, as the data loader decided (a classification error ends at 1)."""
    from gaplab.engine import prepared_for

    return str(prepared_for(plan.spec(plan.configs[0], plan.sizes[-1], 0)).dataset.task)


def _error(store: Any, run_id: str) -> float:
    """A stored run's test error: 1 − accuracy, or the test loss (MSE) for regression; nan if it failed."""
    row = store.run(run_id)
    final = row["final"] if row and row["status"] == "done" else {}
    e = 1.0 - final["test_acc"] if final.get("test_acc") is not None else final.get("test_loss", math.nan)
    return float(e) if e is not None else math.nan


def _capped(store: Any, spec: Any) -> bool:
    """Did a run under a patience rule train to its epoch cap without stopping (not converged by the rule)?"""
    row = store.run(spec.run_id)
    final = row["final"] if row else {}
    return spec.reg.early_stopping is not None and final.get("stopped_epoch") is None


def collect_all(store_path: str, only: list[str] | None) -> dict[str, Any]:
    import torch

    from gaplab.store.db import Store

    torch.set_num_threads(1)
    folder = Path(store_path).parent / "advise-truth-data"
    write_data(folder)
    cached = json.loads(CURVES_JSON.read_text()) if CURVES_JSON.exists() else {}
    Path(store_path).parent.mkdir(parents=True, exist_ok=True)
    store = Store(store_path)
    for pair in TUNING + HELD_OUT + FRESH:
        if only and pair.key not in only:
            continue
        if pair.key in cached and not only:
            continue
        cached[pair.key] = collect(pair, folder, store)
        CURVES_JSON.parent.mkdir(parents=True, exist_ok=True)
        CURVES_JSON.write_text(json.dumps(cached, indent=1))
    return cached


def with_start_errors(cached: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Fill M4's start error (as advise computes it) into curves cached before it was recorded."""
    from gaplab.advise import data_spec
    from gaplab.advise.analysis import start_error
    from gaplab.advise.plan import base_plan

    for p in TUNING + HELD_OUT + FRESH:
        if p.key in cached and cached[p.key].get("start_error") is None:
            plan = base_plan(data_spec(resolved(p, folder)), p.model, p.model_args or None, p.n)
            cached[p.key]["start_error"] = start_error(plan)
    return cached


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", default=str(STORE), help="the runs' store (outside the checkout, so it outlives it)")
    ap.add_argument("--only", nargs="*", default=None, help="train only these pair keys (again)")
    ap.add_argument("--evaluate", action="store_true", help="only evaluate the cached curves")
    ap.add_argument("--rule", default=None, help="ensemble rule to evaluate as 'advise' (default: advise's RULE)")
    ap.add_argument("--tuning-only", action="store_true",
                    help="evaluate the tuning pairs alone (while designing: the held-out pairs stay unseen)")
    a = ap.parse_args()
    if not a.evaluate:
        collect_all(a.store, a.only)
    if a.only:
        return
    cached = with_start_errors(json.loads(CURVES_JSON.read_text()), Path(a.store).parent / "advise-truth-data")
    import advise_truth_eval  # type: ignore[import-not-found]

    if a.rule:
        advise_truth_eval.rule_in_use = a.rule
    if a.tuning_only:
        advise_truth_eval.RESULT_JSON = Path("/tmp/advise_truth_tuning.json")
        advise_truth_eval.FIGURE = Path("/tmp/advise_truth_tuning.png")
    fixed = with_start_errors(json.loads(CURVES_FIXED_JSON.read_text()) if CURVES_FIXED_JSON.exists() else {},
                              Path(a.store).parent / "advise-truth-data")
    advise_truth_eval.evaluate(cached, [p.key for p in TUNING], [] if a.tuning_only else [p.key for p in HELD_OUT],
                               [] if a.tuning_only else [p.key for p in FRESH], fixed)


if __name__ == "__main__":
    main()
