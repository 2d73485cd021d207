"""``mnist1d-binary``: a two-class slice of MNIST-1D, for the binary RATT experiment (Garg et al. 2021)."""

from __future__ import annotations

from pathlib import Path

import torch
from pydantic import model_validator

from .builtin import Mnist1dArgs, load_mnist1d
from .dataset import Dataset
from .registry import register_dataset


class Mnist1dBinaryArgs(Mnist1dArgs):
    """MNIST-1D generation arguments plus the two digit classes kept (relabelled 0 and 1, in this order)."""

    classes: tuple[int, int] = (0, 1)

    @model_validator(mode="after")
    def _two_distinct_digits(self) -> Mnist1dBinaryArgs:
        a, b = self.classes
        if a == b or not (0 <= a <= 9 and 0 <= b <= 9):
            raise ValueError(f"classes must be two different digits 0..9, got {list(self.classes)}")
        return self


@register_dataset("mnist1d-binary", help="MNIST-1D restricted to two digits: args classes (a, b) become labels 0 and 1",
                  args_model=Mnist1dBinaryArgs)
def load_mnist1d_binary(args: Mnist1dBinaryArgs, cache_dir: Path | None = None) -> Dataset:
    """Generate (or load the cached) MNIST-1D with the same arguments and keep the two chosen digits."""
    base = Mnist1dArgs(**args.model_dump(exclude={"classes"}))
    ds = load_mnist1d(base, cache_dir)
    a, b = args.classes

    def pick(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        keep = (y == a) | (y == b)
        return x[keep].contiguous(), (y[keep] == b).to(torch.int64)

    x_tr, y_tr = pick(ds.x_train, ds.y_train)
    x_te, y_te = pick(ds.x_test, ds.y_test)
    return Dataset("mnist1d-binary", x_tr, y_tr, x_te, y_te, "classification", 2, classes=[a, b])
