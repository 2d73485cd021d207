"""advise's patience rule: every size trains until its training loss stops falling, capped at the recipe's epochs."""

from __future__ import annotations

from dataclasses import replace

from gaplab.advise import data_spec
from gaplab.advise.plan import CONVERGE_MIN_DELTA, CONVERGE_STEPS, base_plan
from gaplab.engine.pack import train_pack
from gaplab.engine.planning import steps_per_epoch

DATA = {"name": "blobs", "args": {"n_train": 800}}


def test_every_size_gets_a_patience_of_about_the_same_steps() -> None:
    plan = base_plan(data_spec(DATA), "mlp", {"width": 16}, 800)
    configs = {c.name: c for c in plan.configs}
    for m in (plan.sizes[0], plan.sizes[-1]):
        spec = plan.spec(configs["plain"], m, 0)
        es = spec.reg.early_stopping
        assert es is not None and es.monitor == "train_loss" and es.min_delta == CONVERGE_MIN_DELTA
        assert es.patience * steps_per_epoch(spec) >= CONVERGE_STEPS
        assert spec.optim.epochs == plan.epochs_for(m)  # the cap: the recipe's epochs
    assert plan.spec(configs["early-stop"], 800, 0).reg.early_stopping.monitor == "val_loss"  # type: ignore[union-attr]
    assert plan.spec(configs["l2-10"], 800, 0).reg.l2 == 10.0  # the rule does not replace a configuration's keys
    assert replace(plan, converge=False).spec(configs["plain"], 800, 0).reg.early_stopping is None
    assert "until its training loss stops falling" in plan.describe()


def test_an_easy_size_stops_before_its_cap() -> None:
    plan = replace(base_plan(data_spec(DATA), "mlp", {"width": 16}, 800), epochs=60)
    spec = plan.spec(plan.configs[0], 800, 0)
    (run,) = train_pack([spec])
    assert run.final["stopped_epoch"] is not None and run.final["stopped_epoch"] < spec.optim.epochs
    assert run.final["test_acc"] > 0.8  # 0.92 measured
