"""prepare()/shared_view(): seeded, independent draws per purpose; clean validation labels."""

import pytest
import torch

from gaplab.data import Dataset, load_dataset, prepare, shared_view


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits")


def test_prepare_deterministic(digits):
    a = prepare(digits, seed=1, train_size=200, val_fraction=0.1, label_noise=0.2)
    b = prepare(digits, seed=1, train_size=200, val_fraction=0.1, label_noise=0.2)
    for f in ("train_idx", "val_idx", "labels", "corrupted"):
        assert torch.equal(getattr(a, f), getattr(b, f))
    assert a.train_idx.dtype == torch.int64 and len(a.train_idx) == 200
    assert len(a.val_idx) == round(0.1 * digits.n_train)
    assert set(a.train_idx.tolist()).isdisjoint(a.val_idx.tolist())
    c = prepare(digits, seed=2, train_size=200, val_fraction=0.1)
    assert not torch.equal(a.train_idx, c.train_idx)


def test_label_noise_does_not_change_subset(digits):
    base = prepare(digits, seed=5, train_size=300, val_fraction=0.2)
    noisy = prepare(digits, seed=5, train_size=300, val_fraction=0.2, label_noise=0.5)
    rnd = prepare(digits, seed=5, train_size=300, val_fraction=0.2, random_label_fraction=1.0)
    asym = prepare(digits, seed=5, train_size=300, val_fraction=0.2, label_noise=0.3, noise_kind="asymmetric")
    for p in (noisy, rnd, asym):
        assert torch.equal(p.train_idx, base.train_idx) and torch.equal(p.val_idx, base.val_idx)
    assert not base.corrupted.any() and torch.equal(base.labels, digits.y_train)
    assert noisy.corrupted[noisy.train_idx].any()
    for p in (noisy, rnd, asym):
        assert torch.equal(p.labels[p.val_idx], digits.y_train[p.val_idx])  # validation stays clean
        assert torch.equal(p.corrupted, p.labels != digits.y_train)
    # same noise settings, different subset size: noisy label of an example does not change
    bigger = prepare(digits, seed=5, train_size=600, val_fraction=0.2, label_noise=0.5)
    assert torch.equal(bigger.labels, noisy.labels)


def test_prepare_bad_values(digits):
    with pytest.raises(ValueError, match="data.train_size"):
        prepare(digits, seed=0, train_size=digits.n_train, val_fraction=0.1)
    with pytest.raises(ValueError, match="data.val_fraction"):
        prepare(digits, seed=0, val_fraction=1.0)
    with pytest.raises(ValueError, match="data.label_noise"):
        prepare(digits, seed=0, label_noise=-0.1)
    with pytest.raises(ValueError, match="data.noise_kind"):
        prepare(digits, seed=0, label_noise=0.1, noise_kind="pair")
    sine = load_dataset("sine")
    with pytest.raises(ValueError, match="classification"):
        prepare(sine, seed=0, label_noise=0.1)
    p = prepare(sine, seed=0, train_size=10)
    assert len(p.train_idx) == 10 and not p.corrupted.any()


def test_shared_view(digits):
    v = shared_view(digits)
    assert torch.allclose(v.x_train.mean(0), torch.zeros(digits.input_shape), atol=1e-5)
    assert not torch.allclose(v.x_test.mean(0), torch.zeros(digits.input_shape), atol=1e-3)
    assert torch.isfinite(v.x_test).all() and v.input_shape == digits.input_shape
    assert torch.equal(v.y_train, digits.y_train)
    p1 = shared_view(digits, standardize=False, permute_inputs=True, seed=3)
    p2 = shared_view(digits, standardize=False, permute_inputs=True, seed=3)
    assert torch.equal(p1.x_train, p2.x_train)
    # one permutation for train and test: the multiset of pixels per image is unchanged
    assert torch.equal(p1.x_test.flatten(1).sort(1).values, digits.x_test.flatten(1).sort(1).values)
    assert not torch.equal(p1.x_test, digits.x_test)
    x, y = digits.x_train, digits.y_train
    twin = Dataset("twin", x, y, x.clone(), y, "classification", 10)
    tv = shared_view(twin, permute_inputs=True, seed=3)
    assert torch.equal(tv.x_train, tv.x_test)  # same permutation (and same standardizer) for train and test
    gsn = shared_view(digits, gaussian_inputs=True, seed=3)
    assert gsn.x_train.shape == digits.x_train.shape and not torch.equal(gsn.x_train, v.x_train)
