"""Building blocks safe under ``torch.vmap`` over stacked models: counter-RNG dropout, bilinear layer.

Nothing here updates buffers in forward or branches on data, so ``functional_call`` under ``vmap`` works.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gaplab import rng
from gaplab.phases import phase

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


def make_activation(name: str) -> nn.Module:
    """An activation module by name (relu, tanh, gelu)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation '{name}'; choose from: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


# element: nn.Dropout; channel: nn.Dropout1d/2d/3d; alpha: nn.AlphaDropout; feature_alpha: nn.FeatureAlphaDropout
DROPOUT_KINDS = ("element", "channel", "alpha", "feature_alpha")


class Dropout(nn.Module):
    """Inverted dropout with masks from ``gaplab.rng`` (key, counter): same masks alone or in a vmapped pack.

    ``p`` and ``key`` are buffers so a stacked pack can give each model its own rate and key.
    """

    counter: int | torch.Tensor  # step counter; a pack sets each model's own (a 0-d tensor under vmap)
    active: bool
    p: torch.Tensor  # buffers, registered in __init__
    key: torch.Tensor

    def __init__(self, p: float = 0.0, key: int = 0, kind: str = "element") -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout rate must be in [0, 1], got {p}")
        if kind not in DROPOUT_KINDS:
            raise ValueError(f"dropout kind must be one of {DROPOUT_KINDS}, got {kind!r}")
        self.register_buffer("p", torch.tensor(float(p), dtype=torch.float32))
        self.register_buffer("key", torch.tensor(int(key), dtype=torch.int64))
        self.kind = kind
        self.counter = 0
        self.active = p > 0

    def _mask_shape(self, x: torch.Tensor) -> tuple[int, ...]:
        if self.kind in ("channel", "feature_alpha") and x.dim() > 2:
            # nn.Dropout1d/2d/3d, nn.FeatureAlphaDropout: one draw per (example, channel)
            return tuple(x.shape[:2]) + (1,) * (x.dim() - 2)
        return tuple(x.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not self.active:
            return x
        with phase("dropout masks"):
            keep = (rng.uniform(self.key, self.counter, self._mask_shape(x)) >= self.p).to(x.dtype)
        if self.kind in ("alpha", "feature_alpha"):
            # torch.nn.functional.alpha_dropout (ATen Dropout.cpp, _dropout_impl): dropped units take SELU's
            # negative saturation value, then an affine map a·(.) + b keeps mean 0 and variance 1
            alpha = 1.7580993408473766
            a = ((alpha * alpha * self.p + 1) * (1 - self.p)).rsqrt()
            return x * keep * a + (keep - 1) * alpha * a + alpha * a * self.p
        return x * keep / (1.0 - self.p).clamp_min(1e-12)

    def extra_repr(self) -> str:
        return f"kind={self.kind}, active={self.active}, counter={self.counter}"


def _dropouts(model: nn.Module) -> list[Dropout]:
    return [m for m in model.modules() if isinstance(m, Dropout)]


def has_dropout(model: nn.Module) -> bool:
    """True when ``model`` has a dropout layer whose rate ``reg.dropout`` sets."""
    return bool(_dropouts(model))


def set_dropout_keys(model: nn.Module, seed: int) -> None:
    """Give every Dropout (in module order) the key ``rng.derive_key(seed, site_index)``."""
    for i, m in enumerate(_dropouts(model)):
        m.key.fill_(rng.derive_key(seed, i))


def set_dropout_counter(model: nn.Module, step: int) -> None:
    """Set the step counter of every Dropout (new step -> new masks)."""
    for m in _dropouts(model):
        m.counter = int(step)


def set_dropout_rate(model: nn.Module, p: float) -> None:
    """Set the drop rate of every Dropout; rate 0 deactivates them (exact identity)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout rate must be in [0, 1], got {p}")
    for m in _dropouts(model):
        m.p.fill_(float(p))
        m.active = p > 0


class BatchNorm(nn.modules.batchnorm._BatchNorm):
    """``nn.BatchNorm1d/2d/3d`` (same parameters, buffers, momentum and eps) safe in a vmapped pack.

    Training uses batch statistics weighted by ``row_weight`` (B,), which a pack sets per step so that the zero-weight
    padding rows of a short last batch count for nothing; the running statistics are updated as PyTorch does
    (unbiased variance, ``momentum`` or the cumulative average when it is None) on the stacked buffers, in place,
    which ``vmap`` allows because every model's buffers are its own slice. Evaluation uses the running statistics.
    A ``_BatchNorm`` subclass, so code that recognizes normalization layers (penalties, doctor) sees it as one.
    """

    row_weight: torch.Tensor | None
    running_mean: torch.Tensor  # buffers, registered by _NormBase when track_running_stats
    running_var: torch.Tensor
    num_batches_tracked: torch.Tensor

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self.row_weight = None

    @classmethod
    def like(cls, bn: nn.modules.batchnorm._BatchNorm) -> BatchNorm:
        """A copy of ``bn``: its settings, parameters and running statistics."""
        new = cls(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats)
        new.load_state_dict(bn.state_dict())
        return new.train(bn.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        if self.training or not self.track_running_stats:
            dims = [0, *range(2, x.dim())]
            w = torch.ones(x.shape[0], dtype=x.dtype) if self.row_weight is None else self.row_weight.to(x.dtype)
            w = w.reshape((-1,) + (1,) * (x.dim() - 1))
            n = w.sum() * (x[0, 0].numel())
            mean = (x * w).sum(dims) / n
            xc = x - mean.reshape(shape)
            var = (xc * xc * w).sum(dims) / n
            if self.training and self.track_running_stats:
                self._update(mean.detach(), var.detach() * n / (n - 1).clamp_min(1))
            y = xc * (var + self.eps).rsqrt().reshape(shape)
        else:
            y = (x - self.running_mean.reshape(shape)) * (self.running_var + self.eps).rsqrt().reshape(shape)
        if self.weight is not None and self.bias is not None:
            y = y * self.weight.reshape(shape) + self.bias.reshape(shape)
        return y

    @torch.no_grad()
    def _update(self, mean: torch.Tensor, unbiased_var: torch.Tensor) -> None:
        self.num_batches_tracked.add_(1)
        # torch.nn.modules.batchnorm._BatchNorm.forward: momentum None is a cumulative moving average
        f = self.momentum if self.momentum is not None else 1.0 / self.num_batches_tracked.to(mean.dtype)
        self.running_mean.mul_(1 - f).add_(mean * f)
        self.running_var.mul_(1 - f).add_(unbiased_var * f)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class Bilinear(nn.Module):
    """Multiplicative interactions ``out_j = x^T W_j z + b_j`` with W of shape (out, d, d).

    Initialized like ``nn.Bilinear``: uniform(-1/sqrt(d), 1/sqrt(d)).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features, in_features))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        bound = 1.0 / math.sqrt(in_features)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        out = torch.einsum("bi,oij,bj->bo", x, self.weight, z)
        return out if self.bias is None else out + self.bias


def spatial_input(input_shape: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
    """Split a conv input shape into (channels, spatial dims); a bare (L,) gets one channel."""
    if len(input_shape) == 1:
        return 1, tuple(input_shape)
    return input_shape[0], tuple(input_shape[1:])
