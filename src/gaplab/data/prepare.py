"""Per-run view of a dataset: subset, validation hold-out and label corruption, each independently seeded.

Label noise / random labels are drawn for the whole pool (so an example's noisy label does not depend on
the subset size) but are applied only outside the validation hold-out: validation and test labels stay clean.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import torch

from gaplab.errors import DataError

from ..rng import derive_key
from . import transforms as T
from .checks import label_name
from .dataset import Dataset

# purpose tags for derived seeds: changing one setting never shifts another draw
_VAL, _SUBSET, _NOISE, _RANDOM, _PERM, _GAUSS = 1, 2, 3, 4, 5, 6


def generator_for(seed: int, purpose: int) -> torch.Generator:
    """A fresh generator seeded by (seed, purpose), independent across purposes."""
    return torch.Generator().manual_seed(derive_key(int(seed), int(purpose)))


@dataclass(frozen=True, eq=False)
class Prepared:
    """What one training run sees: index sets into the pool and the run's (possibly corrupted) labels."""

    dataset: Dataset
    train_idx: torch.Tensor  # int64 indices into dataset.x_train used for training
    val_idx: torch.Tensor  # int64 indices into dataset.x_train held out for validation (may be empty)
    labels: torch.Tensor  # the run's label table for the whole pool, noise/random labels applied
    corrupted: torch.Tensor  # bool (N,), which pool labels differ from the truth
    # bool (N,), labels that were redrawn at random (changed or not): the random set of RATT (Garg et al.)
    randomized: torch.Tensor

    @property
    def x_train(self) -> torch.Tensor:
        return self.dataset.x_train[self.train_idx]

    @property
    def y_train(self) -> torch.Tensor:
        return self.labels[self.train_idx]

    @property
    def x_val(self) -> torch.Tensor:
        return self.dataset.x_train[self.val_idx]

    @property
    def y_val(self) -> torch.Tensor:
        return self.labels[self.val_idx]


def _check_fraction(name: str, value: float, upper_inclusive: bool) -> None:
    ok = 0.0 <= value <= 1.0 if upper_inclusive else 0.0 <= value < 1.0
    if not ok:
        interval = "[0, 1]" if upper_inclusive else "[0, 1)"
        raise DataError(f"data.{name} must be in {interval}, got {value}")


def _check_validation(dataset: Dataset, val_fraction: float, rest: torch.Tensor, val_idx: torch.Tensor) -> None:
    """A validation split asked for must hold examples, leave some to train on, and not take a whole class."""
    if val_fraction == 0:
        return
    n = dataset.n_train
    where = f"data.val_fraction={val_fraction} of the {n}-example pool of {dataset.name!r}"
    if len(val_idx) == 0:
        raise DataError(f"{where} holds out no example; use at least {1 / n:.3g} or 0 for no validation")
    if len(rest) == 0:
        raise DataError(f"{where} holds out every example and leaves none to train on")
    if dataset.task == "classification":
        y = dataset.y_train
        left = torch.bincount(y[rest], minlength=int(y.max()) + 1)
        total = torch.bincount(y, minlength=int(y.max()) + 1)
        lost = torch.nonzero((total > 0) & (left == 0), as_tuple=True)[0].tolist()
        if lost:
            c = lost[0]
            raise DataError(f"{where} holds out every example of class {label_name(dataset.classes, c)} "
                            f"({int(total[c])} in the pool), leaving none to train on; lower the fraction or add "
                            "examples of that class")


def prepare(dataset: Dataset, *, seed: int, train_size: int | None = None, val_fraction: float = 0.0,
            label_noise: float = 0.0, noise_kind: Literal["symmetric", "asymmetric"] = "symmetric",
            random_label_fraction: float = 0.0) -> Prepared:
    """Draw validation split, then training subset, then label corruption, from separate derived seeds."""
    _check_fraction("val_fraction", val_fraction, upper_inclusive=False)
    _check_fraction("label_noise", label_noise, upper_inclusive=True)
    _check_fraction("random_label_fraction", random_label_fraction, upper_inclusive=True)
    if noise_kind not in ("symmetric", "asymmetric"):
        raise DataError(f"data.noise_kind must be 'symmetric' or 'asymmetric', got {noise_kind!r}")
    classification = dataset.task == "classification"
    if (label_noise > 0 or random_label_fraction > 0) and not classification:
        raise DataError(f"data.label_noise and data.random_labels need a classification data set; "
                        f"{dataset.name!r} is regression")

    y = dataset.y_train
    rest, val_idx = T.validation_split(y, val_fraction, generator_for(seed, _VAL))
    _check_validation(dataset, val_fraction, rest, val_idx)
    if train_size is None:
        train_idx = rest
    else:
        if not 1 <= int(train_size) <= len(rest):
            raise DataError(f"data.train_size must be between 1 and {len(rest)} for {dataset.name!r} (pool "
                            f"{len(y)} minus {len(val_idx)} validation examples), got {train_size}")
        train_idx = rest[T.stratified_subset(y[rest], int(train_size), generator_for(seed, _SUBSET))]

    labels = y.clone()
    randomized = torch.zeros(len(y), dtype=torch.bool)
    if classification:
        c = int(dataset.num_classes)  # type: ignore[arg-type]
        if label_noise > 0:
            labels, _ = T.label_noise(labels, label_noise, c, noise_kind, generator_for(seed, _NOISE))
            # the same first draw label_noise made: which labels were redrawn
            randomized |= torch.rand(len(y), generator=generator_for(seed, _NOISE)) < label_noise
        if random_label_fraction > 0:
            g = generator_for(seed, _RANDOM)
            labels, _ = T.random_labels(labels, c, g, fraction=random_label_fraction)
            chosen = torch.randperm(len(y), generator=generator_for(seed, _RANDOM))
            randomized[chosen[: int(round(random_label_fraction * len(y)))]] = True
        labels[val_idx] = y[val_idx]  # validation labels stay clean
        randomized[val_idx] = False
        corrupted = labels != y
    else:
        corrupted = torch.zeros(len(y), dtype=torch.bool)
    return Prepared(dataset, train_idx, val_idx, labels, corrupted, randomized)


def shared_view(dataset: Dataset, *, standardize: bool = True, permute_inputs: bool = False,
                gaussian_inputs: bool = False, seed: int = 0) -> Dataset:
    """Input view shared by runs with equal data settings: Gaussian inputs, fixed permutation, standardize.

    Standardization statistics come from the whole training pool, never the test set.
    """
    x_tr, x_te = dataset.x_train, dataset.x_test
    if gaussian_inputs:
        g = generator_for(seed, _GAUSS)
        x_tr, x_te = T.gaussian_inputs(x_tr, g), T.gaussian_inputs(x_te, g)
    if permute_inputs:
        perm = T.permutation(dataset.input_shape, generator_for(seed, _PERM))
        x_tr, x_te = T.permute_inputs(x_tr, perm), T.permute_inputs(x_te, perm)
    if standardize:
        s = T.Standardizer.fit(x_tr)
        x_tr, x_te = s.apply(x_tr), s.apply(x_te)
    return replace(dataset, x_train=x_tr, x_test=x_te)
