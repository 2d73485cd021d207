"""Name -> model factory registry (timm-style): ``@register_model`` adds, ``create_model`` builds.

gaplab's factories share one signature, ``factory(input_shape, output_dim, *, dropout=0.0, **own_kwargs)``. A user's
model is named ``path/to/file.py:name`` or ``module:name`` and follows the contract of ``gaplab.models.user``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from gaplab.errors import SpecError
from gaplab.models import user
from gaplab.models.adapt import adapt

Factory = Callable[..., nn.Module]

_REGISTRY: dict[str, tuple[Factory, str]] = {}
_POSITIONAL = ("input_shape", "output_dim")


def register_model(name: str, help: str = "") -> Callable[[Factory], Factory]:
    """Decorator registering ``fn`` under ``name`` with a one-line ``help``; stack it to add aliases."""

    def deco(fn: Factory) -> Factory:
        if name in _REGISTRY and _REGISTRY[name][0] is not fn:
            raise ValueError(f"model '{name}' is already registered")
        _REGISTRY[name] = (fn, help or (inspect.getdoc(fn) or "").split("\n")[0])
        return fn

    return deco


def list_models() -> dict[str, str]:
    """All registered model names (sorted) mapped to their help line."""
    return {k: _REGISTRY[k][1] for k in sorted(_REGISTRY)}


def get_factory(name: str) -> Factory:
    """The factory for a registered ``name``, or the user's factory or class for ``file.py:name`` / ``module:name``."""
    if user.is_user_name(name):
        return user.load_callable(name)
    if name not in _REGISTRY:
        raise SpecError(f"model.name: unknown model '{name}'; choose from: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name][0]


def model_kwargs(name: str) -> dict[str, inspect.Parameter]:
    """The keyword arguments (with defaults) that model ``name`` accepts beyond what gaplab fills in from the data."""
    fn = get_factory(name)
    if user.is_user_name(name):
        return user.own_parameters(fn)
    sig = inspect.signature(fn)
    return {
        k: p
        for k, p in sig.parameters.items()
        if k not in _POSITIONAL and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }


def create_model(name: str, input_shape: tuple[int, ...], output_dim: int, **kwargs: Any) -> nn.Module:
    """Build model ``name`` for inputs of shape (B, *input_shape) and outputs (B, output_dim).

    A user's model is built by its contract (``gaplab.models.user``), its lazy layers materialized, and its dropout and
    batch-norm layers swapped for pack-safe ones (``gaplab.models.adapt``)."""
    shape = tuple(int(s) for s in input_shape)
    if user.is_user_name(name):
        model = user.call_user(get_factory(name), name, shape, int(output_dim), kwargs)
        user.materialize(model, name, shape)
        adapt(model, f"model '{name}'")
        return model
    fn = get_factory(name)
    params = inspect.signature(fn).parameters.values()
    if not any(p.kind is p.VAR_KEYWORD for p in params):
        allowed = model_kwargs(name)
        unknown = sorted(set(kwargs) - set(allowed))
        if unknown:
            raise SpecError(
                f"model.args: model '{name}' got unknown keyword argument(s) {', '.join(map(repr, unknown))}; "
                f"accepted: {', '.join(allowed) or '(none)'}"
            )
    model = fn(shape, int(output_dim), **kwargs)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model factory '{name}' returned {type(model).__name__}, not an nn.Module")
    return model
