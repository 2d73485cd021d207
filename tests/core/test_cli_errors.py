"""Only bad input exits 2 with one line; anything else is a bug and shows its traceback (exit 1)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gaplab.cli.app import app

runner = CliRunner()


def _csv(path: Path, labels: list[int]) -> str:
    path.write_text("a,b,target\n" + "".join(f"{i * 0.1},{(i * 7) % 5},{y}\n" for i, y in enumerate(labels)))
    return str(path)


def _sweep(path: Path, extra: str = "") -> str:
    path.write_text("name: s\nbase:\n  data: {name: mnist1d, args: {num_samples: 600}}\n"
                    "  optim: {epochs: 1}\n" + extra)
    return str(path)


def test_bad_input_exits_2_with_a_message_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = str(tmp_path / "x.db")
    train = ["train", "--epochs", "1", "--store", db, "--path"]
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed: `import ray` fails
    big_grid = (f"grid: {{seed: {list(range(100))}, reg.l2: {[i / 100 for i in range(100)]}, "
                f"optim.lr: {[(i + 1) / 1000 for i in range(100)]}}}\n")
    small_grid = "grid: {seed: [0, 1]}\nzip: {reg.l2: [0, 1]}\n"
    cases = {
        "header only": ([*train, _csv(tmp_path / "h.csv", [])], "h.csv: no data rows, only a header (a, b, target)"),
        "one class": ([*train, _csv(tmp_path / "o.csv", [1] * 50)],
                      "o.csv: only one class (1) in target column 'target', over all 50 examples"),
        "3 rows": ([*train, _csv(tmp_path / "t.csv", [0, 1, 0])], "t.csv: only 3 data rows; gaplab needs at least 10"),
        "unknown data set": (["train", "--data", "nope", "--store", db], "data.name: unknown data set 'nope'"),
        "bad model value": (["train", "--set", "model.args.activation=foo", "--store", db],
                            "model.args: model 'mlp' rejects its arguments: unknown activation 'foo'"),
        "spec file is a list": (["train", _text(tmp_path / "l.yaml", "- 1\n- 2\n"), "--store", db],
                                "l.yaml: a spec file holds a mapping of keys"),
        "image augment on signals": (["train", "--set", "reg.augment=[{name: rotate, amount: 10}]", "--store", db],
                                     "reg.augment.0: 'rotate' needs image inputs (C, H, W) but data set 'mnist1d'"),
        "cuda on a cpu build": (["train", "--device", "cuda", "--store", db],
                                "device 'cuda': this torch build"),
        "ray not installed": (["sweep", _sweep(tmp_path / "s.yaml"), "--executor", "ray", "--store", db],
                              "--executor ray needs Ray, which is not installed: pip install 'gaplab[ray]'"),
        "bad executor": (["sweep", _sweep(tmp_path / "s.yaml"), "--executor", "dask", "--store", db],
                         "--executor must be 'local' or 'ray', got 'dask'"),
        "sweep run with a bad value": (["sweep", _sweep(tmp_path / "b.yaml", "grid: {data.train_size: [100, 900]}\n"),
                                        "--store", db], "data.train_size must be between 1 and 480"),
        "sweep of a million runs": (["sweep", _sweep(tmp_path / "big.yaml", big_grid), "--store", db],
                                    "sweep 's': its axes seed (100) × reg.l2 (100) × optim.lr (100) make 1,000,000 "
                                    "runs, more than the limit of 100,000"),
        "sweep over --max-runs": (["sweep", _sweep(tmp_path / "m.yaml", small_grid), "--max-runs", "3", "--store", db],
                                  "its axes seed (2) × zip reg.l2 (2) make 4 runs, more than the limit of 3"),
        "store is a folder": (["runs", "list", "--store", str(tmp_path)], "cannot open it as a results database"),
        "export format": (["runs", "export", str(tmp_path / "x.txt"), "--store", db],
                          "x.txt: export format must be .csv or .parquet"),
        "export what": (["runs", "export", str(tmp_path / "x.csv"), "--what", "epochs", "--store", db],
                        "--what must be 'runs' or 'metrics', got 'epochs'"),
        "unknown study": (["study", "nope", "--store", db], "unknown study 'nope'; choose from:"),
        "unknown preset": (["study", "polyfit", "--preset", "huge", "--store", db],
                           "study polyfit: unknown preset 'huge'"),
        "unknown study parameter": (["study", "polyfit", "--set", "nope=1", "--store", db],
                                    "study polyfit: unknown parameter 'nope'"),
        "bad --set": (["train", "--set", "width", "--store", db], "--set 'width': expected KEY=VALUE"),
        "study parameter of the wrong type": (["study", "polyfit", "--set", "draws=abc", "--store", db],
                                              "study polyfit: parameter draws = 'abc': expected an integer"),
        "study list item of the wrong type": (["study", "polyfit", "--set", "lambdas=[0.1, x]", "--store", db],
                                              "study polyfit: parameter lambdas[1] = 'x': expected a number"),
    }
    for name, (args, message) in cases.items():
        r = runner.invoke(app, args)
        err = " ".join(r.stderr.split())
        assert r.exit_code == 2, (name, r.exit_code, r.stderr, r.exception)
        assert err.startswith("error:") and message in err, (name, err)


def _text(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_a_bug_is_not_reported_as_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    import gaplab.engine as engine

    def boom(*_a: object, **_k: object) -> None:
        raise KeyError("injected bug")

    monkeypatch.setattr(engine, "check_runs", boom)  # the API reads it from the engine's public surface
    r = runner.invoke(app, ["train", "--epochs", "1", "--no-store"])
    assert r.exit_code == 1 and isinstance(r.exception, KeyError) and "error:" not in r.stderr


def test_a_bug_shows_its_traceback_in_a_real_process(tmp_path: Path) -> None:
    code = ("import sys, gaplab.engine as v\n"
            "def boom(*a, **k): raise KeyError('injected bug')\n"
            "v.check_runs = boom\n"
            "from gaplab.cli.app import main\n"
            "sys.argv = ['gaplab', 'train', '--epochs', '1', '--no-store']\n"
            "main()\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert "Traceback" in r.stderr and "KeyError: 'injected bug'" in r.stderr and "error:" not in r.stderr


def test_study_parameters_are_checked_against_the_preset_types() -> None:
    """A --set value must read as the preset value's type; text that does is converted (no study is run here)."""
    from dataclasses import dataclass

    from gaplab.errors import SpecError
    from gaplab.studies import get
    from gaplab.studies.framework import Preset

    st = get("polyfit")  # draws: int, noise: float, lambdas: list of floats
    p = st.params("quick", {"draws": "3", "noise": "0.5", "very_noisy": 2, "lambdas": [1, "0.5"]})
    assert (p.draws, p.noise, p.very_noisy, p.lambdas) == (3, 0.5, 2, [1, 0.5])
    for bad, message in [({"draws": 2.5}, "draws = 2.5: expected an integer"),
                         ({"draws": True}, "draws = True: expected an integer"),
                         ({"noise": "abc"}, "noise = 'abc': expected a number"),
                         ({"lambdas": 0.1}, "lambdas = 0.1: expected a list"),
                         ({"nope": 1}, "unknown parameter 'nope'")]:
        with pytest.raises(SpecError, match=message):
            st.params("quick", bad)

    @dataclass(frozen=True)
    class Other(Preset):
        flag: bool
        act: str

    other = Other(flag=True, act="relu")
    assert other.overridden({"flag": "false", "act": "tanh"}, "t").as_dict() == {"flag": False, "act": "tanh"}
    with pytest.raises(SpecError, match="flag = 1: expected true or false"):
        other.overridden({"flag": 1}, "t")
    with pytest.raises(SpecError, match="act = 3: expected text"):
        other.overridden({"act": 3}, "t")


def test_tour_checks_its_study_names_before_running_any(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    r = runner.invoke(app, ["tour", "--only", "polyfit", "--only", "nope", "--store", str(db), "--out",
                            str(tmp_path / "rep"), "--studies-out", str(tmp_path / "st")])
    err = " ".join(r.stderr.split())
    assert r.exit_code == 2 and "--only: unknown study 'nope'; choose from: " in err and "polyfit" in err, err
    assert not db.exists() and not (tmp_path / "st").exists()  # polyfit, named first, did not run


def test_a_sweep_counts_its_runs_before_expanding() -> None:
    from gaplab.errors import SpecError
    from gaplab.spec import SweepSpec

    sw = SweepSpec(grid={"seed": [0, 1, 2], "reg.l2": [0.0, 0.1]}, zip={"reg.dropout": [0.0, 0.5]})
    assert sw.size() == 12 and len(sw.expand(max_runs=12)) == 12
    with pytest.raises(SpecError, match="make 12 runs, more than the limit of 11"):
        sw.expand(max_runs=11)
    huge = SweepSpec(grid={f"k{i}": list(range(10)) for i in range(12)})  # 10^12 runs: refused at once
    assert huge.size() == 10 ** 12
    with pytest.raises(SpecError, match="make 1,000,000,000,000 runs"):
        huge.expand()
