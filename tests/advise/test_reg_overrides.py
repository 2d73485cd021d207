"""advise and the caller's ``reg.*`` keys: AdamW's decoupled weight decay reaches every run as part of the recipe;
any other regularizer is an error naming it, never silently dropped (advise compares its own regularizers)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import gaplab
from gaplab.advise import data_spec
from gaplab.advise.plan import base_plan
from gaplab.errors import SpecError

DATA = {"name": "blobs", "args": {"n_train": 400}}


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What the spec door hands to ``gaplab.advise.advise`` (stopped there: nothing trains)."""
    seen: dict[str, Any] = {}

    def fake(data: Any, model: Any, budget: Any, **kw: Any) -> None:
        seen.update(kw, data=data, model=model)
        raise KeyboardInterrupt

    import gaplab.advise as package

    monkeypatch.setattr(package, "advise", fake)
    return seen


def _call(captured: dict[str, Any], tmp_path: Any, **kw: Any) -> dict[str, Any]:
    with pytest.raises(KeyboardInterrupt):
        gaplab.advise(data="blobs", progress=False, store=tmp_path / "s.db", **kw)
    return captured


def test_adamw_weight_decay_reaches_every_run(captured: dict[str, Any], tmp_path: Any) -> None:
    net = torch.nn.Linear(2, 2)
    kw = _call(captured, tmp_path, optimizer=torch.optim.AdamW(net.parameters(), lr=0.01, weight_decay=0.1))
    assert (kw["optimizer"], kw["lr"], kw["weight_decay"]) == ("adamw", 0.01, 0.1)
    recipe = {k: kw[k] for k in ("optimizer", "lr", "weight_decay")}
    plan = base_plan(data_spec(DATA), "mlp", {"width": 8}, 400, recipe=recipe)
    for config in plan.configs:
        spec = plan.spec(config, plan.sizes[0], 0)
        assert spec.reg.weight_decay == 0.1 and spec.optim.name == "adamw"
    assert plan.spec(plan.configs[1], 400, 0).reg.l2 == 1.0  # a configuration's own keys stay
    assert "weight decay 0.1 (decoupled) in every configuration" in plan.describe()
    assert "weight_decay" in plan.recipe_source


def test_no_weight_decay_leaves_the_runs_as_they_were(captured: dict[str, Any], tmp_path: Any) -> None:
    kw = _call(captured, tmp_path)
    assert kw.get("weight_decay") is None
    plain = base_plan(data_spec(DATA), "mlp", {"width": 8}, 400)
    given = base_plan(data_spec(DATA), "mlp", {"width": 8}, 400, recipe={"weight_decay": None})
    assert plain.spec(plain.configs[0], 400, 0).run_id == given.spec(given.configs[0], 400, 0).run_id


@pytest.mark.parametrize(("kw", "field"), [({"l2": 1.0}, "reg.l2"), ({"dropout": 0.2}, "reg.dropout"),
                                           ({"label_smoothing": 0.1}, "reg.label_smoothing")])
def test_other_regularizers_are_an_error_naming_the_field(captured: dict[str, Any], tmp_path: Any,
                                                          kw: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError, match=f"^{field}: advise compares its own regularizers"):
        gaplab.advise(data="blobs", progress=False, store=tmp_path / "s.db", **kw)
    assert not captured  # refused before anything was planned


def test_a_spec_reg_section_is_checked_too(captured: dict[str, Any], tmp_path: Any) -> None:
    with pytest.raises(SpecError, match=r"^reg\.mixup:"):
        gaplab.advise({"data": {"name": "blobs"}, "reg": {"mixup": 0.2}}, progress=False, store=tmp_path / "s.db")
    kw = _call(captured, tmp_path, weight_decay=0.05)
    assert kw["weight_decay"] == 0.05
