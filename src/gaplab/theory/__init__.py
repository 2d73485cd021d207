"""Closed forms the studies use instead of gradient descent.

- :mod:`poly`  -- polynomial feature maps and the Taylor polynomial of sin.
- :mod:`ridge` -- closed-form ridge / minimum-norm least squares (primal and dual forms).
- :mod:`knn`   -- chunked, vectorized k-nearest-neighbour classification.
- :mod:`ntk`   -- analytic and empirical neural tangent kernels, kernel regression.
- :mod:`ratt`  -- the RATT generalization estimate and bound (Garg et al., ICML 2021).
"""

from . import knn, ntk, poly, ratt, ridge

__all__ = ["knn", "ntk", "poly", "ratt", "ridge"]
