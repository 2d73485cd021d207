"""Keep freed memory in the process for the next training step instead of returning it to the kernel.

A pack step allocates and frees the same few large tensors (im2col columns, activations, gradients) every step. With
glibc's defaults, blocks above its mmap threshold are mapped fresh and those at the top of the heap are trimmed, so
every step pays page faults and the kernel's zeroing of the pages again: 100-1800 minor faults per step for conv packs
(benchmarks/conv_packs.py). Raising both thresholds makes glibc reuse the freed blocks; the process then keeps its
peak memory until it exits.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# mallopt parameters (glibc malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's largest accepted value (HEAP_MAX_SIZE / 2 on 64-bit)
TRIM_THRESHOLD = 1 << 30

_done = False


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds once per process; False where there is no glibc (macOS, musl)."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    _done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _done
