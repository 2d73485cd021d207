"""The doctor's torch baselines (doctor.linear) give scikit-learn's answers: same logistic-regression optimum,
same nearest neighbours, same ridge solution, same stratified folds."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from gaplab.doctor import linear

sklearn = pytest.importorskip("sklearn")
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.model_selection import StratifiedKFold, cross_val_predict  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor  # noqa: E402


@pytest.fixture(autouse=True)
def one_thread():  # type: ignore[no-untyped-def]
    """One BLAS/OpenMP thread on both sides: on a shared CPU a pool per core spins and costs 10-20× the fit."""
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    rng = np.random.default_rng(0)
    pick = rng.permutation(len(x))[:900]
    return x[pick], d.target[pick]


def test_logistic_regression_reaches_sklearns_optimum(digits: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = digits
    xtr, ytr, xva = x[:600], y[:600], x[600:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = LogisticRegression(max_iter=300).fit(xtr, ytr).predict_proba(xva)
    got = linear.logistic_fit(torch.from_numpy(xtr), torch.from_numpy(ytr), 10).proba(torch.from_numpy(xva)).numpy()
    assert np.abs(got - ref).mean() < 2e-3  # measured 2e-4: a strictly convex problem, one optimum
    assert np.abs(got - ref).max() < 0.1
    assert (got.argmax(1) == ref.argmax(1)).mean() >= 0.99


def test_out_of_fold_probabilities_match_cross_val_predict(digits: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = cross_val_predict(LogisticRegression(max_iter=300), x, y, cv=3, method="predict_proba")
    got = linear.out_of_fold_proba(torch.from_numpy(x), torch.from_numpy(y), 10, folds=3).numpy()
    assert np.abs(got - ref).mean() < 2e-3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_folds_are_sklearns_stratified_folds(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(2, 9, (311 + 17 * seed,), generator=g)  # labels need not start at 0
    ref = np.zeros(len(y), dtype=np.int64)
    for f, (_, test) in enumerate(StratifiedKFold(3).split(np.zeros(len(y)), y.numpy())):
        ref[test] = f
    assert (linear.stratified_folds(y, 3).numpy() == ref).all()


def test_knn_and_ridge_match_sklearn(digits: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = digits
    xtr, ytr, xva = x[:600], y[:600], x[600:]
    ref = KNeighborsClassifier(5).fit(xtr, ytr).predict(xva)
    got = linear.knn_predict(torch.from_numpy(xtr), torch.from_numpy(ytr), torch.from_numpy(xva), 5, 10).numpy()
    assert (got == ref).mean() >= 0.99  # distance ties may order neighbours differently
    t = np.stack([y[:600] * 0.5, x[:600, 10]], 1).astype(np.float32)
    for model, fn in ((Ridge(alpha=1.0), lambda: linear.ridge_predict(torch.from_numpy(xtr), torch.from_numpy(t),
                                                                      torch.from_numpy(xva))),
                      (KNeighborsRegressor(5), lambda: linear.knn_predict(torch.from_numpy(xtr), torch.from_numpy(t),
                                                                         torch.from_numpy(xva), 5))):
        ref_r = model.fit(xtr, t).predict(xva)
        assert np.abs(fn().numpy() - ref_r).max() < 1e-3
