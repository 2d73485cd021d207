"""Label smoothing and soft-target cross-entropy; the regularizer catalog."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gaplab.regularize import one_hot, smooth, soft_cross_entropy


def test_smooth_sums_to_one_per_model_eps():
    y = one_hot(torch.tensor([[0, 2, 1], [1, 1, 0]]), 3)
    s = smooth(y, torch.tensor([0.0, 0.3]))
    torch.testing.assert_close(s.sum(-1), torch.ones(2, 3))
    assert torch.equal(s[0], y[0])
    torch.testing.assert_close(s[1, 0], torch.tensor([0.1, 0.8, 0.1]))


def test_soft_ce_matches_torch_cross_entropy():
    torch.manual_seed(0)
    logits, y = torch.randn(3, 7, 5), torch.randint(0, 5, (3, 7))
    ours = soft_cross_entropy(logits, one_hot(y, 5))
    ref = torch.stack([F.cross_entropy(logits[k], y[k]) for k in range(3)])
    torch.testing.assert_close(ours, ref)
    eps = torch.tensor([0.0, 0.1, 0.25])
    ours_ls = soft_cross_entropy(logits, smooth(one_hot(y, 5), eps))
    ref_ls = torch.stack([F.cross_entropy(logits[k], y[k], label_smoothing=float(eps[k])) for k in range(3)])
    torch.testing.assert_close(ours_ls, ref_ls)


def test_soft_ce_weighted_mean():
    torch.manual_seed(1)
    logits, y = torch.randn(2, 6, 4), torch.randint(0, 4, (2, 6))
    w = torch.tensor([[1, 1, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0]])
    out = soft_cross_entropy(logits, one_hot(y, 4), weight=w)
    keep = w[0].bool()
    torch.testing.assert_close(out[0], F.cross_entropy(logits[0][keep], y[0][keep]))
    assert out[1] == 0
