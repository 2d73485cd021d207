"""Transforms: stratification, train-only standardization, label corruption, fixed input permutation."""

import pytest
import torch

from gaplab.data import (
    Standardizer,
    gaussian_inputs,
    label_noise,
    permutation,
    permute_inputs,
    random_labels,
    stratified_subset,
    validation_split,
)


def g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_stratified_subset_proportions():
    y = torch.cat([torch.zeros(600), torch.ones(300), torch.full((100,), 2)]).long()
    y = y[torch.randperm(1000, generator=g(1))]
    idx = stratified_subset(y, 101, g())
    assert len(idx) == 101 and len(torch.unique(idx)) == 101
    counts = torch.bincount(y[idx], minlength=3).tolist()
    assert counts in ([61, 30, 10], [60, 31, 10], [60, 30, 11])
    assert torch.equal(idx, stratified_subset(y, 101, g()))
    with pytest.raises(ValueError):
        stratified_subset(y, 1001, g())


def test_stratified_subset_regression_is_plain_subset():
    y = torch.randn(50, 1)
    idx = stratified_subset(y, 20, g())
    assert len(torch.unique(idx)) == 20 and idx.dtype == torch.int64


def test_validation_split_disjoint_and_stratified():
    y = torch.arange(10).repeat(20)
    tr, va = validation_split(y, 0.1, g())
    assert len(va) == 20 and len(tr) == 180
    assert set(tr.tolist()).isdisjoint(va.tolist())
    assert torch.bincount(y[va]).tolist() == [2] * 10
    tr0, va0 = validation_split(y, 0.0, g())
    assert len(va0) == 0 and len(tr0) == 200


def test_standardizer_uses_train_stats_only():
    x_train = torch.randn(500, 3, generator=g()) * 2 + 5
    x_test = torch.randn(300, 3, generator=g(1)) * 2 + 8
    s = Standardizer.fit(x_train)
    z = s.apply(x_train)
    assert torch.allclose(z.mean(0), torch.zeros(3), atol=1e-5)
    assert torch.allclose(z.std(0, unbiased=False), torch.ones(3), atol=1e-4)
    assert (s.apply(x_test).mean(0) > 1).all()  # test mean is not 0
    const = Standardizer.fit(torch.ones(10, 2))
    assert torch.isfinite(const.apply(torch.full((3, 2), 2.0))).all()


def test_symmetric_label_noise_rate_and_mask():
    c, rate = 10, 0.4
    y = torch.arange(c).repeat(2000)
    noisy, corrupted = label_noise(y, rate, c, "symmetric", g(3))
    frac = corrupted.float().mean().item()
    assert abs(frac - rate * (c - 1) / c) < 0.02
    assert torch.equal(corrupted, noisy != y)
    again, _ = label_noise(y, rate, c, "symmetric", g(3))
    assert torch.equal(noisy, again)
    other, _ = label_noise(y, rate, c, "symmetric", g(4))
    assert not torch.equal(noisy, other)
    clean, none = label_noise(y, 0.0, c, "symmetric", g(3))
    assert torch.equal(clean, y) and not none.any()


def test_asymmetric_label_noise_maps_to_next_class():
    c = 4
    y = torch.arange(c).repeat(1000)
    noisy, corrupted = label_noise(y, 0.3, c, "asymmetric", g())
    assert torch.equal(noisy[corrupted], (y[corrupted] + 1) % c)
    assert abs(corrupted.float().mean().item() - 0.3) < 0.03
    with pytest.raises(ValueError):
        label_noise(y, 0.3, c, "weird", g())


def test_random_labels():
    y = torch.zeros(1000, dtype=torch.long)
    new, corrupted = random_labels(y, 10, g(), fraction=0.5)
    assert torch.equal(corrupted, new != y)
    # 500 replaced, ~9/10 of them change
    assert 400 < int(corrupted.sum()) <= 500
    full, _ = random_labels(y, 10, g())
    assert torch.bincount(full, minlength=10).min() > 60


def test_permutation_same_for_train_and_test():
    shape = (1, 4, 5)
    perm = permutation(shape, g(2))
    assert sorted(perm.tolist()) == list(range(20))
    x_train = torch.arange(3 * 20.0).reshape(3, *shape)
    x_test = x_train[:1].clone()
    a, b = permute_inputs(x_train, perm), permute_inputs(x_test, perm)
    assert a.shape == x_train.shape and torch.equal(a[0], b[0])
    assert torch.equal(a.reshape(3, -1)[:, :], x_train.reshape(3, -1)[:, perm])
    assert torch.equal(perm, permutation(shape, g(2)))


def test_gaussian_inputs_match_moments():
    x = torch.randn(4000, 2, generator=g()) * torch.tensor([1.0, 3.0]) + torch.tensor([2.0, -1.0])
    z = gaussian_inputs(x, g(1))
    assert z.shape == x.shape and not torch.equal(z, x)
    assert torch.allclose(z.mean(0), x.mean(0), atol=0.15)
    assert torch.allclose(z.std(0), x.std(0), rtol=0.05)
