"""Run and sweep specs: validation messages name the key path, ids are stable, sweeps expand."""

from __future__ import annotations

import pytest

from gaplab.engine.validate import check_registries
from gaplab.spec import SpecError, SweepSpec, load_run, load_sweep, parse_run


def test_defaults_and_stable_id() -> None:
    a = parse_run({})
    b = parse_run({"seed": 0, "optim": {"lr": 0.01}})
    assert a.run_id == b.run_id and len(a.run_id) == 16
    assert parse_run({"seed": 1}).run_id != a.run_id
    # which device of a kind decides where, not what: same id; another kind (GPU kernels round differently) is not
    assert parse_run({"device": "cuda:1"}).run_id == parse_run({"device": "cuda"}).run_id != a.run_id


def test_model_and_data_arg_defaults_are_part_of_the_normalized_spec() -> None:
    bare = parse_run({"model": {"name": "mlp"}, "data": {"name": "mnist1d"}})
    spelled = parse_run({"model": {"name": "mlp", "args": {"width": 256, "activation": "relu"}},
                         "data": {"name": "mnist1d", "args": {"num_samples": 5000, "seed": 42}}})
    assert spelled.run_id == bare.run_id
    norm = bare.normalized()
    assert norm["model"]["args"]["width"] == 256 and norm["model"]["args"]["depth"] == 2
    assert "dropout" not in norm["model"]["args"]  # set in reg.dropout, never in model.args
    assert norm["data"]["args"]["num_samples"] == 5000 and norm["data"]["args"]["padding"] == [36, 60]
    # a non-default value is a different run; so is another model's default
    assert parse_run({"model": {"name": "mlp", "args": {"width": 100}}}).run_id != bare.run_id
    assert parse_run({"data": {"name": "mnist1d", "args": {"num_samples": 4000}}}).run_id != bare.run_id
    assert parse_run({"model": {"name": "cnn1d"}}).normalized()["model"]["args"] == {"channels": 25}
    # user files get the file reader's defaults; an unknown name keeps its args as given for the registry check
    assert parse_run({"data": {"path": "x.csv"}}).data.args["test_fraction"] == 0.2
    unknown = parse_run({"model": {"name": "nope", "args": {"w": 1}}, "data": {"name": "nope", "args": {"a": 1}}})
    assert unknown.model.args == {"w": 1} and unknown.data.args == {"a": 1}
    with pytest.raises(SpecError, match=r"data\.args\.num_samples"):
        check_registries(parse_run({"data": {"name": "mnist1d", "args": {"num_samples": 3}}}), None)


def test_keep_prob_is_dropout() -> None:
    assert parse_run({"reg": {"keep_prob": 0.8}}).run_id == parse_run({"reg": {"dropout": 0.2}}).run_id


@pytest.mark.parametrize(
    "data, path",
    [
        ({"optim": {"lr": -1}}, "optim.lr"),
        ({"optim": {"epochs": "ten"}}, "optim.epochs"),
        ({"reg": {"dropot": 0.1}}, "reg.dropot"),
        ({"reg": {"dropout": 1.5}}, "reg.dropout"),
        ({"data": {"label_noise": 2}}, "data.label_noise"),
    ],
)
def test_errors_name_the_key(data: dict, path: str) -> None:
    with pytest.raises(SpecError, match=path.replace(".", r"\.")):
        parse_run(data)


def test_registry_checks_name_model_and_data_args() -> None:
    with pytest.raises(SpecError, match=r"model\.args\.wdth"):
        check_registries(parse_run({"model": {"name": "mlp", "args": {"wdth": 3}}}), None)
    with pytest.raises(SpecError, match=r"data\.name"):
        check_registries(parse_run({"data": {"name": "nope"}}), None)
    with pytest.raises(SpecError, match=r"data\.args\.num_samples"):
        check_registries(parse_run({"data": {"name": "mnist1d", "args": {"num_samples": "x"}}}), None)


def test_yaml_errors_give_line(tmp_path) -> None:
    f = tmp_path / "run.yaml"
    f.write_text("data:\n  name: mnist1d\noptim:\n  lr: 0.1\n  epoch: 3\n")
    with pytest.raises(SpecError, match=r"optim\.epoch \(line 5\): unknown key"):
        load_run(f)
    t = tmp_path / "run.toml"
    t.write_text("seed = 3\n[optim]\nlr = 0.5\n")
    assert load_run(t).optim.lr == 0.5


def test_sweep_grid_and_zip(tmp_path) -> None:
    f = tmp_path / "sweep.yaml"
    f.write_text(
        "name: s\nbase:\n  optim: {epochs: 2}\n"
        "grid:\n  model.args.width: [8, 16]\n  seed: [0, 1, 2]\n"
        "zip:\n  reg.l2: [0.0, 1.0]\n  reg.dropout: [0.0, 0.5]\n"
    )
    runs = load_sweep(f).expand()
    assert len(runs) == 2 * 3 * 2
    assert {(r.reg.l2, r.reg.dropout) for r in runs} == {(0.0, 0.0), (1.0, 0.5)}
    assert len({r.run_id for r in runs}) == 12
    with pytest.raises(SpecError, match=r"reg\.l2"):
        SweepSpec(base={}, grid={"reg.l2": [-1.0]}).expand()
