"""A pack's parameters as one flat (K, P) table, with per-name views shaped like the stacked tensors.

One table lets the optimizer, the penalties, gradient clipping and best-weight copies run as one op over every
parameter of every model instead of one op per parameter tensor.
"""

from __future__ import annotations

import math

import torch


class FlatLayout:
    """Where each named parameter lives in the flat table: ``views(flat)[name]`` is a (K, *shape) view."""

    def __init__(self, shapes: dict[str, tuple[int, ...]]) -> None:
        self.shapes = dict(shapes)
        self.slices: dict[str, slice] = {}
        at = 0
        for name, shape in self.shapes.items():
            n = math.prod(shape)
            self.slices[name] = slice(at, at + n)
            at += n
        self.size = at
        self._recent: list[tuple[torch.Tensor, dict[str, torch.Tensor]]] = []  # (table, its views), newest last

    def views(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named (K, *shape) views into ``flat`` (K, P): writing a view writes the table.

        The views of the last few tables are kept (a step asks for those of the parameters and the gradients every
        time; making them costs more than a small pack's matmuls). A kept table is held, so it is never confused
        with a new tensor at a reused address."""
        for t, v in self._recent:
            if t is flat:
                return v
        k = flat.shape[0]
        views = {n: flat[:, sl].view(k, *self.shapes[n]) for n, sl in self.slices.items()}
        self._recent = [*self._recent[-3:], (flat, views)]
        return views

    def flatten(self, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
        """Stacked (K, *shape) tensors → a new (K, P) table (in this layout's order)."""
        return torch.cat([tensors[n].reshape(tensors[n].shape[0], -1) for n in self.slices], dim=1)

    def mask(self, names: list[str], device: torch.device) -> torch.Tensor:
        """(1, P) float: 1 on the entries of ``names``, 0 elsewhere."""
        m = torch.zeros(1, self.size, device=device)
        for n in names:
            m[:, self.slices[n]] = 1.0
        return m
