"""Models of different widths in one pack: zero-padded units that never change an output or a gradient.

A hidden unit whose incoming and outgoing weights and bias are zero outputs act(0) = 0 for relu, tanh
and gelu; the gradient of its outgoing weights is its activation (0) and that of its incoming weights is
act'(0)·(outgoing column · δ) = 0. So SGD, momentum, Adam, L1/L2 and decay all leave it at zero, and the
narrow model's numbers are unchanged. Batch norm breaks this (its shift makes a padded unit non-zero):
such models are never padded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from itertools import accumulate

import torch

from gaplab.models import model_kwargs
from gaplab.spec import RunSpec

# model name -> the argument that sets its width
PADDABLE = {"mlp": "width", "random-features": "width", "cnn1d": "channels", "cnn2d": "channels"}


def pad_arg(spec: RunSpec) -> str | None:
    """The width argument this run's model may be padded along, or None."""
    arg = PADDABLE.get(spec.model.name)
    if arg is None or spec.model.args.get("batch_norm"):
        return None
    return arg


def width_of(spec: RunSpec) -> int:
    """The run's width (its own argument or the model's default)."""
    arg = pad_arg(spec)
    assert arg is not None
    if arg in spec.model.args:
        return int(spec.model.args[arg])
    return int(model_kwargs(spec.model.name)[arg].default)


# The conv path's 1-D products (im2col, then batched matrix products with 3c or 5c inner rows) run slower at channel
# counts that are not a multiple of 4 than at the next multiple of 8, even with its extra work: a pack of three
# ``cnn1d`` at batch 100, one thread, CPU s per 20 epochs — 45 → 48 channels 0.84–0.87×, 55 → 56 0.83×, 75 → 80
# 0.93×, 78 → 80 0.85×, 90 → 96 0.97–0.99×; but 100 → 104 1.03×, 65 → 72 1.11×, 20 → 24 1.13× (AMD EPYC, ninth
# session; docs/performance.md). So such a pack is built at the next multiple of CHANNEL_ALIGN where that adds at most
# 1/ALIGN_SHARE of its channels.
CHANNEL_ALIGN = 8
ALIGN_SHARE = 12


def built_width(spec: RunSpec, width: int) -> int:
    """The width a pack of ``spec``'s model whose widest member is ``width`` is built at: ``width``, or for ``cnn1d``
    a count not a multiple of 4 rounded up to the next multiple of ``CHANNEL_ALIGN`` when that adds at most
    1/``ALIGN_SHARE`` of it (the padded channels are zero and stay zero, as any padding here)."""
    if spec.model.name != "cnn1d" or width % 4 == 0:
        return width
    up = -(-width // CHANNEL_ALIGN) * CHANNEL_ALIGN
    return up if (up - width) * ALIGN_SHARE <= width else width


def pad_into(narrow: Mapping[str, torch.Tensor], wide: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Embed each narrow tensor in the leading corner of a zero tensor shaped like its wide twin."""
    out = {}
    for name, w in wide.items():
        n = narrow[name]
        if n.shape == w.shape:
            out[name] = n
            continue
        z = torch.zeros_like(w)
        z[tuple(slice(0, s) for s in n.shape)] = n
        out[name] = z
    return out


def unpad(narrow_like: dict[str, torch.Tensor], wide: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Cut a padded state back to the narrow model's shapes."""
    return {n: wide[n][tuple(slice(0, s) for s in t.shape)].clone() for n, t in narrow_like.items()}


def flops_per_example(spec: RunSpec, width: int, in_dim: int = 40, out_dim: int = 10) -> float:
    """Rough multiply-adds of one forward pass of a model at ``width`` (for bucketing and cost ratios).

    CNNs are counted on one-channel inputs: ``cnn1d`` on signals of length ``in_dim``, ``cnn2d`` on 8×8 images (its
    convolutions' weights act at every position, so their cost grows as width² × positions, not as parameters)."""
    if spec.model.name == "cnn1d":
        total, length, c_in = 0, in_dim, 1
        for k in (5, 3, 3):  # models.cnn.CNN1d: stride 2, padding 1
            length = (length + 2 - k) // 2 + 1
            total += length * width * c_in * k
            c_in = width
        return total + length * width * out_dim
    if spec.model.name == "cnn2d":
        pos = 64
        head = width if spec.model.args.get("pool", "avg") == "avg" else width * pos
        return pos * 9 * (width + width * width) + head * out_dim
    depth = int(spec.model.args.get("depth", 2)) if spec.model.name == "mlp" else 1
    return in_dim * width + (depth - 1) * width * width + width * out_dim


def bucket_widths(widths: list[int], cost: Callable[[int], float], overhead: float) -> list[list[int]]:
    """Split the distinct widths into contiguous buckets minimising Σ (models · cost(max) + overhead).

    ``widths`` has one entry per model. Padding a model to its bucket's maximum wastes
    cost(max) − cost(own); each extra bucket costs a fixed per-step ``overhead`` (same units).
    Exact dynamic programme over the sorted distinct widths.
    """
    counts = Counter(widths)
    ws = sorted(counts)
    n = len(ws)
    before = [0] + list(accumulate(counts[w] for w in ws))
    best = [0.0] + [float("inf")] * n
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j):
            c = best[i] + (before[j] - before[i]) * cost(ws[j - 1]) + overhead
            if c < best[j]:
                best[j], cut[j] = c, i
    out, j = [], n
    while j > 0:
        out.append(ws[cut[j]:j])
        j = cut[j]
    return out[::-1]
