"""Where studies are found: every module in gaplab.studies registers itself with ``@study``."""

from __future__ import annotations

import importlib
import pkgutil

import gaplab.studies as pkg
from gaplab.errors import SpecError
from gaplab.studies.base import STUDIES, Study

_FRAMEWORK = {"base", "registry", "plotting", "checks", "curves"}


def _load_all() -> None:
    for m in pkgutil.iter_modules(pkg.__path__):
        if m.name not in _FRAMEWORK:
            importlib.import_module(f"gaplab.studies.{m.name}")


def all_studies() -> dict[str, Study]:
    """Every registered study by name, ordered by claim id (C1, C2, ...)."""
    _load_all()
    return dict(sorted(STUDIES.items(), key=lambda kv: (int(kv[1].claim_id.lstrip("C").split("/")[0] or 0), kv[0])))


def get(name: str) -> Study:
    studies = all_studies()
    if name not in studies:
        raise SpecError(f"unknown study {name!r}; choose from: {', '.join(studies)}")
    return studies[name]
