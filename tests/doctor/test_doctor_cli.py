"""`gaplab doctor` from the command line: the train flags, --json, the store artifact and the report page."""

from __future__ import annotations

import json

import doctor_faults as F
from typer.testing import CliRunner

from gaplab.cli.app import app
from gaplab.store.db import Store

runner = CliRunner()


def test_doctor_json_store_and_report_page(tmp_path):
    csv = F.tabular_csv(tmp_path, leak=True)
    db = tmp_path / "s.db"
    r = runner.invoke(app, ["doctor", "--data", "file", "--path", csv, "--model", "mlp", "--width", "32", "--quick",
                            "--check", "data", "--check", "init", "--check", "overfit", "--check", "bias_variance",
                            "--target-error", "0.01", "--store", str(db), "--json", "--threads", "1",
                            "--out", str(tmp_path / "figs")])  # --quick draws figures only when asked
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["counts"]["FAIL"] >= 1 and out["worst"] == "FAIL"
    leak = next(c for c in out["checks"] if c["name"] == "one-feature leakage")
    assert leak["verdict"] == "FAIL" and "diagnosis_code" in leak["cause"]
    assert out["spec"]["model"]["args"]["width"] == 32
    bv = next(c for c in out["checks"] if c["name"] == "bias / variance")
    assert bv["details"]["reference"] == 0.01 and bv["details"]["reference_from"] == "your target"
    rows = Store(db).artifacts("doctor")
    assert len(rows) == 1 and rows[0]["key"] == out["key"]

    from gaplab.report.html import write_report

    index = write_report(Store(db), tmp_path / "rep")
    assert "Training diagnoses" in index.read_text()
    page = (tmp_path / "rep" / "doctor" / out["key"] / "index.html").read_text()
    assert "one-feature leakage" in page and "diagnosis_code" in page and "overfit_tiny.png" in page
    assert (tmp_path / "rep" / "doctor" / out["key"] / "overfit_tiny.png").exists()


def test_doctor_table_and_bad_input(tmp_path):
    r = runner.invoke(app, ["doctor", "--quick", "--check", "init", "--no-store", "--threads", "1",
                            "--store", str(tmp_path / "s.db")])
    assert r.exit_code == 0, r.output
    assert "initial" in r.output and "PASS" in r.output and "All 5 checks passed" in r.output
    assert "no plots (--quick draws them with --out DIR)" in " ".join(r.output.split())
    assert not (tmp_path / "doctor").exists()
    assert "1 check n/a" in r.output  # batch size for batch norm: the MLP has none
    # --no-store writes nothing, the plots included, unless --out names a folder
    r = runner.invoke(app, ["doctor", "--check", "init", "--no-store", "--threads", "1", "--store",
                            str(tmp_path / "s.db")])
    assert r.exit_code == 0, r.output
    assert "no plots (--no-store draws them with --out DIR)" in " ".join(r.output.split())
    assert not (tmp_path / "doctor").exists()
    bad = runner.invoke(app, ["doctor", "--quick", "--check", "bogus", "--no-store"])
    assert bad.exit_code == 2 and "bogus" in bad.output
    bad = runner.invoke(app, ["doctor", "--model", "nosuchmodel", "--no-store"])
    assert bad.exit_code == 2 and "model.name" in bad.output


def test_no_store_writes_nothing_unless_out_is_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the store's default folder, where the plots would go, is under here
    r = runner.invoke(app, ["doctor", "--check", "overfit", "--no-store", "--threads", "1"])  # draws by default
    assert r.exit_code == 0, r.output
    assert "no plots (--no-store draws them with --out DIR)" in " ".join(r.output.split())
    assert list(tmp_path.rglob("*")) == []
