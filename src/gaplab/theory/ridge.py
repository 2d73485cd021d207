"""Closed-form ridge regression and minimum-norm least squares.

Convention throughout: the weights minimize ``||y - X w||^2 + lam * ||w||^2`` (sum of squares, not
mean; this is scikit-learn's ``Ridge(alpha=lam)`` convention). ``lam = 0`` gives the minimum-norm
least-squares solution ``pinv(X) @ y`` -- the interpolator that double-descent studies track.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg


def _check(X: np.ndarray, y: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got shape {X.shape}")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]}")
    if lam < 0:
        raise ValueError(f"lam must be >= 0, got {lam}")
    return X, y


def _solve_pd(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    return scipy.linalg.solve(A, b, assume_a="pos")


def fit(X: np.ndarray, y: np.ndarray, lam: float, *, intercept: bool = False) -> np.ndarray:
    """Ridge weights ``argmin_w ||y - X w||^2 + lam ||w||^2`` (``y`` may be ``(n,)`` or ``(n, t)``).

    ``lam = 0``: minimum-norm least squares via ``np.linalg.lstsq`` (SVD), never a singular solve.
    ``lam > 0``: the primal normal equations ``(X^T X + lam I) w = X^T y`` when ``n >= d``, else the
    equivalent dual form ``X^T (X X^T + lam I)^{-1} y`` (the smaller system is solved).

    ``intercept=True``: fits an unpenalized intercept by centring ``X`` and ``y`` (as scikit-learn
    does) and returns ``d + 1`` weights with the intercept LAST; :func:`predict` recognises that.
    """
    X, y = _check(X, y, lam)
    if intercept:
        x_mean = X.mean(axis=0)
        y_mean = y.mean(axis=0)
        w = fit(X - x_mean, y - y_mean, lam)
        b = y_mean - x_mean @ w
        return np.concatenate([w, np.asarray(b)[None]], axis=0)
    n, d = X.shape
    if lam == 0:
        return np.linalg.lstsq(X, y, rcond=None)[0]
    if n >= d:
        return _solve_pd(X.T @ X + lam * np.eye(d), X.T @ y)
    return X.T @ _solve_pd(X @ X.T + lam * np.eye(n), y)


def min_norm_fit(X: np.ndarray, y: np.ndarray, lam: float = 0.0) -> np.ndarray:
    """Dual-form ridge ``w = X^T (X X^T + lam I)^{-1} y``: cost O(n^2 d), for ``n_features >> n``.

    Identical to :func:`fit` (the push-through identity ``(X^T X + lam I)^{-1} X^T = X^T (X X^T +
    lam I)^{-1}``). For ``lam = 0`` it returns the minimum-norm least-squares solution
    ``pinv(X) @ y`` (computed by ``lstsq``, so rank-deficient ``X X^T`` is fine). Used by the
    random-features double-descent study.
    """
    X, y = _check(X, y, lam)
    if lam == 0:
        return np.linalg.lstsq(X, y, rcond=None)[0]
    return X.T @ _solve_pd(X @ X.T + lam * np.eye(X.shape[0]), y)


def predict(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``X @ w``; if ``w`` has ``d + 1`` rows (``fit(..., intercept=True)``) the last is the intercept."""
    X = np.asarray(X, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    d = X.shape[1]
    if w.shape[0] == d:
        return X @ w
    if w.shape[0] == d + 1:
        return X @ w[:-1] + w[-1]
    raise ValueError(f"w has {w.shape[0]} rows; expected {d} or {d + 1} for X with {d} columns")


def affine_fit(x_train: np.ndarray, y_train: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The least-squares affine fit (unpenalized intercept) of (x_train, y_train), evaluated at ``x``."""
    return predict(x, fit(x_train, y_train, 0.0, intercept=True))
