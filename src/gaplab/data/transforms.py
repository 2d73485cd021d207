"""Per-run data transforms; every random draw comes from an explicit ``torch.Generator``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

STD_FLOOR = 1e-8


def _is_class_labels(y: torch.Tensor) -> bool:
    return y.ndim == 1 and not torch.is_floating_point(y)


def stratified_subset(y: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """Indices (sorted int64) of exactly ``n`` examples, class proportions kept (largest remainder).

    For regression targets (float or 2-D ``y``) this is a plain uniform random subset.
    """
    total = int(y.shape[0])
    n = int(n)
    if n < 0 or n > total:
        raise ValueError(f"subset size {n} must be between 0 and {total}")
    if not _is_class_labels(y):
        return torch.sort(torch.randperm(total, generator=generator)[:n]).values
    classes, counts = torch.unique(y, return_counts=True)
    exact = counts.double() * n / max(total, 1)
    quota = torch.floor(exact).long()
    remainder = n - int(quota.sum())
    if remainder > 0:
        # largest fractional part first; ties go to the larger class, then the lower class id
        frac = (exact - quota).tolist()
        order = sorted(range(len(classes)), key=lambda i: (-frac[i], -int(counts[i]), i))
        for i in order[:remainder]:
            quota[i] += 1
    picked = []
    for c, q in zip(classes.tolist(), quota.tolist(), strict=True):
        members = torch.nonzero(y == c, as_tuple=True)[0]
        perm = torch.randperm(len(members), generator=generator)
        picked.append(members[perm[:q]])
    idx = torch.cat(picked) if picked else torch.empty(0, dtype=torch.long)
    return torch.sort(idx).values


def validation_split(
    y: torch.Tensor, fraction: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stratified split into (train_idx, val_idx) holding out ``round(fraction * N)`` examples."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1), got {fraction}")
    total = int(y.shape[0])
    val_idx = stratified_subset(y, int(round(fraction * total)), generator)
    keep = torch.ones(total, dtype=torch.bool)
    keep[val_idx] = False
    return torch.nonzero(keep, as_tuple=True)[0], val_idx


@dataclass(frozen=True)
class Standardizer:
    """Per-feature affine standardization; fit on training data only so the test set stays unseen."""

    mean: torch.Tensor
    std: torch.Tensor

    @classmethod
    def fit(cls, x_train: torch.Tensor) -> Standardizer:
        """Mean/std per feature over the sample axis; constant features (std < 1e-8) are only centered."""
        mean = x_train.mean(dim=0)
        std = x_train.std(dim=0, unbiased=False) if len(x_train) > 1 else torch.zeros_like(mean)
        std = torch.where(std < STD_FLOOR, torch.ones_like(std), std)
        return cls(mean=mean, std=std)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """Standardize ``x`` with the fitted statistics."""
        return ((x - self.mean) / self.std).to(x.dtype)


def label_noise(
    y: torch.Tensor,
    rate: float,
    num_classes: int,
    kind: Literal["symmetric", "asymmetric"],
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Corrupt each label with probability ``rate``; returns (y_noisy, corrupted = label changed).

    symmetric: replaced by a uniform class (may equal the truth, so ~rate*(C-1)/C change);
    asymmetric: class c becomes (c + 1) mod C.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"label noise rate must be in [0, 1], got {rate}")
    if num_classes < 2:
        raise ValueError("label noise needs at least 2 classes")
    n = int(y.shape[0])
    hit = torch.rand(n, generator=generator) < rate
    if kind == "symmetric":
        replacement = torch.randint(0, num_classes, (n,), generator=generator)
    elif kind == "asymmetric":
        replacement = (y + 1) % num_classes
    else:
        raise ValueError(f"noise kind must be 'symmetric' or 'asymmetric', got {kind!r}")
    y_noisy = torch.where(hit, replacement.to(y.dtype), y)
    return y_noisy, y_noisy != y


def random_labels(
    y: torch.Tensor, num_classes: int, generator: torch.Generator, fraction: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace exactly ``round(fraction * N)`` labels by uniform random classes (Zhang et al. 2017).

    Returns (y_new, corrupted = label changed).
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"random label fraction must be in [0, 1], got {fraction}")
    n = int(y.shape[0])
    chosen = torch.randperm(n, generator=generator)[: int(round(fraction * n))]
    new = torch.randint(0, num_classes, (n,), generator=generator).to(y.dtype)
    y_new = y.clone()
    y_new[chosen] = new[chosen]
    return y_new, y_new != y


def permutation(shape: tuple[int, ...] | torch.Size, generator: torch.Generator) -> torch.Tensor:
    """A random permutation of the flattened positions of one input of ``shape``."""
    return torch.randperm(math.prod(shape), generator=generator)


def permute_inputs(x: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """Apply the same position permutation to every example ("shuffled pixels")."""
    flat = x.reshape(x.shape[0], -1)
    if flat.shape[1] != perm.numel():
        raise ValueError(f"permutation has {perm.numel()} positions but inputs have {flat.shape[1]}")
    return flat[:, perm].reshape(x.shape)


def gaussian_inputs(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Replace inputs by Gaussian noise with the same per-feature mean and std (Zhang et al. 2017)."""
    mean = x.mean(dim=0)
    std = x.std(dim=0, unbiased=False) if len(x) > 1 else torch.zeros_like(mean)
    noise = torch.randn(x.shape, generator=generator, dtype=torch.float32)
    return (noise * std + mean).to(x.dtype)
