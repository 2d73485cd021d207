"""From the sweep's rows to the advice: learning curves, extrapolations with intervals, the best configuration,
what it is worth in real examples, the bias/variance reading and the action it implies.

Intervals are 90 %: for predictions, ``advise.predict`` (an ensemble of curve families; seed noise and model
uncertainty, calibrated on benchmarks/advise_truth.py); for the paired difference to plain, a t interval over
seeds (each seed is one paired comparison). The best configuration is picked on the same test set its error is
reported on, so its advantage is optimistic (winner's curse); the paired interval says how far it can be trusted.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

from gaplab.advise import predict
from gaplab.advise.plan import Plan
from gaplab.advise.sweep import Row
from gaplab.theory import curves

FACTORS: tuple[float, ...] = (2, 4, 8)  # predictions at 2×, 4× and 8× the user's n (the benchmark's horizons)
EXTRAPOLATION_LIMIT = 4.0  # predictions beyond this many times the largest measured size are flagged
LEVEL = 0.9


def _table(plan: Plan, rows: list[Row]) -> dict[str, dict[int, list[Row]]]:
    t: dict[str, dict[int, list[Row]]] = {c.name: {n: [] for n in plan.sizes} for c in plan.configs}
    for r in rows:
        if r.status == "done" and math.isfinite(r.test_error):
            t[r.config][r.size].append(r)
    return t


def _curve(name: str, label: str, by_size: dict[int, list[Row]], n_user: int, start_error: float | None,
           factors: tuple[float, ...] = FACTORS, intervals: bool = True, ceiling: float | None = None
           ) -> dict[str, Any]:
    """Measured means per size, shape check, the ensemble and its predictions at ``factors`` × the user's n."""
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
    if not shape.ok or not intervals:
        return out
    targets = [round(f * n_user) for f in factors]
    pr = predict.predict(ns, per, targets, start_error=start_error, ceiling=ceiling)
    top = sorted(pr.weights.items(), key=lambda kv: -kv[1])
    equal = len({round(w, 9) for _, w in top}) == 1
    out.update(
        model="ensemble", formula=", ".join(m for m, _ in top) + (" (equal weights)" if equal else " (weighted)"),
        weights=pr.weights, floor=pr.floor, extrapolation_scores=pr.scores, holdout=2,
        fit={"members": [{"model": m, "params": list(pr.fits[m].params), "n0": pr.fits[m].n0,
                          "fixed": list(pr.fits[m].fixed), "weight": w} for m, w in pr.weights.items()]},
        predictions=[{"factor": f, "n": t, "error": float(p), "low": float(a), "high": float(b),
                      "coverage": predict.COVERAGE.get(float(f)),
                      "flagged": bool(t > EXTRAPOLATION_LIMIT * max(ns))}
                     for f, t, p, a, b in zip(factors, targets, pr.point, pr.low, pr.high, strict=True)],
    )
    return out


def fit_of(curve: dict[str, Any]) -> curves.Ensemble | None:
    """The learning-curve ensemble a curve (an entry of ``analyse(...)["curves"]``) stores, or None."""
    f = curve.get("fit")
    if f is None:
        return None
    fits = {m["model"]: curves.Fit(m["model"], tuple(m["params"]), m["n0"], 0.0, tuple(m.get("fixed", ())))
            for m in f["members"]}
    return curves.Ensemble(fits, {m["model"]: m["weight"] for m in f["members"]})


def error_resolution(plan: Plan) -> float:
    """The smallest step of a test error: one test example (1/n_test) for classification, 0 for regression."""
    from gaplab.engine import prepared_for

    ds = prepared_for(plan.spec(plan.configs[0], plan.sizes[-1], 0)).dataset
    return 1.0 / max(len(ds.y_test), 1) if ds.num_classes else 0.0


def start_error(plan: Plan) -> float | None:
    """M4's start error e0: chance (1 − 1/K) for classification, the constant predictor's test MSE for
    regression (the error before anything is learned)."""
    from gaplab.engine import prepared_for

    prep = prepared_for(plan.spec(plan.configs[0], plan.sizes[-1], 0))
    ds = prep.dataset
    if ds.num_classes:
        return 1.0 - 1.0 / ds.num_classes
    y_tr = ds.y_train.double()
    y_te = ds.y_test.double()
    return float(((y_te - y_tr.mean(0)) ** 2).mean())


def _paired(plain: list[Row], other: list[Row], resolution: float = 0.0) -> dict[str, Any]:
    """Mean difference other − plain over seeds present in both, with a 90 % t interval.

    ``resolution`` is the smallest step a test error can take (1/n_test for classification): a few seeds often give
    identical differences (sd 0), and a zero-width interval would claim a certainty the test set cannot resolve, so
    the sd is floored at that step."""
    p = {r.seed: r.test_error for r in plain}
    d = np.array([r.test_error - p[r.seed] for r in other if r.seed in p])
    if len(d) < 2:
        return {"mean": float(d.mean()) if len(d) else math.nan, "low": math.nan, "high": math.nan, "pairs": len(d)}
    sd = max(float(d.std(ddof=1)), resolution)
    half = float(stats.t.ppf(0.5 + LEVEL / 2, len(d) - 1) * sd / math.sqrt(len(d)))
    return {"mean": float(d.mean()), "low": float(d.mean() - half), "high": float(d.mean() + half), "pairs": len(d)}


def _worth(plain_curve: dict[str, Any], plain: dict[int, list[Row]], best_err: list[float], n: int) -> dict[str, Any]:
    """Extra real examples the best configuration is worth at n: where the plain curve reaches its error, with
    the sizes where the plain curve's interval band reaches it as the interval."""
    f = fit_of(plain_curve)
    if f is None:
        return {"extra": None, "reason": f"the plain curve is {plain_curve.get('shape')}: not extrapolated"}
    target = float(np.mean(best_err))
    at_n = float(np.mean([r.test_error for r in plain[n]]))
    if target >= at_n:
        return {"extra": 0.0, "low": 0.0, "high": 0.0, "flagged": False, "reason": "it does not beat plain at n"}
    point = curves.size_for(f, target, n_from=n) - n
    ps = plain_curve["predictions"]
    # the band between the measured n and the predicted sizes, on a log-n scale: where low and high reach target
    ns = np.array([n] + [p["n"] for p in ps], float)
    lows = np.array([at_n] + [p["low"] for p in ps])
    highs = np.array([at_n] + [p["high"] for p in ps])

    def reach(band: np.ndarray) -> float:
        below = np.nonzero(band <= target)[0]
        if len(below) == 0:
            return math.inf
        i = int(below[0])
        x0, x1, y0, y1 = math.log(ns[i - 1]), math.log(ns[i]), band[i - 1], band[i]
        return math.exp(x0 + (x1 - x0) * (y0 - target) / max(y0 - y1, 1e-12)) - n

    return {"extra": point, "low": max(0.0, reach(lows)), "high": reach(highs),
            "flagged": bool(not math.isfinite(point) or point + n > EXTRAPOLATION_LIMIT * max(plain_curve["sizes"]))}


def analyse(plan: Plan, rows: list[Row], n_boot: int = 200, goal: float | None = None,
            factors: tuple[float, ...] = FACTORS) -> dict[str, Any]:
    """Every number of the advice (JSON-ready) plus its sentences under ``words``."""
    table = _table(plan, rows)
    labels = {c.name: c.label for c in plan.configs}
    n = plan.sizes[-1]
    plain_rows = table["plain"][n]
    if not plain_rows:
        raise RuntimeError("no plain run finished at the largest size: nothing to advise on")
    at_n = {c: float(np.mean([r.test_error for r in table[c][n]])) for c in table if table[c][n]}
    others = [c for c in at_n if c != "plain"]
    best = min(at_n, key=lambda c: at_n[c])
    runner_up = min(others, key=lambda c: at_n[c]) if others else None
    # extrapolated: plain and the best (or the closest to plain); every other curve only gets its shape
    shown = {"plain", best, runner_up if best == "plain" else best}
    e0 = start_error(plan)
    top = 1.0 if _is_classification(rows) else None  # an error rate's interval ends at 1
    cv = {c: _curve(c, labels[c], table[c], n, e0, factors, intervals=c in shown, ceiling=top) for c in table}
    res = error_resolution(plan)
    paired = {c: _paired(plain_rows, table[c][n], res) for c in others}
    worth = _worth(cv["plain"], table["plain"], [r.test_error for r in table[best][n]], n) \
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
        # sizes whose plain runs mostly had not fit their training set (error ≥ 1 %) and were still lowering the
        # training loss at the end (under the patience rule: reached the epoch cap first): points that may sit
        # above the converged curve. (A loss already near zero
        # keeps falling in relative terms; that is not under-training.)
        "still_training": [m for m in plan.sizes if table["plain"][m]
                           and sum(r.train_still_falling and r.train_error >= 0.01
                                 and (r.at_cap or not plan.converge) for r in table["plain"][m])
                           > len(table["plain"][m]) / 2],
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
    # a gap that shrinks while the test error itself does not fall measurably (a flat curve) is no case for data
    flat = cv["plain"].get("shape") == "flat"
    if (not any(a["action"] == "more data" for a in acts) and pl["gap"] > 0.5 * pl["test_error"] > 0
            and gaps[-1] < gaps[0] and not flat):
        acts.append({"action": "more data", "why": f"variance: training error {pl['train_error']:.3f} vs test "
                     f"{pl['test_error']:.3f}, and the gap shrinks with n ({gaps[0]:.3f} → {gaps[-1]:.3f})"})
    if pl["still_falling"] and pl["train_error"] >= 0.5 * pl["test_error"]:
        acts.append({"action": "train longer", "why": "the plain model underfits and its training loss was still "
                     "falling at the end of training"})
    if not acts:
        why = "no action has an effect beyond seed-to-seed noise here"
        if flat:
            why += f"; the plain learning curve is flat ({cv['plain'].get('shape_reason')}), so more data is not " \
                   "shown to help at these sizes"
        acts.append({"action": "none clearly", "why": why})
    return acts


def _goal(goal: float, cv: dict[str, Any], best: str, n: int) -> dict[str, Any]:
    """Can more data reach error ``goal``? Per config (plain, best), judged by the 90 % intervals only: reached
    when the interval at some horizon lies at or below it, not reached when the interval at the largest horizon
    lies above it, else undecided."""
    out: dict[str, dict[str, Any]] = {}
    for c in dict.fromkeys(("plain", best)):
        f = fit_of(cv[c])
        ps = cv[c].get("predictions") or []
        if f is None or not ps:
            out[c] = {"reachable": None, "why": f"curve {cv[c].get('shape')}: not extrapolated"}
            continue
        hit = [p for p in ps if p["high"] <= goal]
        last = ps[-1]
        if hit:
            need = curves.size_for(f, goal, n_from=n)
            out[c] = {"reachable": True, "n_needed": need, "by": hit[0]["n"],
                      "flagged": bool(need > EXTRAPOLATION_LIMIT * n)}
        elif last["low"] > goal:
            out[c] = {"reachable": False, "within": last["n"],
                      "why": f"at {last['factor']:g}× your n ({last['n']:g}) the 90 % interval is "
                             f"{last['low']:.3f}–{last['high']:.3f}, above {goal:g}"}
        else:
            out[c] = {"reachable": None, "why": f"the 90 % intervals up to {last['factor']:g}× your n "
                                                f"({last['low']:.3f}–{last['high']:.3f} there) include {goal:g}"}
    return {"goal": goal, "by_config": out}


def _fmt_pred(p: dict[str, Any]) -> str:
    flag = f" [extrapolated beyond {EXTRAPOLATION_LIMIT:g}× the largest measured size]" if p["flagged"] else ""
    cov = "" if p.get("coverage") is None else \
        f"; such intervals held the truth in {p['coverage']:.0%} of benchmark cases"
    return f"{p['factor']:.3g}× ({p['n']:g}): {p['error']:.3f} ({p['low']:.3f}–{p['high']:.3f}{cov}){flag}"


def _words(x: dict[str, Any], plan: Plan) -> list[str]:
    """The advice as sentences: the best configuration, the learning curves, what it is worth, bias/variance,
    what to do, and (with a goal) whether more data reaches it."""
    return [*_best_words(x), *_curve_words(x), *_worth_words(x), *_bias_variance_words(x),
            "Action: " + "; ".join(f"{a['action']} ({a['why']})" for a in x["actions"]) + ".", *_goal_words(x)]


def _best_words(x: dict[str, Any]) -> list[str]:
    """The best configuration at the user's n against plain, with the paired difference over seeds."""
    n, best, cv = x["n"], x["best"], x["curves"]
    shown = best if best != "plain" else x["best_other"]
    pb = x["paired_vs_plain"].get(shown) if shown else None
    if pb is None:
        return [f"At your n = {n} the plain model errs {x['error_at_n']['plain']:.3f}."]
    sig = (" — better than plain beyond seed noise" if pb["high"] < 0 else
           " — worse than plain beyond seed noise" if pb["low"] > 0 else
           " — not distinguishable from plain at this many seeds")
    lead = f"Best at your n = {n}: {best}" if best != "plain" else \
        f"At your n = {n} nothing beat the plain model; the closest is {shown}"
    lab = x["best_label"] if best != "plain" else next(c["label"] for c in cv.values() if c["name"] == shown)
    return [f"{lead} ({lab}), error {x['error_at_n'][shown]:.3f} vs "
            f"{x['error_at_n']['plain']:.3f} for plain; paired difference {pb['mean']:+.3f} "
            f"(90 % interval {pb['low']:+.3f} to {pb['high']:+.3f}, {pb['pairs']} seeds){sig}."]


def _curve_words(x: dict[str, Any]) -> list[str]:
    """What more data gives plain and the best configuration, or why a curve is not extrapolated."""
    w = []
    for c in dict.fromkeys(("plain", x["best"])):
        cur = x["curves"][c]
        if cur.get("predictions"):
            w.append(f"More data, {c} (ensemble of the curve families that best predicted the two largest "
                     f"measured sizes from the smaller ones: {cur['formula']}); predicted error with 90 % interval at "
                     + "; ".join(_fmt_pred(p) for p in cur["predictions"]) + ".")
            if cur["shape"] == "slow start":
                w.append(f"The {c} curve is in a slow start ({cur['shape_reason']}); where it flattens is not "
                         f"measured yet, hence the wide intervals.")
        else:
            w.append(f"The {c} learning curve is ill-behaved: {cur.get('shape')} ({cur.get('shape_reason')}); "
                     f"it is not extrapolated.")
    return w


def _worth_words(x: dict[str, Any]) -> list[str]:
    """What the best regularizer is worth in extra real examples."""
    n, best, wo = x["n"], x["best"], x["worth_in_examples"]
    if best == "plain":
        return []
    if wo.get("extra") is None:
        return [f"What {best} is worth in examples: unknown ({wo.get('reason')})."]
    if wo["extra"] == 0:
        return [f"{best} is worth no extra examples: it does not beat plain at n = {n}."]
    if not math.isfinite(wo["extra"]):
        return [f"{best} at n = {n} is below anything the plain curve reaches with more data (its floor)."]
    flag = " [extrapolated]" if wo["flagged"] else ""
    # infinite when the upper end of plain's predicted interval stays above the regularized error at every
    # predicted size (``_worth``)
    span = (f"{wo['low']:.0f}–{wo['high']:.0f}" if math.isfinite(wo["high"])
            else f"{wo['low']:.0f} or more: the upper end of plain's interval stays above that error "
                 "at every predicted size")
    return [f"{best} is worth about {wo['extra']:.0f} extra real examples at n = {n} (90 % interval {span}){flag}."]


def _bias_variance_words(x: dict[str, Any]) -> list[str]:
    """Plain's train/test gap and how it shrinks with size; a warning where training had not converged."""
    bv = x["bias_variance"]
    pl = bv["plain"]
    w = [f"Bias/variance: plain trains to error {pl['train_error']:.3f} and tests at {pl['test_error']:.3f} "
         f"(gap {pl['gap']:.3f}); the gap goes from {list(bv['gap_by_size'].values())[0]:.3f} at the smallest "
         f"size to {list(bv['gap_by_size'].values())[-1]:.3f} at n."]
    if x["still_training"]:
        w.append("Not converged: at n = " + ", ".join(map(str, x["still_training"])) + " the plain model had not "
                 "fit its training set and its training loss was still falling at the epoch cap; those points "
                 "may lie above the converged curve.")
    return w


def _goal_words(x: dict[str, Any]) -> list[str]:
    """Whether more data reaches the user's goal, per configuration."""
    if "goal" not in x:
        return []
    w = []
    for c, g in x["goal"]["by_config"].items():
        if g["reachable"] is False:
            w.append(f"More data up to {g['within']:g} examples will not reach {x['goal']['goal']:g} with {c}: "
                     f"{g['why']}.")
        elif g["reachable"] is None:
            w.append(f"Whether more data reaches {x['goal']['goal']:g} with {c} is undecided: {g['why']}.")
        elif g["reachable"]:
            flag = " [extrapolated]" if g["flagged"] else ""
            w.append(f"{c} reaches {x['goal']['goal']:g} at about n = {g['n_needed']:.0f}{flag}.")
    return w
