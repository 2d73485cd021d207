"""gaplab: a lab for regularization and generalization in neural networks.

The Python API (every public name is in ``__all__``)::

    import gaplab
    run = gaplab.train({"model": {"name": "mlp"}}, width=64, l2=1.0)      # -> Run
    res = gaplab.sweep("sweep.yaml")                                      # -> Results (.to_pandas(), .history())
    store = gaplab.Store("gaplab-results/gaplab.db")                      # runs, metrics, groups, studies
    verdict = gaplab.study("double-descent", preset="quick")              # -> Verdict
    run = gaplab.train(data=(X, y), width=64)                             # numpy/torch arrays, DataFrame + target=,
                                                                          # torch or Hugging Face Dataset, test=
    diag = gaplab.diagnose({"data": {"name": "digits"}}, mode="quick")    # -> gaplab.doctor.Diagnosis
    advice = gaplab.advise("digits", budget="2m")                         # -> gaplab.advise.Advice
    with gaplab.watch(model, optimizer, name="mine") as w:                # your own training loop, recorded
        w.epoch(train_loss=..., val_loss=...)

Bad input raises ``gaplab.SpecError`` or ``gaplab.DataError`` (both ``ValueError``s).
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from gaplab.errors import DataError, GaplabError, SpecError

__version__ = "0.1.0"

# Public name -> the module defining it. Imported on first use: they pull in torch and pandas (≈2 s), which
# `import gaplab` alone (the CLI's entry point, `gaplab --help`) should not pay.
_LAZY = {
    "train": "gaplab.api.train",
    "sweep": "gaplab.api.sweep",
    "study": "gaplab.api.study",
    "Store": "gaplab.api.store",
    "Run": "gaplab.api.run",
    "Results": "gaplab.api.results",
    "Verdict": "gaplab.api.verdict",
    "diagnose": "gaplab.api.diagnose",
    "watch": "gaplab.api.watch",
}

__all__ = ["train", "sweep", "study", "diagnose", "advise", "watch", "Store", "Run", "Results", "Verdict",
           "SpecError", "DataError", "GaplabError", "__version__"]

if TYPE_CHECKING:
    from gaplab.api.diagnose import diagnose
    from gaplab.api.results import Results
    from gaplab.api.run import Run
    from gaplab.api.store import Store
    from gaplab.api.study import study
    from gaplab.api.sweep import sweep
    from gaplab.api.train import train
    from gaplab.api.verdict import Verdict
    from gaplab.api.watch import watch


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif not name.startswith("_") and importlib.util.find_spec(f"gaplab.{name}") is not None:
        value = importlib.import_module(f"gaplab.{name}")  # subpackages on first use: gaplab.theory.ridge, ...
    else:
        raise AttributeError(f"module 'gaplab' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, "advise"})
