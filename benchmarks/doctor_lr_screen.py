"""Screen learning-rate rules on the cached ranges of ``doctor_lr_truth.py``, against interpolated truth (no training).

Each rule reads the doctor's range of every cached pair (after ``lr_range.refine``, as ``doctor_lr_truth.py`` replays
it) and is scored at its suggestion on the truth grid's seed-mean final validation loss, interpolated in log rate:
PCHIP (shape-preserving, no overshoot between grid points) through log loss against log10 rate, a diverged grid point
counted as a loss of 1e30; relative to the grid's best, a hit within 5 %. Two truths: the 13 grid points alone, and
the grid with every training ``doctor_lr_truth.py`` stored at other rates (``<pair>.at.json``: earlier suggestions
and the ceiling's nudged rates, the same three seeds). A rule's suggestion at doctor seed 0 is what the benchmark
trains; the mean hit count over the 5 doctor seeds and sd(log10 suggestion) say how much of it is luck. First, how good
a proxy interpolation is: on the stored trainings off the grid, and for the sixth session's rule against its trained
truth.

    python benchmarks/doctor_lr_screen.py [--skip PREFIX] [--second-round | --ninth-round]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy.interpolate import PchipInterpolator

sys.path.insert(0, str(Path(__file__).resolve().parent))

import doctor_lr_truth as truth_bench  # noqa: E402

from gaplab.doctor import lr_range  # noqa: E402

Rule = Callable[[lr_range.LrCurve], "float | None"]


def stored(name: str) -> dict[str, list[float]]:
    return truth_bench.read_json(truth_bench.cache_file(name, "at"))


def interpolated(t: dict[str, Any], extra: dict[str, list[float]], leave_out: float | None = None,
                 linear: bool = False) -> Callable[[float], float]:
    """Loss / the grid's best at a rate, interpolated through the grid's seed-mean losses and ``extra`` trainings
    (rate string → seed losses) off the grid (``leave_out``: but the one at this log10 rate)."""
    grid = np.log10(t["rates"])
    xs, ys = list(grid), [float(np.mean(v)) for v in t["val_loss"]]
    best = min(ys)
    for k, v in extra.items():
        x = math.log10(float(k))
        if np.min(np.abs(grid - x)) > 1e-3 and (leave_out is None or abs(x - leave_out) > 1e-9):
            xs.append(x)
            ys.append(float(np.mean(v)))
    order = np.argsort(xs)
    x_all, y_all = np.array(xs)[order], np.log(np.minimum(np.array(ys)[order], 1e30))
    x_all, keep = np.unique(np.round(x_all, 9), return_index=True)
    y_all = y_all[keep]
    if linear:
        return lambda lr: float(np.exp(np.interp(math.log10(lr), x_all, y_all))) / best
    f = PchipInterpolator(x_all, y_all)
    return lambda lr: float(np.exp(f(np.clip(math.log10(lr), x_all[0], x_all[-1])))) / best


def load(skip: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """The cached pairs, but those whose name starts with one of ``skip``."""
    out = {}
    for name, over in truth_bench.pairs():
        if name.startswith(skip):
            continue
        if not all(truth_bench.cache_file(name, p).exists() for p in ("truth", "range")):
            continue
        t = truth_bench.truth(name, over)
        out[name] = {"truth": t, "at": stored(name), "part": truth_bench.part(name),
                     "curves": [c["curve"] for c in truth_bench.curves(name, over)]}
    return out


def proxy(pairs: dict[str, dict[str, Any]]) -> None:
    """Interpolated against trained truth: every stored training off the grid, then the sixth session's rule."""
    print("interpolation as a proxy, on the stored trainings off the grid (log(interpolated / trained) loss):")
    ways = {"PCHIP, grid only": lambda p, x: interpolated(p["truth"], {}),
            "linear, grid only": lambda p, x: interpolated(p["truth"], {}, linear=True),
            "PCHIP, grid + the other stored": lambda p, x: interpolated(p["truth"], p["at"], leave_out=x)}
    for way, make in ways.items():
        errs, agree = [], 0
        for p in pairs.values():
            grid = np.log10(p["truth"]["rates"])
            best = min(float(np.mean(v)) for v in p["truth"]["val_loss"])
            for k, v in p["at"].items():
                x = math.log10(float(k))
                if np.min(np.abs(grid - x)) <= 1e-3:
                    continue
                real, guess = float(np.mean(v)) / best, make(p, x)(float(k))
                errs.append(math.log(guess / real))
                agree += (guess <= truth_bench.HIT) == (real <= truth_bench.HIT)
        e = np.array(errs)
        print(f"  {way}: {len(e)} trainings, mean {e.mean():+.3f}, rms {np.sqrt((e ** 2).mean()):.3f}, median |.| "
              f"{np.median(np.abs(e)):.3f}; hit/miss agree on {agree}/{len(e)}")
    rows = []
    for name, p in pairs.items():
        lr = sixth(p["curves"][0])
        trained = p["at"].get(f"{lr:.6g}") if lr is not None else None
        if trained is None:
            continue
        best = min(float(np.mean(v)) for v in p["truth"]["val_loss"])
        rows.append((name, interpolated(p["truth"], {})(lr), float(np.mean(trained)) / best))
    agree = sum((a <= truth_bench.HIT) == (b <= truth_bench.HIT) for _, a, b in rows)
    print(f"the sixth session's rule at doctor seed 0: hits {sum(a <= truth_bench.HIT for _, a, _ in rows)} "
          f"interpolated (grid only) against {sum(b <= truth_bench.HIT for _, _, b in rows)} trained, of {len(rows)}; "
          f"hit/miss agree on {agree}; where not: " +
          ", ".join(f"{n} {a:.3f}/{b:.3f}" for n, a, b in rows if (a <= truth_bench.HIT) != (b <= truth_bench.HIT)))


# ---- the rules screened -------------------------------------------------------------------------------------------
def sixth(c: lr_range.LrCurve) -> float | None:
    """The sixth session's rule: the parabola's vertex at the validation minimum, stepped down as now."""
    s = lr_range.suggest(c)
    return s.val_minimum / s.step if s.val_minimum is not None else s.lr


def _at_minimum(c: lr_range.LrCurve, place: Callable[[np.ndarray, np.ndarray, int], float]) -> float | None:
    """A rule that replaces the vertex by ``place(log10 rates, log seed-mean validation loss, index)`` (log10)."""
    s = lr_range.suggest(c)
    if s.val_minimum is None or s.best_index is None:
        return s.lr
    y = lr_range._log_mean(c.val_losses, c.init_loss)
    return float(10 ** place(np.log10(c.rates), y, s.best_index)) / s.step


def basin_ends(x: np.ndarray, y: np.ndarray, i: int, within: float) -> float:
    """The middle (in log rate) of where the line ``within`` above the minimum crosses either side of it."""
    line = y[i] + math.log1p(within)

    def cross(step: int) -> float:
        j = i
        while 0 <= j + step < len(y) and y[j + step] <= line:
            j += step
        if not 0 <= j + step < len(y):
            return float(x[j])
        return float(x[j] + (line - y[j]) / (y[j + step] - y[j]) * (x[j + step] - x[j]))

    return (cross(-1) + cross(1)) / 2


def never_above_grid(x: np.ndarray, y: np.ndarray, i: int) -> float:
    return min(lr_range._vertex(x, y, i), float(x[i]))


# ---- the second round's candidates: lower where the run is longer than the range, or lower in the basin ----------
def _ratio(c: lr_range.LrCurve) -> float:
    """The user's run over the range's steps (1 where the range is the whole run or the lengths are unknown)."""
    return max(lr_range.run_ratio(c) or 1.0, 1.0)


def _start(c: lr_range.LrCurve, s: lr_range.Suggestion, q: float | None) -> float:
    """log10 of where the step starts: the basin's centre, or its ``q`` quantile."""
    assert s.best_index is not None
    if q is None:
        return lr_range.basin_centre(c.rates, c.val_losses, c.init_loss, s.best_index)
    return lr_range.basin_quantile(c.rates, c.val_losses, c.init_loss, s.best_index, q)


def stepped(c: lr_range.LrCurve, shape: str = "linear", cap: float = 1.0, floor: float = 0.0, q: float | None = None,
            q_whole_run: float | None = None, lean_below: float | None = None) -> float | None:
    """The basin's centre (or its ``q`` quantile; ``q_whole_run`` on a whole-run range only) stepped down by
    STEP_DOWN ** f(ratio) raised to gap / GAP_FULL (at least ``floor``, at most 1), f linear in the ratio ("linear":
    the eighth session's) or in its log ("log"), 1 at RATIO_FULL, capped at ``cap``; ``lean_below``: the lower of that
    and the basin's ``lean_below`` quantile."""
    s = lr_range.suggest(c)
    if s.val_minimum is None or s.gap is None:
        return s.lr
    r = _ratio(c)
    f = (r - 1) / (lr_range.RATIO_FULL - 1) if shape == "linear" else math.log(r) / math.log(lr_range.RATIO_FULL)
    step = (lr_range.STEP_DOWN ** min(max(f, 0.0), cap)) ** min(max(s.gap / lr_range.GAP_FULL, floor), 1.0)
    lr = 10 ** _start(c, s, q_whole_run if c.whole_run else q) / step
    return min(lr, 10 ** _start(c, s, lean_below)) if lean_below is not None else lr


def eighth(c: lr_range.LrCurve) -> float | None:
    """The eighth session's rule: the basin's centre, stepped down with the step capped at RATIO_FULL."""
    return stepped(c)


def second_round_rules() -> dict[str, Rule]:
    """The second round's candidates (docs/doctor-truth.md), each against ``eighth``."""
    out: dict[str, Rule] = {"eighth session (basin centre)": eighth}
    for a in (0.1, 0.2, 0.3):
        out[f"÷ ratio^{a}"] = lambda c, a=a: (lambda v: None if v is None else v / _ratio(c) ** a)(eighth(c))
    for e in (0.2, 0.3, 0.5):
        out[f"gap exponent at least {e}"] = lambda c, e=e: stepped(c, floor=e)
    for cap in (1.5, 2.0):
        out[f"step past RATIO_FULL to {cap}×"] = lambda c, cap=cap: stepped(c, cap=cap)
    out["step log-linear in log ratio, to 1.5×"] = lambda c: stepped(c, "log", 1.5)
    for q in (0.3, 0.35, 0.4, 0.45):
        out[f"basin quantile {q}"] = lambda c, q=q: stepped(c, q=q)
    for q in (0.35, 0.4):
        out[f"lower of quantile {q} and the step"] = lambda c, q=q: stepped(c, cap=1.5, lean_below=q)
    for q in (0.35, 0.4, 0.45):
        out[f"quantile {q} on whole-run ranges"] = lambda c, q=q: stepped(c, q_whole_run=q)
    for q, cap in ((0.4, 1.5), (0.4, 2.0), (0.35, 1.5)):
        out[f"quantile {q} on whole-run ranges, step to {cap}×"] = lambda c, q=q, cap=cap: stepped(
            c, cap=cap, q_whole_run=q)
    out["lr_range.suggest (now)"] = lambda c: lr_range.suggest(c).lr
    return out


# ---- the ninth session's candidates: a step for Adam even where the range does not overfit --------------------------
def eighth_final(c: lr_range.LrCurve) -> float | None:
    """The eighth session's rule as it left it (no step for Adam without a gap)."""
    return lr_range.suggest(dataclasses.replace(c, adaptive=False)).lr


def adam_step(c: lr_range.LrCurve, part: float = 0.0, from_ratio: float = 1.0, power: float = 0.0) -> float | None:
    """With Adam on a run at least ``from_ratio`` times the range: the step's gap exponent at least ``part``, and a
    further ÷ (run / range) ** ``power``."""
    s = lr_range.suggest(dataclasses.replace(c, adaptive=False))
    if s.val_minimum is None or s.gap is None or s.centre is None:
        return s.lr
    r = _ratio(c)
    acts = c.adaptive and r >= from_ratio
    step = lr_range.step_down(c) ** min(max(s.gap / lr_range.GAP_FULL, part if acts else 0.0), 1.0)
    return s.centre / step / (r ** power if acts else 1.0)


def ninth_round_rules() -> dict[str, Rule]:
    """The ninth session's candidates (docs/doctor-truth.md), each against ``eighth_final``."""
    out: dict[str, Rule] = {"eighth session (final)": eighth_final}
    for r in (1.0, 1.5, 2.0, 3.0, 4.0, 5.0):
        for part in (0.3, 0.4, 0.5, 0.6, 0.75, 1.0):
            out[f"Adam: the step's part at least {part}, runs ≥ {r}× the range"] = (
                lambda c, part=part, r=r: adam_step(c, part, r))
    for r in (1.0, 3.0, 5.0):
        for power in (0.25, 0.5, 0.75, 1.0):
            out[f"Adam: ÷ (run / range)^{power}, runs ≥ {r}× the range"] = (
                lambda c, power=power, r=r: adam_step(c, 0.0, r, power))
    out["lr_range.suggest (now)"] = lambda c: lr_range.suggest(c).lr
    return out


def rules() -> dict[str, Rule]:
    out: dict[str, Rule] = {"sixth session (vertex)": sixth}
    for k in (0.7, 0.8, 0.9, 1.1):
        out[f"vertex x{k}"] = lambda c, k=k: (lambda v: None if v is None else v * k)(sixth(c))
    for w in (0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 1.0):
        out[f"basin centre {w:.0%}"] = lambda c, w=w: _at_minimum(
            c, lambda x, y, i: lr_range.basin_centre(c.rates, c.val_losses, c.init_loss, i, w))
        out[f"basin ends {w:.0%}"] = lambda c, w=w: _at_minimum(c, lambda x, y, i: basin_ends(x, y, i, w))
    for w in (0.1, 0.25, 0.5):
        out[f"basin centre {w:.0%}, no step"] = lambda c, w=w: _at_minimum(
            c, lambda x, y, i: lr_range.basin_centre(c.rates, c.val_losses, c.init_loss, i, w)
            + math.log10(lr_range.suggest(c).step))
    out["grid point"] = lambda c: _at_minimum(c, lambda x, y, i: float(x[i]))
    out["vertex, never above the grid point"] = lambda c: _at_minimum(c, never_above_grid)
    return out


def table(pairs: dict[str, dict[str, Any]], candidates: dict[str, Rule], base: Rule, base_name: str) -> None:
    """Each candidate's hits on both interpolated truths, gained and lost against ``base``, and sd(log10) > 0.15."""
    parts = [p for p in truth_bench.PARTS if any(q["part"] == p for q in pairs.values())]
    for label, extra in (("grid only", False), ("grid + stored trainings", True)):
        truths = {n: interpolated(p["truth"], p["at"] if extra else {}) for n, p in pairs.items()}
        ref = score(pairs, base, truths)
        print(f"\ninterpolated truth ({label}), hits within 5 % at doctor seed 0 per part, all; mean over "
              f"{len(truth_bench.DOCTOR_SEEDS)} doctor seeds; pairs with sd(log10) > 0.15; hits gained / lost against "
              f"{base_name}; geometric mean of loss / best\n")
        heads = " | ".join(truth_bench.SHORT[p] for p in parts)
        print(f"| rule | {heads} | all | mean | sd > 0.15 | + / − | geo |")
        print("|---|" + "---|" * (len(parts) + 5))
        for rule_name, rule in candidates.items():
            r = score(pairs, rule, truths)
            per = [f"{sum(r[n][0] <= truth_bench.HIT for n in r if pairs[n]['part'] == p)}/"
                   f"{sum(pairs[n]['part'] == p for n in r)}" for p in parts]
            gained = [n for n in r if r[n][0] <= truth_bench.HIT < ref[n][0]]
            lost = [n for n in r if ref[n][0] <= truth_bench.HIT < r[n][0]]
            high = [f"{n} {r[n][2]:.3f}" for n in r if r[n][2] > 0.15]
            geo = math.exp(np.mean([math.log(v[0]) for v in r.values() if math.isfinite(v[0])]))
            print(f"| {rule_name} | " + " | ".join(per) + f" | {sum(v[0] <= truth_bench.HIT for v in r.values())} | "
                  f"{sum(v[1] for v in r.values()):.1f} | {len(high)} | +{len(gained)} −{len(lost)} | {geo:.3f} |")
            if gained or lost or high:
                print("|  | gained: " + (", ".join(gained) or "none") + "; lost: " + (", ".join(lost) or "none") +
                      "; sd > 0.15: " + (", ".join(high) or "none") + " |")


def score(pairs: dict[str, dict[str, Any]], rule: Rule, truths: dict[str, Callable[[float], float]]
          ) -> dict[str, tuple[float, float, float]]:
    """Per pair: loss / best at doctor seed 0's suggestion, the hit rate over the doctor seeds, sd(log10 suggestion)."""
    out = {}
    for name, p in pairs.items():
        lrs = [rule(c) for c in p["curves"]]
        rel = [truths[name](lr) if lr is not None else math.inf for lr in lrs]
        logs = [math.log10(lr) for lr in lrs if lr is not None]
        out[name] = (rel[0], float(np.mean([r <= truth_bench.HIT for r in rel])),
                     float(np.std(logs, ddof=1)) if len(logs) > 1 else math.nan)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skip", action="append", default=None,
                    help=f"leave out pairs whose name starts with this (default: {truth_bench.NEWEST!r}, the newest "
                         "blind part; it is scored by doctor_lr_truth.py only)")
    ap.add_argument("--second-round", action="store_true",
                    help="only the second round's candidates, against the eighth session's rule")
    ap.add_argument("--ninth-round", action="store_true",
                    help="only the ninth session's candidates (Adam's step), against the eighth session's final rule")
    args = ap.parse_args()
    pairs = load(tuple(args.skip or [truth_bench.NEWEST]))
    if args.ninth_round:
        table(pairs, ninth_round_rules(), eighth_final, "the eighth session's final rule")
        return
    if args.second_round:
        table(pairs, second_round_rules(), eighth, "the eighth session's rule")
        return
    proxy(pairs)
    table(pairs, rules(), sixth, "the sixth session's rule")


if __name__ == "__main__":
    main()
