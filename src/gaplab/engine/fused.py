"""The fused fast path for the MLP family (linear, logistic, mlp without batch norm, random-features, a user's
``nn.Sequential`` of Flatten, Linear, activations and Dropout).

K stacked models as batched matmuls (``baddbmm``/``bmm`` over weights (K, out, in)) with the backward pass
written by hand, straight into the pack's flat gradient table: no ``vmap``, ``functional_call`` or autograd
graph, so a step costs its matmuls plus a few elementwise ops. The numbers equal the general path's
(engine.vmapnet) to float rounding: same layers, same dropout masks (``rng.uniform_stacked``), same padding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gaplab import rng
from gaplab.engine.flat import FlatLayout
from gaplab.engine.losses import loss_and_grad
from gaplab.engine.script import scripted
from gaplab.models.layers import Dropout
from gaplab.models.mlp import MLP, HiddenBlock
from gaplab.models.random_features import RandomFeatures
from gaplab.phases import phase
from gaplab.spec import RunSpec

_ACT = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.GELU: "gelu"}


@dataclass
class Dense:
    """One dense layer: z = drop(h) @ Wᵀ + b, then (hidden layers) a = act(z), h' = [h +] drop(a)."""

    weight: str
    bias: str
    act: str | None = None  # None: the head (no activation)
    drop: str | None = None  # dropout after the activation (hidden) — buffer prefix of its Dropout
    residual: bool = False


@dataclass
class Plan:
    """The layers of a fused model, read from its module tree."""

    layers: list[Dense]
    in_drop: str | None = None  # dropout on the head's input (linear, random features)
    features: tuple[str, str, str] | None = None  # frozen random features: (weight, bias buffers, activation)


FUSED_MODELS = ("linear", "logistic", "mlp", "random-features")


def fuses(spec: RunSpec) -> bool:
    """Whether a run's model takes the fused path (the same answer ``plan_of`` gives for its built module; a user's
    model is built to know)."""
    from gaplab.models.user import is_user_name

    if is_user_name(spec.model.name):
        from gaplab.engine.paths import path_of

        return path_of(spec)[0] == "fused"
    a = spec.model.args
    return (spec.model.name in FUSED_MODELS and not a.get("batch_norm")
            and a.get("activation", "relu") in ("relu", "tanh", "gelu"))


def act_name(m: nn.Module) -> str | None:
    """The fused paths' name of an activation module (relu, tanh, exact gelu); None when they have no kernel for it."""
    if isinstance(m, nn.GELU) and m.approximate != "none":
        return None
    return _ACT.get(type(m))


def plan_of(base: nn.Module) -> Plan | None:
    """The fused plan of a model of the MLP family, or None when it is not one (e.g. batch norm)."""
    if isinstance(base, MLP):
        layers = []
        for i, blk in enumerate(base.hidden):
            assert isinstance(blk, HiddenBlock)
            act = act_name(blk.act)
            if not isinstance(blk.norm, nn.Identity) or act is None:
                return None
            layers.append(Dense(f"hidden.{i}.linear.weight", f"hidden.{i}.linear.bias", act,
                                f"hidden.{i}.drop", blk.residual))
        return Plan([*layers, Dense("head.weight", "head.bias")])
    if type(base) is nn.Sequential:  # exactly: a subclass may override forward
        return _sequential_plan(list(base))
    if isinstance(base, RandomFeatures):
        act = act_name(base.act)
        if act is None:
            return None
        return Plan([Dense("head.weight", "head.bias")], in_drop="drop",
                    features=("feature_weight", "feature_bias", act))
    return None


def _element_dropout(m: nn.Module) -> bool:
    return type(m) is Dropout and m.kind == "element"


def _sequential_plan(mods: list[nn.Module]) -> Plan | None:
    """The plan of an ``nn.Sequential`` (gaplab's linear model, or a user's MLP): Flatten, [Dropout], then
    (Linear, activation, [Dropout])*, Linear — every Linear with a bias, every Dropout element-wise; else None."""
    if not mods or type(mods[0]) is not nn.Flatten or (mods[0].start_dim, mods[0].end_dim) != (1, -1):
        return None
    i, in_drop = 1, None
    if i < len(mods) and _element_dropout(mods[i]):
        in_drop, i = str(i), i + 1
    layers: list[Dense] = []
    while i < len(mods):
        lin = mods[i]
        if type(lin) is not nn.Linear or lin.bias is None:
            return None
        if i == len(mods) - 1:
            return Plan([*layers, Dense(f"{i}.weight", f"{i}.bias")], in_drop=in_drop)
        act = act_name(mods[i + 1])
        if act is None:
            return None
        drop = str(i + 2) if i + 2 < len(mods) and _element_dropout(mods[i + 2]) else None
        layers.append(Dense(f"{i}.weight", f"{i}.bias", act, drop))
        i += 3 if drop else 2
    return None


def dropout_on(plan: Plan, buffers: dict[str, torch.Tensor]) -> bool:
    """Whether some model of the pack drops out at some site of the plan, read from the stacked rates (a user's model
    keeps the rates its code sets: its spec's ``reg.dropout`` is None)."""
    sites = [plan.in_drop, *(layer.drop for layer in plan.layers)]
    return any(bool((buffers[f"{s}.p"] > 0).any()) for s in sites if s is not None)


def activate(z: torch.Tensor, act: str) -> torch.Tensor:
    """``act`` (a name from ``act_name``) applied to pre-activations ``z``."""
    return torch.relu(z) if act == "relu" else torch.tanh(z) if act == "tanh" else F.gelu(z)


def act_backward(g: torch.Tensor, z: torch.Tensor, a: torch.Tensor, act: str) -> torch.Tensor:
    """The gradient through ``act`` at pre-activation ``z`` (output ``a``) of the output gradient ``g``."""
    # the same kernels autograd calls for these activations
    if act == "relu":
        return torch.ops.aten.threshold_backward(g, a, 0)
    if act == "tanh":
        return torch.ops.aten.tanh_backward(g, a)
    return torch.ops.aten.gelu_backward(g, z)


def _linear(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """h (K, B, in) @ w (K, out, in)ᵀ + b (K, out)."""
    return torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))


class FusedNet:
    """Forward and hand-written backward of a Plan over a flat (K, P) parameter table."""

    def __init__(self, plan: Plan, layout: FlatLayout, buffers: dict[str, torch.Tensor], dropout_on: bool) -> None:
        self.plan, self.layout, self.buffers = plan, layout, buffers
        self.dropout_on = dropout_on

    def _mask(self, prefix: str | None, shape: tuple[int, ...], counter: torch.Tensor | None) -> torch.Tensor | None:
        """Model k's inverted-dropout keep mask (0/1) for a site, or None when no model drops out."""
        if prefix is None or not self.dropout_on:
            return None
        assert counter is not None, "a pack with dropout passes each model's step counter"
        with phase("dropout masks"):
            u = rng.uniform_stacked(self.buffers[f"{prefix}.key"], counter, shape[1:])
            return u >= self.buffers[f"{prefix}.p"].view(-1, *([1] * (len(shape) - 1)))

    def _dropped(self, h: torch.Tensor, keep: torch.Tensor | None, prefix: str | None) -> torch.Tensor:
        if keep is None:
            return h
        assert prefix is not None
        # as models.layers.Dropout: x · keep / (1 − p)
        return h * keep.to(h.dtype) / self._kept_share(prefix, h.dim())

    def _kept_share(self, prefix: str, dim: int) -> torch.Tensor:
        """1 − p of a dropout site, per model, shaped to broadcast against a (K, ...) tensor of ``dim`` dims."""
        return (1.0 - self.buffers[f"{prefix}.p"].view(-1, *([1] * (dim - 1)))).clamp_min(1e-12)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        assert self.plan.features is not None
        wn, bn, act = self.plan.features
        wf, bf = self.buffers[wn], self.buffers[bn]
        if x.dim() == 2:  # shared inputs (evaluation)
            return activate(torch.matmul(x, wf.transpose(1, 2)) + bf.unsqueeze(1), act)
        return activate(_linear(x, wf, bf), act)

    @torch.no_grad()
    def forward(self, flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Outputs (K, N, C) in evaluation mode (no dropout); ``x`` (N, ...) is shared by every model."""
        p = self.layout.views(flat)
        h = x.flatten(1)
        if self.plan.features is not None:
            h = self._features(h)
        for layer in self.plan.layers:
            w, b = p[layer.weight], p[layer.bias]
            z = (torch.matmul(h, w.transpose(1, 2)) + b.unsqueeze(1)) if h.dim() == 2 else _linear(h, w, b)
            if layer.act is None:
                return z
            a = activate(z, layer.act)
            h = h + a if layer.residual else a  # (N, d) + (K, N, d) broadcasts
        raise AssertionError("a plan ends with its head")

    @torch.no_grad()
    def loss_and_grad(self, flat: torch.Tensor, grad: torch.Tensor, x: torch.Tensor, target: torch.Tensor,
                      w: torch.Tensor, kind: str, counter: torch.Tensor | None) -> torch.Tensor:
        """One training forward + backward on inputs ``x`` (K, B, ...); writes d loss / d params into ``grad``
        (K, P) and returns the per-model data losses (K,). ``counter`` (K,) keys the dropout masks (None: no model
        drops out). The dropout masks are drawn here; the layers run in ``dense_train`` (TorchScript)."""
        plan = self.plan
        p, g = self.layout.views(flat), self.layout.views(grad)
        with phase("forward"):
            h = x.flatten(2)
            if plan.features is not None:
                h = self._features(h)
            h = self._dropped(h, self._mask(plan.in_drop, tuple(h.shape), counter), plan.in_drop)
            keeps: list[torch.Tensor | None] = []
            shares: list[torch.Tensor | None] = []
            for layer in plan.layers[:-1]:
                keep = self._mask(layer.drop, (h.shape[0], h.shape[1], p[layer.weight].shape[1]), counter)
                keeps.append(keep)
                shares.append(None if keep is None or layer.drop is None else self._kept_share(layer.drop, 3))
            names = [(layer.weight, layer.bias) for layer in plan.layers]
            return scripted(dense_train)(
                h, target, w, [p[n] for n, _ in names], [p[b] for _, b in names], [g[n] for n, _ in names],
                [g[b] for _, b in names], [layer.act or "" for layer in plan.layers[:-1]],
                [layer.residual for layer in plan.layers[:-1]], keeps, shares, kind)


def dense_train(h: torch.Tensor, target: torch.Tensor, w: torch.Tensor, weights: list[torch.Tensor],
                biases: list[torch.Tensor], gweights: list[torch.Tensor], gbiases: list[torch.Tensor],
                acts: list[str], residual: list[bool], keeps: list[torch.Tensor | None],
                shares: list[torch.Tensor | None], kind: str) -> torch.Tensor:
    """``dense_train_grad`` without the input's gradient: the fused MLP's whole step (TorchScript: engine.script)."""
    return dense_train_grad(h, target, w, weights, biases, gweights, gbiases, acts, residual, keeps, shares, kind,
                            False)[0]


def dense_train_grad(h: torch.Tensor, target: torch.Tensor, w: torch.Tensor, weights: list[torch.Tensor],
                     biases: list[torch.Tensor], gweights: list[torch.Tensor], gbiases: list[torch.Tensor],
                     acts: list[str], residual: list[bool], keeps: list[torch.Tensor | None],
                     shares: list[torch.Tensor | None], kind: str,
                     input_grad: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Forward to the loss and hand-written backward of dense layers over K stacked models (TorchScript: see
    engine.script): hidden layers i < n = len(acts) compute z = h·Wᵢᵀ + bᵢ, a = act(z), h' = [h +] a·keepᵢ/shareᵢ
    (inverted dropout, as models.layers.Dropout); the head (the last weight) outputs class-first (K, C, B) for the
    loss kernels (engine.losses). Writes d loss / d W and d loss / d b into ``gweights``/``gbiases`` (views of the
    pack's gradient table); returns the per-model data losses (K,) and, with ``input_grad``, d loss / d h (the conv
    path's features), else None."""
    n = len(acts)
    ins: list[torch.Tensor] = []
    zs: list[torch.Tensor] = []
    outs: list[torch.Tensor] = []
    for i in range(n):
        z = torch.baddbmm(biases[i].unsqueeze(1), h, weights[i].transpose(1, 2))
        a = activate(z, acts[i])
        d = a
        keep, share = keeps[i], shares[i]
        if keep is not None and share is not None:
            d = a * keep.to(a.dtype) / share
        ins.append(h)
        zs.append(z)
        outs.append(a)
        h = h + d if residual[i] else d
    out_t = torch.baddbmm(biases[n].unsqueeze(2), weights[n], h.transpose(1, 2))
    loss, dz_t = loss_and_grad(out_t, target, w, kind)
    gweights[n].copy_(torch.bmm(dz_t, h))
    gbiases[n].copy_(dz_t.sum(2))
    if n == 0 and not input_grad:
        return loss, None
    dh = torch.bmm(dz_t.transpose(1, 2), weights[n])
    for i in range(n - 1, -1, -1):
        da = dh
        keep, share = keeps[i], shares[i]
        if keep is not None and share is not None:
            da = dh / share * keep.to(dh.dtype)
        dz = act_backward(da, zs[i], outs[i], acts[i])
        gweights[i].copy_(torch.bmm(dz.transpose(1, 2), ins[i]))
        gbiases[i].copy_(dz.sum(1))
        if i > 0 or input_grad:
            dh_in = torch.bmm(dz, weights[i])
            dh = dh_in + dh if residual[i] else dh_in
    return loss, (dh if input_grad else None)
