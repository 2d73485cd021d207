"""The one registry of what a run spec can switch on: the augmentations ``reg.augment`` names and every
regularizer with the spec key that sets it. The spec validates against it, the engine applies it, validation
checks input shapes with it and `gaplab list regularizers` prints it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from gaplab.regularize import augment as aug

Gens = Sequence[torch.Generator]


@dataclass(frozen=True)
class Augmentation:
    """One ``reg.augment`` entry: ``apply(x, amount, gens)`` on a (K, B, ...) batch, what its amount means."""

    name: str
    amount: str
    images_only: bool
    help: str
    apply: Callable[[Tensor, float, Gens], Tensor]


def _noise(x: Tensor, amount: float, gens: Gens) -> Tensor:
    return aug.gaussian_noise(x, torch.full((x.shape[0],), amount, device=x.device), gens)


AUGMENTATIONS: dict[str, Augmentation] = {a.name: a for a in (
    Augmentation("shift", "samples", False, "random integer translation of 1-D signals with zero padding",
                 lambda x, a, g: aug.shift_1d(x, int(a), g)),
    Augmentation("noise", "std", False, "additive Gaussian noise as a data augmentation", _noise),
    Augmentation("flip", "unused", True, "random horizontal flip of images with probability 0.5",
                 lambda x, a, g: aug.flip_2d(x, g)),
    Augmentation("crop", "pad", True, "zero-pad images and take a random crop of the original size",
                  lambda x, a, g: aug.pad_crop_2d(x, int(a), g)),
    Augmentation("rotate", "degrees", True, "random rotation of images by up to ±amount degrees",
                 lambda x, a, g: aug.rotate_2d(x, a, g)),
    Augmentation("cutout", "size", True, "zero a random size×size square in each image (DeVries & Taylor 2017)",
                 lambda x, a, g: aug.cutout_2d(x, int(a), g)),
)}


@dataclass(frozen=True)
class Regularizer:
    """A regularizer, the spec key that sets it, an example value (what ``--set key=value`` takes) and what it
    does."""

    name: str
    key: str
    example: Any
    help: str


def _augment_entry(a: Augmentation) -> Regularizer:
    amount = "" if a.amount == "unused" else f", amount: {a.amount}"
    return Regularizer(f"augment-{a.name}", "reg.augment", [{"name": a.name, "amount": 2.0}],
                       f"{a.help} ({{name: {a.name}{amount}}}{'; images' if a.images_only else ''})")


REGULARIZERS: tuple[Regularizer, ...] = (
    Regularizer("l1", "reg.l1", 0.01, "λ/(2m)·Σ|W| added to the loss (sparsifying)"),
    Regularizer("l2", "reg.l2", 0.01, "λ/(2m)·Σ‖W‖²_F added to the loss (Ng's convention; gradient adds (λ/m)·W)"),
    Regularizer("elastic-net", "reg.l1 + reg.l2", None, "the L1 and L2 penalties together: set both keys"),
    Regularizer("weight-decay", "reg.weight_decay", 0.01,
                "decoupled decay w ← w − lr·wd·w by the optimizer (AdamW-style), not via the loss"),
    Regularizer("dropout", "reg.dropout", 0.2,
                "zero hidden units with probability p during training (inverted scaling; reg.keep_prob = 1 − p)"),
    Regularizer("label-smoothing", "reg.label_smoothing", 0.1, "train on (1 − ε)·one-hot + ε/C targets"),
    Regularizer("grad-clip", "reg.grad_clip", 1.0,
                "rescale the gradient when its global norm exceeds a threshold"),
    Regularizer("input-noise", "reg.input_noise", 0.1, "add Gaussian noise of std σ to the inputs at each step"),
    *(_augment_entry(a) for a in AUGMENTATIONS.values()),
    Regularizer("mixup", "reg.mixup", 0.2,
                "convex combination of sample pairs and their labels, λ ~ Beta(α, α) (Zhang et al. 2018)"),
    Regularizer("cutmix", "reg.cutmix", 1.0,
                "paste a box from another sample, labels mixed by the kept area (Yun et al. 2019)"),
    Regularizer("early-stopping", "reg.early_stopping", {"patience": 5},
                "stop when the validation loss stops improving; the best weights are kept"),
)


def list_regularizers() -> dict[str, str]:
    """Regularizer name -> the spec key that sets it and a one-line description."""
    return {r.name: f"{r.key}: {r.help}" for r in REGULARIZERS}
