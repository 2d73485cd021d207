import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.neighbors import KNeighborsClassifier

from gaplab.theory import knn


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(X))
    X, y = X[perm].astype(np.float64), y[perm]
    return X[:1200], y[:1200], X[1200:], y[1200:]


def _untied(X_train, y_train, X, k, metric):
    """Mask of query points whose k-NN vote has a unique winner (where sklearn must agree)."""
    idx = knn.neighbors(X_train, X, k, metric)
    counts = np.stack([(y_train[idx] == c).sum(1) for c in range(10)], axis=1)
    top = np.sort(counts, axis=1)
    return top[:, -1] > top[:, -2]


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_matches_sklearn(digits, metric, k):
    Xtr, ytr, Xte, yte = digits
    ref = KNeighborsClassifier(n_neighbors=k, metric=metric, algorithm="brute").fit(Xtr, ytr)
    ours = knn.predict(Xtr, ytr, Xte, k, metric, chunk_size=100)
    theirs = ref.predict(Xte)
    mask = _untied(Xtr, ytr, Xte, k, metric)
    assert mask.mean() > 0.9
    # digits has integer pixels: exact distance ties between training points could reorder
    # neighbours, so allow a handful of disagreements on untied votes
    assert np.mean(ours[mask] != theirs[mask]) < 0.005
    err_ours = knn.error(Xtr, ytr, Xte, yte, k, metric)
    err_ref = 1.0 - ref.score(Xte, yte)
    assert abs(err_ours - err_ref) <= 0.005


def test_one_nn_training_error_is_zero():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((500, 20))
    y = rng.integers(0, 4, size=500)  # random labels: only memorization gives 0 error
    for metric in ("euclidean", "cosine", "whitened"):
        assert knn.error(X, y, X, y, 1, metric, chunk_size=64) == 0.0


def test_whitened_is_mahalanobis():
    rng = np.random.default_rng(2)
    A = rng.standard_normal((3, 3))
    Xtr = rng.standard_normal((300, 3)) @ A
    Xq = rng.standard_normal((40, 3)) @ A
    idx = knn.neighbors(Xtr, Xq, 4, "whitened", whiten_eps=1e-3)
    C = np.cov(Xtr, rowvar=False, bias=True)
    P = np.linalg.inv(C + 1e-3 * np.trace(C) / 3 * np.eye(3))
    diff = Xq[:, None, :] - Xtr[None, :, :]
    d2 = np.einsum("qnd,de,qne->qn", diff, P, diff)
    np.testing.assert_array_equal(idx, np.argsort(d2, axis=1)[:, :4])


def test_whitened_scale_invariant():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((200, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    Xq = rng.standard_normal((50, 4))
    S = np.diag([1.0, 30.0, 0.1, 5.0])  # Mahalanobis distance is invariant to this
    p1 = knn.predict(X, y, Xq, 5, "whitened", whiten_eps=1e-12)
    p2 = knn.predict(X @ S, y, Xq @ S, 5, "whitened", whiten_eps=1e-12)
    np.testing.assert_array_equal(p1, p2)


def test_tie_break_toward_nearest_neighbour():
    # k=4 neighbours nearest-first with labels [b, a, a, b]: 2-2 tie -> class of nearest, b
    X_train = np.array([[1.0], [2.0], [3.0], [4.0], [100.0]])
    y_train = np.array(["b", "a", "a", "b", "a"])
    assert knn.predict(X_train, y_train, np.array([[0.0]]), 4)[0] == "b"
    # 3 classes 1-1-1 -> nearest
    assert knn.vote(np.array([[2, 0, 1]]), 3)[0] == 2
    assert knn.vote(np.array([[2, 0, 0, 1, 2]]), 3)[0] == 2  # 2-2-1 tie between 2 and 0 -> 2


def test_bad_metric_and_k():
    X = np.zeros((3, 2))
    with pytest.raises(ValueError):
        knn.predict(X, [0, 1, 0], X, 1, "manhattan")
    with pytest.raises(ValueError):
        knn.predict(X, [0, 1, 0], X, 4)
