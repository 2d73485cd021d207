"""The block-towers study and its data set: exact statics, quick preset holds, noisy perception breaks it."""

from __future__ import annotations

import numpy as np

from gaplab.data.builtin_block_towers import is_stable, make_towers
from gaplab.data.registry import load_dataset
from gaplab.studies import get


def test_statics_by_hand():
    pad = [0.0] * 5
    w = np.array([[1.0, 1.0, 1.0] + pad])
    # top pair's centre of mass at 0.75 lies beyond the base's right edge 0.5: falls
    assert not is_stable(np.array([[0.0, 0.5, 1.0] + pad]), w, np.array([3]))[0]
    # overhang balanced by the block above: centre of mass of blocks 1-2 at 0.2, inside [-0.1, 0.5]
    assert is_stable(np.array([[0.0, 0.4, 0.0] + pad]), w, np.array([3]))[0]


def test_dataset_balanced_and_heights():
    ds = load_dataset("block-towers", {"n_train": 400, "n_test": 100, "seed": 1})
    assert ds.x_train.shape == (400, 16) and ds.num_classes == 2
    assert abs(float(ds.y_train.float().mean()) - 0.5) < 0.05
    widths = ds.x_train[:, 1::2]
    heights = (widths > 0).sum(1)
    assert set(heights.tolist()) <= {2, 3, 4}
    x, w, h, y = make_towers(50, [7], 8, np.random.default_rng(0))
    assert (h == 7).all() and y.sum() == 25
    assert (is_stable(x, w, h).astype(int) == y).all()


def test_block_towers_quick_holds(quick_verdict):
    v = quick_verdict("block-towers")
    assert v.held is True, v.summary
    n = v.numbers
    assert set(n["simulator_accuracy"]) == {str(h) for h in range(2, 9)}
    assert set(n["net_accuracy"]) == {"300", "3000"}
    assert n["simulator_accuracy_tall_heights"] > 0.85
    assert n["net_accuracy_tall_heights"]["3000"] < n["net_accuracy_seen_heights"]["3000"] - 0.1
    assert "samples_for_net_to_match_simulator" in n
    assert v.figures == ["block_towers.png"]


def test_block_towers_blurry_simulator_breaks(quick_verdict):
    # with perceptual noise of half a block width (the declared breaking case) the simulator drops on tall towers
    v = quick_verdict("block-towers", **get("block-towers").breaking)
    assert v.held is False
    assert {c["name"]: c["passed"] for c in v.checks}["simulator_high_on_tall"] is False
