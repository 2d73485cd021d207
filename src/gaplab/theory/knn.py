"""k-nearest-neighbour classification, vectorized over chunks of query points (numpy matmul).

A parameter-free baseline for the generalization studies: its test error shows how much of a
dataset is solvable by similarity in input space alone. Metrics:

- ``"euclidean"``: ``||x - t||``.
- ``"cosine"``: ``1 - <x, t> / (||x|| ||t||)`` (as scikit-learn's ``metric="cosine"``).
- ``"whitened"``: Euclidean after ZCA whitening fitted on ``X_train``, i.e. the Mahalanobis distance
  ``sqrt((x - t)^T (C + eps I)^{-1} (x - t))`` with ``C`` the training covariance and
  ``eps = whiten_eps * trace(C) / d`` (a small ridge so constant pixels do not blow up).

Voting: majority among the ``k`` nearest training points; ties between classes with equal votes
are broken toward the class of the NEAREST neighbour among the tied classes. (scikit-learn instead
breaks ties toward the smallest label, so results differ only on tied votes.) Distance ties between
training points are broken by training index (stable sort).
"""

from __future__ import annotations

import numpy as np

METRICS = ("euclidean", "cosine", "whitened")


def _whitener(X_train: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    mean = X_train.mean(axis=0)
    C = np.cov(X_train - mean, rowvar=False, bias=True).reshape(X_train.shape[1], X_train.shape[1])
    d = C.shape[0]
    ridge = eps * max(np.trace(C) / d, np.finfo(np.float64).tiny)
    evals, evecs = np.linalg.eigh(C + ridge * np.eye(d))
    W = (evecs / np.sqrt(evals)) @ evecs.T  # ZCA: (C + ridge I)^{-1/2}
    return mean, W


def _prepare(X_train: np.ndarray, X: np.ndarray, metric: str, whiten_eps: float):
    if metric == "euclidean":
        return X_train, X
    if metric == "cosine":
        def unit(A: np.ndarray) -> np.ndarray:
            norms = np.linalg.norm(A, axis=1, keepdims=True)
            return A / np.where(norms > 0, norms, 1.0)

        return unit(X_train), unit(X)
    if metric == "whitened":
        mean, W = _whitener(X_train, whiten_eps)
        return (X_train - mean) @ W, (X - mean) @ W
    raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")


def neighbors(
    X_train: np.ndarray,
    X: np.ndarray,
    k: int,
    metric: str = "euclidean",
    *,
    chunk_size: int = 1024,
    whiten_eps: float = 1e-3,
) -> np.ndarray:
    """Indices ``(len(X), k)`` of the ``k`` nearest training points, nearest first."""
    X_train = np.asarray(X_train, dtype=np.float64).reshape(len(X_train), -1)
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    if not 1 <= k <= len(X_train):
        raise ValueError(f"k must be in [1, {len(X_train)}], got {k}")
    A, B = _prepare(X_train, X, metric, whiten_eps)
    sq_train = np.einsum("ij,ij->i", A, A)
    out = np.empty((len(B), k), dtype=np.int64)
    for start in range(0, len(B), chunk_size):
        Q = B[start : start + chunk_size]
        if metric == "cosine":
            dist = -(Q @ A.T)  # 1 - cos, up to a constant
        else:
            dist = sq_train[None, :] - 2.0 * (Q @ A.T)  # ||q - a||^2 - ||q||^2
        if k < dist.shape[1]:
            part = np.argpartition(dist, k - 1, axis=1)[:, :k]
        else:
            part = np.broadcast_to(np.arange(dist.shape[1]), dist.shape).copy()
        # order the k candidates by (distance, training index)
        part.sort(axis=1)
        d_part = np.take_along_axis(dist, part, axis=1)
        order = np.argsort(d_part, axis=1, kind="stable")
        out[start : start + len(Q)] = np.take_along_axis(part, order, axis=1)
    return out


def vote(neighbor_labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Majority vote over rows of class indices (nearest first); ties go to the nearest tied class."""
    m, k = neighbor_labels.shape
    onehot = neighbor_labels[:, :, None] == np.arange(n_classes)[None, None, :]  # (m, k, C)
    counts = onehot.sum(axis=1)
    first = np.where(onehot, np.arange(k)[None, :, None], k).min(axis=1)  # rank of first occurrence
    score = counts * (k + 1) + (k - first)
    return score.argmax(axis=1)


def predict(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X: np.ndarray,
    k: int,
    metric: str = "euclidean",
    *,
    chunk_size: int = 1024,
    whiten_eps: float = 1e-3,
) -> np.ndarray:
    """k-NN majority-vote labels for the rows of ``X`` (labels of any type ``np.unique`` can sort)."""
    y_train = np.asarray(y_train)
    classes, y_idx = np.unique(y_train, return_inverse=True)
    idx = neighbors(X_train, X, k, metric, chunk_size=chunk_size, whiten_eps=whiten_eps)
    return classes[vote(y_idx[idx], len(classes))]


def error(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    k: int,
    metric: str = "euclidean",
    **kwargs,
) -> float:
    """Misclassification rate of :func:`predict` on ``(X, y)``."""
    pred = predict(X_train, y_train, X, k, metric, **kwargs)
    return float(np.mean(pred != np.asarray(y)))
