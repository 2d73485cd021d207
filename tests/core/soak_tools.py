"""benchmarks/kill_soak.py loaded as a module, for the tests that list processes or run a short soak."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_path = Path(__file__).resolve().parents[2] / "benchmarks" / "kill_soak.py"
_spec = importlib.util.spec_from_file_location("kill_soak", _path)
assert _spec is not None and _spec.loader is not None
kill_soak = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kill_soak)
