"""The example notebooks run top to bottom in a fresh kernel (nbclient), and are committed without outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))


def test_notebooks_are_committed_without_outputs() -> None:
    assert {p.stem for p in NOTEBOOKS} == {"regularization_on_your_csv", "double_descent_in_a_minute",
                                           "reading_a_store", "diagnose_your_model"}
    for p in NOTEBOOKS:
        for cell in nbformat.read(p, as_version=4).cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{p.name}: strip the outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the kernel inherits it; these sweeps are small
    nb = nbformat.read(path, as_version=4)
    # runs in tmp_path, so the notebook's CSV and results store land there; a failing cell raises here
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "every example draws a figure"
    assert (tmp_path / "gaplab-results" / "gaplab.db").exists() or (tmp_path / "demo" / "gaplab.db").exists()
