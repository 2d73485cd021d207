"""Built-in ``inner-product`` regression: y = ⟨x, z⟩ (+ noise) on inputs concat(x, z), x, z ~ U(-1, 1)^d.

Seed 003 ("limits of neural networks"): an MLP cannot represent f(x, z) = ⟨x, z⟩ exactly, only approximate it;
multiplicative interaction layers can. ``ood_scale`` draws the *test* inputs from U(-s, s) instead, so a
model trained on [-1, 1] can be tested out of range; the training pool does not depend on it.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field

from .dataset import Dataset
from .registry import register_dataset


class InnerProductArgs(BaseModel):
    """Dimension d of x and z, pool/test sizes, training-target noise std and the test-input range."""

    model_config = ConfigDict(extra="forbid")

    d: int = Field(5, ge=1)
    n_train: int = Field(2000, ge=1)
    n_test: int = Field(2000, ge=1)
    noise: float = Field(0.0, ge=0.0)
    ood_scale: float = Field(1.0, gt=0.0)
    seed: int = 0


def inner_product_inputs(n: int, d: int, scale: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` inputs concat(x, z) with x, z ~ U(-scale, scale)^d, and their targets ⟨x, z⟩ as (n, 1)."""
    xz = (torch.rand(n, 2 * d, generator=generator) * 2 - 1) * scale
    y = (xz[:, :d] * xz[:, d:]).sum(1, keepdim=True)
    return xz, y


@register_dataset("inner-product", help="regression y = <x, z> on concat(x, z), x, z ~ U(-1, 1)^d; "
                  "ood_scale s draws test inputs from U(-s, s)", args_model=InnerProductArgs)
def load_inner_product(args: InnerProductArgs, cache_dir: object = None) -> Dataset:
    """Training pool from one stream (noise added to its targets), noiseless test set from another."""
    g_train = torch.Generator().manual_seed(2 * int(args.seed))
    g_test = torch.Generator().manual_seed(2 * int(args.seed) + 1)
    x_tr, y_tr = inner_product_inputs(args.n_train, args.d, 1.0, g_train)
    y_tr = y_tr + args.noise * torch.randn(args.n_train, 1, generator=g_train)
    x_te, y_te = inner_product_inputs(args.n_test, args.d, args.ood_scale, g_test)
    return Dataset("inner-product", x_tr, y_tr, x_te, y_te, "regression", None)
