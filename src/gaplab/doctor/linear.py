"""Simple reference models in torch: multinomial logistic regression, ridge regression, k-nearest neighbours and
stratified out-of-fold probabilities — the doctor's baselines and its label-noise second opinion.

They solve the problems scikit-learn's ``LogisticRegression`` (L2, C = 1, L-BFGS), ``Ridge(alpha=1)``,
``KNeighbors*(5)`` and ``cross_val_predict(cv=3)`` solve, with the same folds; importing scikit-learn (and the scipy
it pulls in) costs 1.5–2.5 s of CPU — more than a quick doctor's every fit — for fits that take milliseconds.
``tests/doctor/test_linear.py`` holds them to scikit-learn's answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class Logistic:
    """A fitted multinomial logistic regression: class scores ``x @ w + b``."""

    w: torch.Tensor  # (features, classes), float64
    b: torch.Tensor  # (classes,)

    def proba(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities (N, classes), float32."""
        return torch.softmax(x.double() @ self.w + self.b, 1).float()


def logistic_fit(x: torch.Tensor, y: torch.Tensor, k: int, c: float = 1.0, max_iter: int = 300,
                 gtol: float = 1e-4) -> Logistic:
    """Minimize mean cross-entropy + ‖W‖²/(2·n·C) (scikit-learn's objective; the intercept is not penalized) by
    L-BFGS until the largest gradient entry is below ``gtol`` or after ``max_iter`` iterations (scikit-learn's
    defaults). Hand-written on analytic gradients: ``torch.optim`` imports torch._dynamo (≈ 2 s) on first use."""
    x64 = x.reshape(len(x), -1).double()
    n, d = x64.shape
    onehot = torch.nn.functional.one_hot(y, k).double()
    x1 = torch.cat([x64, torch.ones(n, 1, dtype=torch.float64)], 1)  # the last row of theta is the intercept
    pen = torch.ones(d + 1, 1, dtype=torch.float64)
    pen[-1] = 0.0
    reg = 1.0 / (n * c)

    def f_grad(theta: torch.Tensor) -> tuple[float, torch.Tensor]:
        z = x1 @ theta
        lse = torch.logsumexp(z, 1)
        loss = float((lse - (z * onehot).sum(1)).mean() + 0.5 * reg * ((theta * pen) ** 2).sum())
        return loss, x1.T @ (torch.softmax(z, 1) - onehot) / n + reg * theta * pen

    theta = torch.zeros(d + 1, k, dtype=torch.float64)
    theta = _lbfgs(f_grad, theta, max_iter, gtol)
    return Logistic(theta[:-1], theta[-1])


FGrad = Callable[[torch.Tensor], tuple[float, torch.Tensor]]


def _lbfgs(f_grad: FGrad, theta: torch.Tensor, max_iter: int, gtol: float, history: int = 10) -> torch.Tensor:
    """Limited-memory BFGS with a backtracking Armijo line search, for a smooth convex f."""
    loss, g = f_grad(theta)
    pairs: list[tuple[torch.Tensor, torch.Tensor]] = []  # (step, gradient change), oldest first
    for _ in range(max_iter):
        if float(g.abs().max()) < gtol:
            break
        direction = -_two_loop(g, pairs)
        new, new_loss, new_g = _armijo(f_grad, theta, loss, g, direction)
        s_k, y_k = new - theta, new_g - g
        if float((s_k * y_k).sum()) > 1e-12:  # keep the curvature pair only when it is positive
            pairs = [*pairs[-(history - 1):], (s_k, y_k)]
        done = abs(loss - new_loss) <= 1e-12 * max(abs(loss), 1.0)
        theta, loss, g = new, new_loss, new_g
        if done:
            break
    return theta


def _two_loop(g: torch.Tensor, pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """The inverse-Hessian estimate times ``g`` (the two-loop recursion); without history a step of length ≤ 1."""
    q = g.clone()
    alphas = []
    for s, y in reversed(pairs):
        a = float((s * q).sum()) / float((y * s).sum())
        alphas.append(a)
        q -= a * y
    if pairs:
        s, y = pairs[-1]
        q *= float((s * y).sum()) / float((y * y).sum())
    else:
        q /= max(float(g.abs().sum()), 1.0)
    for (s, y), a in zip(pairs, reversed(alphas), strict=True):
        q += (a - float((y * q).sum()) / float((y * s).sum())) * s
    return q


def _armijo(f_grad: FGrad, theta: torch.Tensor, loss: float, g: torch.Tensor,
            direction: torch.Tensor) -> tuple[torch.Tensor, float, torch.Tensor]:
    """The first of steps 1, ½, ¼, … along ``direction`` that lowers the loss enough (sufficient decrease)."""
    slope = float((g * direction).sum())
    step = 1.0
    while True:
        new = theta + step * direction
        new_loss, new_g = f_grad(new)
        if new_loss <= loss + 1e-4 * step * slope or step < 1e-10:
            return new, new_loss, new_g
        step *= 0.5


def ridge_predict(xtr: torch.Tensor, ytr: torch.Tensor, xva: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Ridge regression with an unpenalized intercept (scikit-learn's ``Ridge``): predictions on ``xva``."""
    x = xtr.reshape(len(xtr), -1).double()
    y = ytr.reshape(len(ytr), -1).double()
    mx, my = x.mean(0), y.mean(0)
    xc = x - mx
    coef = torch.linalg.solve(xc.T @ xc + alpha * torch.eye(x.shape[1], dtype=torch.float64), xc.T @ (y - my))
    return ((xva.reshape(len(xva), -1).double() - mx) @ coef + my).float()


def knn_predict(xtr: torch.Tensor, ytr: torch.Tensor, xva: torch.Tensor, k: int = 5,
                classes: int | None = None) -> torch.Tensor:
    """k-nearest-neighbour predictions (Euclidean): the most common label among the k (ties: the smallest label,
    as scikit-learn), or with ``classes`` None the neighbours' mean target."""
    a, q = xtr.reshape(len(xtr), -1).double(), xva.reshape(len(xva), -1).double()
    k = min(k, len(a))
    near = torch.cdist(q, a).topk(k, largest=False).indices  # (N, k)
    if classes is None:
        return ytr.reshape(len(ytr), -1).double()[near].mean(1).float()
    votes = torch.zeros(len(q), classes).scatter_add_(1, ytr[near], torch.ones(near.shape))
    return votes.argmax(1)


def stratified_folds(y: torch.Tensor, folds: int) -> torch.Tensor:
    """Each example's fold, as scikit-learn's ``StratifiedKFold(folds)`` without shuffling assigns them: classes
    numbered by first appearance, sizes dealt round-robin over the sorted labels, each class's examples in order in
    contiguous blocks."""
    first: dict[int, int] = {}
    for i, v in enumerate(y.tolist()):
        first.setdefault(v, i)
    present = sorted(first, key=first.__getitem__)
    code = torch.empty_like(y)
    for j, v in enumerate(present):
        code[y == v] = j
    order = torch.sort(code).values
    alloc = torch.stack([torch.bincount(order[i::folds], minlength=len(present)) for i in range(folds)])
    out = torch.empty(len(y), dtype=torch.int64)
    for j in range(len(present)):
        out[code == j] = torch.arange(folds).repeat_interleave(alloc[:, j])
    return out


def out_of_fold_proba(x: torch.Tensor, y: torch.Tensor, k: int, folds: int = 3) -> torch.Tensor:
    """Logistic-regression probabilities (N, k) of each example from the model fitted on the other folds
    (scikit-learn's ``cross_val_predict(LogisticRegression(max_iter=300), x, y, cv=folds, method="predict_proba")``).
    Every class needs at least ``folds`` examples."""
    fold = stratified_folds(y, folds)
    out = torch.zeros(len(y), k)
    for f in range(folds):
        test = fold == f
        out[test] = logistic_fit(x[~test], y[~test], k).proba(x[test])
    return out
