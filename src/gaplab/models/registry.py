"""Name -> model factory registry (timm-style): ``@register_model`` adds, ``create_model`` builds.

Factories share one signature, ``factory(input_shape, output_dim, *, dropout=0.0, **own_kwargs)``, so a
spec can name any model (or a user factory by ``"package.module:factory"``) and pass keyword arguments.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from gaplab.errors import SpecError

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


def _import_factory(path: str) -> Factory:
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise SpecError(f"model.name: cannot import model module '{module_name}' (from '{path}'): {e}") from e
    fn = getattr(module, attr, None)
    if fn is None or not callable(fn):
        raise SpecError(f"model.name: '{path}': module '{module_name}' has no callable '{attr}'")
    return fn


def get_factory(name: str) -> Factory:
    """The factory for a registered ``name`` or an import path ``"package.module:factory"``."""
    if ":" in name:
        return _import_factory(name)
    if name not in _REGISTRY:
        raise SpecError(f"model.name: unknown model '{name}'; choose from: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name][0]


def model_kwargs(name: str) -> dict[str, inspect.Parameter]:
    """The keyword arguments (with defaults) that model ``name`` accepts beyond input_shape/output_dim."""
    sig = inspect.signature(get_factory(name))
    return {
        k: p
        for k, p in sig.parameters.items()
        if k not in _POSITIONAL and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }


def create_model(name: str, input_shape: tuple[int, ...], output_dim: int, **kwargs: Any) -> nn.Module:
    """Build model ``name`` for inputs of shape (B, *input_shape) and outputs (B, output_dim)."""
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
    model = fn(tuple(int(s) for s in input_shape), int(output_dim), **kwargs)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model factory '{name}' returned {type(model).__name__}, not an nn.Module")
    return model
