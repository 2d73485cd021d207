"""Which engine path (fused, conv, vmap, loop) a run's pack takes and why, decided without training.

A pack of one is built exactly as training builds it (``Pack._choose_net`` decides), so a dry run, the planner's
per-pack overhead and the run's record all name the path training takes — a user's model included, whose layers are
only known once it is built.
"""

from __future__ import annotations

import json

from gaplab.engine.datacache import pool_key
from gaplab.spec import RunSpec

_SEEN: dict[str, tuple[str, str]] = {}


def _key(spec: RunSpec) -> str:
    m = spec.model
    return json.dumps([m.name, m.args, pool_key(spec.data), spec.reg.dropout is None, spec.device], sort_keys=True,
                      default=str)


def path_of(spec: RunSpec) -> tuple[str, str]:
    """(path, reason) of the pack this run trains in, as ``Pack`` chooses them (cached per model and data pool)."""
    key = _key(spec)
    if key not in _SEEN:
        from gaplab.engine.pack import Pack  # the engine's own choice; pack imports the fast paths, not this

        pack = Pack([spec])
        _SEEN[key] = (pack.path, pack.path_reason)
    return _SEEN[key]
