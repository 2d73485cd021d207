"""Where studies are found: every module of ``gaplab.studies.claims`` that defines ``STUDY``."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import Any

from gaplab.errors import SpecError
from gaplab.studies.framework.study import Study

CLAIMS = "gaplab.studies.claims"


def all_studies() -> dict[str, Study[Any, Any]]:
    """Every study by name, ordered by claim id (C1, C2, ...)."""
    return dict(_load())


@cache
def _load() -> dict[str, Study[Any, Any]]:
    pkg = importlib.import_module(CLAIMS)
    found: dict[str, Study[Any, Any]] = {}
    for m in pkgutil.iter_modules(pkg.__path__):
        st = getattr(importlib.import_module(f"{CLAIMS}.{m.name}"), "STUDY", None)
        if isinstance(st, Study):
            if st.name in found:
                raise RuntimeError(f"two claim modules define study {st.name!r}")
            found[st.name] = st
    return dict(sorted(found.items(), key=lambda kv: (_claim_number(kv[1].claim_id), kv[0])))


def _claim_number(claim_id: str) -> int:
    return int(claim_id.lstrip("C").split("/")[0] or 0)


def get(name: str) -> Study[Any, Any]:
    studies = all_studies()
    if name not in studies:
        raise SpecError(f"unknown study {name!r}; choose from: {', '.join(studies)}")
    return studies[name]
