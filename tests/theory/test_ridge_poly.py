import numpy as np
import pytest
from sklearn.linear_model import Ridge

from gaplab.theory import poly, ridge


def _data(n, d, seed=0, t=None):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = rng.standard_normal((n,) if t is None else (n, t))
    return X, y


@pytest.mark.parametrize("n,d", [(50, 10), (10, 40)])
@pytest.mark.parametrize("lam", [0.1, 3.0])
def test_fit_matches_sklearn_ridge(n, d, lam):
    X, y = _data(n, d)
    w = ridge.fit(X, y, lam)
    ref = Ridge(alpha=lam, fit_intercept=False, solver="svd").fit(X, y).coef_
    np.testing.assert_allclose(w, ref, atol=1e-8, rtol=0)


def test_fit_intercept_matches_sklearn():
    X, y = _data(40, 5, seed=1)
    y = y + 7.0
    w = ridge.fit(X, y, 0.5, intercept=True)
    ref = Ridge(alpha=0.5, fit_intercept=True, solver="svd").fit(X, y)
    np.testing.assert_allclose(w[:-1], ref.coef_, atol=1e-8)
    np.testing.assert_allclose(w[-1], ref.intercept_, atol=1e-8)
    np.testing.assert_allclose(ridge.predict(X, w), ref.predict(X), atol=1e-8)


def test_lam_zero_is_min_norm_when_underdetermined():
    X, y = _data(10, 40, seed=2)
    w = ridge.fit(X, y, 0.0)
    np.testing.assert_allclose(w, np.linalg.pinv(X) @ y, atol=1e-10)
    np.testing.assert_allclose(X @ w, y, atol=1e-10)  # interpolates
    np.testing.assert_allclose(ridge.min_norm_fit(X, y), np.linalg.pinv(X) @ y, atol=1e-10)


def test_lam_zero_rank_deficient_no_singular_solve():
    X, _ = _data(30, 4, seed=3)
    X = np.hstack([X, X[:, :1]])  # duplicate column -> singular X^T X
    y = X @ np.arange(5.0)
    w = ridge.fit(X, y, 0.0)
    np.testing.assert_allclose(w, np.linalg.pinv(X) @ y, atol=1e-9)


@pytest.mark.parametrize("lam", [0.0, 1e-3, 2.0])
def test_min_norm_fit_equals_fit_when_overdetermined(lam):
    X, y = _data(60, 8, seed=4, t=3)
    np.testing.assert_allclose(ridge.min_norm_fit(X, y, lam), ridge.fit(X, y, lam), atol=1e-9)


def test_predict_shapes_and_errors():
    X, y = _data(20, 3)
    w = ridge.fit(X, y, 1.0)
    assert ridge.predict(X, w).shape == (20,)
    with pytest.raises(ValueError):
        ridge.predict(X, np.zeros(5))
    with pytest.raises(ValueError):
        ridge.fit(X, y, -1.0)


def test_poly_features_shape_and_values():
    x = np.array([-2.0, 0.0, 0.5, 3.0])
    F = poly.features(x, 3)
    assert F.shape == (4, 4)
    np.testing.assert_allclose(F[:, 0], 1.0)
    np.testing.assert_allclose(F[:, 1], x)
    np.testing.assert_allclose(F[:, 3], x**3)
    Fs = poly.features(x, 3, scale=3.0)
    np.testing.assert_allclose(Fs, poly.features(x / 3.0, 3))
    assert np.abs(Fs).max() <= 1.0
    assert poly.features(x[:, None], 2).shape == (4, 3)


def test_poly_fit_recovers_polynomial():
    x = np.linspace(-3, 3, 40)
    y = 1.0 - 2.0 * x + 0.5 * x**3
    w = ridge.fit(poly.features(x, 3), y, 0.0)
    np.testing.assert_allclose(w, [1.0, -2.0, 0.0, 0.5], atol=1e-9)


def test_taylor_sin_error_decreases_with_order():
    x = np.linspace(-3, 3, 201)
    np.testing.assert_allclose(poly.taylor_sin(x, 3), x - x**3 / 6)
    errs = [np.max(np.abs(poly.taylor_sin(x, order) - np.sin(x))) for order in (1, 3, 5, 7, 9, 11)]
    assert all(b < a for a, b in zip(errs, errs[1:], strict=False))
    assert errs[-1] < 1e-3
    # even orders add nothing to the previous odd order
    np.testing.assert_allclose(poly.taylor_sin(x, 4), poly.taylor_sin(x, 3))
