"""RATT: certify test error from clean training error and error on randomly labelled unlabeled data.

Garg, Balakrishnan, Kolter, Lipton (2021), "RATT: Leveraging Unlabeled Data to Guarantee
Generalization", ICML 2021 (arXiv:2105.00303); code: github.com/acmi-lab/RATT_generalization_bound.

Setup: train on ``n`` clean labelled points ``S`` together with ``m`` fresh unlabeled points ``S~``
given uniformly random labels. ``clean_error`` is the 0-1 error on ``S``; ``random_error`` is the
0-1 error on ``S~`` measured against the random labels it was trained with. A classifier that fits
``S`` but does NOT fit the random labels (random error near chance, (k-1)/k) provably generalizes.

Point estimates (the bound minus its finite-sample term):

- binary, Theorem 1:      ``E_S + 1 - 2 E_S~``
- k classes, Theorem 3:   ``E_S + (k - 1) (1 - k/(k-1) E_S~)  =  E_S + (k - 1) - k E_S~``

(k = 2 reduces to the binary form.) The multiclass expression is the one the authors' code
computes (``pred_err`` in ``model_helper.pred_accuracy``); that code does not compute the
finite-sample slack, so the slack constants in :func:`slack` follow the theorem statements as
recalled from the paper and were not cross-checked against code. Values above 1 are vacuous but are
returned unclipped so studies can see how far from non-vacuous a model is.
"""

from __future__ import annotations

import math


def _check(clean_error: float, random_error: float, num_classes: int) -> None:
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    for name, v in (("clean_error", clean_error), ("random_error", random_error)):
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {v}")


def estimate(clean_error: float, random_error: float, num_classes: int) -> float:
    """RATT point estimate of the test error (Garg et al. 2021, Thm 1 for k = 2, Thm 3 for k > 2).

    ``E_S + (k - 1) (1 - k/(k-1) E_S~)``; for ``k = 2`` this is ``E_S + 1 - 2 E_S~``. A classifier at
    chance on the random labels (``E_S~ = (k-1)/k``) gets estimate ``E_S``; one that memorizes them
    (``E_S~ = 0``) gets the vacuous ``E_S + k - 1``.
    """
    _check(clean_error, random_error, num_classes)
    k = num_classes
    return float(clean_error + (k - 1) * (1.0 - k / (k - 1) * random_error))


def slack(random_error: float, num_classes: int, n: int, m: int, delta: float) -> float:
    """Finite-sample term of the RATT bound with ``n`` clean and ``m`` randomly labelled points.

    - k = 2 (Theorem 1):  ``(sqrt(2) E_S~ + 2 + m / (2 n)) * sqrt(log(4 / delta) / m)``
    - k > 2 (Theorem 3):  ``(k + sqrt(k) + m / (n sqrt(k))) * sqrt(log(4 / delta) / (2 m))``

    Note the ``m / n`` terms: for fixed errors the slack falls like ``1/sqrt(m)`` while ``m << n``
    but grows like ``sqrt(m) / n`` once ``m`` is comparable to ``n``.
    """
    if n < 1 or m < 1:
        raise ValueError(f"n and m must be >= 1, got n={n}, m={m}")
    if not 0.0 < delta < 1.0:
        raise ValueError(f"delta must be in (0, 1), got {delta}")
    k = num_classes
    log_term = math.log(4.0 / delta)
    if k == 2:
        return float((math.sqrt(2.0) * random_error + 2.0 + m / (2.0 * n)) * math.sqrt(log_term / m))
    return float((k + math.sqrt(k) + m / (n * math.sqrt(k))) * math.sqrt(log_term / (2.0 * m)))


def bound(clean_error: float, random_error: float, num_classes: int, n: int, m: int, delta: float) -> float:
    """RATT upper bound on the test 0-1 error holding with probability >= ``1 - delta``.

    Binary (Theorem 1, ERM with 0-1 loss on ``S u S~``)::

        E_D(f) <= E_S(f) + 1 - 2 E_S~(f) + (sqrt(2) E_S~(f) + 2 + m/(2n)) sqrt(log(4/delta) / m)

    Multiclass with k classes (Theorem 3)::

        E_D(f) <= E_S(f) + (k-1)(1 - k/(k-1) E_S~(f))
                  + (k + sqrt(k) + m/(n sqrt(k))) sqrt(log(4/delta) / (2m))

    ``estimate(...) + slack(...)``; unclipped (values above 1 are vacuous).
    """
    _check(clean_error, random_error, num_classes)
    return estimate(clean_error, random_error, num_classes) + slack(random_error, num_classes, n, m, delta)
