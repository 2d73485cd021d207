"""``block-towers``: procedurally generated 2-D block towers labelled stable/unstable by exact statics.

A tower is a stack of ``h`` unit-height blocks of uniform density; block ``i`` has centre ``x_i`` and width
``w_i`` and rests on block ``i - 1`` (block 0 on the ground). It stands iff, for every block ``j >= 1``, the
centre of mass of blocks ``j..h-1`` (masses proportional to width) lies inside the contact interval of block
``j`` with block ``j - 1`` (the overlap of its base with the top face of the block below). The seed documents'
example (000, answer 4) after Battaglia, Hamrick & Tenenbaum 2013 and Lerer, Gross & Fergus 2016.

Features: per block slot, bottom to top, (centre, width), zero-padded to ``max_blocks`` slots (width 0 = no
block). Classes are balanced (0 = unstable, 1 = stable) within every height.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .dataset import Dataset
from .registry import register_dataset

MIN_WIDTH, MAX_WIDTH = 0.5, 1.5


def is_stable(x: np.ndarray, w: np.ndarray, heights: np.ndarray) -> np.ndarray:
    """Exact static stability of towers given centres ``x`` and widths ``w`` (both ``(n, max_blocks)``)."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    n, m = x.shape
    present = np.arange(m)[None, :] < np.asarray(heights)[:, None]
    mass = np.where(present, w, 0.0)
    # centre of mass of blocks j..top for every j: suffix sums
    s_m = np.cumsum(mass[:, ::-1], axis=1)[:, ::-1]
    s_mx = np.cumsum((mass * x)[:, ::-1], axis=1)[:, ::-1]
    com = s_mx / np.where(s_m > 0, s_m, 1.0)
    lo = np.maximum(x[:, 1:] - w[:, 1:] / 2, x[:, :-1] - w[:, :-1] / 2)
    hi = np.minimum(x[:, 1:] + w[:, 1:] / 2, x[:, :-1] + w[:, :-1] / 2)
    ok = (com[:, 1:] >= lo) & (com[:, 1:] <= hi)
    return np.all(ok | ~present[:, 1:], axis=1)


def make_towers(n: int, heights: list[int] | tuple[int, ...], max_blocks: int, rng: np.random.Generator,
                shift: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``n`` towers with heights drawn uniformly from ``heights`` and balanced labels within each height.

    Returns centres ``(n, max_blocks)``, widths ``(n, max_blocks)`` (zero beyond the top), heights ``(n,)``
    and labels ``(n,)`` (1 = stable). Offsets between neighbours are ``U(-s, s)`` times the largest offset that
    keeps them touching, with a per-tower looseness ``s ~ U(0, 1)``, so both classes occur at every height.
    """
    hs = rng.choice(np.asarray(heights), size=n)
    xs, ws, hh, ys = [], [], [], []
    for h in sorted(set(hs.tolist())):
        need = int((hs == h).sum())
        want = {0: need // 2, 1: need - need // 2}
        got: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {0: [], 1: []}
        counts = {0: 0, 1: 0}
        while counts[0] < want[0] or counts[1] < want[1]:
            b = max(256, 4 * need)
            w = rng.uniform(MIN_WIDTH, MAX_WIDTH, size=(b, h))
            s = rng.uniform(0.0, 1.0, size=(b, 1))
            reach = (w[:, 1:] + w[:, :-1]) / 2
            off = rng.uniform(-1.0, 1.0, size=(b, h - 1)) * s * reach
            x0 = rng.uniform(-shift, shift, size=(b, 1))
            x = np.concatenate([x0, x0 + np.cumsum(off, axis=1)], axis=1)
            xp = np.zeros((b, max_blocks))
            wp = np.zeros((b, max_blocks))
            xp[:, :h], wp[:, :h] = x, w
            lab = is_stable(xp, wp, np.full(b, h)).astype(int)
            for c in (0, 1):
                take = np.nonzero(lab == c)[0][: want[c] - counts[c]]
                if len(take):
                    got[c].append((xp[take], wp[take]))
                    counts[c] += len(take)
        for c in (0, 1):
            for xp, wp in got[c]:
                xs.append(xp)
                ws.append(wp)
                hh.append(np.full(len(xp), h))
                ys.append(np.full(len(xp), c))
    x, w, hgt, y = (np.concatenate(a) for a in (xs, ws, hh, ys))
    perm = rng.permutation(len(y))
    return x[perm], w[perm], hgt[perm], y[perm]


def tower_features(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per-slot (centre, width) pairs, flattened to ``(n, 2 * max_blocks)`` float32."""
    return np.stack([x, w], axis=2).reshape(len(x), -1).astype(np.float32)


class BlockTowersArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_train: int = Field(10000, ge=2)
    n_test: int = Field(2000, ge=2)
    min_height: int = Field(2, ge=1)
    max_height: int = Field(4, ge=1)
    test_min_height: int | None = None
    test_max_height: int | None = None
    max_blocks: int = Field(8, ge=1)
    shift: float = Field(1.0, ge=0.0)
    seed: int = 0

    @model_validator(mode="after")
    def _heights(self) -> BlockTowersArgs:
        lo = self.test_min_height or self.min_height
        hi = self.test_max_height or self.max_height
        if not (1 <= self.min_height <= self.max_height <= self.max_blocks and 1 <= lo <= hi <= self.max_blocks):
            raise ValueError("need 1 <= min_height <= max_height <= max_blocks (same for the test heights)")
        return self


@register_dataset("block-towers", help="2-D block towers, per-block (x, width) padded features; stable vs unstable",
                  args_model=BlockTowersArgs)
def load_block_towers(args: BlockTowersArgs, cache_dir: Path | None = None) -> Dataset:
    """Train towers of ``min_height..max_height`` blocks; test towers of the test heights (default the same)."""
    rng = np.random.default_rng(args.seed)
    train_h = list(range(args.min_height, args.max_height + 1))
    test_h = list(range(args.test_min_height or args.min_height, (args.test_max_height or args.max_height) + 1))
    x, w, _, y = make_towers(args.n_train, train_h, args.max_blocks, rng, args.shift)
    xt, wt, _, yt = make_towers(args.n_test, test_h, args.max_blocks, rng, args.shift)
    return Dataset("block-towers", torch.from_numpy(tower_features(x, w)), torch.from_numpy(y).long(),
                   torch.from_numpy(tower_features(xt, wt)), torch.from_numpy(yt).long(), "classification", 2,
                   classes=["unstable", "stable"])
