"""Data checks on the raw data (before gaplab standardizes it): class balance, constant or unscaled features,
train/test duplicates, near-copies across the validation split (groups leaking), a single feature that predicts
the target (leakage), labels out of range or off by one, a regression target far from unit scale, and inputs
normalized with the test set's statistics."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import torch

from gaplab.doctor.context import Context
from gaplab.doctor.result import FAIL, PASS, WARN, Finding, not_applicable, verdict_of

FAMILY = "data"
BINS = 20  # quantile bins of the one-feature predictor (classification)
BINS_REGRESSION = 50  # finer for a continuous target: a copied target then scores R² ≈ 1 − 1/BINS²


def class_balance(ctx: Context) -> Finding:
    y = ctx.raw.y_train
    if not ctx.classification:
        v = float(y.float().var(0).mean())
        return Finding(FAMILY, "target spread", v, f"variance {v:.3g}", "> 0 (a constant target cannot be learned)",
                       FAIL if v == 0 else PASS, "the target is constant" if v == 0 else "",
                       "check the target column" if v == 0 else "")
    counts = torch.bincount(y, minlength=ctx.k).float()
    present = counts[counts > 0]
    ratio = float(present.min() / present.max())
    # balanced ↔ 1; a 1:5 imbalance makes accuracy misleading, 1:20 makes the rare class nearly invisible
    verdict = verdict_of(ratio, 0.2, 0.05, higher_is_worse=False)
    return Finding(FAMILY, "class balance", ratio, f"rarest/commonest {ratio:.2f}", "≥ 0.2 (1:5)", verdict,
                   "" if verdict == PASS else f"imbalanced classes (counts {int(present.min())}–{int(present.max())})",
                   "" if verdict == PASS else "report per-class error; reweight or resample the rare classes",
                   {"counts": counts.tolist()})


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(len(x), -1).double()


def feature_scale(ctx: Context) -> list[Finding]:
    x = _flat(ctx.raw.x_train)
    std = x.std(0)
    const = int((std == 0).sum())
    n_feat = x.shape[1]
    checks = [Finding(
        FAMILY, "constant features", const / n_feat, f"{const} of {n_feat}", "< 10 % of features constant",
        WARN if const >= 0.1 * n_feat else PASS,  # a few constant ones (digits' corners) are harmless
        f"{const} feature(s) never vary in the training pool: they carry no information" if const else "",
        "drop them (harmless for training, but check the data export)" if const else "",
        {"constant": torch.nonzero(std == 0).flatten()[:50].tolist()})]
    rms = (x.pow(2).mean(0)).sqrt()
    biggest = float(rms.max())
    if ctx.spec.data.standardize:
        checks.append(Finding(FAMILY, "feature scale", biggest, f"raw RMS ≤ {biggest:.3g}",
                              "standardized by gaplab (data.standardize)", PASS))
        return checks
    # inputs of order one keep a default init's pre-activations of order one; 10× is tolerable, 100× is not
    verdict = verdict_of(biggest, 10.0, 100.0)
    checks.append(Finding(
        FAMILY, "feature scale", biggest, f"max RMS {biggest:.3g}", "≤ 10 with standardization off", verdict,
        "" if verdict == PASS else f"unscaled features (up to {biggest:.3g}) with data.standardize off",
        "" if verdict == PASS else "switch standardization on (data.standardize: true) or rescale the inputs",
        {"largest_features": torch.argsort(rms, descending=True)[:10].tolist()}))
    return checks


def _row_hashes(x: torch.Tensor) -> list[bytes]:
    a = np.ascontiguousarray(x.reshape(len(x), -1).float().numpy())
    return [hashlib.blake2b(r.tobytes(), digest_size=12).digest() for r in a]


def duplicates(ctx: Context) -> Finding:
    train = set(_row_hashes(ctx.raw.x_train))
    test = _row_hashes(ctx.raw.x_test)
    shared = [i for i, h in enumerate(test) if h in train]
    frac = len(shared) / max(len(test), 1)
    # a few natural repeats happen in small discrete data; a copied test set shows up as a large fraction
    verdict = verdict_of(frac, 0.01, 0.05)
    return Finding(
        FAMILY, "train/test duplicates", frac, f"{len(shared)} of {len(test)} test ({100 * frac:.1f} %)",
        "≤ 1 % of test inputs also in training", verdict,
        "" if verdict == PASS else "leakage: test examples also appear in the training set",
        "" if verdict == PASS else "deduplicate before splitting; the test score is inflated",
        {"test_indices": shared[:50]})


def _bin_edges(x: torch.Tensor, bins: int) -> torch.Tensor:
    """(F, bins-1) quantile edges of each feature of ``x`` (N, F)."""
    q = torch.linspace(0, 1, bins + 1, dtype=x.dtype)[1:-1]
    return torch.quantile(x, q, dim=0).T.contiguous()


def _bins(x: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    return (x.unsqueeze(-1) > edges.unsqueeze(0)).sum(-1)  # (N, F) bin index per feature


def single_feature_skill(ctx: Context, max_features: int = 4096, max_rows: int = 4000) -> tuple[torch.Tensor, str]:
    """Each feature alone as a predictor (quantile bins → majority class / mean target), scored on the test set.

    Classification: (accuracy − majority rate) / (1 − majority rate); regression: R². 1 = perfect, 0 = useless.
    """
    g = torch.Generator().manual_seed(0)
    xtr, xte = _flat(ctx.raw.x_train), _flat(ctx.raw.x_test)
    ytr, yte = ctx.raw.y_train, ctx.raw.y_test
    if len(xtr) > max_rows:
        pick = torch.randperm(len(xtr), generator=g)[:max_rows]
        xtr, ytr = xtr[pick], ytr[pick]
    n_feat = xtr.shape[1]
    cols = torch.arange(n_feat) if n_feat <= max_features else torch.randperm(n_feat, generator=g)[:max_features]
    skills = []
    bins = BINS if ctx.classification else BINS_REGRESSION
    for c in cols.split(256):
        edges = _bin_edges(xtr[:, c], bins)
        btr, bte = _bins(xtr[:, c], edges), _bins(xte[:, c], edges)
        f = len(c)
        if ctx.classification:
            counts = torch.zeros(f, bins, ctx.k, dtype=torch.float64)
            flat = (torch.arange(f) * bins * ctx.k).unsqueeze(0) + btr * ctx.k + ytr.unsqueeze(1)
            counts.view(-1).index_add_(0, flat.flatten(), torch.ones(flat.numel(), dtype=torch.float64))
            vote = counts.argmax(-1)  # (F, BINS)
            pred = torch.gather(vote, 1, bte.T).T  # (Nt, F)
            acc = (pred == yte.unsqueeze(1)).double().mean(0)
            base = float(torch.bincount(yte, minlength=ctx.k).max()) / len(yte)
            skills.append((acc - base) / max(1e-9, 1 - base))
        else:
            t_tr = ytr.double().reshape(len(ytr), -1).mean(1)
            t_te = yte.double().reshape(len(yte), -1).mean(1)
            sums = torch.zeros(f, bins, dtype=torch.float64).scatter_add_(1, btr.T, t_tr.expand(f, -1))
            cnt = torch.zeros(f, bins, dtype=torch.float64).scatter_add_(1, btr.T, torch.ones(f, len(t_tr),
                                                                                         dtype=torch.float64))
            means = torch.where(cnt > 0, sums / cnt.clamp_min(1), t_tr.mean())
            pred = torch.gather(means, 1, bte.T).T
            sse = (pred - t_te.unsqueeze(1)).pow(2).sum(0)
            skills.append(1 - sse / (t_te - t_te.mean()).pow(2).sum().clamp_min(1e-12))
    skill = torch.full((n_feat,), float("nan"), dtype=torch.float64)
    skill[cols] = torch.cat(skills)
    return skill, "accuracy skill over the majority class" if ctx.classification else "R²"


def leaky_feature(ctx: Context) -> Finding:
    if len(ctx.raw.x_test) == 0:
        return not_applicable(FAMILY, "one-feature leakage", "no test set to score a feature on")
    if _flat(ctx.raw.x_train[:1]).shape[1] == 1:
        return not_applicable(FAMILY, "one-feature leakage", "one input feature: nothing to single out")
    skill, what = single_feature_skill(ctx)
    best = int(torch.nan_to_num(skill, nan=-1.0).argmax())
    v = float(skill[best])
    # a real feature rarely predicts the target almost perfectly on its own; a copy of the target does
    verdict = verdict_of(v, 0.9, 0.98)
    name = _feature_name(ctx, best)
    return Finding(
        FAMILY, "one-feature leakage", v, f"{name}: {v:.3f}", f"{what} of any single feature < 0.9", verdict,
        "" if verdict == PASS else f"leakage: feature {name} alone predicts the target (skill {v:.3f})",
        "" if verdict == PASS else f"drop feature {name} if it is derived from the target",
        {"feature": best, "top": torch.argsort(torch.nan_to_num(skill, nan=-1.0), descending=True)[:5].tolist()})


def _feature_name(ctx: Context, i: int) -> str:
    """A table's column name for feature ``i`` when every column maps to one feature, else ``#i``."""
    path = ctx.spec.data.path
    if path and path.lower().endswith((".csv", ".parquet", ".pq")):
        import pandas as pd
        import pyarrow.parquet as pq

        # column names only: a CSV's header line, a Parquet file's schema (its pandas metadata drops a stored index)
        head = (pd.read_csv(path, nrows=0) if path.lower().endswith(".csv")
                else pq.read_schema(path).empty_table().to_pandas())
        cols = [c for c in head.columns if c != (ctx.spec.data.target or "target")]
        if len(cols) == _flat(ctx.raw.x_train[:1]).shape[1]:
            return repr(str(cols[i]))
    return f"#{i}"


def labels(ctx: Context) -> Finding:
    if not ctx.classification:
        bad = int((~torch.isfinite(ctx.raw.y_train)).sum() + (~torch.isfinite(ctx.raw.y_test)).sum())
        bad_x = int((~torch.isfinite(ctx.raw.x_train)).sum())
        n = bad + bad_x
        return Finding(FAMILY, "finite values", n, f"{n} non-finite", "0", FAIL if n else PASS,
                       "non-finite targets or inputs" if n else "", "remove or impute them" if n else "")
    ys = torch.cat([ctx.raw.y_train, ctx.raw.y_test])
    out = int(((ys < 0) | (ys >= ctx.k)).sum())
    unused = [c for c in range(ctx.k) if int((ctx.raw.y_train == c).sum()) == 0]
    bad_x = int((~torch.isfinite(ctx.raw.x_train)).sum())
    n = out + len(unused) + bad_x
    cause = []
    if out:
        cause.append(f"{out} labels outside 0..{ctx.k - 1}")
    if unused == [0] and int(ys.min()) == 1:
        cause.append(f"labels off by one: they run 1..{ctx.k - 1}, class 0 never occurs (1-based labels; the "
                     f"model wastes an output and reports {ctx.k} classes)")
    elif unused:
        cause.append(f"class id(s) {unused[:10]} never occur in training (labels not 0..K−1 contiguous?)")
    if bad_x:
        cause.append(f"{bad_x} non-finite input values")
    return Finding(FAMILY, "labels in range", n, f"{n} problems", f"labels in 0..{ctx.k - 1}, every class present",
                   FAIL if n else PASS, "; ".join(cause), "re-encode labels as 0..K−1; fix the inputs" if n else "")


def target_scale(ctx: Context) -> Finding:
    """A regression target far from unit scale makes the squared error and its gradients huge (or tiny) for a
    network initialized to output values of order one (gaplab standardizes inputs, not targets)."""
    y = ctx.raw.y_train.double().reshape(len(ctx.raw.y_train), -1)
    rms = float(y.pow(2).mean().sqrt())
    lg = abs(math.log10(rms)) if rms > 0 else 0.0
    verdict = verdict_of(lg, 2.0, 3.0)  # 100× off unit scale is a sign, 1000× is broken
    side = "large" if rms > 1 else "small"
    return Finding(FAMILY, "target scale", rms, f"target RMS {rms:.3g}", "RMS within 10⁻²–10² (unit scale)", verdict,
                   "" if verdict == PASS else f"the regression target's scale is {rms:.2g}: far too {side} for a "
                   f"network whose outputs start near 1 (the squared error and its gradients scale with it)",
                   "" if verdict == PASS else "standardize the target (subtract its mean, divide by its std) and "
                   "undo it on the predictions")


def test_normalized(ctx: Context) -> Finding:
    """Inputs standardized with the test set's statistics: the test inputs are exactly mean 0 / std 1 per
    feature and the training inputs are not (the reverse, training statistics, is correct)."""
    band = "test inputs not exactly standardized unless training inputs are"
    xtr, xte = _flat(ctx.raw.x_train), _flat(ctx.raw.x_test)
    if len(xte) < 2:
        return not_applicable(FAMILY, "normalization statistics", "fewer than 2 test examples")

    def exact(x: torch.Tensor) -> bool:
        m, sd = x.mean(0), x.std(0, unbiased=False)
        keep = sd > 0
        sd1 = x.std(0)
        return bool(keep.any()) and float(m[keep].abs().max()) < 1e-3 and (
            float((sd[keep] - 1).abs().max()) < 1e-3 or float((sd1[keep] - 1).abs().max()) < 1e-3)

    if not (exact(xte) and not exact(xtr)):
        return Finding(FAMILY, "normalization statistics", 0.0, "no sign of test statistics", band, PASS)
    shift = float(xtr.mean(0).abs().max())
    shown = f"test exactly standardized, training mean up to {shift:.2g}"
    return Finding(FAMILY, "normalization statistics", 1.0, shown, band, WARN,
                   "normalization statistics taken from the test set: the test inputs are exactly "
                   "mean 0 / std 1 per feature and the training inputs are not — test information leaks into "
                   "preprocessing", "compute the mean and std on the training set only and apply them to both "
                   "(or leave it to gaplab: data.standardize)")


def validation_leak(ctx: Context, max_rows: int = 1000, max_train: int = 5000) -> Finding:
    """Groups leaking across the validation split: validation examples whose nearest training example is far
    closer than the test examples' nearest (near-copies, e.g. repeated measurements of one subject)."""
    band = "validation examples about as far from training as test examples (ratio ≥ 0.5)"
    p = ctx.prepared
    if len(p.val_idx) == 0 or len(ctx.pool.x_test) == 0:
        return not_applicable(FAMILY, "validation split leak", "no validation or test set to compare")
    g = torch.Generator().manual_seed(0)

    def pick(x: torch.Tensor, n: int) -> torch.Tensor:
        return x[torch.randperm(len(x), generator=g)[:n]].reshape(min(n, len(x)), -1).float()

    x = ctx.pool.x_train
    tr = pick(x[p.train_idx], max_train)
    va, te = pick(x[p.val_idx], max_rows), pick(ctx.pool.x_test, max_rows)
    d_val = torch.cdist(va, tr).min(1).values.median()
    d_test = torch.cdist(te, tr).min(1).values.median()
    ratio = float(d_val / d_test.clamp_min(1e-12))
    # an honest split puts validation and test at the same distance from training (ratio ≈ 1)
    verdict = PASS if ratio >= 0.5 else WARN if ratio >= 0.25 else FAIL
    return Finding(FAMILY, "validation split leak", ratio, f"nearest-neighbour distance val/test {ratio:.2f}", band,
                   verdict, "" if verdict == PASS else f"groups leak across the validation split: validation "
                   f"examples have near-copies in training (nearest-neighbour distance {ratio:.2f} × the test "
                   f"set's), so the validation score is inflated",
                   "" if verdict == PASS else "split by group (subject, source file, original item) before "
                   "training, or deduplicate near-copies", {"val_nn": float(d_val), "test_nn": float(d_test)})


def run(ctx: Context) -> list[Finding]:
    ctx.progress("data checks", 0, 1)
    out = [labels(ctx), class_balance(ctx), *feature_scale(ctx), duplicates(ctx), validation_leak(ctx),
           leaky_feature(ctx), test_normalized(ctx)]
    out.append(target_scale(ctx) if not ctx.classification else
               not_applicable(FAMILY, "target scale", "classification: class labels have no scale"))
    ctx.progress("data checks", 1, 1)
    return out
