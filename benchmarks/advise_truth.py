"""Check advise's extrapolations against truth: advise on n examples, then really train at larger sizes.

MNIST-1D with a large pool (12 500 generated: 10 000 to train from, 2 500 test): advise with the user's n = 1000,
then train plain and the best configuration at 2×, 4× and 8× n with the same recipe and compare the measured test
error with the predicted one and its 90 % interval. Digits: advise on n = 400 of its 1347-odd training examples,
checked at the full size. Prints the table; run from the repo root:

    python benchmarks/advise_truth.py [--store PATH] [--workers 2] [--budget 5m]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from gaplab.advise import advise
from gaplab.engine.executor import run_local
from gaplab.store.db import Store


def check(store: Store, data: dict, n: int, factors: tuple[float, ...], budget: str, workers: int) -> list[tuple]:
    t0 = time.perf_counter()
    adv = advise(data, budget=budget, n=n, store=store, workers=workers, factors=factors,
                 on_plan=lambda p: print(p.describe(), flush=True))
    print(f"advise took {adv.seconds:.0f} s ({adv.numbers['estimate_vs_actual']})", flush=True)
    print("\n".join(adv.words), flush=True)
    plan = adv.run_plan
    assert plan is not None
    cv = adv.numbers["curves"]
    best = adv.numbers["best"] if adv.numbers["best"] != "plain" else adv.numbers["best_other"]
    configs = {c.name: c for c in plan.configs}
    rows = []
    for name in dict.fromkeys(("plain", best)):
        preds = {p["n"]: p for p in cv[name].get("predictions") or []}
        sizes = [round(f * n) for f in factors]
        specs = [plan.spec(configs[name], m, s) for m in sizes for s in range(plan.seeds)]
        out = run_local(specs, store, group=plan.group + "/truth", workers=workers)
        fresh = {r.run_id: r.final for r in out["results"]}
        for m in sizes:
            errs = []
            for s in range(plan.seeds):
                rid = plan.spec(configs[name], m, s).run_id
                final = fresh.get(rid) or store.run(rid)["final"]
                errs.append(1.0 - final["test_acc"])
            p = preds.get(m)
            rows.append((data["name"], n, name, m, p, float(np.mean(errs)), float(np.std(errs, ddof=1))))
            print(_row(*rows[-1]), flush=True)
    print(f"{data['name']}: total {time.perf_counter() - t0:.0f} s", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--store", default="gaplab-results/advise-truth.db")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--budget", default="5m")
    ap.add_argument("--only", choices=["mnist1d", "digits"], default=None)
    a = ap.parse_args()
    store = Store(a.store)
    rows = []
    if a.only in (None, "mnist1d"):
        rows += check(store, {"name": "mnist1d", "args": {"num_samples": 12500}}, 1000, (2, 4, 8), a.budget,
                      a.workers)
    if a.only in (None, "digits"):
        from gaplab.engine.datacache import prepared_for
        from gaplab.spec import parse_run

        pool = len(prepared_for(parse_run({"data": {"name": "digits"}})).train_idx)
        rows += check(store, {"name": "digits"}, 400, (2, pool / 400), a.budget, a.workers)
    print("\n| data | user n | configuration | n | predicted (90 % interval) | measured (mean ± sd, 3 seeds) "
          "| inside |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(_row(*r))


def _row(d: str, n: int, name: str, m: int, p: dict | None, mean: float, sd: float) -> str:
    """One markdown row: predicted error with its interval (⚑: beyond 4× the largest measured size) vs measured."""
    if p is None:
        return f"| {d} | {n} | {name} | {m} | not extrapolated (ill-behaved curve) | {mean:.3f} ± {sd:.3f} | — |"
    inside = "yes" if p["low"] <= mean <= p["high"] else "no"
    flag = " ⚑" if p["flagged"] else ""
    return (f"| {d} | {n} | {name} | {m} | {p['error']:.3f} ({p['low']:.3f}–{p['high']:.3f}){flag} | "
            f"{mean:.3f} ± {sd:.3f} | {inside} |")


if __name__ == "__main__":
    main()
