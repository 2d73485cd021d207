"""The one registry of regularizers and augmentations: everything listed is settable, everything settable is
listed, and the engine's penalty gradients are the penalties' gradients."""

from __future__ import annotations

import pytest
import torch

from gaplab.engine.validate import check_augment
from gaplab.errors import SpecError
from gaplab.regularize.catalog import AUGMENTATIONS, REGULARIZERS, list_regularizers
from gaplab.regularize.penalties import add_penalty_grads_, l1_grad_scale, l1_penalty, l2_grad_scale, l2_penalty
from gaplab.spec import RegSpec, RunSpec, parse_run

# RegSpec fields that qualify another regularizer rather than switch one on.
OPTIONS = {"penalize_bias", "penalize_norm", "keep_prob"}


def test_every_listed_regularizer_is_a_spec_key_that_changes_the_run() -> None:
    base = RunSpec()
    for r in REGULARIZERS:
        keys = r.key.split(" + ")
        assert all(k.removeprefix("reg.") in RegSpec.model_fields for k in keys), r
        if r.example is not None:
            assert base.replace(**{r.key: r.example}).run_id != base.run_id, r
    assert set(list_regularizers()) == {r.name for r in REGULARIZERS}


def test_every_spec_regularizer_and_augmentation_is_listed() -> None:
    listed = {k.removeprefix("reg.") for r in REGULARIZERS for k in r.key.split(" + ")}
    assert set(RegSpec.model_fields) - OPTIONS == listed
    named = {r.example[0]["name"] for r in REGULARIZERS if r.key == "reg.augment"}
    assert named == set(AUGMENTATIONS)


def test_augmentation_names_and_shapes_come_from_the_registry() -> None:
    with pytest.raises(SpecError, match="unknown augmentation 'zoom'; choose from: shift, noise, flip"):
        parse_run({"reg": {"augment": [{"name": "zoom"}]}})
    for name, a in AUGMENTATIONS.items():
        spec = parse_run({"reg": {"augment": [{"name": name, "amount": 2}]}})
        if a.images_only:
            with pytest.raises(SpecError, match="needs image inputs"):
                check_augment(spec, (40,))
        check_augment(spec, (1, 8, 8))
        x = torch.randn(2, 3, 1, 8, 8) if a.images_only else torch.randn(2, 3, 40)
        gens = [torch.Generator().manual_seed(i) for i in range(2)]
        assert a.apply(x, 2.0, gens).shape == x.shape


def test_engine_penalty_gradient_is_the_penalties_gradient() -> None:
    torch.manual_seed(0)
    w = torch.randn(3, 7, dtype=torch.float64, requires_grad=True)
    lam2, lam1 = torch.tensor([0.0, 0.5, 2.0], dtype=torch.float64), torch.tensor([1.0, 0.0, 0.3], dtype=torch.float64)
    m = torch.tensor([10.0, 20.0, 5.0], dtype=torch.float64)
    (l2_penalty({"w": w}, ["w"], lam2, m) + l1_penalty({"w": w}, ["w"], lam1, m)).sum().backward()
    mask = torch.ones(3, 7, dtype=torch.float64)
    g = torch.zeros(3, 7, dtype=torch.float64)
    with torch.no_grad():
        add_penalty_grads_(g, w, l2_grad_scale(lam2, m).unsqueeze(1) * mask, l1_grad_scale(lam1, m).unsqueeze(1) * mask)
    torch.testing.assert_close(g, w.grad)
