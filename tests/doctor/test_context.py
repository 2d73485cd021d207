"""The doctor's context: shared measurements are typed properties computed once, on first use; what the
families found is a typed record the figures read."""

from __future__ import annotations

import pytest

from gaplab.doctor import baselines, lr_range, main_run
from gaplab.doctor.context import Context, Found
from gaplab.spec import parse_run


@pytest.fixture
def ctx() -> Context:
    spec = parse_run({"data": {"name": "moons", "args": {"n_train": 200, "n_test": 100}}, "model": {"name": "mlp"}})
    return Context(spec, "quick")


def test_shared_measurements_are_computed_once_on_first_use(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def fake(name: str) -> object:
        def compute(c: Context) -> object:
            calls.append(name)
            return object()
        return compute

    monkeypatch.setattr(main_run, "train_main", fake("main"))
    monkeypatch.setattr(lr_range, "measure", fake("lr"))
    monkeypatch.setattr(baselines, "fit_baselines", fake("baselines"))
    assert ctx.found == Found() and calls == []  # nothing trains before a family asks
    assert ctx.main is ctx.main and ctx.found.main is ctx.main
    assert ctx.lr_curve is ctx.lr_curve and ctx.found.lr_curve is ctx.lr_curve
    assert ctx.baselines is ctx.baselines
    assert calls == ["main", "lr", "baselines"]


def test_initial_model_and_loss_are_shared(ctx: Context) -> None:
    assert ctx.initial_model is ctx.initial_model
    loss = ctx.init_loss
    assert loss == ctx.init_loss and 0.3 < loss < 1.5  # two classes: about ln 2 at init
    ctx.init_loss = 0.5  # the init family measures it on the same batch and model, and records it
    assert ctx.init_loss == 0.5
