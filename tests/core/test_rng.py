"""Counter-based uniforms (dropout masks): int32 lanes give exactly the numbers of the int64 definition."""

from __future__ import annotations

import torch

from gaplab import rng


def _reference(key: int, counter: int, shape: tuple[int, ...]) -> torch.Tensor:
    """The definition, in int64 lanes masked to 32 bits (how gaplab drew masks before the int32 version), with
    ``rng._mix32``, the int64 form of the hash."""
    _mix = rng._mix32
    h = _mix(torch.tensor(key, dtype=torch.int64) ^ _mix(torch.tensor(counter) * 0x9E3779B9 + 0x7F4A7C15))
    for d, n in enumerate(shape):
        view = [1] * len(shape)
        view[d] = n
        h = _mix((h * 0x632BE5AB) + torch.arange(n).view(view) + 0x2545F491)
    h = _mix(h ^ 0x5BD1E995) if shape else _mix(h)
    return (h >> 8).to(torch.float32).expand(shape) * (1.0 / 16777216.0)


def test_uniform_equals_its_int64_definition_bit_for_bit() -> None:
    g = torch.Generator().manual_seed(0)
    for _ in range(100):
        key, ctr = int(torch.randint(0, 2**32, (1,), generator=g)), int(torch.randint(0, 2**31, (1,), generator=g))
        nd = int(torch.randint(0, 4, (1,), generator=g))
        shape = tuple(int(v) for v in torch.randint(1, 9, (nd,), generator=g))
        assert torch.equal(rng.uniform(key, ctr, shape), _reference(key, ctr, shape)), (key, ctr, shape)


def test_stacked_and_vmapped_draws_are_each_models_own() -> None:
    keys = torch.tensor([0, 1, 2**31 - 1, 2**31, 2**32 - 1], dtype=torch.int64)
    stacked = rng.uniform_stacked(keys, 12345, (7, 9))
    vmapped = torch.vmap(lambda k: rng.uniform(k, 12345, (7, 9)))(keys)
    for i, k in enumerate(keys.tolist()):
        ref = _reference(k, 12345, (7, 9))
        assert torch.equal(stacked[i], ref) and torch.equal(vmapped[i], ref)
    u = stacked.flatten()
    assert 0.0 <= float(u.min()) and float(u.max()) < 1.0 and abs(float(u.mean()) - 0.5) < 0.1
