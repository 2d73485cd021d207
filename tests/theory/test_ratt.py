import math

import pytest

from gaplab.theory import ratt


def test_estimate_binary_theorem1():
    # E_S + 1 - 2 E_S~
    assert ratt.estimate(0.0, 0.5, 2) == pytest.approx(0.0)  # fits clean, chance on random labels
    assert ratt.estimate(0.1, 0.5, 2) == pytest.approx(0.1)
    assert ratt.estimate(0.05, 0.4, 2) == pytest.approx(0.25)
    assert ratt.estimate(0.0, 0.0, 2) == pytest.approx(1.0)  # memorized random labels: vacuous


def test_estimate_multiclass():
    # E_S + (k-1)(1 - k/(k-1) E_S~)
    k = 10
    assert ratt.estimate(0.03, 0.9, k) == pytest.approx(0.03)  # chance on random labels = (k-1)/k
    assert ratt.estimate(0.03, 0.85, k) == pytest.approx(0.03 + 9 - 8.5)
    assert ratt.estimate(0.0, 0.0, k) == pytest.approx(9.0)
    # k = 2 through the multiclass expression is the binary one
    assert ratt.estimate(0.2, 0.3, 2) == pytest.approx(0.2 + 1 - 0.6)


def test_bound_binary_hand_computed():
    n, m, delta = 10_000, 1_000, 0.05
    e_s, e_r = 0.02, 0.48
    expected = e_s + 1 - 2 * e_r + (math.sqrt(2) * e_r + 2 + m / (2 * n)) * math.sqrt(math.log(4 / delta) / m)
    assert ratt.bound(e_s, e_r, 2, n, m, delta) == pytest.approx(expected)


def test_bound_multiclass_hand_computed():
    n, m, delta, k = 40_000, 10_000, 0.01, 10
    slack = (k + math.sqrt(k) + m / (n * math.sqrt(k))) * math.sqrt(math.log(4 / delta) / (2 * m))
    expected = 0.05 + (k - 1) * (1 - k / (k - 1) * 0.88) + slack
    assert ratt.bound(0.05, 0.88, k, n, m, delta) == pytest.approx(expected)


@pytest.mark.parametrize("k", [2, 10])
def test_bound_above_estimate_and_shrinks_with_m(k):
    n, delta = 50_000, 0.05
    chance = (k - 1) / k
    prev = math.inf
    for m in (100, 1_000, 5_000, 20_000):
        b = ratt.bound(0.05, chance, k, n, m, delta)
        assert b > ratt.estimate(0.05, chance, k)
        assert b < prev
        prev = b
    # smaller delta -> larger bound
    assert ratt.bound(0.05, chance, k, n, 1000, 0.001) > ratt.bound(0.05, chance, k, n, 1000, 0.1)


def test_invalid_inputs():
    with pytest.raises(ValueError):
        ratt.estimate(0.1, 1.5, 2)
    with pytest.raises(ValueError):
        ratt.estimate(0.1, 0.5, 1)
    with pytest.raises(ValueError):
        ratt.bound(0.1, 0.5, 2, 100, 0, 0.05)
    with pytest.raises(ValueError):
        ratt.bound(0.1, 0.5, 2, 100, 10, 1.5)
