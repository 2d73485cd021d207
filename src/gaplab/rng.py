"""Counter-based random numbers: the same (key, counter, index) gives the same draw anywhere.

Dropout masks drawn this way do not depend on how many models share a pack or on a global RNG
state, which is what makes a model trained alone and inside a vmapped pack bit-for-bit alike.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch

_M32 = 0xFFFFFFFF
_GLOBAL = threading.RLock()  # torch's global generator is process-wide: packs trained in threads take turns


@contextmanager
def seeded(seed: int, devices: Sequence[torch.device | int | str] = ()) -> Iterator[None]:
    """Run a block on torch's global generator seeded with ``seed``, restored afterwards, one thread at a time
    (for code that draws from the global generator: model constructors, a user's ``torch.rand`` in forward)."""
    with _GLOBAL, torch.random.fork_rng(devices=list(devices)):
        torch.manual_seed(seed)
        yield


def _mix32(x: torch.Tensor) -> torch.Tensor:
    # "lowbias32" integer hash (C. Wellons, hash-prospector); int64 lanes hold 32-bit values.
    x = x & _M32
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _M32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & _M32
    x = x ^ (x >> 16)
    return x


def _s32(c: int) -> int:
    """A 32-bit constant as the int32 with the same bits."""
    return c - (1 << 32) if c >= 1 << 31 else c


def _to_i32(x: torch.Tensor) -> torch.Tensor:
    """int64 lanes holding 32-bit values → int32 lanes with the same bits (explicit: no implementation-defined cast)."""
    return torch.where(x >= 1 << 31, x - (1 << 32), x).to(torch.int32)


def _mix32_i32_(x: torch.Tensor) -> torch.Tensor:
    """``_mix32`` in place on int32 lanes holding the same 32 bits: half the memory, native 32-bit multiplies.

    Multiplication wraps modulo 2^32 as the masked int64 product does; a right shift of an int32 copies the sign
    bit, so each shifted value is masked back to the bits a logical shift keeps.
    """
    x ^= (x >> 16) & 0xFFFF
    x *= 0x7FEB352D
    x ^= (x >> 15) & 0x1FFFF
    x *= _s32(0x846CA68B)
    x ^= (x >> 16) & 0xFFFF
    return x


def _mix32_int(x: int) -> int:
    """``_mix32`` on a Python int (same numbers, no tensor overhead)."""
    x &= _M32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & _M32
    x ^= x >> 15
    x = (x * 0x846CA68B) & _M32
    return x ^ (x >> 16)


def derive_key(*parts: int) -> int:
    """Fold integers (seed, site, epoch, ...) into one 32-bit key, deterministically."""
    h = 0x9E3779B9
    for p in parts:
        h = _mix32_int((h ^ (int(p) & _M32)) + 0x9E3779B9)
    return h


def generator(*parts: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded from ``derive_key(*parts)``: one stream per (run, purpose, step)."""
    return torch.Generator().manual_seed(derive_key(*parts))


def uniform(key: torch.Tensor | int, counter: int | torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Float32 uniforms in [0, 1) of ``shape`` from a 32-bit ``key`` and a step ``counter`` (see ``_uniform``)."""
    return _uniform(torch.as_tensor(key, dtype=torch.int64), counter, tuple(shape))


def uniform_stacked(keys: torch.Tensor, counter: int | torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """(K, *shape): row k is ``uniform(keys[k], counter[k], shape)`` exactly (K models' dropout masks at once);
    ``counter`` is one step counter for all or a (K,) tensor of per-model counters."""
    k = keys.shape[0]
    lead = (k, *([1] * len(shape)))
    if isinstance(counter, torch.Tensor) and counter.dim() == 1:
        counter = counter.to(torch.int64).view(lead)
    return _uniform(keys.to(torch.int64).view(lead), counter, tuple(shape), batched=True)


def _uniform(key_t: torch.Tensor, counter: int | torch.Tensor, shape: tuple[int, ...],
             batched: bool = False) -> torch.Tensor:
    """Float32 uniforms in [0, 1) of ``shape`` from a 32-bit ``key`` and a step ``counter``.

    Element (i, j, ...) is hashed from its coordinates, not its flat index, so the draw at a coordinate
    does not depend on the tensor's size: a model padded to a wider layer sees the same mask on its own
    units. ``key`` may be a 0-d int64 tensor (e.g. one model's slice inside ``vmap``).
    """
    ctr = torch.as_tensor(counter, dtype=torch.int64)
    h = _to_i32(_mix32(key_t ^ _mix32(ctr * 0x9E3779B9 + 0x7F4A7C15)))
    nd = len(shape)
    lead = [key_t.shape[0]] if batched else []
    for d, n in enumerate(shape):
        view = [1] * (nd + len(lead))
        view[d + len(lead)] = int(n)
        coord = torch.arange(int(n), dtype=torch.int32, device=key_t.device).view(view)
        h = _mix32_i32_((h * 0x632BE5AB) + coord + 0x2545F491)
    h = _mix32_i32_(h ^ 0x5BD1E995) if nd else _mix32_i32_(h.clone())
    # top 24 bits -> exactly representable float32 in [0, 1)
    return ((h >> 8) & 0xFFFFFF).to(torch.float32).expand((*lead, *shape)) * (1.0 / 16777216.0)
