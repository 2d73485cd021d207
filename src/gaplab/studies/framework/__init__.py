"""The study framework: what a claim module imports to write a study (see docs/write-a-study.md).

A study is ``STUDY = Study(...)`` in a module of ``gaplab.studies.claims``: a claim, typed presets (``Preset``),
and five phases (``specs`` → ``measure`` → ``checks`` → ``figures`` → ``summary``; ``study.py``). The framework
trains the runs (``run.py``), derives the verdict from the checks (``checks.py``) and finds the studies
(``registry.py``).
"""

from gaplab.studies.framework.checks import (
    Check,
    MeasuredSpread,
    jackknife_resolution,
    spread_resolution,
    standard_error,
    t_quantile,
    t_resolution,
)
from gaplab.studies.framework.context import StoredRun, StudyContext, run_seeds, run_spec
from gaplab.studies.framework.plotting import subplots
from gaplab.studies.framework.study import Measured, Preset, Study, aside, no_runs

__all__ = ["Check", "Measured", "MeasuredSpread", "Preset", "StoredRun", "Study", "StudyContext", "aside",
           "jackknife_resolution", "no_runs", "run_seeds", "run_spec", "spread_resolution", "standard_error",
           "subplots", "t_quantile", "t_resolution"]
