"""Data augmentation for packs of K models: x is (K, B, *input_shape), gens[k] is model k's generator.

Every random draw for model k comes from ``gens[k]`` (a few small tensors per model per call, drawn in a
loop over k, in a fixed order), and the data ops are vectorized over K and B. So model k's output depends
only on x[k] (y[k]) and gens[k]: trained alone (K=1) or in a pack of 16 it sees the same augmentation.

Why not kornia: its ``RandomMixUpV2`` draws one λ per *sample* uniformly from ``lambda_val`` (default (0, 1))
rather than one λ ~ Beta(α, α) per batch (Zhang et al. 2018) and returns label triplets (y, y_perm, λ); its
mix/cut ops also draw from the global torch RNG, so per-model generators cannot be honoured. Why not
torchvision: it does not import beside this torch build (binary version pinning), and its v2 MixUp/CutMix
also use the global RNG. Everything here is plain torch plus ``scipy.special.betaincinv``.

Beta draws: ``torch.distributions.Beta`` takes no generator, so λ ~ Beta(a, a) is drawn by inverse CDF:
u ~ U[0, 1) from gens[k], λ = I⁻¹_u(a, a) via ``scipy.special.betaincinv(a, a, u)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def _check(x: Tensor, gens: Sequence[torch.Generator], min_dim: int) -> tuple[int, int]:
    if x.dim() < min_dim:
        raise ValueError(f"expected x with at least {min_dim} dims (K, B, ...), got shape {tuple(x.shape)}")
    if len(gens) != x.shape[0]:
        raise ValueError(f"len(gens)={len(gens)} does not match the model axis K={x.shape[0]}")
    return x.shape[0], x.shape[1]


def _draw(gens: Sequence[torch.Generator], fn: Callable[[torch.Generator], Tensor], device) -> Tensor:
    """Stack fn(gens[k]) over k (one small draw per model, on the generator's device), moved to ``device``."""
    return torch.stack([fn(g) for g in gens]).to(device)


def _per_model(v: Tensor | float, k: int, ref: Tensor) -> Tensor:
    t = torch.as_tensor(v, dtype=ref.dtype, device=ref.device)
    return t.expand(k) if t.dim() == 0 else t


def _bcast(v: Tensor, ref: Tensor) -> Tensor:
    """(K,) -> (K, 1, 1, ...) to broadcast against ``ref``."""
    return v.reshape(-1, *([1] * (ref.dim() - 1)))


def _beta(alpha: Tensor | float, gens: Sequence[torch.Generator]) -> np.ndarray:
    """One λ ~ Beta(α_k, α_k) per model, inverse CDF of u ~ gens[k]; α_k <= 0 gives λ = 1 (u still drawn)."""
    from scipy.special import betaincinv  # scipy costs ≈ 1 s to import: only MixUp/CutMix need it

    k = len(gens)
    a = torch.as_tensor(alpha, dtype=torch.float64).cpu().expand(k).numpy()
    u = np.array([float(torch.rand((), generator=g, dtype=torch.float64)) for g in gens])
    lam = np.ones(k)
    pos = a > 0
    lam[pos] = betaincinv(a[pos], a[pos], u[pos])
    return lam


def _permute(t: Tensor, perm: Tensor) -> Tensor:
    """t[k, perm[k]] for every k: (K, B, ...) gathered along the batch axis."""
    kidx = torch.arange(t.shape[0], device=t.device)[:, None]
    return t[kidx, perm]


# ---------------------------------------------------------------- 1-D and generic


def shift_1d(x: Tensor, max_shift: int, gens: Sequence[torch.Generator]) -> Tensor:
    """Translate each sample by an integer s ~ U{−max_shift..max_shift} along the last axis, zero-padded.

    Zero padding (not circular), as in the mnist1d project's translation; out[..., i] = x[..., i − s].
    """
    k, b = _check(x, gens, 3)
    length = x.shape[-1]
    s = _draw(gens, lambda g: torch.randint(-max_shift, max_shift + 1, (b,), generator=g, device=g.device),
              x.device)
    src = torch.arange(length, device=x.device) - s[..., None]  # (K, B, L)
    valid = (src >= 0) & (src < length)
    shape = (k, b) + (1,) * (x.dim() - 3) + (length,)
    idx = src.clamp(0, length - 1).reshape(shape).expand_as(x)
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    return torch.where(valid.reshape(shape), x.gather(-1, idx), zero)


def gaussian_noise(x: Tensor, std: Tensor | float, gens: Sequence[torch.Generator]) -> Tensor:
    """x + std_k·N(0, 1), noise drawn from gens[k] (also the "input noise" regularizer)."""
    k, _ = _check(x, gens, 2)
    shape = x.shape[1:]
    noise = _draw(gens, lambda g: torch.randn(shape, generator=g, device=g.device, dtype=x.dtype), x.device)
    return x + _bcast(_per_model(std, k, x), x) * noise


# ---------------------------------------------------------------- 2-D images (K, B, C, H, W)


def flip_2d(x: Tensor, gens: Sequence[torch.Generator]) -> Tensor:
    """Horizontal flip of each image with probability 0.5."""
    k, b = _check(x, gens, 5)
    coin = _draw(gens, lambda g: torch.rand((b,), generator=g, device=g.device) < 0.5, x.device)
    return torch.where(coin[:, :, None, None, None], x.flip(-1), x)


def pad_crop_2d(x: Tensor, pad: int, gens: Sequence[torch.Generator]) -> Tensor:
    """Zero-pad by ``pad`` on every side, then crop a random H×W window per image (gather, no sample loop)."""
    k, b = _check(x, gens, 5)
    if pad <= 0:
        return x
    c, h, w = x.shape[2:]
    off = _draw(gens, lambda g: torch.randint(0, 2 * pad + 1, (b, 2), generator=g, device=g.device), x.device)
    xp = F.pad(x, (pad, pad, pad, pad))  # (K, B, C, H+2p, W+2p)
    rows = off[..., 0:1] + torch.arange(h, device=x.device)  # (K, B, H)
    cols = off[..., 1:2] + torch.arange(w, device=x.device)  # (K, B, W)
    xr = xp.gather(3, rows[:, :, None, :, None].expand(k, b, c, h, w + 2 * pad))
    return xr.gather(4, cols[:, :, None, None, :].expand(k, b, c, h, w))


def rotate_2d(x: Tensor, max_degrees: float, gens: Sequence[torch.Generator]) -> Tensor:
    """Rotate each image by θ ~ U[−max_degrees, max_degrees] about its centre (bilinear, zero fill).

    Uses ``affine_grid``'s normalized coordinates, so the rotation is exact for square images.
    """
    k, b = _check(x, gens, 5)
    u = _draw(gens, lambda g: torch.rand((b,), generator=g, device=g.device, dtype=torch.float64), x.device)
    theta = ((2.0 * u - 1.0) * math.radians(max_degrees)).to(x.dtype).reshape(-1)
    cos, sin = torch.cos(theta), torch.sin(theta)
    zero = torch.zeros_like(theta)
    mat = torch.stack([torch.stack([cos, -sin, zero], -1), torch.stack([sin, cos, zero], -1)], -2)
    flat = x.reshape(k * b, *x.shape[2:])
    grid = F.affine_grid(mat, list(flat.shape), align_corners=False)
    out = F.grid_sample(flat, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.reshape(x.shape)


def cutout_2d(x: Tensor, size: int, gens: Sequence[torch.Generator]) -> Tensor:
    """Zero a size×size square at a uniform random centre, clipped at the border (DeVries & Taylor 2017).

    Rows [cy − size//2, cy − size//2 + size) (clipped), so exactly size² pixels when away from borders.
    """
    k, b = _check(x, gens, 5)
    h, w = x.shape[-2:]
    cy = _draw(gens, lambda g: torch.randint(0, h, (b,), generator=g, device=g.device), x.device)
    cx = _draw(gens, lambda g: torch.randint(0, w, (b,), generator=g, device=g.device), x.device)
    y0, x0 = cy - size // 2, cx - size // 2
    r = torch.arange(h, device=x.device)
    c = torch.arange(w, device=x.device)
    in_r = (r >= y0[..., None]) & (r < y0[..., None] + size)  # (K, B, H)
    in_c = (c >= x0[..., None]) & (c < x0[..., None] + size)  # (K, B, W)
    hole = in_r[..., :, None] & in_c[..., None, :]  # (K, B, H, W)
    return x.masked_fill(hole[:, :, None], 0.0)


# ---------------------------------------------------------------- label-mixing augmentations


def mixup(
    x: Tensor, y_soft: Tensor, alpha: Tensor | float, gens: Sequence[torch.Generator]
) -> tuple[Tensor, Tensor, Tensor]:
    """Mixup (Zhang et al. 2018): one λ_k ~ Beta(α_k, α_k) per model per batch, permutation from gens[k].

    x' = λx + (1−λ)x[perm], y' = λy + (1−λ)y[perm]; y_soft is (K, B, C). α_k = 0 means no mixing (λ = 1).
    Returns (x', y', λ of shape (K,)). Draw order per model: u for λ, then the permutation.
    """
    k, b = _check(x, gens, 3)
    lam_np = _beta(alpha, gens)
    perm = _draw(gens, lambda g: torch.randperm(b, generator=g, device=g.device), x.device)
    lam = torch.as_tensor(lam_np, dtype=x.dtype, device=x.device)
    lx, ly = _bcast(lam, x), _bcast(lam.to(y_soft.dtype), y_soft)
    x_mix = lx * x + (1.0 - lx) * _permute(x, perm)
    y_mix = ly * y_soft + (1.0 - ly) * _permute(y_soft, perm)
    return x_mix, y_mix, lam


def _segment(center: Tensor, cut: Tensor, n: int) -> tuple[Tensor, Tensor]:
    """[center − cut//2, center − cut//2 + cut) clipped to [0, n)."""
    lo = center - cut // 2
    return lo.clamp(0, n), (lo + cut).clamp(0, n)


def cutmix(
    x: Tensor, y_soft: Tensor, alpha: Tensor | float, gens: Sequence[torch.Generator]
) -> tuple[Tensor, Tensor, Tensor]:
    """CutMix (Yun et al. 2019) on images (K, B, C, H, W) or signals (K, B, L): paste from a permuted batch.

    λ ~ Beta(α_k, α_k); the box has side ⌊H√(1−λ)⌋ × ⌊W√(1−λ)⌋ (segment ⌊L(1−λ)⌋ in 1-D) at a uniform centre,
    clipped at the border; λ is then reset to the exact kept fraction, which mixes the labels and is returned.
    One box per model per batch, as in the paper's code. Draw order per model: u, permutation, centre.
    """
    if x.dim() not in (3, 5):
        raise ValueError(f"cutmix expects (K, B, L) or (K, B, C, H, W), got shape {tuple(x.shape)}")
    k, b = _check(x, gens, 3)
    lam0 = _beta(alpha, gens)
    perm = _draw(gens, lambda g: torch.randperm(b, generator=g, device=g.device), x.device)
    dev = x.device
    if x.dim() == 5:
        h, w = x.shape[-2:]
        cy = _draw(gens, lambda g: torch.randint(0, h, (), generator=g, device=g.device), dev)
        cx = _draw(gens, lambda g: torch.randint(0, w, (), generator=g, device=g.device), dev)
        rat = np.sqrt(1.0 - lam0)
        cut_h = torch.as_tensor(np.floor(h * rat).astype(np.int64), device=dev)
        cut_w = torch.as_tensor(np.floor(w * rat).astype(np.int64), device=dev)
        y1, y2 = _segment(cy, cut_h, h)
        x1, x2 = _segment(cx, cut_w, w)
        r = torch.arange(h, device=dev)
        c = torch.arange(w, device=dev)
        in_r = (r >= y1[:, None]) & (r < y2[:, None])  # (K, H)
        in_c = (c >= x1[:, None]) & (c < x2[:, None])  # (K, W)
        box = (in_r[:, :, None] & in_c[:, None, :])[:, None, None]  # (K, 1, 1, H, W)
        area = ((y2 - y1) * (x2 - x1)).to(torch.float64) / float(h * w)
    else:
        n = x.shape[-1]
        cl = _draw(gens, lambda g: torch.randint(0, n, (), generator=g, device=g.device), dev)
        cut = torch.as_tensor(np.floor(n * (1.0 - lam0)).astype(np.int64), device=dev)
        l1, l2 = _segment(cl, cut, n)
        pos = torch.arange(n, device=dev)
        box = ((pos >= l1[:, None]) & (pos < l2[:, None]))[:, None]  # (K, 1, L)
        area = (l2 - l1).to(torch.float64) / float(n)
    lam = (1.0 - area).to(x.dtype)
    x_mix = torch.where(box, _permute(x, perm), x)
    ly = _bcast(lam.to(y_soft.dtype), y_soft)
    y_mix = ly * y_soft + (1.0 - ly) * _permute(y_soft, perm)
    return x_mix, y_mix, lam
