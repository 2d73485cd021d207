"""The conv fast path: K stacked 1-D conv nets (gaplab's ``cnn1d``) as batched matrix products.

Each convolution is an im2col (``unfold`` of a channels-last activation) and one ``baddbmm`` over the K models, so a
pack's convolutions run as K large GEMMs instead of a vmapped (grouped) convolution; the backward pass is written by
hand, straight into the pack's flat gradient table (as engine.fused does for MLPs): weight gradients are ``bmm``s of
the saved columns, input gradients a ``bmm`` and one strided add per kernel tap (col2im). The numbers equal the vmap
path's to float rounding: same layers, same dropout masks (``rng.uniform_stacked`` over the flattened features in
PyTorch's channel-major order), same padding of narrow models.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gaplab import rng
from gaplab.engine.flat import FlatLayout
from gaplab.engine.losses import data_loss_and_grad
from gaplab.models.cnn import CNN1d
from gaplab.models.layers import Dropout
from gaplab.phases import phase
from gaplab.spec import RunSpec


@dataclass(frozen=True)
class Conv:
    """One Conv1d + ReLU: parameter names and its kernel, stride and zero padding."""

    weight: str
    bias: str
    kernel: int
    stride: int
    padding: int


@dataclass(frozen=True)
class ConvPlan:
    """A stack of Conv1d+ReLU, flatten, optional dropout, Linear head — read from a module tree."""

    in_shape: tuple[int, int]  # (channels, length) of one example
    convs: tuple[Conv, ...]
    drop: str | None  # buffer prefix of the Dropout on the flattened features
    head: tuple[str, str]  # (weight, bias)


CONV_MODELS = ("cnn1d",)


def convs(spec: RunSpec) -> bool:
    """Whether a run's model takes the conv path (planning's guess, without building it; ``conv_plan_of`` decides)."""
    return spec.model.name in CONV_MODELS


def _conv_of(m: nn.Module, name: str) -> Conv | None:
    if (not isinstance(m, nn.Conv1d) or m.groups != 1 or m.dilation != (1,) or m.bias is None
            or m.padding_mode != "zeros" or not isinstance(m.padding, tuple)):
        return None
    return Conv(f"{name}.weight", f"{name}.bias", m.kernel_size[0], m.stride[0], m.padding[0])


def conv_plan_of(base: nn.Module) -> ConvPlan | None:
    """The conv plan of a ``cnn1d`` model, or None when its layers are not exactly Conv1d+ReLU blocks."""
    if not isinstance(base, CNN1d) or not isinstance(base.drop, Dropout) or base.drop.kind != "element":
        return None
    mods = list(base.features)
    if len(mods) < 3 or len(mods) % 2 != 1 or not isinstance(mods[-1], nn.Flatten) or mods[-1].start_dim != 1:
        return None
    layers = []
    for i in range(0, len(mods) - 1, 2):
        c = _conv_of(mods[i], f"features.{i}")
        if c is None or type(mods[i + 1]) is not nn.ReLU:
            return None
        layers.append(c)
    c_in, length = base.in_shape
    return ConvPlan((int(c_in), int(length)), tuple(layers), "drop", ("head.weight", "head.bias"))


def _im2col(h: torch.Tensor, c: Conv) -> torch.Tensor:
    """Columns (..., B·L_out, k·C) of a channels-last activation ``h`` (..., B, L, C): tap-major, so the copy runs
    along contiguous channels (channel-major columns, as Conv1d's weight flattens, copied 3-20× slower)."""
    hp = F.pad(h, (0, 0, c.padding, c.padding)) if c.padding else h
    cols = hp.unfold(-2, c.kernel, c.stride).transpose(-1, -2)  # (..., B, L_out, k, C)
    return cols.reshape(*h.shape[:-3], h.shape[-3] * cols.shape[-3], h.shape[-1] * c.kernel)


def _weight_matrix(w: torch.Tensor) -> torch.Tensor:
    """Stacked Conv1d weights (K, out, C, k) as (K, out, k·C), matching ``_im2col``'s column order."""
    return w.transpose(2, 3).reshape(w.shape[0], w.shape[1], -1)


def _weight_grad(col: torch.Tensor, dz: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """d loss / d weight (K, out, C, k) from the columns (K, M, k·C) and output gradients (K, M, out).

    As colᵀ·dz (K, k·C, out), transposed after: the same product as dzᵀ·col but 3-5× faster in MKL's bmm here."""
    k, out, ch, kern = shape
    return torch.bmm(col.transpose(1, 2), dz).view(k, kern, ch, out).permute(0, 3, 2, 1)


def out_length(length: int, c: Conv) -> int:
    return (length + 2 * c.padding - c.kernel) // c.stride + 1


def _col2im(dcol: torch.Tensor, c: Conv, b: int, length: int) -> torch.Tensor:
    """The adjoint of ``_im2col``: (K, B·L_out, k·C) column gradients summed back into (K, B, L, C)."""
    k = dcol.shape[0]
    lout = dcol.shape[1] // b
    ch = dcol.shape[2] // c.kernel
    d = dcol.view(k, b, lout, c.kernel, ch)
    dx = dcol.new_zeros(k, b, length + 2 * c.padding, ch)
    span = c.stride * (lout - 1) + 1
    for j in range(c.kernel):  # one strided add per kernel tap
        dx[:, :, j:j + span:c.stride].add_(d[:, :, :, j])
    return dx[:, :, c.padding:c.padding + length] if c.padding else dx


class ConvNet:
    """Forward and hand-written backward of a ConvPlan over a flat (K, P) parameter table."""

    def __init__(self, plan: ConvPlan, layout: FlatLayout, buffers: dict[str, torch.Tensor]) -> None:
        self.plan, self.layout, self.buffers = plan, layout, buffers
        # read from the stacked rates, not the specs: a user's model keeps the rates its code sets
        drop = plan.drop
        self.dropout_on = drop is not None and bool((buffers[f"{drop}.p"] > 0).any())
        lengths = [plan.in_shape[1]]
        for c in plan.convs:
            lengths.append(out_length(lengths[-1], c))
        self.lengths = lengths

    def _features(self, z: torch.Tensor, b: int) -> torch.Tensor:
        """Channels-last (K, B·L, C) → flattened (K, B, C·L) in PyTorch's channel-major order."""
        k, _, ch = z.shape
        return z.view(k, b, -1, ch).transpose(2, 3).reshape(k, b, -1)

    @torch.no_grad()
    def forward(self, flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Outputs (K, N, C) in evaluation mode (no dropout); ``x`` (N, ...) is shared by every model."""
        p = self.layout.views(flat)
        n = x.shape[0]
        h = x.reshape(n, *self.plan.in_shape).transpose(1, 2)  # (N, L, C)
        first = self.plan.convs[0]
        w0 = _weight_matrix(p[first.weight])
        k, cout = w0.shape[0], w0.shape[1]
        col = _im2col(h, first)  # (N·L1, C·k), shared: one GEMM for all K models
        z = torch.mm(col, w0.reshape(k * cout, -1).t()).view(-1, k, cout).transpose(0, 1)
        a = torch.relu(z + p[first.bias].unsqueeze(1))
        for c in self.plan.convs[1:]:
            col = _im2col(a.reshape(k, n, -1, a.shape[-1]), c)
            a = torch.relu(torch.baddbmm(p[c.bias].unsqueeze(1), col, _weight_matrix(p[c.weight]).transpose(1, 2)))
        f = self._features(a, n)
        hw, hb = self.plan.head
        return torch.baddbmm(p[hb].unsqueeze(1), f, p[hw].transpose(1, 2))

    @torch.no_grad()
    def loss_and_grad(self, flat: torch.Tensor, grad: torch.Tensor, x: torch.Tensor, target: torch.Tensor,
                      w: torch.Tensor, kind: str, counter: torch.Tensor) -> torch.Tensor:
        """One training forward + backward on inputs ``x`` (K, B, ...); writes d loss / d params into ``grad``
        (K, P) and returns the per-model data losses (K,)."""
        p, g = self.layout.views(flat), self.layout.views(grad)
        plan = self.plan
        k, b = x.shape[0], x.shape[1]
        hw, hb = plan.head
        with phase("forward"):
            a = x.reshape(k, b, *plan.in_shape).transpose(2, 3)  # (K, B, L, C) channels-last
            saved = []  # per conv: (its columns, its weight matrix, its ReLU output)
            for c in plan.convs:
                col, wm = _im2col(a, c), _weight_matrix(p[c.weight])
                z = torch.relu_(torch.baddbmm(p[c.bias].unsqueeze(1), col, wm.transpose(1, 2)))
                saved.append((col, wm, z))
                a = z.view(k, b, -1, z.shape[-1])
            f = self._features(saved[-1][2], b)
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
            df = torch.bmm(dz_t.transpose(1, 2), p[hw])  # (K, B, C·L)
            if keep is not None and share is not None:
                df = df / share * keep
            last = saved[-1][2]
            dh = df.view(k, b, last.shape[-1], -1).transpose(2, 3).reshape(k, -1, last.shape[-1])
            for i in range(len(plan.convs) - 1, -1, -1):
                c = plan.convs[i]
                col, wm, z = saved[i]
                dz = torch.ops.aten.threshold_backward(dh, z, 0)
                g[c.weight].copy_(_weight_grad(col, dz, g[c.weight].shape))
                g[c.bias].copy_(dz.sum(1))
                if i > 0:
                    dcol = torch.bmm(dz, wm)
                    dh = _col2im(dcol, c, b, self.lengths[i]).reshape(k, -1, dcol.shape[-1] // c.kernel)
        return loss
