"""Augmentations: per-model independence (K=1 vs K=4 with the same seeds), shapes, and exact statistics."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gaplab.regularize import (
    cutmix,
    cutout_2d,
    flip_2d,
    gaussian_noise,
    mixup,
    one_hot,
    pad_crop_2d,
    rotate_2d,
    shift_1d,
)

SEEDS = [11, 12, 13, 14]


def gens(seeds):
    return [torch.Generator().manual_seed(s) for s in seeds]


def _x1d():
    return torch.randn(4, 6, 40, generator=torch.Generator().manual_seed(0))


def _x2d():
    return torch.randn(4, 6, 3, 8, 8, generator=torch.Generator().manual_seed(0))


def _y(b=6, c=5):
    return one_hot(torch.randint(0, c, (4, b), generator=torch.Generator().manual_seed(1)), c)


# fn(x, y, gens, p): p is a per-model parameter vector (K,), sliced along with x
CASES = {
    "shift_1d": (_x1d, lambda x, y, g, p: (shift_1d(x, 5, g),)),
    "shift_1d_channels": (lambda: _x1d().reshape(4, 6, 2, 20), lambda x, y, g, p: (shift_1d(x, 3, g),)),
    "noise": (_x1d, lambda x, y, g, p: (gaussian_noise(x, p, g),)),
    "flip": (_x2d, lambda x, y, g, p: (flip_2d(x, g),)),
    "pad_crop": (_x2d, lambda x, y, g, p: (pad_crop_2d(x, 2, g),)),
    "rotate": (_x2d, lambda x, y, g, p: (rotate_2d(x, 30.0, g),)),
    "cutout": (_x2d, lambda x, y, g, p: (cutout_2d(x, 3, g),)),
    "mixup": (_x1d, lambda x, y, g, p: mixup(x, y, p, g)),
    "cutmix_2d": (_x2d, lambda x, y, g, p: cutmix(x, y, 1.0, g)),
    "cutmix_1d": (_x1d, lambda x, y, g, p: cutmix(x, y, p, g)),
}
PARAM = torch.tensor([0.5, 1.0, 2.0, 0.3])


@pytest.mark.parametrize("name", list(CASES))
def test_model_k_alone_equals_model_k_in_pack(name):
    make_x, fn = CASES[name]
    x, y = make_x(), _y()
    pack = fn(x, y, gens(SEEDS), PARAM)
    assert pack[0].shape == x.shape
    for k, s in enumerate(SEEDS):
        alone = fn(x[k : k + 1], y[k : k + 1], gens([s]), PARAM[k : k + 1])
        for a, p in zip(alone, pack, strict=True):
            assert torch.equal(a[0], p[k]), (name, k)
    # and the seed matters: a different seed changes the output of the random op
    other = fn(x[:1], y[:1], gens([999]), PARAM[:1])
    assert not torch.equal(other[0][0], pack[0][0])


def test_gens_must_match_k():
    with pytest.raises(ValueError, match="len\\(gens\\)"):
        flip_2d(_x2d(), gens([1, 2]))


def test_shift_1d_is_a_zero_padded_translation():
    x = torch.arange(1.0, 11.0).expand(2, 3, 10).clone()
    out = shift_1d(x, 3, gens([5, 6]))
    for k in range(2):
        for b in range(3):
            row = out[k, b]
            matches = [s for s in range(-3, 4) if torch.equal(row, _shift_ref(x[k, b], s))]
            assert len(matches) == 1


def _shift_ref(v, s):
    out = torch.zeros_like(v)
    if s >= 0:
        out[s:] = v[: len(v) - s]
    else:
        out[:s] = v[-s:]
    return out


def test_gaussian_noise_std_per_model():
    x = torch.zeros(2, 200, 50)
    out = gaussian_noise(x, torch.tensor([0.0, 2.0]), gens([1, 2]))
    assert torch.equal(out[0], x[0])
    assert abs(out[1].std().item() - 2.0) < 0.05


def test_flip_each_image_is_original_or_mirrored_and_both_occur():
    x = torch.randn(2, 64, 1, 4, 5)
    out = flip_2d(x, gens([3, 4]))
    same = (out == x).flatten(2).all(-1)
    flipped = (out == x.flip(-1)).flatten(2).all(-1)
    assert (same | flipped).all()
    assert same.any() and flipped.any()


def test_pad_crop_is_a_window_of_the_padded_image():
    x = torch.randn(2, 10, 3, 6, 7)
    pad = 2
    out = pad_crop_2d(x, pad, gens([8, 9]))
    assert out.shape == x.shape
    xp = F.pad(x, (pad,) * 4)
    for k in range(2):
        for b in range(10):
            hits = [
                (i, j)
                for i in range(2 * pad + 1)
                for j in range(2 * pad + 1)
                if torch.equal(out[k, b], xp[k, b, :, i : i + 6, j : j + 7])
            ]
            assert hits


def test_rotate_zero_degrees_is_identity_and_keeps_shape():
    x = torch.randn(2, 3, 2, 6, 6)
    torch.testing.assert_close(rotate_2d(x, 0.0, gens([1, 2])), x, atol=1e-5, rtol=0)
    out = rotate_2d(x, 90.0, gens([1, 2]))
    assert out.shape == x.shape


def test_cutout_zeroes_size_squared_pixels_unless_clipped():
    k, b, h, w, size = 3, 200, 12, 12, 4
    out = cutout_2d(torch.ones(k, b, 2, h, w), size, gens([1, 2, 3]))
    assert torch.equal(out[:, :, 0], out[:, :, 1])  # same hole in every channel
    hole = out[:, :, 0] == 0
    full = 0
    for kk in range(k):
        for bb in range(b):
            rows = hole[kk, bb].any(1).nonzero().flatten()
            cols = hole[kk, bb].any(0).nonzero().flatten()
            n = int(hole[kk, bb].sum())
            assert n == len(rows) * len(cols)  # a rectangle
            assert len(rows) <= size and len(cols) <= size
            if len(rows) < size:
                assert rows.min() == 0 or rows.max() == h - 1  # only clipped at the border
            if len(cols) < size:
                assert cols.min() == 0 or cols.max() == w - 1
            full += n == size * size
    assert full > 0.4 * k * b


def test_mixup_lambda_statistics_and_labels_share_lambda():
    k = 4000
    g = gens(range(k))
    x = torch.randn(k, 3, 5, generator=torch.Generator().manual_seed(0))
    _, _, lam = mixup(x, x.clone(), 1.0, g)
    assert abs(lam.mean().item() - 0.5) < 0.02
    assert abs(lam.var().item() - 1 / 12) < 0.01  # Beta(1, 1) = U(0, 1)
    _, _, lam2 = mixup(x[:, :, :2], x[:, :, :2], 0.2, gens(range(k)))
    assert abs(lam2.mean().item() - 0.5) < 0.03
    assert abs(lam2.var().item() - 1 / (4 * 1.4)) < 0.01  # Var Beta(a, a) = 1/(4(2a + 1)), U-shaped
    # x used as its own soft target: the same λ and permutation must give y' == x'
    xs = torch.softmax(torch.randn(3, 8, 4), -1)
    xm, ym, lam3 = mixup(xs, xs.clone(), torch.tensor([0.5, 1.0, 3.0]), gens([1, 2, 3]))
    assert torch.equal(xm, ym)
    torch.testing.assert_close(ym.sum(-1), torch.ones(3, 8))


def test_mixup_alpha_zero_is_identity():
    x, y = _x1d(), _y()
    xm, ym, lam = mixup(x, y, torch.tensor([0.0, 0.0, 1.0, 0.0]), gens(SEEDS))
    assert lam[0] == 1 and lam[1] == 1 and lam[3] == 1 and lam[2] < 1
    assert torch.equal(xm[[0, 1, 3]], x[[0, 1, 3]]) and torch.equal(ym[[0, 1, 3]], y[[0, 1, 3]])


@pytest.mark.parametrize("shape", [(5, 1, 16, 16), (5, 40)])
def test_cutmix_lambda_is_exact_kept_fraction(shape):
    k = 64
    b = shape[0]
    ids = torch.arange(1.0, b + 1)  # sample b is the constant b + 1, so pasted pixels show up
    x = ids.reshape(1, b, *([1] * (len(shape) - 1))).expand(k, *shape).clone()
    y = one_hot(torch.arange(b).expand(k, b), b)
    xm, ym, lam = cutmix(x, y, 1.0, gens(range(100, 100 + k)))
    pasted = xm != x  # (K, B, ...)
    moved = pasted.flatten(2).any(-1)  # samples whose partner differs and whose box is non-empty
    box = pasted.any(1).flatten(1)  # one box per model
    frac = box.sum(1).double() / box.shape[1]
    torch.testing.assert_close(lam.double(), 1.0 - frac, rtol=0, atol=1e-7)
    assert (lam < 1).sum() > k // 2 and moved.any()
    for kk in range(k):
        for bb in range(b):
            if moved[kk, bb]:  # label of sample bb keeps λ of itself, 1 − λ goes to its partner
                torch.testing.assert_close(ym[kk, bb, bb], lam[kk])
                assert torch.equal(pasted[kk, bb].flatten(), box[kk])
    torch.testing.assert_close(ym.sum(-1), torch.ones(k, b))


def test_cutmix_alpha_zero_is_identity_and_bad_shape_rejected():
    x, y = _x2d(), _y()
    xm, ym, lam = cutmix(x, y, 0.0, gens(SEEDS))
    assert torch.equal(xm, x) and torch.equal(ym, y) and (lam == 1).all()
    with pytest.raises(ValueError):
        cutmix(torch.zeros(4, 6, 3, 8), y, 1.0, gens(SEEDS))
