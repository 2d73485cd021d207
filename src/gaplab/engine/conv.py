"""The conv fast path: K stacked conv nets (``cnn1d``, ``cnn2d``, ``resnet``, a user's conv ``nn.Sequential``) as
batched matrix products, with the backward pass written by hand straight into the pack's flat gradient table (as
engine.fused does for MLPs).

1-D nets keep activations channels-last (K, B, L, C) and run each convolution as an im2col (``unfold``) and one
``baddbmm`` over the K models; weight gradients are ``bmm``s of the saved columns, input gradients a ``bmm`` and one
strided add per kernel tap (col2im). 2-D nets keep activations as (B, K·C, H, W) and run each convolution as one
``groups = K`` convolution (PyTorch's kernels; im2col measured ≈ 4× slower there). Max pools are PyTorch's own
kernels (same maxima, same tie-breaking), batch norm is ``layers.BatchNorm``'s row-weighted statistics with the
running statistics updated per model, dropout masks are ``rng.uniform_stacked`` over PyTorch's channel-major order.
The numbers equal the vmap path's to float rounding. Which modules are planned: engine.convplan.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F

from gaplab import rng
from gaplab.engine.convplan import (
    CONV_MODELS,
    Conv,
    ConvPlan,
    Drop,
    MaxPool,
    Norm,
    Relu,
    Residual,
    Stage,
    conv_plan_of,
    why_not,
)
from gaplab.engine.flat import FlatLayout
from gaplab.engine.fused import act_backward, activate, dense_train_grad
from gaplab.engine.losses import data_loss_and_grad
from gaplab.engine.script import scripted
from gaplab.phases import phase
from gaplab.spec import RunSpec

__all__ = ["CONV_MODELS", "ConvNet", "ConvPlan", "GroupedConvNet", "conv_net", "conv_plan_of", "convs", "why_not"]


def convs(spec: RunSpec) -> bool:
    """Whether a run's model takes the conv path (gaplab's models by name; a user's model is built to know)."""
    from gaplab.models.user import is_user_name

    if is_user_name(spec.model.name):
        from gaplab.engine.paths import path_of

        return path_of(spec)[0] == "conv"
    return spec.model.name in CONV_MODELS


def out_shape(shape: tuple[int, ...], c: Conv) -> tuple[int, ...]:
    """Spatial output shape of a convolution on inputs of spatial ``shape``."""
    return tuple(conv_out(list(shape), list(c.kernel), list(c.stride), list(c.padding)))


# The functions below are written in the Python TorchScript compiles (engine.script): the 1-D layout's plain
# conv/ReLU chains run their whole step in ``conv_chain_train``; every other plan calls the same functions from Python.


def conv_out(spatial: list[int], kernel: list[int], stride: list[int], padding: list[int]) -> list[int]:
    """Spatial output shape of a convolution (kernel, stride, zero padding per spatial dimension)."""
    return [(spatial[i] + 2 * padding[i] - kernel[i]) // stride[i] + 1 for i in range(len(kernel))]


def im2col(h: torch.Tensor, kernel: list[int], stride: list[int], padding: list[int]) -> torch.Tensor:
    """Columns (..., B·∏out, ∏k·C) of a channels-last activation ``h`` (..., B, *spatial, C): tap-major, so the copy
    runs along contiguous channels (channel-major columns, as Conv's weight flattens, copied 3-20× slower)."""
    nd = len(kernel)
    pad: list[int] = [0, 0]
    padded = False
    for i in range(nd - 1, -1, -1):
        pad += [padding[i], padding[i]]
        padded = padded or padding[i] != 0
    cols = F.pad(h, pad) if padded else h
    first = h.dim() - 1 - nd  # the first spatial dim
    for d in range(nd):
        cols = cols.unfold(first + d, kernel[d], stride[d])  # (..., B, *out, C, *k)
    cols = cols.movedim(-nd - 1, -1)  # (..., B, *out, *k, C)
    m = 1
    for n in cols.shape[first - 1:first + nd]:
        m *= n
    return cols.reshape(list(h.shape[:first - 1]) + [m, -1])


def _im2col(h: torch.Tensor, c: Conv) -> torch.Tensor:
    return im2col(h, list(c.kernel), list(c.stride), list(c.padding))


def _weight_matrix(w: torch.Tensor) -> torch.Tensor:
    """Stacked conv weights (K, out, C, *k) as (K, out, ∏k·C), matching ``im2col``'s column order."""
    return w.movedim(2, -1).reshape(w.shape[0], w.shape[1], -1)


def _narrow(channels: int) -> bool:
    """Whether a product's output rows are narrow: MKL's bmm then runs 3-9x slower (K models, batch 100, one thread,
    2-10 output channels: benchmarks/conv_packs.py); from 16 channels on about as fast either way."""
    return channels < 16


def _weight_grad(col: torch.Tensor, dz: torch.Tensor, shape: list[int]) -> torch.Tensor:
    """d loss / d weight (K, out, C, *k) from the columns (K, M, ∏k·C) and output gradients (K, M, out).

    As colᵀ·dz (K, ∏k·C, out), transposed after (3-5× faster than dzᵀ·col in MKL's bmm from 16 channels on), or as
    dzᵀ·col (K, out, ∏k·C) when ``out`` is narrow and the columns wider (then 2-4× faster)."""
    k, out, ch, ks = shape[0], shape[1], shape[2], list(shape[3:])
    if _narrow(out) and out < col.shape[2]:
        return torch.bmm(dz.transpose(1, 2), col).view([k, out] + ks + [ch]).movedim(-1, 2)
    return torch.bmm(col.transpose(1, 2), dz).view([k] + ks + [ch, out]).movedim(-1, 1).movedim(-1, 2)


def col2im(dcol: torch.Tensor, kernel: list[int], stride: list[int], padding: list[int], b: int,
           spatial: list[int]) -> torch.Tensor:
    """The adjoint of ``im2col``: (K, B·∏out, ∏k·C) column gradients summed back into (K, B, *spatial, C), one
    strided add per kernel tap (taps in row-major order)."""
    k, nd = dcol.shape[0], len(kernel)
    outs = conv_out(spatial, kernel, stride, padding)
    taps = 1
    for n in kernel:
        taps *= n
    d = dcol.view([k, b] + outs + kernel + [dcol.shape[2] // taps])
    dx = dcol.new_zeros([k, b] + [spatial[i] + 2 * padding[i] for i in range(nd)] + [d.shape[-1]])
    for t in range(taps):
        js: list[int] = []
        rest = t
        for i in range(nd - 1, -1, -1):  # the last kernel dimension varies fastest
            js.insert(0, rest % kernel[i])
            rest = rest // kernel[i]
        dst, src = dx, d
        for i in range(nd):
            dst = torch.ops.aten.slice(dst, 2 + i, js[i], js[i] + stride[i] * (outs[i] - 1) + 1, stride[i])
            src = src.select(2 + nd, js[i])
        dst.add_(src)
    for i in range(nd):
        if padding[i] != 0:
            dx = dx.narrow(2 + i, padding[i], spatial[i])
    return dx


def _col2im(dcol: torch.Tensor, c: Conv, b: int, spatial: tuple[int, ...]) -> torch.Tensor:
    return col2im(dcol, list(c.kernel), list(c.stride), list(c.padding), b, list(spatial))


def conv_forward(a: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, kernel: list[int],
                 stride: list[int], padding: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One convolution of K models on channels-last activations (K, B, *S, C) as im2col + ``baddbmm``: the output
    (K, B, *out, out channels) and what its backward needs (the columns and the weight matrix)."""
    k, b = a.shape[0], a.shape[1]
    col, wm = im2col(a, kernel, stride, padding), _weight_matrix(weight)
    if _narrow(wm.shape[1]):  # few output channels: as wm·colᵀ (K, out, M), then copied channels-last (a
        # strided activation made the ReLU's backward 3x slower)
        z = (torch.bmm(wm, col.transpose(1, 2)) if bias is None
             else torch.baddbmm(bias.unsqueeze(2), wm, col.transpose(1, 2))).transpose(1, 2).contiguous()
    elif bias is None:
        z = torch.bmm(col, wm.transpose(1, 2))
    else:
        z = torch.baddbmm(bias.unsqueeze(1), col, wm.transpose(1, 2))
    return z.view([k, b] + conv_out(list(a.shape[2:-1]), kernel, stride, padding) + [z.shape[-1]]), col, wm


def conv_backward(dz: torch.Tensor, col: torch.Tensor, wm: torch.Tensor, gweight: torch.Tensor,
                  gbias: torch.Tensor | None, kernel: list[int], stride: list[int], padding: list[int],
                  spatial: list[int], need_dx: bool) -> torch.Tensor | None:
    """``conv_forward``'s backward: writes d loss / d weight (and bias) into ``gweight``/``gbias`` and returns d loss
    / d input (K, B, *spatial, C) when ``need_dx``."""
    k, b = dz.shape[0], dz.shape[1]
    dz = dz.reshape(k, -1, dz.shape[-1])
    gweight.copy_(_weight_grad(col, dz, list(gweight.shape)))
    if gbias is not None:
        gbias.copy_(dz.sum(1))
    if need_dx:
        return col2im(torch.bmm(dz, wm), kernel, stride, padding, b, spatial)
    return None


def reduce_cl(a: torch.Tensor, avg: bool) -> torch.Tensor:
    """Channels-last activations (K, B, *S, C) → features (K, B, F): global average, or flatten in PyTorch's
    channel-major order."""
    if avg:
        return a.mean(dim=list(range(2, a.dim() - 1)))
    return a.movedim(-1, 2).reshape(a.shape[0], a.shape[1], -1)


def reduce_cl_backward(df: torch.Tensor, shape: list[int], avg: bool) -> torch.Tensor:
    """``reduce_cl``'s backward to activations of ``shape``."""
    if avg:
        n = 1
        for m in shape[2:-1]:
            n *= m
        return (df / n).view([shape[0], shape[1]] + [1] * (len(shape) - 3) + [shape[-1]]).expand(shape)
    return df.view([shape[0], shape[1], shape[-1]] + shape[2:-1]).movedim(2, -1)


def conv_chain_train(x: torch.Tensor, target: torch.Tensor, w: torch.Tensor, weights: list[torch.Tensor],
                     biases: list[torch.Tensor | None], gweights: list[torch.Tensor],
                     gbiases: list[torch.Tensor | None], kernels: list[list[int]], strides: list[list[int]],
                     paddings: list[list[int]], relus: list[bool], avg: bool, dense_w: list[torch.Tensor],
                     dense_b: list[torch.Tensor], dense_gw: list[torch.Tensor], dense_gb: list[torch.Tensor],
                     acts: list[str], kind: str) -> torch.Tensor:
    """A whole training step of a plain chain — convolutions, each optionally followed by a ReLU, a reduce, dense
    layers — on channels-last inputs ``x`` (K, B, *S, C), in one function TorchScript compiles (engine.script):
    the same kernels in the same order as ``ConvNet``'s Python stages, without the interpreter between them. Writes
    the gradients into the ``g*`` views of the pack's gradient table; returns the per-model data losses (K,)."""
    a = x
    cols: list[torch.Tensor] = []
    wms: list[torch.Tensor] = []
    ins: list[list[int]] = []
    outs: list[torch.Tensor] = []
    for i in range(len(weights)):
        ins.append(list(a.shape[2:-1]))
        a, col, wm = conv_forward(a, weights[i], biases[i], kernels[i], strides[i], paddings[i])
        if relus[i]:
            a = torch.relu_(a)
        cols.append(col)
        wms.append(wm)
        outs.append(a)
    none: list[torch.Tensor | None] = [None for _ in acts]
    h = reduce_cl(a, avg)
    loss, dh = dense_train_grad(h, target, w, dense_w, dense_b, dense_gw, dense_gb, acts, [False for _ in acts],
                                none, none, kind, True)
    assert dh is not None
    last = len(weights) - 1
    flat_relu = relus[last] and not avg
    if flat_relu:  # the last ReLU's backward on the flattened features: the same elements as a contiguous pair,
        # instead of the features' channel-major view against channels-last activations
        dh = torch.ops.aten.threshold_backward(dh, h, 0)
    d: torch.Tensor | None = reduce_cl_backward(dh, list(a.shape), avg)
    for i in range(last, -1, -1):
        assert d is not None
        if relus[i] and not (i == last and flat_relu):
            d = torch.ops.aten.threshold_backward(d, outs[i], 0)
        d = conv_backward(d, cols[i], wms[i], gweights[i], gbiases[i], kernels[i], strides[i], paddings[i], ins[i],
                          i > 0)
    return loss


def _walk(stages: tuple[Stage, ...], spatial: tuple[int, ...], channels: int,
          seen: list[tuple[Conv, tuple[int, ...], tuple[int, ...]]]) -> tuple[tuple[int, ...], int]:
    """Spatial shape and channels after ``stages``; appends (conv, its input spatial shape, its output's) to
    ``seen`` in order, residual bodies included."""
    for st in stages:
        if isinstance(st, Conv):
            out = out_shape(spatial, st)
            seen.append((st, spatial, out))
            spatial = out
        elif isinstance(st, MaxPool):
            spatial = tuple(n // st.size for n in spatial)
        elif isinstance(st, Residual):
            spatial, channels = _walk(st.body, spatial, channels, seen)
    return spatial, channels


class ConvNet:
    """Forward and hand-written backward of a ConvPlan over a flat (K, P) parameter table.

    This class holds the 1-D layout (channels-last activations (K, B, *S, C), im2col + ``baddbmm``);
    ``GroupedConvNet`` the 2-D one."""

    # A training chunk's activations stay under this (loss_and_grad). Measured (one SGD step, batch 100, one thread,
    # CPU time user + system): a whole pack of 48 cnn1d at 64 channels 275 ms, in chunks of 16 MB 208, 8 MB 231;
    # 48 cnn2d at 32 channels 941 / 573 ms whole / 4 MB chunks, 32 2-D resnets at 16 channels 1469 / 599 ms —
    # most of a whole pack's extra time is the kernel mapping and zeroing fresh pages for its large tensors.
    CHUNK_BYTES = 16 << 20

    def __init__(self, plan: ConvPlan, layout: FlatLayout, buffers: dict[str, torch.Tensor]) -> None:
        self.plan, self.layout, self.buffers = plan, layout, buffers
        # each dropout site acts where some model of the pack drops out, read from the stacked rates, not the specs:
        # a user's model keeps the rates its code sets (as vmapnet.StepContext decides)
        sites = [s.prefix for s in self._all(plan.stages) if isinstance(s, Drop)]
        sites += [d for d in (plan.drop, *(layer.drop for layer in plan.dense)) if d is not None]
        self.active = {s: bool((buffers[f"{s}.p"] > 0).any()) for s in sites}
        self.seen: list[tuple[Conv, tuple[int, ...], tuple[int, ...]]] = []
        _walk(plan.stages, plan.in_shape[1:], plan.in_shape[0], self.seen)
        col_width, acts = 0, 0
        for st, sp_in, sp_out in self.seen:
            out, c_in = layout.shapes[st.weight][:2]
            col_width = max(col_width, math.prod(sp_out) * c_in * math.prod(st.kernel))
            acts = max(acts, math.prod(sp_in) * c_in, math.prod(sp_out) * out)
        self.acts = acts
        self.floats_per_example = col_width + 3 * acts  # the largest columns and activations of one example
        self.chunk_bytes = self.CHUNK_BYTES
        self.chain = self._chain()

    def _chain(self) -> tuple[list[Conv], list[bool]] | None:
        """The convolutions and whether a ReLU follows each, where the plan is a plain chain the scripted step
        (``conv_chain_train``) runs: 1-D, convolutions each optionally followed by a ReLU, no dropout acting, no
        pooling, norm or residual block; else None (the stages then run one by one in Python)."""
        if self.plan.dims != 1 or any(self.active.values()):
            return None
        convs_: list[Conv] = []
        relus: list[bool] = []
        for st in self.plan.stages:
            if isinstance(st, Conv):
                convs_.append(st)
                relus.append(False)
            elif isinstance(st, Relu) and relus and not relus[-1]:
                relus[-1] = True
            elif not isinstance(st, Drop):  # an inactive dropout is the identity
                return None
        return (convs_, relus) if convs_ and isinstance(self.plan.stages[0], Conv) else None

    @staticmethod
    def _all(stages: tuple[Stage, ...]) -> list[Stage]:
        out: list[Stage] = []
        for st in stages:
            out += ConvNet._all(st.body) if isinstance(st, Residual) else [st]
        return out

    def macs_per_example(self) -> int:
        """Multiply-adds of one forward pass (convolutions and dense layers): what the pack's thread policy weighs."""
        total = sum(math.prod(sp) * math.prod(self.layout.shapes[st.weight]) for st, _, sp in self.seen)
        return total + sum(math.prod(self.layout.shapes[d.weight]) for d in self.plan.dense)

    # ---- layout-specific parts (channels-last, im2col) ------------------------------------------------------------
    def _input(self, x: torch.Tensor) -> torch.Tensor:
        """Training inputs (K, B, ...) in this net's activation layout."""
        return x.reshape(*x.shape[:2], *self.plan.in_shape).movedim(2, -1)

    def _cm(self, a: torch.Tensor, k: int) -> torch.Tensor:
        """Activations as a channel-major (K, B, C, *S) view."""
        return a.movedim(-1, 2)

    def _from_cm(self, t: torch.Tensor) -> torch.Tensor:
        """The inverse of ``_cm``: a (K, B, C, *S) tensor in this layout."""
        return t.movedim(2, -1)

    def _first_shared(self, p: dict[str, torch.Tensor], x: torch.Tensor, first: Conv) -> torch.Tensor:
        """The first convolution of every model on shared inputs ``x`` (N, ...): one GEMM for all K models."""
        n = x.shape[0]
        h = x.reshape(n, *self.plan.in_shape).movedim(1, -1)  # (N, *S, C)
        w0 = _weight_matrix(p[first.weight])
        k, cout = w0.shape[0], w0.shape[1]
        z = torch.mm(_im2col(h, first), w0.reshape(k * cout, -1).t()).view(-1, k, cout).transpose(0, 1)
        if first.bias is not None:
            z = z + p[first.bias].unsqueeze(1)
        return z.reshape(k, n, *out_shape(h.shape[1:-1], first), cout)

    def _conv(self, p: dict[str, torch.Tensor], a: torch.Tensor, st: Conv, saved: list | None) -> torch.Tensor:
        z, col, wm = conv_forward(a, p[st.weight], None if st.bias is None else p[st.bias], list(st.kernel),
                                  list(st.stride), list(st.padding))
        if saved is not None:
            saved.append((col, wm, list(a.shape[2:-1])))
        return z

    def _conv_backward(self, g: dict[str, torch.Tensor], dz: torch.Tensor, st: Conv, saved: tuple,
                       need_dx: bool) -> torch.Tensor | None:
        col, wm, spatial = saved
        return conv_backward(dz, col, wm, g[st.weight], None if st.bias is None else g[st.bias], list(st.kernel),
                             list(st.stride), list(st.padding), spatial, need_dx)

    def _pool(self, a: torch.Tensor, st: MaxPool, saved: list | None) -> torch.Tensor:
        # (K, B, L, C) as a channels_last (K·B, C, 1, L) image: PyTorch's 2-D max pool kernel over windows (1, s)
        k, b, length, c = a.shape
        x4 = a.reshape(k * b, 1, length, c).permute(0, 3, 1, 2)
        out, idx = torch.ops.aten.max_pool2d_with_indices(x4, [1, st.size], [1, st.size])
        if saved is not None:
            saved.append((x4, idx))
        return out.permute(0, 2, 3, 1).reshape(k, b, -1, c)

    def _pool_backward(self, dh: torch.Tensor, st: MaxPool, saved: tuple) -> torch.Tensor:
        x4, idx = saved
        k, b, length, c = dh.shape
        d4 = dh.reshape(k * b, 1, length, c).permute(0, 3, 1, 2)
        dx = torch.ops.aten.max_pool2d_with_indices_backward(d4, x4, [1, st.size], [1, st.size], [0, 0], [1, 1],
                                                             False, idx)
        return dx.permute(0, 2, 3, 1).reshape(k, b, -1, c)

    def _reduce(self, a: torch.Tensor) -> torch.Tensor:
        """Activations → features (K, B, F): global average, or flatten in PyTorch's channel-major order."""
        return reduce_cl(a, self.plan.reduce == "avg")

    def _reduce_backward(self, df: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        return reduce_cl_backward(df, list(shape), self.plan.reduce == "avg")

    # ---- shared by both layouts: batch norm, dropout, ReLU, residual blocks ---------------------------------------
    def _norm(self, p: dict[str, torch.Tensor], a: torch.Tensor, st: Norm, w: torch.Tensor | None,
              saved: list | None) -> torch.Tensor:
        """layers.BatchNorm on every model: training (``w`` the (K, B) row weights) or evaluation (``w`` None)."""
        k = self.buffers[f"{st.prefix}.running_mean"].shape[0]
        x = self._cm(a, k)  # (K, B, C, *S)
        shape = (k, 1, -1) + (1,) * (x.dim() - 3)
        if w is None:
            y = (x - self.buffers[f"{st.prefix}.running_mean"].view(shape)) * (
                self.buffers[f"{st.prefix}.running_var"] + st.eps).rsqrt().view(shape)
        else:
            red = [1, *range(3, x.dim())]
            wv = w.to(x.dtype).view(k, -1, *([1] * (x.dim() - 2)))
            n = w.sum(1) * math.prod(x.shape[3:])  # (K,)
            mean = (x * wv).sum(red) / n.unsqueeze(1)
            xc = x - mean.view(shape)
            var = (xc * xc * wv).sum(red) / n.unsqueeze(1)
            self._update_stats(st, mean, var * (n / (n - 1).clamp_min(1)).unsqueeze(1))
            r = (var + st.eps).rsqrt()
            y = xc * r.view(shape)
            if saved is not None:
                saved.append((y, r, wv, n))  # y is x̂ here: the affine map below makes a new tensor
        if st.affine:
            y = y * p[f"{st.prefix}.weight"].view(shape) + p[f"{st.prefix}.bias"].view(shape)
        elif w is not None:
            y = y.clone()  # x̂ is saved; a ReLU after works in place
        return self._from_cm(y)

    def _update_stats(self, st: Norm, mean: torch.Tensor, unbiased_var: torch.Tensor) -> None:
        """torch.nn.modules.batchnorm._BatchNorm.forward's update, per model: momentum None is a cumulative average."""
        nbt = self.buffers[f"{st.prefix}.num_batches_tracked"]
        nbt.add_(1)
        f: float | torch.Tensor = st.momentum if st.momentum is not None else (1.0 / nbt.to(mean.dtype)).unsqueeze(1)
        self.buffers[f"{st.prefix}.running_mean"].mul_(1 - f).add_(mean * f)
        self.buffers[f"{st.prefix}.running_var"].mul_(1 - f).add_(unbiased_var * f)

    def _norm_backward(self, p: dict[str, torch.Tensor], g: dict[str, torch.Tensor], dh: torch.Tensor, st: Norm,
                       saved: tuple) -> torch.Tensor:
        xhat, r, wv, n = saved
        k = r.shape[0]
        dy = self._cm(dh, k)
        shape = (k, 1, -1) + (1,) * (dy.dim() - 3)
        red = [1, *range(3, dy.dim())]
        if st.affine:
            g[f"{st.prefix}.weight"].copy_((dy * xhat).sum(red))
            g[f"{st.prefix}.bias"].copy_(dy.sum(red))
            dy = dy * p[f"{st.prefix}.weight"].view(shape)
        # x̂ = (x − μ)·r with weighted μ, σ²: dx = r·(dx̂ − w/n·(Σ dx̂ + x̂·Σ dx̂·x̂))
        s1 = dy.sum(red).view(shape)
        s2 = (dy * xhat).sum(red).view(shape)
        dx = (dy - wv / n.view(k, *([1] * (dy.dim() - 1))) * (s1 + xhat * s2)) * r.view(shape)
        return self._from_cm(dx)

    def _drop(self, a: torch.Tensor, st: Drop, counter: torch.Tensor, saved: list | None) -> torch.Tensor:
        """As models.layers.Dropout on each model's (B, C, *S) activations: x · keep / (1 − p), with one draw per
        element, or per (example, channel) for channel dropout."""
        p = self.buffers[f"{st.prefix}.p"]
        k = p.shape[0]
        x = self._cm(a, k)
        shape = tuple(x.shape[1:3]) + (1,) * (x.dim() - 3) if st.channel else tuple(x.shape[1:])
        with phase("dropout masks"):
            keep = (rng.uniform_stacked(self.buffers[f"{st.prefix}.key"], counter, shape)
                    >= p.view(k, *([1] * (x.dim() - 1)))).to(x.dtype)
        share = (1.0 - p.view(k, *([1] * (x.dim() - 1)))).clamp_min(1e-12)
        if saved is not None:
            saved.append((keep, share))
        return self._from_cm(x * keep / share)

    def _drop_backward(self, dh: torch.Tensor, saved: tuple) -> torch.Tensor:
        keep, share = saved
        return self._from_cm(self._cm(dh, keep.shape[0]) / share * keep)

    def _stages(self, p: dict[str, torch.Tensor], a: torch.Tensor, stages: tuple[Stage, ...], saved: list | None,
                counter: torch.Tensor | None, w: torch.Tensor | None) -> torch.Tensor:
        """Run ``stages`` on activations ``a``: training with ``saved`` (what each stage's backward needs, one entry
        per stage) and ``counter``/``w``, evaluation without."""
        for st in stages:
            if isinstance(st, Conv):
                a = self._conv(p, a, st, saved)
            elif isinstance(st, Relu):
                a = self._relu(a, saved)
            elif isinstance(st, MaxPool):
                a = self._pool(a, st, saved)
            elif isinstance(st, Norm):
                a = self._norm(p, a, st, w, saved)
            elif isinstance(st, Drop):
                a = self._drop_stage(a, st, counter, saved)
            else:
                inner: list | None = [] if saved is not None else None
                a = a + self._stages(p, a, st.body, inner, counter, w)
                if saved is not None:
                    saved.append(inner)
        return a

    @staticmethod
    def _relu(a: torch.Tensor, saved: list | None) -> torch.Tensor:
        a = torch.relu_(a)  # every stage before a ReLU made a new tensor (convplan: the first is a conv)
        if saved is not None:
            saved.append(a)
        return a

    def _drop_stage(self, a: torch.Tensor, st: Drop, counter: torch.Tensor | None, saved: list | None) -> torch.Tensor:
        """Dropout while training with it active; otherwise the identity (a None keeps ``saved`` one per stage)."""
        if counter is not None and self.active[st.prefix]:
            return self._drop(a, st, counter, saved)
        if saved is not None:
            saved.append(None)
        return a

    def _backward_stages(self, p: dict[str, torch.Tensor], g: dict[str, torch.Tensor], dh: torch.Tensor,
                         stages: tuple[Stage, ...], saved: list, top: bool) -> torch.Tensor | None:
        """d loss / d input of ``stages`` from d loss / d output; parameter gradients written into ``g``. The net's
        very first convolution (``top``, index 0) computes no input gradient."""
        d: torch.Tensor | None = dh
        for i in range(len(stages) - 1, -1, -1):
            st, sv = stages[i], saved[i]
            assert d is not None
            if isinstance(st, Conv):
                d = self._conv_backward(g, d, st, sv, not (top and i == 0))
            elif isinstance(st, Relu):
                d = torch.ops.aten.threshold_backward(d, sv, 0)
            elif isinstance(st, MaxPool):
                d = self._pool_backward(d, st, sv)
            elif isinstance(st, Norm):
                d = self._norm_backward(p, g, d, st, sv)
            elif isinstance(st, Drop):
                if sv is not None:
                    d = self._drop_backward(d, sv)
            else:
                body = self._backward_stages(p, g, d, st.body, sv, False)
                assert body is not None
                d = d + body
        return d

    # ---- the dense tail and the whole net -------------------------------------------------------------------------
    def _dense_mask(self, prefix: str | None, shape: tuple[int, ...], counter: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(keep mask, kept share) of a dropout site on (K, B, F) features, or None when it does not act."""
        if prefix is None or not self.active[prefix]:
            return None
        p = self.buffers[f"{prefix}.p"].view(-1, 1, 1)
        with phase("dropout masks"):
            keep = (rng.uniform_stacked(self.buffers[f"{prefix}.key"], counter, shape[1:]) >= p).to(torch.float32)
        return keep, (1.0 - p).clamp_min(1e-12)

    @torch.no_grad()
    def forward(self, flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Outputs (K, N, C) in evaluation mode (no dropout); ``x`` (N, ...) is shared by every model.

        In chunks of rows whose columns and activations stay near 32 MB (a 4096-row chunk of 16 models takes GBs)."""
        k = flat.shape[0]
        rows = max(1, (8 << 20) // max(1, k * self.floats_per_example))
        return torch.cat([self._forward(flat, x[i:i + rows]) for i in range(0, x.shape[0], rows)], dim=1)

    def _forward(self, flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        p = self.layout.views(flat)
        first = self.plan.stages[0]
        assert isinstance(first, Conv)
        h = self._reduce(self._stages(p, self._first_shared(p, x, first), self.plan.stages[1:], None, None, None))
        for layer in self.plan.dense:
            h = torch.baddbmm(p[layer.bias].unsqueeze(1), h, p[layer.weight].transpose(1, 2))
            if layer.act is not None:
                h = activate(h, layer.act)
        return h

    def models_per_chunk(self, batch: int) -> int:
        """Models whose training step runs at once: a step's activations of ``chunk_bytes`` at most."""
        return max(1, self.chunk_bytes // max(1, 4 * batch * self.floats_per_example))

    @torch.no_grad()
    def loss_and_grad(self, flat: torch.Tensor, grad: torch.Tensor, x: torch.Tensor, target: torch.Tensor,
                      w: torch.Tensor, kind: str, counter: torch.Tensor) -> torch.Tensor:
        """One training forward + backward on inputs ``x`` (K, B, ...); writes d loss / d params into ``grad``
        (K, P), moves the running statistics, and returns the per-model data losses (K,).

        A large pack runs in chunks of models (``models_per_chunk``): every model's numbers are its own, so they do
        not change, and a chunk's tensors stay small enough to be reused by the allocator instead of being mapped
        and zeroed by the kernel at every step (measured in benchmarks/conv_packs.py)."""
        k, per = flat.shape[0], self.models_per_chunk(x.shape[1])
        if per >= k:
            return self._loss_and_grad(flat, grad, x, target, w, kind, counter)
        losses = []
        for i in range(0, k, per):
            sub = copy.copy(self)
            sub.buffers = {n: b[i:i + per] for n, b in self.buffers.items()}  # views: statistics move in place
            losses.append(sub._loss_and_grad(flat[i:i + per], grad[i:i + per], x[i:i + per], target[i:i + per],
                                             w[i:i + per], kind, counter[i:i + per]))
        return torch.cat(losses)

    def _loss_and_grad(self, flat: torch.Tensor, grad: torch.Tensor, x: torch.Tensor, target: torch.Tensor,
                       w: torch.Tensor, kind: str, counter: torch.Tensor) -> torch.Tensor:
        p, g = self.layout.views(flat), self.layout.views(grad)
        plan = self.plan
        if self.chain is not None and type(self) is ConvNet:
            convs_, relus = self.chain
            dense = plan.dense
            with phase("forward"):  # forward and backward in one scripted call, as engine.fused
                return scripted(conv_chain_train)(
                    self._input(x), target, w, [p[c.weight] for c in convs_],
                    [None if c.bias is None else p[c.bias] for c in convs_], [g[c.weight] for c in convs_],
                    [None if c.bias is None else g[c.bias] for c in convs_], [list(c.kernel) for c in convs_],
                    [list(c.stride) for c in convs_], [list(c.padding) for c in convs_], relus,
                    plan.reduce == "avg", [p[d.weight] for d in dense], [p[d.bias] for d in dense],
                    [g[d.weight] for d in dense], [g[d.bias] for d in dense],
                    [d.act or "" for d in dense[:-1]], kind)
        with phase("forward"):
            saved: list = []
            a = self._stages(p, self._input(x), plan.stages, saved, counter, w)
            h = self._reduce(a)
            masks = [self._dense_mask(plan.drop, tuple(h.shape), counter)]
            if masks[0] is not None:
                h = h * masks[0][0] / masks[0][1]  # as models.layers.Dropout: x · keep / (1 − p)
            dense_saved = []  # per hidden layer: (its input, z, activation)
            for layer in plan.dense[:-1]:
                assert layer.act is not None
                z = torch.baddbmm(p[layer.bias].unsqueeze(1), h, p[layer.weight].transpose(1, 2))
                act = activate(z, layer.act)
                dense_saved.append((h, z, act))
                m = self._dense_mask(layer.drop, tuple(act.shape), counter)
                masks.append(m)
                h = act if m is None else act * m[0] / m[1]
            head = plan.dense[-1]
            out_t = torch.baddbmm(p[head.bias].unsqueeze(2), p[head.weight], h.transpose(1, 2))  # class-first
            loss, dz_t = data_loss_and_grad(out_t, target, w, kind)
        with phase("backward"):
            g[head.weight].copy_(torch.bmm(dz_t, h))
            g[head.bias].copy_(dz_t.sum(2))
            dh = torch.bmm(dz_t.transpose(1, 2), p[head.weight])  # (K, B, F)
            for i in range(len(dense_saved) - 1, -1, -1):
                layer, (h_in, z, act), m = plan.dense[i], dense_saved[i], masks[i + 1]
                assert layer.act is not None
                if m is not None:
                    dh = dh / m[1] * m[0]
                dz = act_backward(dh, z, act, layer.act)
                g[layer.weight].copy_(torch.bmm(dz.transpose(1, 2), h_in))
                g[layer.bias].copy_(dz.sum(1))
                dh = torch.bmm(dz, p[layer.weight])
            if masks[0] is not None:
                dh = dh / masks[0][1] * masks[0][0]
            self._backward_stages(p, g, self._reduce_backward(dh, a.shape), plan.stages, saved, True)
        return loss


# 2-D activations and filters are kept channels-last: oneDNN's grouped convolution then runs 1.5-2x faster forward and
# backward at 32 channels, 4x at the first layer's one input channel (benchmarks/conv_packs.py, one thread)
CL = torch.channels_last


class GroupedConvNet(ConvNet):
    """A 2-D ConvPlan with activations (B, K·C, H, W) in channels-last memory: each convolution one ``groups = K``
    convolution (PyTorch's kernels, backward by ``convolution_backward``), pools PyTorch's max pool over all K·C
    channels at once."""

    # with freed memory reused (engine.memory), 16 MB chunks beat 4 MB ones: 14 digits CNNs at 32 channels 171 -> 150
    # ms per step, at 8 channels 38 -> 34 ms (one thread; 64 MB: the same as 16)
    CHUNK_BYTES = 16 << 20
    SHARED_GEMM = True

    def __init__(self, plan: ConvPlan, layout: FlatLayout, buffers: dict[str, torch.Tensor]) -> None:
        super().__init__(plan, layout, buffers)
        self.floats_per_example = 3 * self.acts  # no im2col columns

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        k, b = x.shape[0], x.shape[1]
        a = x.reshape(k, b, *self.plan.in_shape).transpose(0, 1).reshape(b, -1, *self.plan.in_shape[1:])
        return a.contiguous(memory_format=CL)

    def _cm(self, a: torch.Tensor, k: int) -> torch.Tensor:
        return a.reshape(a.shape[0], k, -1, *a.shape[2:]).transpose(0, 1)

    def _from_cm(self, t: torch.Tensor) -> torch.Tensor:
        return t.transpose(0, 1).reshape(t.shape[1], -1, *t.shape[3:])

    def _first_shared(self, p: dict[str, torch.Tensor], x: torch.Tensor, first: Conv) -> torch.Tensor:
        w = p[first.weight]
        if w.shape[2] == 1 and self.SHARED_GEMM:
            # one input channel: im2col + one GEMM for all K models' filters, whose (N·H·W, K·C) output is already
            # the channels-last layout; oneDNN ran this convolution 3-8x slower at 4-14 digits CNNs (one thread)
            h = x.reshape(x.shape[0], *self.plan.in_shape).movedim(1, -1)  # (N, H, W, 1)
            wm = _weight_matrix(w).reshape(-1, math.prod(first.kernel))
            col = _im2col(h, first)
            z = torch.mm(col, wm.t()) if first.bias is None else torch.addmm(p[first.bias].reshape(-1), col, wm.t())
            return z.view(x.shape[0], *out_shape(h.shape[1:-1], first), -1).permute(0, 3, 1, 2)
        # shared inputs: one ungrouped convolution with all K models' filters stacked
        return F.conv2d(x.reshape(x.shape[0], *self.plan.in_shape).contiguous(memory_format=CL),
                        w.reshape(-1, *w.shape[2:]).contiguous(memory_format=CL),
                        None if first.bias is None else p[first.bias].reshape(-1), first.stride,
                        first.padding).contiguous(memory_format=CL)

    def _conv(self, p: dict[str, torch.Tensor], a: torch.Tensor, st: Conv, saved: list | None) -> torch.Tensor:
        w = p[st.weight]
        k = w.shape[0]
        wg = w.reshape(-1, *w.shape[2:]).contiguous(memory_format=CL)
        z = F.conv2d(a, wg, None if st.bias is None else p[st.bias].reshape(-1), st.stride, st.padding, groups=k)
        z = z.contiguous(memory_format=CL)  # on one input channel oneDNN answers channel-major
        if saved is not None:
            saved.append((a, wg))
        return z

    def _conv_backward(self, g: dict[str, torch.Tensor], dz: torch.Tensor, st: Conv, saved: tuple,
                       need_dx: bool) -> torch.Tensor | None:
        a, wg = saved
        k = g[st.weight].shape[0]
        dx, dw, db = torch.ops.aten.convolution_backward(dz, a, wg, [wg.shape[0]], list(st.stride),
                                                         list(st.padding), [1, 1], False, [0, 0], k,
                                                         [need_dx, True, st.bias is not None])
        g[st.weight].copy_(dw.view(g[st.weight].shape))
        if st.bias is not None:
            g[st.bias].copy_(db.view(k, -1))
        return dx

    def _pool(self, a: torch.Tensor, st: MaxPool, saved: list | None) -> torch.Tensor:
        out, idx = torch.ops.aten.max_pool2d_with_indices(a, [st.size] * 2, [st.size] * 2)
        if saved is not None:
            saved.append((a, idx))
        return out

    def _pool_backward(self, dh: torch.Tensor, st: MaxPool, saved: tuple) -> torch.Tensor:
        a, idx = saved
        s = [st.size] * 2
        return torch.ops.aten.max_pool2d_with_indices_backward(dh, a, s, s, [0, 0], [1, 1], False, idx)

    def _reduce(self, a: torch.Tensor) -> torch.Tensor:
        """(B, K·C, H, W) → features (K, B, F), flattened per model in PyTorch's channel-major order."""
        b, k = a.shape[0], self._models(a)
        if self.plan.reduce == "avg":
            return a.mean(dim=(2, 3)).view(b, k, -1).transpose(0, 1)
        return a.reshape(b, k, -1).transpose(0, 1)

    def _models(self, a: torch.Tensor) -> int:
        """Models in the pack, read from an activation's channels and the last convolution's output channels."""
        return a.shape[1] // self.layout.shapes[self.seen[-1][0].weight][0]

    def _reduce_backward(self, df: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        b = shape[0]
        if self.plan.reduce == "avg":
            n = shape[2] * shape[3]
            return (df / n).transpose(0, 1).reshape(b, -1, 1, 1).expand(shape).contiguous(memory_format=CL)
        return df.transpose(0, 1).reshape(shape).contiguous(memory_format=CL)


def conv_net(plan: ConvPlan, layout: FlatLayout, buffers: dict[str, torch.Tensor]) -> ConvNet:
    """The conv net of a plan: im2col + bmm for 1-D convolutions, grouped convolutions for 2-D ones."""
    return (GroupedConvNet if plan.dims == 2 else ConvNet)(plan, layout, buffers)
