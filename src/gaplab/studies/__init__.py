"""Studies of claims about regularization and generalization: ``framework/`` (what a study is, how it runs and is
judged) and ``claims/`` (one module per claim). ``run_study``, ``all_studies`` and ``get`` are the entry points."""

from gaplab.studies.framework.registry import all_studies, get
from gaplab.studies.framework.run import Verdict, run_study, study_specs

__all__ = ["Verdict", "all_studies", "get", "run_study", "study_specs"]
