"""Reading a conv net's module tree into a ConvPlan: the stages engine.conv runs as batched matrix products.

Recognised: gaplab's ``cnn1d``, ``cnn2d`` and ``resnet``, and a user's ``nn.Sequential`` of [Unflatten],
Conv1d/Conv2d, ReLU, MaxPool, BatchNorm, Dropout (element or channel), Identity, then [AdaptiveAvgPool(1)], Flatten,
[Dropout] and (Linear, ReLU/Tanh/GELU, [Dropout])*, Linear. Exact module types only: a subclass may override
``forward``, which a plan would silently ignore. ``why_not`` names the layer that stops a model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import nn

from gaplab.engine.fused import Dense, act_name
from gaplab.models.cnn import CNN1d, CNN2d
from gaplab.models.layers import BatchNorm, Dropout
from gaplab.models.resnet import BasicBlock, ResNet


@dataclass(frozen=True)
class Conv:
    """One Conv1d/Conv2d (no activation): parameter names, kernel, stride and zero padding per spatial dimension."""

    weight: str
    bias: str | None
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]


@dataclass(frozen=True)
class Relu:
    """``nn.ReLU``."""


@dataclass(frozen=True)
class MaxPool:
    """``nn.MaxPool1d/2d(size)``: windows of ``size`` per spatial dimension, stride ``size``, no padding."""

    size: int


@dataclass(frozen=True)
class Norm:
    """A batch norm (``layers.BatchNorm`` with running statistics): buffer/parameter prefix and its settings."""

    prefix: str
    affine: bool
    eps: float
    momentum: float | None


@dataclass(frozen=True)
class Drop:
    """Dropout on conv activations (e.g. inside a residual block): its buffer prefix; ``channel``: one draw per
    (example, channel), as ``nn.Dropout1d/2d``."""

    prefix: str
    channel: bool = False


@dataclass(frozen=True)
class Residual:
    """x + body(x) (resnet's identity skip)."""

    body: tuple[Stage, ...]


Stage = Conv | Relu | MaxPool | Norm | Drop | Residual


@dataclass(frozen=True)
class ConvPlan:
    """Stages on (channels, *spatial) inputs, a global average or a flatten, optional dropout, then dense layers
    (the last one the head)."""

    in_shape: tuple[int, ...]  # (channels, *spatial) of one example
    stages: tuple[Stage, ...]
    reduce: str  # "flatten" (PyTorch's channel-major order) or "avg" (global average pool)
    drop: str | None  # buffer prefix of the Dropout on the reduced features
    dense: tuple[Dense, ...]  # hidden Linear+activation layers, then the head (act None)

    @property
    def dims(self) -> int:
        """Spatial dimensions: 1 (Conv1d) or 2 (Conv2d)."""
        return len(self.in_shape) - 1


CONV_MODELS = ("cnn1d", "cnn2d", "resnet")


class NotPlanned(Exception):
    """A layer the conv path does not take (its message names it)."""


def _conv(m: nn.Module, name: str) -> Conv:
    assert isinstance(m, nn.Conv1d | nn.Conv2d)
    if (m.groups != 1 or any(d != 1 for d in m.dilation) or m.padding_mode != "zeros"
            or not isinstance(m.padding, tuple)):
        raise NotPlanned(f"'{name}' ({type(m).__name__} with groups, dilation, 'same' or non-zero padding)")
    return Conv(f"{name}.weight", None if m.bias is None else f"{name}.bias", tuple(m.kernel_size), tuple(m.stride),
                tuple(m.padding))


def _pool(m: nn.Module, name: str, dims: int) -> MaxPool:
    assert isinstance(m, nn.MaxPool1d | nn.MaxPool2d)

    def one(v: int | tuple[int, ...]) -> int | None:
        t = (v,) * dims if isinstance(v, int) else tuple(v)
        return t[0] if len(set(t)) == 1 else None

    size = one(m.kernel_size)
    if (size is None or one(m.stride) != size or one(m.padding) != 0 or one(m.dilation) != 1 or m.ceil_mode
            or m.return_indices):
        raise NotPlanned(f"'{name}' (a max pool whose stride differs from its window, or padded)")
    return MaxPool(size)


def _norm(m: nn.Module, name: str) -> Norm:
    assert isinstance(m, BatchNorm)
    if not m.track_running_stats:
        raise NotPlanned(f"'{name}' (batch norm without running statistics)")
    return Norm(name, m.affine, float(m.eps), m.momentum)


_CONVS = {1: nn.Conv1d, 2: nn.Conv2d}
_POOLS = {1: nn.MaxPool1d, 2: nn.MaxPool2d}


def _stage(m: nn.Module, name: str, dims: int) -> Stage | None:
    """One module as a stage (None: an identity); NotPlanned for anything else."""
    t = type(m)
    if t is _CONVS[dims]:
        return _conv(m, name)
    if t is nn.ReLU:
        return Relu()
    if t is _POOLS[dims]:
        return _pool(m, name, dims)
    if t is BatchNorm:
        return _norm(m, name)
    if t is Dropout and m.kind in ("element", "channel"):  # type: ignore[union-attr]
        return Drop(name, m.kind == "channel")  # type: ignore[union-attr]
    if t is nn.Identity:
        return None
    raise NotPlanned(f"'{name}' ({t.__name__})")


def _stages(mods: list[tuple[str, nn.Module]], dims: int) -> tuple[Stage, ...]:
    out = [_stage(m, n, dims) for n, m in mods]
    return tuple(s for s in out if s is not None)


def _block(b: nn.Module, name: str, dims: int) -> tuple[Stage, ...]:
    """resnet's BasicBlock: relu(x + bn2(conv2(drop(relu(bn1(conv1(x)))))))."""
    if type(b) is not BasicBlock:
        raise NotPlanned(f"'{name}' ({type(b).__name__})")
    body = _stages([(f"{name}.{n}", getattr(b, n)) for n in ("conv1", "bn1", "relu", "drop", "conv2", "bn2")], dims)
    return Residual(body), Relu()


def _check_stages(stages: tuple[Stage, ...], dims: int) -> None:
    # the first stage must make a new tensor: a ReLU works in place, and its input would be the training batch
    if not stages or not isinstance(stages[0], Conv):
        raise NotPlanned("its first layer is not a convolution")


def _tail(mods: list[tuple[str, nn.Module]]) -> tuple[str | None, tuple[Dense, ...]]:
    """[Dropout], (Linear, activation, [Dropout])*, Linear: the input dropout and the dense layers."""
    i, drop = 0, None
    if i < len(mods) and type(mods[i][1]) is Dropout and mods[i][1].kind == "element":  # type: ignore[union-attr]
        drop, i = mods[i][0], 1
    dense: list[Dense] = []
    while i < len(mods):
        name, lin = mods[i]
        if type(lin) is not nn.Linear or lin.bias is None:
            raise NotPlanned(f"'{name}' ({type(lin).__name__})")
        if i == len(mods) - 1:
            return drop, (*dense, Dense(f"{name}.weight", f"{name}.bias"))
        act = act_name(mods[i + 1][1])
        if act is None:
            raise NotPlanned(f"'{mods[i + 1][0]}' ({type(mods[i + 1][1]).__name__})")
        d = mods[i + 2] if i + 2 < len(mods) else None
        d_name = d[0] if d is not None and type(d[1]) is Dropout and d[1].kind == "element" else None  # type: ignore
        dense.append(Dense(f"{name}.weight", f"{name}.bias", act, d_name))
        i += 3 if d_name else 2
    raise NotPlanned("it does not end with a Linear layer")


def _cnn(base: CNN1d | CNN2d) -> ConvPlan:
    mods = list(base.features.named_children())
    if not mods or type(mods[-1][1]) is not nn.Flatten or mods[-1][1].start_dim != 1:  # type: ignore[union-attr]
        raise NotPlanned("its features do not end with a Flatten")
    mods, reduce = mods[:-1], "flatten"
    if mods and type(mods[-1][1]) is nn.AdaptiveAvgPool2d and mods[-1][1].output_size in (1, (1, 1)):  # type: ignore
        mods, reduce = mods[:-1], "avg"
    dims = len(base.in_shape) - 1
    stages = _stages([(f"features.{n}", m) for n, m in mods], dims)
    drop, dense = _tail([("drop", base.drop), ("head", base.head)])
    return ConvPlan(tuple(int(d) for d in base.in_shape), stages, reduce, drop, dense)


def _resnet(base: ResNet) -> ConvPlan:
    dims = len(base.in_shape) - 1
    stages = _stages([(f"stem.{n}", m) for n, m in base.stem.named_children()], dims)
    for n, b in base.blocks.named_children():
        stages += _block(b, f"blocks.{n}", dims)
    pool = list(base.pool)
    if (len(pool) != 2 or type(pool[0]) not in (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)
            or pool[0].output_size not in (1, (1,), (1, 1)) or type(pool[1]) is not nn.Flatten):  # type: ignore
        raise NotPlanned("'pool' (not a global average pool and Flatten)")
    tail: list[tuple[str, nn.Module]] = [("head", base.head)]
    if type(base.drop) is not nn.Identity:
        tail.insert(0, ("drop", base.drop))
    drop, dense = _tail(tail)
    return ConvPlan(tuple(int(d) for d in base.in_shape), stages, "avg", drop, dense)


def _sequential(base: nn.Sequential, input_shape: tuple[int, ...]) -> ConvPlan:
    mods = list(base.named_children())
    if mods and type(mods[0][1]) is nn.Unflatten:  # e.g. (40,) signals as (1, 40) for a Conv1d
        u = mods[0][1]
        assert isinstance(u, nn.Unflatten)
        if u.dim != 1 or len(input_shape) != 1 or math.prod(u.unflattened_size) != input_shape[0]:  # type: ignore
            raise NotPlanned(f"'{mods[0][0]}' (Unflatten of other than a flat input's dim 1)")
        input_shape, mods = tuple(int(d) for d in u.unflattened_size), mods[1:]  # type: ignore[union-attr]
    flat = next((i for i, (_, m) in enumerate(mods) if type(m) is nn.Flatten), None)
    if flat is None:
        raise NotPlanned("it has no nn.Flatten before its Linear layers")
    f = mods[flat][1]
    assert isinstance(f, nn.Flatten)
    if (f.start_dim, f.end_dim) != (1, -1):
        raise NotPlanned(f"'{mods[flat][0]}' (Flatten of other dims than 1..-1)")
    dims = len(input_shape) - 1
    if dims not in (1, 2):
        raise NotPlanned(f"its inputs of shape {tuple(input_shape)} are not (C, L) or (C, H, W)")
    convs, reduce = mods[:flat], "flatten"
    avg = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)[dims - 1]
    if convs and type(convs[-1][1]) is avg and convs[-1][1].output_size in (1, (1,), (1, 1)):  # type: ignore
        convs, reduce = convs[:-1], "avg"
    stages = _stages(convs, dims)
    drop, dense = _tail(mods[flat + 1:])
    return ConvPlan(tuple(int(d) for d in input_shape), stages, reduce, drop, dense)


def read_plan(base: nn.Module, input_shape: tuple[int, ...]) -> ConvPlan:
    """The conv plan of a model; NotPlanned (naming the layer) when it is not one the conv path takes."""
    if type(base) in (CNN1d, CNN2d):
        assert isinstance(base, CNN1d | CNN2d)
        plan = _cnn(base)
    elif type(base) is ResNet:
        assert isinstance(base, ResNet)
        plan = _resnet(base)
    elif type(base) is nn.Sequential:
        assert isinstance(base, nn.Sequential)
        plan = _sequential(base, input_shape)
    else:
        raise NotPlanned(f"its class {type(base).__name__} is not cnn1d, cnn2d, resnet or an nn.Sequential")
    _check_stages(plan.stages, plan.dims)
    return plan


def conv_plan_of(base: nn.Module, input_shape: tuple[int, ...] = ()) -> ConvPlan | None:
    """The conv plan of a model, or None when the conv path does not take it (``why_not`` says why)."""
    try:
        return read_plan(base, input_shape)
    except NotPlanned:
        return None


def why_not(base: nn.Module, input_shape: tuple[int, ...]) -> str | None:
    """Why the conv path does not take a model (None when it does)."""
    try:
        read_plan(base, input_shape)
        return None
    except NotPlanned as e:
        return str(e)
