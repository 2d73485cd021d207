"""The step's TorchScript functions compile on this torch (a silent fall-back to Python would only cost speed, so it
is pinned here) and give the Python functions' numbers bit for bit."""

from __future__ import annotations

import pytest
import torch

from gaplab.engine import script
from gaplab.engine.conv import conv_chain_train
from gaplab.engine.fused import dense_train, dense_train_grad
from gaplab.engine.losses import loss_and_grad
from gaplab.engine.optim import adam_update, sgd_update

HOT = [dense_train, dense_train_grad, conv_chain_train, loss_and_grad, sgd_update, adam_update]


@pytest.mark.parametrize("fn", HOT, ids=lambda f: f.__name__)
def test_hot_functions_compile(fn) -> None:
    assert isinstance(script.scripted(fn), torch.jit.ScriptFunction)


def _dense_args(acts: list[str], residual: list[bool], dropout: bool, kind: str) -> tuple:
    g = torch.Generator().manual_seed(0)
    k, b, d, c = 3, 7, 5, 4
    widths = [d]
    for r in residual:  # a residual layer keeps its input's width
        widths.append(widths[-1] if r else 6)
    widths.append(c)
    ws = [torch.randn(k, o, i, generator=g) * 0.5 for i, o in zip(widths, widths[1:], strict=False)]
    bs = [torch.randn(k, o, generator=g) for o in widths[1:]]
    keeps = [(torch.rand(k, b, o, generator=g) > 0.3) if dropout else None for o in widths[1:-1]]
    shares = [torch.full((k, 1, 1), 0.7) if dropout else None for _ in widths[1:-1]]
    target = torch.randint(0, c, (k, b), generator=g) if kind == "hard" else torch.randn(k, b, c, generator=g)
    return (torch.randn(k, b, d, generator=g), target, torch.ones(k, b), ws, bs,
            [torch.zeros_like(w) for w in ws], [torch.zeros_like(x) for x in bs], acts, residual, keeps, shares, kind)


@pytest.mark.parametrize(("acts", "residual", "dropout", "kind"), [
    (["relu", "relu"], [False, False], False, "hard"),
    (["tanh", "gelu"], [False, True], True, "hard"),
    (["gelu"], [False], True, "mse"),
    ([], [], False, "hard"),
])
def test_dense_train_scripted_equals_python(acts, residual, dropout, kind) -> None:
    a, b = _dense_args(acts, residual, dropout, kind), _dense_args(acts, residual, dropout, kind)
    assert torch.equal(dense_train(*a), script.scripted(dense_train)(*b))
    for x, y in zip(a[5] + a[6], b[5] + b[6], strict=True):
        assert torch.equal(x, y)


def test_optimizer_updates_scripted_equal_python() -> None:
    g = torch.Generator().manual_seed(1)
    k, p = 4, 50
    col = [torch.rand(k, 1, generator=g) for _ in range(5)]
    for nesterov in (False, True):
        tabs = [torch.randn(k, p, generator=g) for _ in range(3)]
        mine = [t.clone() for t in tabs]
        sgd_update(tabs[0], tabs[1], tabs[2], col[0], col[1], col[2], nesterov)
        script.scripted(sgd_update)(mine[0], mine[1], mine[2], col[0], col[1], col[2], nesterov)
        assert all(torch.equal(x, y) for x, y in zip(tabs, mine, strict=True))
    tabs = [torch.randn(k, p, generator=g), torch.randn(k, p, generator=g), torch.zeros(k, p), torch.zeros(k, p)]
    mine = [t.clone() for t in tabs]
    t = torch.full((k, 1), 3.0, dtype=torch.float64)
    hyper = (col[0] * 0.01, col[1] * 0.1 + 0.85, col[2] * 0.01 + 0.98, torch.full((k, 1), 1e-8), t, col[3])
    adam_update(*tabs, *hyper)
    script.scripted(adam_update)(*mine, *hyper)
    assert all(torch.equal(x, y) for x, y in zip(tabs, mine, strict=True))


def test_gaplab_torchscript_0_keeps_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAPLAB_TORCHSCRIPT", "0")
    assert not script.enabled()
    assert script._compile(sgd_update) is sgd_update
