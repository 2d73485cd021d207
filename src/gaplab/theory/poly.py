"""Polynomial feature maps for 1-D inputs, and the Taylor polynomial of sin about 0.

Used by polynomial-regression studies (under/over-fitting with degree) where the fit is done in
closed form with :mod:`gaplab.theory.ridge`.
"""

from __future__ import annotations

import math

import numpy as np


def features(x: np.ndarray, degree: int, scale: float | None = None) -> np.ndarray:
    """Vandermonde matrix with columns ``x**0, x**1, ..., x**degree``; shape ``(n, degree + 1)``.

    ``scale``: if given, the columns are ``(x / scale)**j`` instead. Monomials of high degree on
    e.g. ``x in [-3, 3]`` span many orders of magnitude (3**20 ~ 3e9), which makes ``X^T X``
    ill-conditioned; dividing by ``scale = max|x|`` keeps every column in ``[-1, 1]``. Weights fitted
    on scaled features are coefficients of the polynomial in ``x / scale`` (same function, same
    predictions when the same ``scale`` is used at test time; the ridge penalty then acts on the
    scaled coefficients).
    """
    if degree < 0:
        raise ValueError(f"degree must be >= 0, got {degree}")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 1:
        raise ValueError(f"x must be 1-D (or (n, 1)), got shape {x.shape}")
    if scale is not None:
        if scale <= 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        x = x / scale
    return np.vander(x, degree + 1, increasing=True)


def taylor_sin(x: np.ndarray, order: int) -> np.ndarray:
    """Taylor polynomial of ``sin`` about 0 including all terms ``x**j`` with ``j <= order``.

    ``sum_{j odd, j <= order} (-1)**((j - 1) / 2) * x**j / j!`` (order 0 gives the zero function).
    """
    if order < 0:
        raise ValueError(f"order must be >= 0, got {order}")
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros_like(x)
    for j in range(1, order + 1, 2):
        out = out + (-1.0) ** ((j - 1) // 2) * x**j / math.factorial(j)
    return out
