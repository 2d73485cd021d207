"""Tests for gaplab.models: registry, shapes, vmap stacking, dropout, frozen random features."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch import nn

from gaplab.models import (
    Dropout,
    create_model,
    list_models,
    model_kwargs,
    set_dropout_counter,
    set_dropout_keys,
    set_dropout_rate,
)

B, OUT = 6, 3

# model -> input shapes it supports (among those used by the lab's datasets)
SUPPORTED: dict[str, list[tuple[int, ...]]] = {
    "linear": [(40,), (1, 8, 8), (2,), (10,)],
    "logistic": [(40,), (1, 8, 8), (2,), (10,)],
    "mlp": [(40,), (1, 8, 8), (2,), (10,)],
    "cnn1d": [(40,), (1, 40), (10,)],
    "cnn2d": [(1, 8, 8), (3, 32, 32)],
    "resnet": [(40,), (2, 40), (1, 8, 8)],
    "random-features": [(40,), (1, 8, 8), (2,), (10,)],
    "polynomial": [(40,), (1, 8, 8), (2,), (10,)],
    "bilinear": [(40,), (2,), (10,)],
}


def test_every_registered_model_is_covered() -> None:
    assert set(list_models()) == set(SUPPORTED)
    assert all(isinstance(h, str) and h for h in list_models().values())


@pytest.mark.parametrize(("name", "shape"), [(n, s) for n, shapes in SUPPORTED.items() for s in shapes])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_builds_and_forwards(name: str, shape: tuple[int, ...], dropout: float) -> None:
    torch.manual_seed(0)
    model = create_model(name, shape, OUT, dropout=dropout)
    assert any(isinstance(m, Dropout) for m in model.modules())  # structure does not depend on the rate
    x = torch.randn(B, *shape)
    for train in (True, False):
        model.train(train)
        y = model(x)
        assert y.shape == (B, OUT) and y.dtype == torch.float32
        assert torch.isfinite(y).all()


def test_model_kwargs_and_options() -> None:
    kw = model_kwargs("mlp")
    assert {"dropout", "width", "depth", "activation", "batch_norm", "residual"} <= set(kw)
    assert kw["width"].default == 256 and kw["depth"].default == 2
    assert "input_shape" not in kw and "output_dim" not in kw
    x = torch.randn(B, 10)
    for act in ("relu", "tanh", "gelu"):
        m = create_model("mlp", (10,), OUT, width=8, depth=3, activation=act, batch_norm=True, residual=True)
        assert m(x).shape == (B, OUT)
    names = [n for n, _ in create_model("mlp", (10,), OUT, depth=2).named_parameters()]
    assert names[0] == "hidden.0.linear.weight" and names[-1] == "head.bias"
    assert create_model("cnn2d", (1, 8, 8), OUT, pool="flatten")(torch.randn(B, 1, 8, 8)).shape == (B, OUT)
    assert create_model("resnet", (40,), OUT, batch_norm=False, blocks=1)(torch.randn(B, 40)).shape == (
        B,
        OUT,
    )
    assert create_model("bilinear", (4,), OUT, linear_term=False)(torch.randn(B, 4)).shape == (B, OUT)
    with pytest.raises(ValueError, match="even"):
        create_model("bilinear", (3,), OUT)
    with pytest.raises(ValueError, match="activation"):
        create_model("mlp", (3,), OUT, activation="swish")


def _stacked_outputs(name: str, shape: tuple[int, ...], **kwargs) -> None:
    """Stack 3 differently seeded copies; vmapped functional_call must reproduce each copy's output."""
    models = []
    for seed in range(3):
        torch.manual_seed(seed)
        m = create_model(name, shape, OUT, **kwargs)
        set_dropout_keys(m, seed=100 + seed)
        set_dropout_counter(m, 7)
        m.train()
        models.append(m)
    params, buffers = torch.func.stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    x = torch.randn(3, B, *shape)

    def run(p, b, xi):
        return torch.func.functional_call(base, (p, b), (xi,))

    y = torch.vmap(run)(params, buffers, x)
    for k, m in enumerate(models):
        torch.testing.assert_close(y[k], m(x[k]), atol=1e-6, rtol=1e-6)
    # the copies really differ
    assert not torch.allclose(y[0], models[1](x[0]))


def test_vmap_mlp_dropout() -> None:
    _stacked_outputs("mlp", (10,), width=32, dropout=0.5)


def test_vmap_mlp_dropout_per_model_rate() -> None:
    """Each stacked copy can carry its own dropout rate in the ``p`` buffer."""
    models = []
    for seed, p in enumerate((0.1, 0.5, 0.9)):
        torch.manual_seed(seed)
        m = create_model("mlp", (10,), OUT, width=16, dropout=0.5)
        set_dropout_keys(m, seed)
        set_dropout_rate(m, p)
        models.append(m)
    params, buffers = torch.func.stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    x = torch.randn(3, B, 10)
    y = torch.vmap(lambda p, b, xi: torch.func.functional_call(base, (p, b), (xi,)))(params, buffers, x)
    for k, m in enumerate(models):
        torch.testing.assert_close(y[k], m(x[k]), atol=1e-6, rtol=1e-6)


def test_vmap_cnn1d() -> None:
    _stacked_outputs("cnn1d", (40,), dropout=0.2)


@pytest.mark.parametrize("shape", [(40,), (1, 8, 8)])
def test_vmap_resnet_batchnorm(shape: tuple[int, ...]) -> None:
    _stacked_outputs("resnet", shape, channels=8, dropout=0.1)


def test_vmap_random_features_buffers_differ() -> None:
    _stacked_outputs("random-features", (10,), width=32)


def test_dropout_keeps_expectation() -> None:
    d = Dropout(0.5, key=123)
    d.train()
    x = torch.ones(200_000)
    y = d(x)
    assert abs(y.mean().item() - 1.0) < 0.01
    kept = (y != 0).float().mean().item()
    assert abs(kept - 0.5) < 0.01
    assert torch.all((y == 0) | (y == 2.0))


def test_dropout_masks_reproducible() -> None:
    a, b = Dropout(0.3, key=5), Dropout(0.3, key=5)
    x = torch.randn(64, 32)
    torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)
    b.counter = 1
    assert not torch.equal(a(x), b(x))
    c = Dropout(0.3, key=6)
    assert not torch.equal(a(x), c(x))
    a.eval()
    assert torch.equal(a(x), x)


def test_dropout_zero_and_one() -> None:
    x = torch.randn(10, 5)
    d = Dropout(0.0)
    assert d.active is False
    assert d(x) is x
    d1 = Dropout(1.0)
    y = d1(x)
    assert torch.isfinite(y).all() and torch.equal(y, torch.zeros_like(x))


def test_dropout_helpers() -> None:
    m = create_model("mlp", (10,), OUT, depth=3)
    drops = [d for d in m.modules() if isinstance(d, Dropout)]
    assert len(drops) == 3 and not any(d.active for d in drops)
    set_dropout_rate(m, 0.25)
    assert all(d.active and float(d.p) == 0.25 for d in drops)
    set_dropout_keys(m, 9)
    keys = [int(d.key) for d in drops]
    assert len(set(keys)) == 3
    set_dropout_keys(m, 9)
    assert keys == [int(d.key) for d in drops]
    set_dropout_counter(m, 42)
    assert all(d.counter == 42 for d in drops)
    set_dropout_rate(m, 0.0)
    assert not any(d.active for d in drops)
    assert {"hidden.0.drop.p", "hidden.0.drop.key"} <= set(dict(m.named_buffers()))


def test_random_features_trainable_params() -> None:
    m = create_model("random-features", (10,), OUT, width=64)
    trainable = {n: p for n, p in m.named_parameters() if p.requires_grad}
    assert set(trainable) == {"head.weight", "head.bias"}
    assert trainable["head.weight"].shape == (OUT, 64)
    assert dict(m.named_buffers())["feature_weight"].shape == (64, 10)


def test_user_model_by_import_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    m = create_model("gaplab_user_model:factory", (1, 8, 8), OUT, hidden=5)
    assert m(torch.randn(B, 1, 8, 8)).shape == (B, OUT)
    assert set(model_kwargs("gaplab_user_model:factory")) == {"dropout", "hidden"}
    with pytest.raises(ValueError, match="nope"):
        create_model("gaplab_user_model:factory", (4,), OUT, nope=1)
    with pytest.raises(ValueError, match="missing"):
        create_model("gaplab_user_model:missing", (4,), OUT)
    with pytest.raises(ValueError, match="no_such_module_xyz"):
        create_model("no_such_module_xyz:factory", (4,), OUT)


def test_unknown_name_and_kwarg() -> None:
    with pytest.raises(ValueError, match="unknown model 'transformer'; choose from: .*mlp"):
        create_model("transformer", (4,), OUT)
    with pytest.raises(ValueError, match="'widht'.*'mlp'|'mlp'.*'widht'"):
        create_model("mlp", (4,), OUT, widht=3)
    with pytest.raises(ValueError, match="unknown model 'x'"):
        model_kwargs("x")


def test_models_are_modules_with_default_init() -> None:
    torch.manual_seed(0)
    a = create_model("mlp", (10,), OUT)
    torch.manual_seed(0)
    b = create_model("mlp", (10,), OUT)
    assert isinstance(a, nn.Module)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
