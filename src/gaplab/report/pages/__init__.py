"""Report pages of workflow results (doctor diagnoses, advice): each module registers with ``artifact_page``.

Importing this package registers every page; ``write_report`` does so before it writes.
"""

import importlib
import pkgutil

for _m in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_m.name}")
