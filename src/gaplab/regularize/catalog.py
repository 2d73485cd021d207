"""A catalog of the regularizers gaplab knows, for listings and CLI help."""

from __future__ import annotations

_CATALOG: dict[str, str] = {
    "l1": "λ/(2m)·Σ|W| added to the loss (sparsifying; optional proximal soft-threshold step)",
    "l2": "λ/(2m)·Σ‖W‖²_F added to the loss (Ng's convention; gradient adds (λ/m)·W)",
    "elastic-net": "a weighted sum of the L1 and L2 penalties",
    "weight-decay": "decoupled decay w ← w − lr·wd·w by the optimizer (AdamW-style), not via the loss",
    "dropout": "zero hidden units with probability p during training (inverted scaling)",
    "label-smoothing": "train on (1 − ε)·one-hot + ε/C targets instead of one-hot",
    "grad-clip": "rescale the gradient when its global norm exceeds a threshold",
    "input-noise": "add Gaussian noise of std σ to the inputs at each step",
    "augment-shift-1d": "random integer translation of 1-D signals with zero padding",
    "augment-noise": "additive Gaussian noise as a data augmentation",
    "flip": "random horizontal flip of images with probability 0.5",
    "pad-crop": "zero-pad images and take a random crop of the original size",
    "rotate": "random rotation of images by up to ±max_degrees",
    "cutout": "zero a random size×size square in each image (DeVries & Taylor 2017)",
    "mixup": "convex combination of sample pairs and their labels, λ ~ Beta(α, α) (Zhang et al. 2018)",
    "cutmix": "paste a box from another sample, labels mixed by the kept area (Yun et al. 2019)",
    "early-stopping": "stop when the validation loss stops improving (patience or Prechelt criteria)",
}


def list_regularizers() -> dict[str, str]:
    """Regularizer name -> one-line description."""
    return dict(_CATALOG)
