"""Scoring half of ``advise_truth.py``: every extrapolation method against the measured truth of the cached curves.

Methods: each curve family alone (fitted on all measured sizes), ``last1``, ``select`` (the family that
extrapolates best to the two largest measured sizes), ``ens-uniform``, ``ens-inv2`` and ``ens-median`` (the
families within 3× the best held-out score, equal or 1/score² weights, or their median) and ``advise``
(``gaplab.advise.predict``: the ensemble of its ``RULE`` with its interval). A family that cannot be fitted to a
curve falls back to ``last1`` there (LCDB scored failed fits as its fallback too). Ranks: on every curve and
horizon the methods are ranked by absolute error (ties share the mean rank), then averaged over curves (LCDB's
protocol).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from gaplab.advise import predict as P
from gaplab.theory import curves

ROOT = Path(__file__).resolve().parent
RESULT_JSON = ROOT / "results" / "advise_truth.json"
FIGURE = ROOT.parent / "docs" / "advise-truth-calibration.png"


def start_error(c: dict[str, Any]) -> float | None:
    """M4's e0 as advise computes it (``advise.analysis.start_error``), recorded with the curve."""
    return c.get("start_error")


RULES = {"winner": "select", "uniform": "ens-uniform", "inverse-square": "ens-inv2", "softmax": "ens-softmax",
         "median": "ens-median", "trimmed": "ens-trimmed"}
# the κ advise shipped before the fourth session (calibrated on the tuning pairs' fixed-recipe curves, uniform rule)
KAPPA_BEFORE = 1.753
rule_in_use = P.RULE


def curve_methods(c: dict[str, Any]) -> dict[str, Any]:
    """Predictions of every method at the truth sizes of one cached curve, and advise's intervals."""
    ns = c["sizes"]
    per = [c["errors"]["plain"][str(m)] for m in ns]
    means = np.array([np.mean(e) for e in per])
    t = np.array(c["truth_sizes"], float)
    e0 = start_error(c)
    choice = curves.choose(ns, means, start_error=e0)
    last = np.full(len(t), means[-1])
    out: dict[str, list[float]] = {"last1": last.tolist()}
    for m in curves.FAMILIES:
        out[m] = (choice.fits[m].predict(t) if m in choice.fits else last).tolist()
    members = {m: f.predict(t) for m, f in choice.fits.items()}
    sem = float(np.std(per[-1], ddof=1) / math.sqrt(len(per[-1])))
    for rule, name in RULES.items():
        out[name] = P.ensemble(choice, members, float(means[-1]), sem, rule)[0].tolist()
    pr = P.predict(ns, per, t, start_error=e0, choice=choice, rule=rule_in_use)
    out["advise"] = pr.point
    truth = [float(np.mean(c["errors"]["plain"][str(int(m))])) for m in t]
    shape = curves.check_shape(ns, per)
    return {"key": c["key"], "n": c["n"], "targets": t.tolist(), "horizons": (t / c["n"]).tolist(), "truth": truth,
            "pred": out, "low": pr.low, "high": pr.high, "scale": pr.scale, "weights": pr.weights,
            "scores": choice.scores, "chosen": choice.model, "shape": shape.kind, "e0": e0,
            "task": c.get("task", "classification")}


def recommended_check(c: dict[str, Any], top: int = 3) -> dict[str, Any]:
    """Is the configuration best at n (advise's recommendation) still best at 2n, or within the paired 90 %
    interval of the best there? Compared among plain and the ``top`` best configurations at n (those trained
    at 2n)."""
    n, n2 = str(c["n"]), str(2 * c["n"])
    errs = c["errors"]
    at_n = {k: float(np.mean(v[n])) for k, v in errs.items() if n in v}
    rec = min(at_n, key=lambda k: at_n[k])
    cands = ["plain"] + sorted((k for k in at_n if k != "plain"), key=lambda k: at_n[k])[:top]
    at_2n = {k: float(np.mean(errs[k][n2])) for k in cands if n2 in errs.get(k, {})}
    if rec not in at_2n:
        return {"recommended": rec, "checked": False}
    best2 = min(at_2n, key=lambda k: at_2n[k])
    d = np.array(errs[rec][n2]) - np.array(errs[best2][n2])
    half = float(stats.t.ppf(0.95, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else 0.0
    within = bool(rec == best2 or d.mean() - half <= 0)
    return {"recommended": rec, "best_at_2n": best2, "checked": True, "same": rec == best2,
            "gap": float(d.mean()), "gap_low": float(d.mean() - half), "ok": within}


def set_intervals(r: dict[str, Any], kap: dict[float, float]) -> None:
    """advise's interval point ± κ_h·u_h (as ``predict`` makes it) for the given κ."""
    k = [kap[min(kap, key=lambda kk: abs(math.log(kk) - math.log(h)))] for h in r["horizons"]]
    r["low"] = [max(0.0, p - kk * u) for p, kk, u in zip(r["pred"]["advise"], k, r["scale"], strict=True)]
    top = 1.0 if r.get("task") == "classification" else math.inf  # an error rate's interval ends at 1
    r["high"] = [min(top, p + kk * u) for p, kk, u in zip(r["pred"]["advise"], k, r["scale"], strict=True)]


def _ratios(rows: list[dict[str, Any]]) -> dict[float, list[float]]:
    """|truth − advise| / u_h per horizon: the normalized errors κ is calibrated from."""
    ratios: dict[float, list[float]] = {}
    for r in rows:
        for h, tr, p, u in zip(r["horizons"], r["truth"], r["pred"]["advise"], r["scale"], strict=True):
            ratios.setdefault(float(h), []).append(abs(tr - p) / max(u, 1e-6))
    return ratios


def calibrate(rows: list[dict[str, Any]], level: float = 0.9, rule: str = "pooled") -> dict[float, float]:
    """κ_h from the given curves. ``pooled`` (the rule since the second session): one κ for every horizon, the
    split-conformal quantile of the normalized errors of all horizons together — the ⌈(N+1)·level⌉-th smallest of
    N, which covers a new case with probability ≥ level if cases are exchangeable (u_h already grows with the
    horizon). ``per-horizon`` (the first session's): the plain ``level`` quantile at each horizon, from 5–6 values
    each."""
    ratios = _ratios(rows)
    if rule == "per-horizon":
        return {h: float(np.quantile(v, level, method="higher")) for h, v in sorted(ratios.items())}
    pooled = sorted(x for v in ratios.values() for x in v)
    k = math.ceil((len(pooled) + 1) * level)
    kap = pooled[k - 1] if k <= len(pooled) else math.inf
    return {h: float(kap) for h in sorted(ratios)}


def leave_one_pair_out(rows: dict[str, dict[str, Any]], keys: list[str]) -> dict[str, Any]:
    """Coverage on each of ``keys`` with κ calibrated on the others only (the fair coverage of the tuning part,
    whose in-sample coverage is ≥ 90 % by construction)."""
    hits: dict[str, list[bool]] = {}
    kappas = {}
    for k in keys:
        kap = calibrate([rows[o] for o in keys if o != k])
        kappas[k] = next(iter(kap.values()))
        r = dict(rows[k])
        set_intervals(r, kap)
        for h, lo, hi, tr in zip(r["horizons"], r["low"], r["high"], r["truth"], strict=True):
            hits.setdefault(f"{float(h):g}x", []).append(bool(lo <= tr <= hi))
    return {"coverage": {h: float(np.mean(v)) for h, v in hits.items()}, "cases": {h: len(v) for h, v in hits.items()},
            "kappa_without": kappas}


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """MAE, median absolute error and mean rank per method and horizon; advise's interval coverage."""
    methods = list(rows[0]["pred"])
    out: dict[str, Any] = {"curves": len(rows), "by_horizon": {}}
    for h in sorted({float(h) for r in rows for h in r["horizons"]}):
        errs: dict[str, list[float]] = {m: [] for m in methods}
        ranks: dict[str, list[float]] = {m: [] for m in methods}
        cover, widths, cover_ok = [], [], []
        for r in rows:
            if h not in [float(v) for v in r["horizons"]]:
                continue
            i = [float(v) for v in r["horizons"]].index(h)
            ae = {m: abs(r["pred"][m][i] - r["truth"][i]) for m in methods}
            rk = stats.rankdata([ae[m] for m in methods])
            for m, v in zip(methods, rk, strict=True):
                errs[m].append(ae[m])
                ranks[m].append(float(v))
            cover.append(r["low"][i] <= r["truth"][i] <= r["high"][i])
            widths.append(r["high"][i] - r["low"][i])
            if r["shape"] not in ("rises", "flat"):  # advise itself extrapolates only these
                cover_ok.append(cover[-1])
        out["by_horizon"][f"{h:g}x"] = {
            "cases": len(cover),
            "mae": {m: float(np.mean(v)) for m, v in errs.items()},
            "median_ae": {m: float(np.median(v)) for m, v in errs.items()},
            "mean_rank": {m: float(np.mean(v)) for m, v in ranks.items()},
            "coverage": float(np.mean(cover)), "median_width": float(np.median(widths)),
            "coverage_extrapolated": float(np.mean(cover_ok)) if cover_ok else None, "extrapolated": len(cover_ok)}
    return out


def must_show(s: dict[str, Any], mlp: dict[str, Any] | None) -> dict[str, Any]:
    """The issue's acceptance numbers for one part of the benchmark, each with its threshold and verdict."""
    bh = s["by_horizon"]
    out: dict[str, Any] = {}
    for h, need in (("2x", 0.85), ("4x", 0.85), ("8x", 0.75)):
        if h in bh:
            out[f"coverage {h} >= {need}"] = (round(bh[h]["coverage"], 3), bh[h]["coverage"] >= need)
    for h, need in (("2x", 0.02), ("4x", 0.03)):
        if h in bh:
            v = bh[h]["median_ae"]["advise"]
            out[f"median abs error {h} <= {need}"] = (round(v, 4), v <= need)
    for h, b in bh.items():
        r = b["mean_rank"]
        out[f"rank {h}: advise < last1 and pow3"] = ((round(r["advise"], 2), round(r["last1"], 2),
                                                       round(r["pow3"], 2)), r["advise"] < min(r["last1"], r["pow3"]))
    if mlp is not None:
        for i, lim in enumerate((0.03, 0.05, 0.08)):
            d = abs(mlp["pred"]["advise"][i] - mlp["truth"][i])
            inside = mlp["low"][i] <= mlp["truth"][i] <= mlp["high"][i]
            out[f"mnist1d-mlp-1000 {mlp['horizons'][i]:g}x within {lim} or inside"] = (round(d, 4),
                                                                                       d <= lim or inside)
    if s.get("recommended_ok") is not None:
        out["recommended best at 2n (or within paired interval) >= 0.8"] = (round(s["recommended_ok"], 3),
                                                                              s["recommended_ok"] >= 0.8)
    return out


def figure(rows: list[dict[str, Any]], tuning: list[str], fresh: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.4))
    for ax, h in zip(axes, (2.0, 4.0, 8.0), strict=True):
        for r in rows:
            hs = [float(v) for v in r["horizons"]]
            if h not in hs:
                continue
            i = hs.index(h)
            kind = "tuning" if r["key"] in tuning else "fresh" if r["key"] in fresh else "held"
            p, lo, hi, tr = r["pred"]["advise"][i], r["low"][i], r["high"][i], r["truth"][i]
            col, fmt = {"tuning": ("tab:blue", "s"), "held": ("tab:orange", "o"), "fresh": ("tab:green", "D")}[kind]
            ax.errorbar(tr, p, yerr=[[p - lo], [hi - p]], fmt=fmt, color=col, ms=4, capsize=2, alpha=0.8)
            if not lo <= tr <= hi:
                ax.annotate(r["key"], (tr, p), fontsize=6, alpha=0.7)
        lim = ax.get_xlim()
        ax.plot(lim, lim, "k--", lw=0.8)
        ax.set_title(f"{h:g}× n")
        ax.set_xlabel("measured error (mean of 3 seeds)")
    axes[0].set_ylabel("predicted error with 90 % interval")
    axes[0].plot([], [], "s", color="tab:blue", label="tuning")
    axes[0].plot([], [], "o", color="tab:orange", label="held out (seen before)")
    axes[0].plot([], [], "D", color="tab:green", label="fresh held out (blind)")
    axes[0].legend(fontsize=8)
    fig.suptitle("advise: predicted vs measured test error at 2×/4×/8× the user's n (benchmarks/advise_truth.py)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def evaluate(cached: dict[str, Any], tuning: list[str], held_out: list[str],
             fresh: list[str] | None = None, fixed: dict[str, Any] | None = None) -> dict[str, Any]:
    """Score every method on every part; calibrate κ on the tuning part; write the JSON and the figure.

    Parts: ``tuning`` (κ and the ensemble rule were chosen on it), ``held_out`` (scored, and looked at, in earlier
    sessions), ``fresh`` (declared and measured after the rule and κ were frozen: the blind part),
    ``held_out_and_fresh`` (every curve κ was not calibrated on: the coverage advise quotes) and ``all``.
    ``fixed`` holds the first session's fixed-recipe curves: a tuning pair re-measured under the patience rule is
    also scored as first measured, as ``KEY@fixed`` (part ``tuning_fixed``)."""
    fresh = fresh or []
    redone = [k for k in tuning if k in cached and k in (fixed or {})
              and cached[k].get("recipe", {}).get("stopping") == "patience"]
    cached = {**cached, **{f"{k}@fixed": {**(fixed or {})[k], "key": f"{k}@fixed"} for k in redone}}
    keys = [k for k in tuning + held_out + fresh if k in cached] + [f"{k}@fixed" for k in redone]
    rows = {k: curve_methods(cached[k]) for k in keys}
    tuned = [k for k in tuning if k in rows]
    named = [("tuning", tuning), ("tuning_fixed", [f"{k}@fixed" for k in redone]), ("held_out", held_out),
             ("fresh", fresh), ("held_out_and_fresh", held_out + fresh), ("all", tuning + held_out + fresh)]
    # before: the κ advise shipped until this session, on the same points
    kap_before = {2.0: KAPPA_BEFORE, 4.0: KAPPA_BEFORE, 8.0: KAPPA_BEFORE}
    before: dict[str, Any] = {}
    for part, ks in named:
        rs = [dict(rows[k]) for k in ks if k in rows]
        for r in rs:
            set_intervals(r, kap_before)
        if rs:
            before[part] = {h: {"coverage": b["coverage"], "median_width": b["median_width"]}
                            for h, b in summarize(rs)["by_horizon"].items()}
    kap = calibrate([rows[k] for k in tuned])
    for r in rows.values():
        set_intervals(r, kap)
    rec = {k: recommended_check(cached[k]) for k in keys}
    result: dict[str, Any] = {"rule": rule_in_use, "kappa": {f"{h:g}": v for h, v in kap.items()},
                              "kappa_before": {f"{h:g}": v for h, v in kap_before.items()},
                              "coverage_before": before, "tuning_leave_one_pair_out": leave_one_pair_out(rows, tuned),
                              "protocol": {k: cached[k].get("recipe", {}).get("stopping", "fixed") for k in keys},
                              "parts": {}}
    for part, ks in named:
        rs = [rows[k] for k in ks if k in rows]
        if not rs:
            continue
        s = summarize(rs)
        s["pairs"] = [k for k in ks if k in rows]
        s["patience"] = sum(result["protocol"][k] == "patience" for k in s["pairs"])
        checked = [rec[k] for k in ks if k in rec and rec[k]["checked"]]
        s["recommended_ok"] = float(np.mean([c["ok"] for c in checked])) if checked else None
        s["recommended_same"] = float(np.mean([c["same"] for c in checked])) if checked else None
        result["parts"][part] = s
    result["curves"] = rows
    result["recommended"] = rec
    parts = dict(named)
    result["must_show"] = {part: must_show(s, rows.get("mnist1d-mlp-1000") if "mnist1d-mlp-1000" in parts[part]
                                           else None) for part, s in result["parts"].items()}
    RESULT_JSON.write_text(json.dumps(result, indent=1))
    figure([r for k, r in rows.items() if not k.endswith("@fixed")], tuning, fresh, FIGURE)
    _print(result, rows, rec, tuning, fresh)
    return result


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.0%}"


def _print(result: dict[str, Any], rows: dict[str, Any], rec: dict[str, Any], tuning: list[str],
           fresh: list[str]) -> None:
    print("\n| pair | part | horizon | n | predicted (90 % interval) | measured | inside | shape | weights |")
    print("|---|---|---|---|---|---|---|---|---|")
    for k, r in rows.items():
        for i, h in enumerate(r["horizons"]):
            inside = "yes" if r["low"][i] <= r["truth"][i] <= r["high"][i] else "**no**"
            w = ", ".join(f"{m} {v:.2f}" for m, v in sorted(r["weights"].items(), key=lambda kv: -kv[1])[:3])
            part = ("tuning" if k in tuning else "tuning, fixed recipe" if k.endswith("@fixed") else
                    "fresh" if k in fresh else "held out")
            print(f"| {k} | {part} | {h:g}× | {r['targets'][i]:g} | {r['pred']['advise'][i]:.3f} ({r['low'][i]:.3f}–"
                  f"{r['high'][i]:.3f}) | {r['truth'][i]:.3f} | {inside} | {r['shape']} | {w} |")
    print(f"\nrule {result['rule']}; κ (tuning, pooled split-conformal): {result['kappa']}; "
          f"before (shipped until now): {result['kappa_before']}")
    lo = result["tuning_leave_one_pair_out"]
    print("tuning coverage, κ left one pair out: " + ", ".join(f"{h} {v:.0%} ({lo['cases'][h]} cases)"
                                                               for h, v in lo["coverage"].items()))
    for part, b in result["coverage_before"].items():
        print(f"coverage before ({part}, κ {KAPPA_BEFORE}): " + ", ".join(
            f"{h} {v['coverage']:.0%} (median width {v['median_width']:.3f})" for h, v in b.items()))
    for part, s in result["parts"].items():
        print(f"\n**{part}**: {s['curves']} curves ({s['patience']} under the patience rule); recommended "
              f"configuration best at 2n (or within the paired "
              f"interval) in {_pct(s['recommended_ok'])}, the very best in {_pct(s['recommended_same'])}")
        methods = list(next(iter(s["by_horizon"].values()))["mae"])
        print("\n| method | " + " | ".join(f"MAE {h} | median {h} | rank {h}" for h in s["by_horizon"]) + " |")
        print("|---|" + "---|" * (3 * len(s["by_horizon"])))
        for m in methods:
            print(f"| {m} | " + " | ".join(f"{b['mae'][m]:.3f} | {b['median_ae'][m]:.3f} | {b['mean_rank'][m]:.2f}"
                                           for b in s["by_horizon"].values()) + " |")
        print("\ncoverage of advise's 90 % intervals: " + ", ".join(
            f"{h} {b['coverage']:.0%} ({b['cases']} cases, median width {b['median_width']:.3f}; "
            f"{b['coverage_extrapolated']:.0%} of the {b['extrapolated']} advise extrapolates)"
            for h, b in s["by_horizon"].items()))
    for part, ms in result["must_show"].items():
        print(f"\nmust show ({part}):\n")
        for k, (v, ok) in ms.items():
            print(f"- {'PASS' if ok else 'MISS'} {k}: {v}")
    # the coverage advise quotes: every curve κ was not calibrated on
    held = result["parts"].get("held_out_and_fresh", {}).get("by_horizon", {})
    print("\nfor gaplab.advise.predict: KAPPA = {" + ", ".join(f"{float(h):g}: {v:.3f}" for h, v in
                                                          result["kappa"].items()) + "}; COVERAGE = {"
          + ", ".join(f"{float(h[:-1]):g}: {b['coverage']:.2f}" for h, b in held.items()) + "}")
    bad = [k for k, c in rec.items() if c["checked"] and not c["ok"]]
    print("recommendation not best at 2n: " + (", ".join(f"{k} ({rec[k]['recommended']} vs "
                                                          f"{rec[k]['best_at_2n']})" for k in bad) or "none"))
