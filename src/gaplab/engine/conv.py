"""The conv fast path: K stacked conv nets (gaplab's ``cnn1d`` and ``cnn2d``) as batched matrix products.

Each convolution is an im2col (``unfold`` of a channels-last activation) and one ``baddbmm`` over the K models, so a
pack's convolutions run as K large GEMMs instead of a vmapped (grouped) convolution; the backward pass is written by
hand, straight into the pack's flat gradient table (as engine.fused does for MLPs): weight gradients are ``bmm``s of
the saved columns, input gradients a ``bmm`` and one strided add per kernel tap (col2im); 2×2 max pools use PyTorch's
own kernels on a channels_last view (same maxima, same tie-breaking). The numbers equal the vmap path's to float
rounding: same layers, same dropout masks (``rng.uniform_stacked`` over the features in PyTorch's channel-major
order), same padding of narrow models.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gaplab import rng
from gaplab.engine.flat import FlatLayout
from gaplab.engine.losses import data_loss_and_grad
from gaplab.models.cnn import CNN1d, CNN2d
from gaplab.models.layers import Dropout
from gaplab.phases import phase
from gaplab.spec import RunSpec


@dataclass(frozen=True)
class Conv:
    """One Conv1d/Conv2d + ReLU: parameter names and its kernel, stride and zero padding per spatial dimension."""

    weight: str
    bias: str
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]


@dataclass(frozen=True)
class MaxPool:
    """``nn.MaxPool2d(2)``: 2×2 windows, stride 2, no padding."""


@dataclass(frozen=True)
class ConvPlan:
    """Conv+ReLU blocks (max-pooled between them in 2-D), a global average or a flatten, optional dropout, a Linear
    head — read from a module tree."""

    in_shape: tuple[int, ...]  # (channels, *spatial) of one example
    stages: tuple[Conv | MaxPool, ...]
    reduce: str  # "flatten" (PyTorch's channel-major order) or "avg" (global average pool)
    drop: str | None  # buffer prefix of the Dropout on the reduced features
    head: tuple[str, str]  # (weight, bias)


CONV_MODELS = ("cnn1d", "cnn2d")


def convs(spec: RunSpec) -> bool:
    """Whether a run's model takes the conv path (planning's guess, without building it; ``conv_plan_of`` decides)."""
    return spec.model.name in CONV_MODELS


def _conv_of(m: nn.Module, name: str) -> Conv | None:
    if type(m) not in (nn.Conv1d, nn.Conv2d):
        return None
    assert isinstance(m, nn.Conv1d | nn.Conv2d)
    if (m.groups != 1 or any(d != 1 for d in m.dilation) or m.bias is None or m.padding_mode != "zeros"
            or not isinstance(m.padding, tuple)):
        return None
    return Conv(f"{name}.weight", f"{name}.bias", tuple(m.kernel_size), tuple(m.stride), tuple(m.padding))


def _is_pool2(m: nn.Module) -> bool:
    return (type(m) is nn.MaxPool2d and m.kernel_size in (2, (2, 2)) and m.stride in (2, (2, 2))
            and m.padding in (0, (0, 0)) and m.dilation in (1, (1, 1)) and not m.ceil_mode and not m.return_indices)


def _stages(mods: list[nn.Module], prefix: str) -> tuple[Conv | MaxPool, ...] | None:
    """Conv+ReLU pairs with optional 2×2 max pools after them; None for anything else."""
    out: list[Conv | MaxPool] = []
    i = 0
    while i < len(mods):
        if _is_pool2(mods[i]) and out and isinstance(out[-1], Conv) and len(out[-1].kernel) == 2:
            out.append(MaxPool())
            i += 1
            continue
        c = _conv_of(mods[i], f"{prefix}{i}")
        if c is None or i + 1 >= len(mods) or type(mods[i + 1]) is not nn.ReLU:
            return None
        out.append(c)
        i += 2
    if not out or not isinstance(out[0], Conv) or len({len(c.kernel) for c in out if isinstance(c, Conv)}) != 1:
        return None
    return tuple(out)


def conv_plan_of(base: nn.Module) -> ConvPlan | None:
    """The conv plan of a ``cnn1d`` or ``cnn2d`` model, or None when its layers are not the expected blocks."""
    # exact types: a subclass may override forward, which the plan would silently ignore
    if (type(base) not in (CNN1d, CNN2d) or type(base.drop) is not Dropout or base.drop.kind != "element"
            or type(base.features) is not nn.Sequential):
        return None
    mods = list(base.features)
    if not mods or not isinstance(mods[-1], nn.Flatten) or mods[-1].start_dim != 1:
        return None
    mods, reduce = mods[:-1], "flatten"
    if isinstance(base, CNN2d):
        last = mods[-1] if mods else None
        if type(last) is nn.AdaptiveAvgPool2d and last.output_size in (1, (1, 1)):
            reduce = "avg"
        elif type(last) is not nn.Identity:
            return None
        mods = mods[:-1]
    assert isinstance(base, CNN1d | CNN2d)
    in_shape = tuple(int(d) for d in base.in_shape)
    stages = _stages(mods, "features.")
    if stages is None or len(in_shape) != 1 + len(next(c for c in stages if isinstance(c, Conv)).kernel):
        return None
    return ConvPlan(in_shape, stages, reduce, "drop", ("head.weight", "head.bias"))


def out_shape(shape: tuple[int, ...], c: Conv) -> tuple[int, ...]:
    """Spatial output shape of a convolution on inputs of spatial ``shape``."""
    return tuple((n + 2 * p - k) // s + 1 for n, k, s, p in zip(shape, c.kernel, c.stride, c.padding, strict=True))


def _im2col(h: torch.Tensor, c: Conv) -> torch.Tensor:
    """Columns (..., B·∏out, ∏k·C) of a channels-last activation ``h`` (..., B, *spatial, C): tap-major, so the copy
    runs along contiguous channels (channel-major columns, as Conv's weight flattens, copied 3-20× slower)."""
    nd = len(c.kernel)
    pad: list[int] = [0, 0]
    for p in reversed(c.padding):
        pad += [p, p]
    hp = F.pad(h, pad) if any(c.padding) else h
    first = h.dim() - 1 - nd  # the first spatial dim
    cols = hp
    for d in range(nd):
        cols = cols.unfold(first + d, c.kernel[d], c.stride[d])  # (..., B, *out, C, *k)
    cols = cols.movedim(-nd - 1, -1)  # (..., B, *out, *k, C)
    m = math.prod(cols.shape[first - 1:first + nd])
    return cols.reshape(*h.shape[:first - 1], m, -1)


def _weight_matrix(w: torch.Tensor) -> torch.Tensor:
    """Stacked conv weights (K, out, C, *k) as (K, out, ∏k·C), matching ``_im2col``'s column order."""
    return w.movedim(2, -1).reshape(w.shape[0], w.shape[1], -1)


def _weight_grad(col: torch.Tensor, dz: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """d loss / d weight (K, out, C, *k) from the columns (K, M, ∏k·C) and output gradients (K, M, out).

    As colᵀ·dz (K, ∏k·C, out), transposed after: the same product as dzᵀ·col but 3-5× faster in MKL's bmm here."""
    k, out, ch, *ks = shape
    return torch.bmm(col.transpose(1, 2), dz).view(k, *ks, ch, out).movedim(-1, 1).movedim(-1, 2)


def _col2im(dcol: torch.Tensor, c: Conv, b: int, spatial: tuple[int, ...]) -> torch.Tensor:
    """The adjoint of ``_im2col``: (K, B·∏out, ∏k·C) column gradients summed back into (K, B, *spatial, C)."""
    k, nd = dcol.shape[0], len(c.kernel)
    outs = out_shape(spatial, c)
    ch = dcol.shape[2] // math.prod(c.kernel)
    d = dcol.view(k, b, *outs, *c.kernel, ch)
    dx = dcol.new_zeros(k, b, *(n + 2 * p for n, p in zip(spatial, c.padding, strict=True)), ch)
    lead = (slice(None), slice(None))
    for taps in itertools.product(*(range(n) for n in c.kernel)):  # one strided add per kernel tap
        at = tuple(slice(j, j + s * (o - 1) + 1, s) for j, s, o in zip(taps, c.stride, outs, strict=True))
        dx[lead + at].add_(d[lead + (slice(None),) * nd + taps])
    if not any(c.padding):
        return dx
    return dx[lead + tuple(slice(p, p + n) for p, n in zip(c.padding, spatial, strict=True))]


class ConvNet:
    """Forward and hand-written backward of a ConvPlan over a flat (K, P) parameter table.

    1-D plans keep activations channels-last (K, B, *S, C) and run each convolution as im2col + ``baddbmm``;
    2-D plans (``GroupedConvNet``) keep them as (B, K·C, H, W) and run one grouped convolution, where im2col's 9×
    column copies cost more than they save (measured in benchmarks/conv_packs.py)."""

    def __init__(self, plan: ConvPlan, layout: FlatLayout, buffers: dict[str, torch.Tensor]) -> None:
        self.plan, self.layout, self.buffers = plan, layout, buffers
        # read from the stacked rates, not the specs: a user's model keeps the rates its code sets
        drop = plan.drop
        self.dropout_on = drop is not None and bool((buffers[f"{drop}.p"] > 0).any())
        spatial = [plan.in_shape[1:]]  # input spatial shape of each stage, then the output's
        for st in plan.stages:
            spatial.append(out_shape(spatial[-1], st) if isinstance(st, Conv) else tuple(n // 2 for n in spatial[-1]))
        self.spatial = spatial
        col_width, acts = 0, 0
        for st, sp in zip(plan.stages, spatial[1:], strict=False):
            if isinstance(st, Conv):
                out, c_in = layout.shapes[st.weight][:2]
                col_width = max(col_width, math.prod(sp) * c_in * math.prod(st.kernel))
                acts = max(acts, math.prod(sp) * out)
        self.floats_per_example = col_width + 2 * acts  # the largest columns and activations of one example

    def macs_per_example(self) -> int:
        """Multiply-adds of one forward pass (convolutions and head): what the pack's thread policy weighs."""
        total = 0
        for st, sp in zip(self.plan.stages, self.spatial[1:], strict=False):
            if isinstance(st, Conv):
                total += math.prod(sp) * math.prod(self.layout.shapes[st.weight])
        return total + math.prod(self.layout.shapes[self.plan.head[0]])

    # ---- layout-specific parts (channels-last, im2col) ------------------------------------------------------------
    def _input(self, x: torch.Tensor) -> torch.Tensor:
        """Training inputs (K, B, ...) in this net's activation layout."""
        return x.reshape(*x.shape[:2], *self.plan.in_shape).movedim(2, -1)

    def _first_shared(self, p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """The first conv+ReLU of every model on shared inputs ``x`` (N, ...): one GEMM for all K models."""
        n = x.shape[0]
        h = x.reshape(n, *self.plan.in_shape).movedim(1, -1)  # (N, *S, C)
        first = self.plan.stages[0]
        assert isinstance(first, Conv)
        w0 = _weight_matrix(p[first.weight])
        k, cout = w0.shape[0], w0.shape[1]
        z = torch.mm(_im2col(h, first), w0.reshape(k * cout, -1).t()).view(-1, k, cout).transpose(0, 1)
        return torch.relu(z + p[first.bias].unsqueeze(1)).reshape(k, n, *out_shape(h.shape[1:-1], first), cout)

    def _conv(self, p: dict[str, torch.Tensor], a: torch.Tensor, st: Conv, saved: list | None) -> torch.Tensor:
        k, b = a.shape[0], a.shape[1]
        col, wm = _im2col(a, st), _weight_matrix(p[st.weight])
        z = torch.relu_(torch.baddbmm(p[st.bias].unsqueeze(1), col, wm.transpose(1, 2)))
        if saved is not None:
            saved.append((col, wm, z))
        return z.view(k, b, *out_shape(a.shape[2:-1], st), z.shape[-1])

    def _conv_backward(self, g: dict[str, torch.Tensor], dh: torch.Tensor, st: Conv, saved: tuple, i: int,
                       b: int) -> torch.Tensor | None:
        col, wm, z = saved
        dz = torch.ops.aten.threshold_backward(dh.reshape(z.shape), z, 0)
        g[st.weight].copy_(_weight_grad(col, dz, g[st.weight].shape))
        g[st.bias].copy_(dz.sum(1))
        return _col2im(torch.bmm(dz, wm), st, b, self.spatial[i]) if i > 0 else None

    def _pool(self, a: torch.Tensor, saved: list | None) -> torch.Tensor:
        raise AssertionError("max pools are 2-D (GroupedConvNet)")

    def _pool_backward(self, dh: torch.Tensor, saved: tuple) -> torch.Tensor:
        raise AssertionError("max pools are 2-D (GroupedConvNet)")

    def _reduce(self, a: torch.Tensor) -> torch.Tensor:
        """Activations → features (K, B, F): global average, or flatten in PyTorch's channel-major order."""
        if self.plan.reduce == "avg":
            return a.mean(dim=tuple(range(2, a.dim() - 1)))
        return a.movedim(-1, 2).reshape(*a.shape[:2], -1)

    def _reduce_backward(self, df: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        if self.plan.reduce == "avg":
            n = math.prod(shape[2:-1])
            return (df / n).view(shape[0], shape[1], *([1] * (len(shape) - 3)), shape[-1]).expand(shape)
        return df.view(shape[0], shape[1], shape[-1], *shape[2:-1]).movedim(2, -1)

    # ---- shared by both layouts ---------------------------------------------------------------------------------
    def _stages(self, p: dict[str, torch.Tensor], a: torch.Tensor, stages: tuple[Conv | MaxPool, ...],
                saved: list | None) -> torch.Tensor:
        """Run ``stages`` on activations ``a``; with ``saved``, keep what the backward needs."""
        for st in stages:
            a = self._pool(a, saved) if isinstance(st, MaxPool) else self._conv(p, a, st, saved)
        return a

    @torch.no_grad()
    def forward(self, flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Outputs (K, N, C) in evaluation mode (no dropout); ``x`` (N, ...) is shared by every model.

        In chunks of rows whose columns and activations stay near 32 MB (a 4096-row chunk of 16 models takes GBs)."""
        k = flat.shape[0]
        rows = max(1, (8 << 20) // max(1, k * self.floats_per_example))
        return torch.cat([self._forward(flat, x[i:i + rows]) for i in range(0, x.shape[0], rows)], dim=1)

    def _forward(self, flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        p = self.layout.views(flat)
        f = self._reduce(self._stages(p, self._first_shared(p, x), self.plan.stages[1:], None))
        hw, hb = self.plan.head
        return torch.baddbmm(p[hb].unsqueeze(1), f, p[hw].transpose(1, 2))

    @torch.no_grad()
    def loss_and_grad(self, flat: torch.Tensor, grad: torch.Tensor, x: torch.Tensor, target: torch.Tensor,
                      w: torch.Tensor, kind: str, counter: torch.Tensor) -> torch.Tensor:
        """One training forward + backward on inputs ``x`` (K, B, ...); writes d loss / d params into ``grad``
        (K, P) and returns the per-model data losses (K,)."""
        p, g = self.layout.views(flat), self.layout.views(grad)
        plan = self.plan
        b = x.shape[1]
        hw, hb = plan.head
        with phase("forward"):
            saved: list = []  # what each stage's backward needs
            a = self._stages(p, self._input(x), plan.stages, saved)
            f = self._reduce(a)
            keep, share = None, None
            if self.dropout_on:
                assert plan.drop is not None
                with phase("dropout masks"):
                    keep = (rng.uniform_stacked(self.buffers[f"{plan.drop}.key"], counter, tuple(f.shape[1:]))
                            >= self.buffers[f"{plan.drop}.p"].view(-1, 1, 1)).to(f.dtype)
                share = (1.0 - self.buffers[f"{plan.drop}.p"].view(-1, 1, 1)).clamp_min(1e-12)
                f = f * keep / share  # as models.layers.Dropout: x · keep / (1 − p)
            out_t = torch.baddbmm(p[hb].unsqueeze(2), p[hw], f.transpose(1, 2))  # class-first (K, C, B)
            loss, dz_t = data_loss_and_grad(out_t, target, w, kind)
        with phase("backward"):
            g[hw].copy_(torch.bmm(dz_t, f))
            g[hb].copy_(dz_t.sum(2))
            df = torch.bmm(dz_t.transpose(1, 2), p[hw])  # (K, B, F)
            if keep is not None and share is not None:
                df = df / share * keep
            dh: torch.Tensor | None = self._reduce_backward(df, a.shape)
            for i in range(len(plan.stages) - 1, -1, -1):
                st = plan.stages[i]
                assert dh is not None
                if isinstance(st, MaxPool):
                    dh = self._pool_backward(dh, saved[i])
                else:
                    dh = self._conv_backward(g, dh, st, saved[i], i, b)
        return loss


class GroupedConvNet(ConvNet):
    """A 2-D ConvPlan with activations (B, K·C, H, W): each convolution one ``groups = K`` convolution (PyTorch's
    kernels, backward by ``convolution_backward``), pools PyTorch's max pool over all K·C channels at once."""

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        k, b = x.shape[0], x.shape[1]
        return x.reshape(k, b, *self.plan.in_shape).transpose(0, 1).reshape(b, -1, *self.plan.in_shape[1:])

    def _first_shared(self, p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        first = self.plan.stages[0]
        assert isinstance(first, Conv)
        w = p[first.weight]
        # shared inputs: one ungrouped convolution with all K models' filters stacked
        z = F.conv2d(x.reshape(x.shape[0], *self.plan.in_shape), w.reshape(-1, *w.shape[2:]),
                     p[first.bias].reshape(-1), first.stride, first.padding)
        return torch.relu_(z)

    def _conv(self, p: dict[str, torch.Tensor], a: torch.Tensor, st: Conv, saved: list | None) -> torch.Tensor:
        w = p[st.weight]
        k = w.shape[0]
        wg = w.reshape(-1, *w.shape[2:])
        z = torch.relu_(F.conv2d(a, wg, p[st.bias].reshape(-1), st.stride, st.padding, groups=k))
        if saved is not None:
            saved.append((a, wg, z))
        return z

    def _conv_backward(self, g: dict[str, torch.Tensor], dh: torch.Tensor, st: Conv, saved: tuple, i: int,
                       b: int) -> torch.Tensor | None:
        a, wg, z = saved
        k = g[st.weight].shape[0]
        dz = torch.ops.aten.threshold_backward(dh, z, 0)
        dx, dw, db = torch.ops.aten.convolution_backward(dz, a, wg, [wg.shape[0]], list(st.stride),
                                                         list(st.padding), [1, 1], False, [0, 0], k,
                                                         [i > 0, True, True])
        g[st.weight].copy_(dw.view(g[st.weight].shape))
        g[st.bias].copy_(db.view(k, -1))
        return dx

    def _pool(self, a: torch.Tensor, saved: list | None) -> torch.Tensor:
        out, idx = torch.ops.aten.max_pool2d_with_indices(a, [2, 2], [2, 2])
        if saved is not None:
            saved.append((a, idx))
        return out

    def _pool_backward(self, dh: torch.Tensor, saved: tuple) -> torch.Tensor:
        a, idx = saved
        return torch.ops.aten.max_pool2d_with_indices_backward(dh, a, [2, 2], [2, 2], [0, 0], [1, 1], False, idx)

    def _reduce(self, a: torch.Tensor) -> torch.Tensor:
        """(B, K·C, H, W) → features (K, B, F), flattened per model in PyTorch's channel-major order."""
        last = [st for st in self.plan.stages if isinstance(st, Conv)][-1]
        b, k = a.shape[0], a.shape[1] // self.layout.shapes[last.weight][0]
        if self.plan.reduce == "avg":
            return a.mean(dim=(2, 3)).view(b, k, -1).transpose(0, 1)
        return a.reshape(b, k, -1).transpose(0, 1)

    def _reduce_backward(self, df: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        b = shape[0]
        if self.plan.reduce == "avg":
            n = shape[2] * shape[3]
            return (df / n).transpose(0, 1).reshape(b, -1, 1, 1).expand(shape)
        return df.transpose(0, 1).reshape(shape)


def conv_net(plan: ConvPlan, layout: FlatLayout, buffers: dict[str, torch.Tensor]) -> ConvNet:
    """The conv net of a plan: im2col + bmm for 1-D convolutions, grouped convolutions for 2-D ones."""
    first = plan.stages[0]
    assert isinstance(first, Conv)
    return (GroupedConvNet if len(first.kernel) == 2 else ConvNet)(plan, layout, buffers)
