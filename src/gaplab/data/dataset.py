"""The in-memory dataset record shared by loaders, transforms and the trainer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

Task = Literal["classification", "regression"]


@dataclass(frozen=True, eq=False)
class Dataset:
    """A training pool plus a test set as tensors; ``classes`` optionally names the label ids."""

    name: str
    x_train: torch.Tensor  # float32 (N, *input_shape): the training pool
    y_train: torch.Tensor  # int64 (N,) for classification; float32 (N, out) for regression
    x_test: torch.Tensor
    y_test: torch.Tensor
    task: Task
    num_classes: int | None
    classes: list | None = None
    # The examples' names as the user knows them (CSV data row, .npz index, image path, DataFrame index), one per
    # pool / test example; None means position i is example i.
    ids: np.ndarray | None = None
    test_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.task not in ("classification", "regression"):
            raise ValueError(f"task must be 'classification' or 'regression', got {self.task!r}")
        if len(self.x_train) != len(self.y_train) or len(self.x_test) != len(self.y_test):
            raise ValueError(f"dataset {self.name!r}: inputs and targets differ in length")
        if self.task == "classification" and self.num_classes is None:
            raise ValueError(f"dataset {self.name!r}: classification needs num_classes")
        for ids, n, which in ((self.ids, len(self.x_train), "ids"), (self.test_ids, len(self.x_test), "test_ids")):
            if ids is not None and len(ids) != n:
                raise ValueError(f"dataset {self.name!r}: {len(ids)} {which} for {n} examples")

    def row_ids(self, positions: torch.Tensor | np.ndarray | list[int], test: bool = False) -> list[Any]:
        """The user's names of pool (or ``test``) examples at ``positions``, as plain ints or strings."""
        pos = np.asarray(positions.tolist() if isinstance(positions, torch.Tensor) else positions, dtype=np.int64)
        ids = self.test_ids if test else self.ids
        return pos.tolist() if ids is None else ids[pos].tolist()

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example (without the sample axis)."""
        return tuple(self.x_train.shape[1:])

    @property
    def output_dim(self) -> int:
        """Number of model outputs: classes for classification, target width for regression."""
        if self.task == "classification":
            return int(self.num_classes)  # type: ignore[arg-type]
        return int(self.y_train.shape[1]) if self.y_train.ndim > 1 else 1

    @property
    def n_train(self) -> int:
        """Size of the training pool."""
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        """Size of the test set."""
        return int(self.x_test.shape[0])
