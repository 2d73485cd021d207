"""The doctor's packs side by side (the engine's ``run_in_threads``, tests/core/test_side_by_side.py): the range
trained as two packs that prune together gives the one-pack range's suggestion, votes, groups."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from gaplab.doctor import lr_range, parallel
from gaplab.doctor.context import Context
from gaplab.spec import parse_run


def test_range_side_by_side_matches_one_pack() -> None:
    spec = parse_run({"data": {"name": "teacher-mlp", "args": {"n_train": 400, "n_test": 50, "classes": 3}},
                      "model": {"name": "mlp", "args": {"width": 16}}, "optim": {"epochs": 6, "batch_size": 50}})
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = lr_range.measure(Context(spec, "default"))
        torch.set_num_threads(2)  # 5 seeds (a small validation split): packs of 2 and 3 seeds side by side
        two = lr_range.measure(Context(spec, "default"))
    finally:
        torch.set_num_threads(before)
    assert torch.get_num_threads() == before
    assert one.stopped is not None and two.stopped is not None and (one.stopped > 0).any()
    np.testing.assert_array_equal(one.stopped, two.stopped)  # the same pruning, decided across both packs
    # the same trainings to float rounding, which a diverging rate (the grid's top) may amplify
    close = np.isclose(one.losses, two.losses, rtol=1e-5) | ~np.isfinite(one.losses)
    assert close.mean() > 0.9
    got, want = lr_range.suggest(two).lr, lr_range.suggest(one).lr
    assert want is not None and got == pytest.approx(want, rel=1e-5)


def test_vote_waits_for_every_pack_unless_it_ended() -> None:
    vote = parallel.Vote(2)
    vote.end(1)  # a pack whose copies all diverged before the first prune point
    assert vote.agree(0, 0, np.array([True, False])).tolist() == [True, False]
    both = parallel.Vote(2)
    out: list[list[bool]] = []
    t = threading.Thread(target=lambda: out.append(both.agree(0, 1, np.array([False, True])).tolist()))
    t.start()
    assert both.agree(0, 0, np.array([True, False])).tolist() == [True, True]
    t.join(5)
    assert out == [[True, True]]
    assert parallel.split(5, 2) == [range(0, 2), range(2, 5)] and parallel.split(1, 2) == [range(0, 1)]


def test_groups_follow_the_engines_slots() -> None:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert parallel.groups_for(5, "cpu") == [range(0, 2), range(2, 5)]
        assert parallel.groups_for(5, "cuda:0") == [range(0, 5)]  # packs on a GPU share the device: one
        assert parallel.groups_for(1, "cpu") == [range(0, 1)]
        torch.set_num_threads(1)
        assert parallel.groups_for(5, "cpu") == [range(0, 5)]
    finally:
        torch.set_num_threads(before)


def test_label_noise_folds_side_by_side_match_one_pack() -> None:
    from gaplab.doctor import label_noise

    spec = parse_run({"data": {"name": "teacher-mlp", "args": {"n_train": 400, "n_test": 50, "classes": 3},
                               "label_noise": 0.2},
                      "model": {"name": "mlp", "args": {"width": 16}}, "optim": {"epochs": 2, "batch_size": 50}})
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = label_noise.fold_probabilities(Context(spec, "default"))
        torch.set_num_threads(2)  # 4 folds: two packs of 2, each predicting its own folds' rows
        two = label_noise.fold_probabilities(Context(spec, "default"))
    finally:
        torch.set_num_threads(before)
    torch.testing.assert_close(two.averaged, one.averaged, rtol=0, atol=1e-5)
    torch.testing.assert_close(two.last, one.last, rtol=0, atol=1e-5)


def test_main_run_side_by_side_matches_one_pack() -> None:
    from gaplab.doctor.main_run import train_main

    spec = parse_run({"data": {"name": "teacher-mlp", "args": {"n_train": 200, "n_test": 50, "classes": 3}},
                      "model": {"name": "mlp", "args": {"width": 16}}, "optim": {"epochs": 2, "batch_size": 50}})
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = train_main(Context(spec, "default"))
        torch.set_num_threads(2)  # 2 seeds: a pack each
        two = train_main(Context(spec, "default"))
    finally:
        torch.set_num_threads(before)
    np.testing.assert_allclose(two.losses, one.losses, rtol=1e-5)
    assert two.ratio_steps == one.ratio_steps and two.ratios.keys() == one.ratios.keys()
    for n in one.ratios:
        np.testing.assert_allclose(two.ratios[n], one.ratios[n], rtol=1e-4)
    for a, b in zip(one.results, two.results, strict=True):
        assert a.spec == b.spec and a.final["val_loss"] == pytest.approx(b.final["val_loss"], rel=1e-5)
    for p, q in zip(two.trained_model().parameters(), one.trained_model().parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)  # seed 0's model, read from the first pack
