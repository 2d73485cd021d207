"""The Python API's docstring examples run as doctests (tiny settings), and every public name documents itself."""

from __future__ import annotations

import doctest
import importlib
import inspect

import pytest

import gaplab

API_MODULES = ["gaplab.api.train", "gaplab.api.sweep", "gaplab.api.study", "gaplab.api.store", "gaplab.api.run",
               "gaplab.api.results", "gaplab.api.verdict", "gaplab.api.diagnose", "gaplab.api.watch"]


@pytest.mark.parametrize("name", API_MODULES)
def test_docstring_examples_run(name: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # the examples write to the default store, ./gaplab-results/gaplab.db
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name} (output above)"


def test_public_names_are_documented() -> None:
    api = [n for n in gaplab.__all__ if n[0] != "_" and n not in ("SpecError", "DataError", "GaplabError")]
    assert set(api) == {"train", "sweep", "study", "diagnose", "advise", "watch", "Store", "Run", "Results",
                        "Verdict"}
    assert callable(gaplab.advise)  # the subpackage, callable as gaplab.api.diagnose.advise
    for n in api:
        obj = getattr(gaplab, n) if n != "advise" else gaplab.api.diagnose.advise
        doc = inspect.getdoc(obj) or ""
        assert "Examples\n--------" in doc, n
        if inspect.isfunction(obj):
            assert "Parameters\n----------" in doc and "Returns\n-------" in doc, n


def test_import_gaplab_stays_light() -> None:
    import subprocess
    import sys

    code = ("import sys, gaplab; assert 'torch' not in sys.modules and 'pandas' not in sys.modules; "
            "gaplab.theory; assert 'gaplab.theory' in sys.modules; print(sorted(gaplab.__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "'train'" in out
    with pytest.raises(AttributeError):
        gaplab.no_such_name  # noqa: B018
