"""Regularizers for packs of K models: weight penalties, augmentation, label smoothing, early stopping."""

from gaplab.regularize.augment import (
    cutmix,
    cutout_2d,
    flip_2d,
    gaussian_noise,
    mixup,
    pad_crop_2d,
    rotate_2d,
    shift_1d,
)
from gaplab.regularize.catalog import list_regularizers
from gaplab.regularize.early_stopping import (
    GL,
    PQ,
    UP,
    EarlyStopping,
    Patience,
    first_stop,
    generalization_loss,
    training_progress,
)
from gaplab.regularize.penalties import convention_table, l1_penalty, l1_prox_, l2_penalty, penalized
from gaplab.regularize.smoothing import one_hot, smooth, soft_cross_entropy

__all__ = [
    "GL",
    "PQ",
    "UP",
    "EarlyStopping",
    "Patience",
    "convention_table",
    "cutmix",
    "cutout_2d",
    "first_stop",
    "flip_2d",
    "gaussian_noise",
    "generalization_loss",
    "l1_penalty",
    "l1_prox_",
    "l2_penalty",
    "list_regularizers",
    "mixup",
    "one_hot",
    "pad_crop_2d",
    "penalized",
    "rotate_2d",
    "shift_1d",
    "smooth",
    "soft_cross_entropy",
    "training_progress",
]
