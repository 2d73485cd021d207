"""From the sweep's rows to the advice: learning curves, extrapolations with intervals, the best configuration,
what it is worth in real examples, the bias/variance reading and the action it implies.

Intervals are 90 %: for predictions, from resampling seeds at every size (``theory.curves.bootstrap``); for the
paired difference to plain, a t interval over seeds (each seed is one paired comparison). The best configuration
is picked on the same test set its error is reported on, so its advantage is optimistic (winner's curse); the
paired interval says how far it can be trusted.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

from gaplab.advise.plan import Plan
from gaplab.advise.sweep import Row
from gaplab.theory import curves

FACTORS: tuple[float, ...] = (2, 4, 10)  # predictions at 2×, 4× and 10× the user's n
EXTRAPOLATION_LIMIT = 4.0  # predictions beyond this many times the largest measured size are flagged
LEVEL = 0.9


def _table(plan: Plan, rows: list[Row]) -> dict[str, dict[int, list[Row]]]:
    t: dict[str, dict[int, list[Row]]] = {c.name: {n: [] for n in plan.sizes} for c in plan.configs}
    for r in rows:
        if r.status == "done" and math.isfinite(r.test_error):
            t[r.config][r.size].append(r)
    return t


def _curve(name: str, label: str, by_size: dict[int, list[Row]], n_user: int, n_boot: int,
           factors: tuple[float, ...] = FACTORS) -> dict[str, Any]:
    """Measured means per size, shape check, chosen model, floor and predictions at 2×/4×/10× the user's n."""
    ns = [n for n, rs in by_size.items() if rs]
    per = [np.array([r.test_error for r in by_size[n]]) for n in ns]
    out: dict[str, Any] = {
        "name": name, "label": label, "sizes": ns,
        "test_error": [float(e.mean()) for e in per],
        "test_error_sd": [float(e.std(ddof=1)) if len(e) > 1 else 0.0 for e in per],
        "train_error": [float(np.mean([r.train_error for r in by_size[n]])) for n in ns],
        "seeds": [len(e) for e in per],
    }
    if len(ns) < 4 or min(len(e) for e in per) < 2:
        out.update(shape="too few points", shape_ok=False, shape_reason="fewer than 4 sizes with 2+ finished seeds")
        return out
    shape = curves.check_shape(ns, per)
    out.update(shape=shape.kind, shape_ok=shape.ok, shape_reason=shape.reason)
    if not shape.ok:
        return out
    choice = curves.choose(ns, out["test_error"])
    targets = [round(f * n_user) for f in factors]
    point, lo, hi = curves.bootstrap(ns, per, choice.model, targets, n_boot=n_boot, level=LEVEL)
    out.update(
        model=choice.model, formula=curves.MODELS[choice.model].formula, params=choice.fit.named_params(),
        floor=choice.fit.floor, extrapolation_scores=choice.scores, holdout=choice.holdout,
        fit_rmse=choice.fit.rmse, fit={"model": choice.model, "params": list(choice.fit.params), "n0": choice.fit.n0},
        predictions=[{"factor": f, "n": t, "error": float(p), "low": float(a), "high": float(b),
                      "flagged": bool(t > EXTRAPOLATION_LIMIT * max(ns))}
                     for f, t, p, a, b in zip(factors, targets, point, lo, hi, strict=True)],
    )
    return out


def fit_of(curve: dict[str, Any]) -> curves.Fit | None:
    """The learning-curve fit a curve (an entry of ``analyse(...)["curves"]``) stores, or None when not fitted."""
    f = curve.get("fit")
    return None if f is None else curves.Fit(f["model"], tuple(f["params"]), f["n0"], curve.get("fit_rmse", 0.0))


def _paired(plain: list[Row], other: list[Row]) -> dict[str, Any]:
    """Mean difference other − plain over seeds present in both, with a 90 % t interval."""
    p = {r.seed: r.test_error for r in plain}
    d = np.array([r.test_error - p[r.seed] for r in other if r.seed in p])
    if len(d) < 2:
        return {"mean": float(d.mean()) if len(d) else math.nan, "low": math.nan, "high": math.nan, "pairs": len(d)}
    half = float(stats.t.ppf(0.5 + LEVEL / 2, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d)))
    return {"mean": float(d.mean()), "low": float(d.mean() - half), "high": float(d.mean() + half), "pairs": len(d)}


def _worth(plain_curve: dict[str, Any], plain: dict[int, list[Row]], best_err: list[float], n: int,
           n_boot: int) -> dict[str, Any]:
    """Extra real examples the best configuration is worth at n: where the plain curve reaches its error."""
    f = fit_of(plain_curve)
    if f is None:
        return {"extra": None, "reason": f"the plain curve is {plain_curve.get('shape')}: not extrapolated"}
    target = float(np.mean(best_err))
    at_n = float(np.mean([r.test_error for r in plain[n]]))
    if target >= at_n:
        return {"extra": 0.0, "low": 0.0, "high": 0.0, "flagged": False, "reason": "it does not beat plain at n"}
    point = curves.size_for(f, target, n_from=n) - n
    rng = np.random.default_rng(1)
    ns = plain_curve["sizes"]
    per = [np.array([r.test_error for r in plain[m]]) for m in ns]
    draws = []
    for _ in range(n_boot):
        means = [rng.choice(e, len(e)).mean() for e in per]
        g = curves.fit(f.model, ns, means, start=f.params)
        if g is not None:
            draws.append(curves.size_for(g, float(rng.choice(best_err, len(best_err)).mean()), n_from=n) - n)
    # "nearest": draws may be inf (the best error lies below a resampled plain floor)
    lo, hi = (np.quantile(draws, [(1 - LEVEL) / 2, (1 + LEVEL) / 2], method="nearest") if draws
              else (math.nan, math.nan))
    return {"extra": point, "low": max(0.0, float(lo)), "high": float(hi),
            "flagged": bool(not math.isfinite(point) or point + n > EXTRAPOLATION_LIMIT * max(ns))}


def analyse(plan: Plan, rows: list[Row], n_boot: int = 200, goal: float | None = None,
            factors: tuple[float, ...] = FACTORS) -> dict[str, Any]:
    """Every number of the advice (JSON-ready) plus its sentences under ``words``."""
    table = _table(plan, rows)
    labels = {c.name: c.label for c in plan.configs}
    n = plan.sizes[-1]
    cv = {c: _curve(c, labels[c], table[c], n, n_boot, factors) for c in table}
    plain_rows = table["plain"][n]
    if not plain_rows:
        raise RuntimeError("no plain run finished at the largest size: nothing to advise on")
    at_n = {c: float(np.mean([r.test_error for r in table[c][n]])) for c in table if table[c][n]}
    others = [c for c in at_n if c != "plain"]
    best = min(at_n, key=lambda c: at_n[c])
    runner_up = min(others, key=lambda c: at_n[c]) if others else None
    paired = {c: _paired(plain_rows, table[c][n]) for c in others}
    worth = _worth(cv["plain"], table["plain"], [r.test_error for r in table[best][n]], n, n_boot) \
        if best != "plain" else {"extra": 0.0}

    def reading(c: str) -> dict[str, Any]:
        rs = table[c][n]
        tr = float(np.mean([r.train_error for r in rs]))
        te = at_n[c]
        return {"train_error": tr, "test_error": te, "gap": te - tr,
                "still_falling": sum(r.train_still_falling for r in rs) > len(rs) / 2}

    bv = {"plain": reading("plain"), "best": reading(best),
          "gap_by_size": {str(m): cv["plain"]["test_error"][i] - cv["plain"]["train_error"][i]
                          for i, m in enumerate(cv["plain"]["sizes"])}}
    actions = _actions(cv, at_n, paired, best, bv, n)
    numbers: dict[str, Any] = {
        "n": n, "metric": "test error (1 − accuracy)" if _is_classification(rows) else "test mean squared error",
        "level": LEVEL, "extrapolation_limit": EXTRAPOLATION_LIMIT, "error_at_n": at_n, "best": best,
        "best_label": labels[best], "best_other": runner_up, "paired_vs_plain": paired, "worth_in_examples": worth,
        "bias_variance": bv, "actions": actions, "curves": cv,
    }
    if goal is not None:
        numbers["goal"] = _goal(goal, cv, best, n)
    numbers["words"] = _words(numbers, plan)
    return numbers


def _is_classification(rows: list[Row]) -> bool:
    return all(0.0 <= r.test_error <= 1.0 for r in rows if math.isfinite(r.test_error))


def _actions(cv: dict[str, Any], at_n: dict[str, float], paired: dict[str, Any], best: str,
             bv: dict[str, Any], n: int) -> list[dict[str, str]]:
    """What to do, strongest evidence first: more data / more regularization / bigger model / train longer."""
    acts = []
    b = cv[best] if cv[best].get("predictions") else cv["plain"]
    pred2 = (b.get("predictions") or [None])[0]
    if pred2 is not None:
        now = at_n[b["name"]]
        if pred2["high"] < now and now - pred2["error"] >= 0.05 * now:
            acts.append({"action": "more data", "why": f"{pred2['factor']:.3g}× the data is predicted to take "
                         f"{b['name']} from "
                         f"{now:.3f} to {pred2['error']:.3f} ({pred2['low']:.3f}–{pred2['high']:.3f})"})
    p = paired.get(best)
    if p is not None and math.isfinite(p["high"]) and p["high"] < 0 and not best.startswith("width"):
        acts.append({"action": "more regularization", "why": f"{best} beats plain by {-p['mean']:.3f} at n={n} "
                     f"(paired 90 % interval {-p['high']:.3f} to {-p['low']:.3f})"})
    wide = paired.get("width-x2")
    pl = bv["plain"]
    if wide is not None and math.isfinite(wide["high"]) and wide["high"] < 0:
        acts.append({"action": "bigger model", "why": f"doubling the width lowers the error by {-wide['mean']:.3f} "
                     f"(paired 90 % interval {-wide['high']:.3f} to {-wide['low']:.3f})"})
    elif pl["train_error"] >= 0.6 * pl["test_error"] and pl["test_error"] > 0:
        acts.append({"action": "bigger model", "why": f"training error {pl['train_error']:.3f} is close to test "
                     f"error {pl['test_error']:.3f}: the model underfits (bias)"})
    gaps = list(bv["gap_by_size"].values())
    if (not any(a["action"] == "more data" for a in acts) and pl["gap"] > 0.5 * pl["test_error"] > 0
            and gaps[-1] < gaps[0]):
        acts.append({"action": "more data", "why": f"variance: training error {pl['train_error']:.3f} vs test "
                     f"{pl['test_error']:.3f}, and the gap shrinks with n ({gaps[0]:.3f} → {gaps[-1]:.3f})"})
    if pl["still_falling"] and pl["train_error"] >= 0.5 * pl["test_error"]:
        acts.append({"action": "train longer", "why": "the plain model underfits and its training loss was still "
                     "falling at the end of training"})
    if not acts:
        acts.append({"action": "none clearly", "why": "no action has an effect beyond seed-to-seed noise here"})
    return acts


def _goal(goal: float, cv: dict[str, Any], best: str, n: int) -> dict[str, Any]:
    """Can more data reach error ``goal``? Per config (plain, best): 'below floor' or the n it needs."""
    out: dict[str, dict[str, Any]] = {}
    for c in dict.fromkeys(("plain", best)):
        f = fit_of(cv[c])
        if f is None:
            out[c] = {"reachable": None, "why": f"curve {cv[c].get('shape')}: not extrapolated"}
        elif goal <= f.floor:
            out[c] = {"reachable": False, "floor": f.floor,
                      "why": f"{goal:g} lies below the fitted floor {f.floor:.3f}"}
        else:
            need = curves.size_for(f, goal)
            out[c] = {"reachable": math.isfinite(need), "n_needed": need,
                      "flagged": bool(need > EXTRAPOLATION_LIMIT * n)}
    return {"goal": goal, "by_config": out}


def _fmt_pred(p: dict[str, Any]) -> str:
    flag = f" [extrapolated beyond {EXTRAPOLATION_LIMIT:g}× the largest measured size]" if p["flagged"] else ""
    return f"{p['factor']:.3g}× ({p['n']:g}): {p['error']:.3f} ({p['low']:.3f}–{p['high']:.3f}){flag}"


def _words(x: dict[str, Any], plan: Plan) -> list[str]:
    """The advice as sentences."""
    n, best, cv = x["n"], x["best"], x["curves"]
    w = []
    shown = best if best != "plain" else x["best_other"]
    pb = x["paired_vs_plain"].get(shown) if shown else None
    if pb is None:
        w.append(f"At your n = {n} the plain model errs {x['error_at_n']['plain']:.3f}.")
    else:
        sig = (" — better than plain beyond seed noise" if pb["high"] < 0 else
               " — worse than plain beyond seed noise" if pb["low"] > 0 else
               " — not distinguishable from plain at this many seeds")
        lead = f"Best at your n = {n}: {best}" if best != "plain" else \
            f"At your n = {n} nothing beat the plain model; the closest is {shown}"
        lab = x["best_label"] if best != "plain" else next(c["label"] for c in cv.values() if c["name"] == shown)
        w.append(f"{lead} ({lab}), error {x['error_at_n'][shown]:.3f} vs "
                 f"{x['error_at_n']['plain']:.3f} for plain; paired difference {pb['mean']:+.3f} "
                 f"(90 % interval {pb['low']:+.3f} to {pb['high']:+.3f}, {pb['pairs']} seeds){sig}.")
    for c in dict.fromkeys(("plain", best)):
        cur = cv[c]
        if cur.get("predictions"):
            w.append(f"More data, {c} (fit {cur['model']}: {cur['formula']}, chosen by extrapolation): "
                     + "; ".join(_fmt_pred(p) for p in cur["predictions"]) + ".")
            if cur["floor"] > 0 and math.isfinite(cur["floor"]):
                w.append(f"More data will not bring {c} below its fitted floor c = {cur['floor']:.3f}.")
        else:
            w.append(f"The {c} learning curve is ill-behaved ({cur.get('shape_reason')}); it is not extrapolated.")
    wo = x["worth_in_examples"]
    if best != "plain" and wo.get("extra") is not None:
        if wo["extra"] == 0:
            w.append(f"{best} is worth no extra examples: it does not beat plain at n = {n}.")
        elif not math.isfinite(wo["extra"]):
            w.append(f"{best} at n = {n} is below anything the plain curve reaches with more data (its floor).")
        else:
            flag = " [extrapolated]" if wo["flagged"] else ""
            w.append(f"{best} is worth about {wo['extra']:.0f} extra real examples at n = {n} "
                     f"(90 % interval {wo['low']:.0f}–{wo['high']:.0f}){flag}.")
    elif best != "plain":
        w.append(f"What {best} is worth in examples: unknown ({wo.get('reason')}).")
    bv = x["bias_variance"]
    pl = bv["plain"]
    w.append(f"Bias/variance: plain trains to error {pl['train_error']:.3f} and tests at {pl['test_error']:.3f} "
             f"(gap {pl['gap']:.3f}); the gap goes from {list(bv['gap_by_size'].values())[0]:.3f} at the smallest "
             f"size to {list(bv['gap_by_size'].values())[-1]:.3f} at n.")
    w.append("Action: " + "; ".join(f"{a['action']} ({a['why']})" for a in x["actions"]) + ".")
    if "goal" in x:
        for c, g in x["goal"]["by_config"].items():
            if g["reachable"] is False:
                w.append(f"More data will not reach {x['goal']['goal']:g} with {c}: {g['why']}.")
            elif g["reachable"]:
                flag = " [extrapolated]" if g["flagged"] else ""
                w.append(f"{c} reaches {x['goal']['goal']:g} at about n = {g['n_needed']:.0f}{flag}.")
    return w
