"""Name -> dataset loader registry with pydantic-validated arguments."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from gaplab.errors import SpecError

from .dataset import Dataset
from .readers import FileArgs, read_file

Loader = Callable[..., Dataset]  # loader(args: <args_model>, cache_dir: Path | None) -> Dataset


@dataclass(frozen=True)
class _Entry:
    loader: Loader
    help: str
    args_model: type[BaseModel]


_REGISTRY: dict[str, _Entry] = {}
FILE = "file"


def register_dataset(name: str, *, help: str, args_model: type[BaseModel]) -> Callable[[Loader], Loader]:
    """Decorator registering ``loader(args, cache_dir)`` under ``name`` with its argument model."""
    if name == FILE:
        raise ValueError(f"{FILE!r} is reserved for user files")

    def deco(fn: Loader) -> Loader:
        if name in _REGISTRY:
            raise ValueError(f"dataset {name!r} is already registered")
        _REGISTRY[name] = _Entry(fn, help, args_model)
        return fn

    return deco


def _ensure_builtins() -> None:
    """Import every ``builtin*`` module of gaplab.data (each registers its data sets on import)."""
    import importlib
    import pkgutil

    from gaplab import data

    for m in pkgutil.iter_modules(data.__path__):
        if m.name.startswith("builtin"):
            importlib.import_module(f"gaplab.data.{m.name}")


def list_datasets() -> dict[str, str]:
    """Registered dataset names with their one-line help (plus the 'file' reader)."""
    _ensure_builtins()
    out = {name: e.help for name, e in sorted(_REGISTRY.items())}
    out[FILE] = "a local CSV/Parquet/.npz file, image-class folder, MNIST IDX folder or CIFAR-10 batch folder"
    return out


def _unknown(name: str) -> SpecError:
    return SpecError(f"data.name: unknown data set {name!r}; choose from: {', '.join(list_datasets())}")


def dataset_args_model(name: str) -> type[BaseModel]:
    """The pydantic model validating ``data.args`` for dataset ``name``."""
    _ensure_builtins()
    if name == FILE:
        return FileArgs
    if name not in _REGISTRY:
        raise _unknown(name)
    return _REGISTRY[name].args_model


def load_dataset(name: str, args: dict[str, Any] | None = None, path: str | None = None,
                 cache_dir: Path | None = None) -> Dataset:
    """Load a built-in by name, or a user file when ``name == 'file'`` or ``path`` is given.

    Invalid ``args`` raise pydantic ``ValidationError`` (the caller adds the ``data.args`` prefix).
    """
    _ensure_builtins()
    if name == FILE or path is not None:
        if path is None:
            raise SpecError("data.path is required when data.name is 'file'")
        opts = FileArgs.model_validate(args or {})
        return read_file(path, **opts.model_dump(exclude_unset=True))
    if name not in _REGISTRY:
        raise _unknown(name)
    entry = _REGISTRY[name]
    return entry.loader(entry.args_model.model_validate(args or {}), cache_dir=cache_dir)
