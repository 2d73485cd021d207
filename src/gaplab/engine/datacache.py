"""Data for runs: one shared (standardized, permuted) pool per data setting, cached per process."""

from __future__ import annotations

import json
import threading

from gaplab.data import Dataset, Prepared, load_dataset, prepare, shared_view
from gaplab.spec import DataSpec, RunSpec

_SHARED: dict[str, Dataset] = {}
_RAW: dict[str, Dataset] = {}
_LOCK = threading.RLock()  # packs trained side by side in threads load each pool once
_POOL_FIELDS = ("name", "args", "path", "fingerprint", "target", "standardize", "permute_inputs", "gaussian_inputs")


def pool_key(data: DataSpec) -> str:
    """What decides the shared pool (runs with equal keys can share a pack)."""
    d = data.model_dump(mode="json")
    return json.dumps({k: d[k] for k in _POOL_FIELDS}, sort_keys=True)


def raw_dataset(data: DataSpec) -> Dataset:
    """The data set as loaded, before any shared transform (standardization, ...); loaded once per process."""
    d = data.model_dump(mode="json")
    key = json.dumps({k: d[k] for k in ("name", "args", "path", "fingerprint", "target")}, sort_keys=True)
    with _LOCK:
        if key not in _RAW:
            args = dict(data.args)
            if data.path is not None and data.target is not None:
                args["target"] = data.target
            _RAW[key] = load_dataset(data.name, args, path=data.path)
        return _RAW[key]


def shared_pool(data: DataSpec) -> Dataset:
    """The data set after the transforms every run on it shares; loaded once per process."""
    key = pool_key(data)
    with _LOCK:
        if key not in _SHARED:
            _SHARED[key] = shared_view(raw_dataset(data), standardize=data.standardize,
                                       permute_inputs=data.permute_inputs, gaussian_inputs=data.gaussian_inputs,
                                       seed=0)
        return _SHARED[key]


def prepared_for(spec: RunSpec, pool: Dataset | None = None) -> Prepared:
    """This run's view of its pool (or of ``pool`` when given): training subset, validation split, label table."""
    d = spec.data
    return prepare(pool if pool is not None else shared_pool(d), seed=spec.seed, train_size=d.train_size,
                   val_fraction=d.val_fraction, label_noise=d.label_noise, noise_kind=d.noise_kind,
                   random_label_fraction=d.random_labels)
