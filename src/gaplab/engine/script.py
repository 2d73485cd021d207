"""TorchScript for the step's hot functions: a scripted function runs its ops without the GIL and with less overhead
per op than Python, so a pack step is faster alone and packs side by side in threads run in parallel.

The functions are written once, in the subset of Python TorchScript compiles; where it cannot (a torch without
``torch.jit``, or a compile error) the same Python function runs, with the same numbers (TorchScript calls the same
kernels in the same order: tests/core/test_script.py compares them bit for bit).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable[..., object])

_lock = threading.Lock()
_compiled: dict[Callable[..., object], Callable[..., object]] = {}


def scripted(fn: F) -> F:
    """``fn`` compiled by TorchScript (once, on first use, and cached), or ``fn`` itself where it cannot be."""
    done = _compiled.get(fn)
    if done is not None:
        return done  # type: ignore[return-value]
    with _lock:
        if fn not in _compiled:
            _compiled[fn] = _compile(fn)
    return _compiled[fn]  # type: ignore[return-value]


def _compile(fn: Callable[..., object]) -> Callable[..., object]:
    import torch

    if not enabled():
        return fn
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13 deprecates torch.jit.script
            return torch.jit.script(fn)  # type: ignore[no-any-return]
    except Exception:  # noqa: BLE001 - any failure to compile leaves the Python function, which is correct
        return fn


def enabled() -> bool:
    """TorchScript is used unless ``GAPLAB_TORCHSCRIPT=0`` (to compare, or where it misbehaves)."""
    import os

    return os.environ.get("GAPLAB_TORCHSCRIPT", "1").strip() != "0"
