"""Data sets handed over as Python objects: ``(X, y)`` arrays (numpy or torch), a pandas ``DataFrame`` with a target
column, a map-style ``torch.utils.data.Dataset`` (or a ``DataLoader``) or a Hugging Face ``datasets.Dataset``.

They are checked with the file readers' checks (and messages), then written once to a content-addressed ``.npz``
(``<folder>/<sha>.npz``, the file's name is the hash of its bytes) that a run names as its data file. So a run on
Python data survives worker processes and resumes like a run on a file, and its content enters the run id through
the file's fingerprint. The examples' names (DataFrame index, Dataset index, position in ``X``) travel in the
file's ``ids`` arrays; string labels and ``ClassLabel`` names in its ``classes`` array.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

import numpy as np
import torch

from gaplab.errors import DataError

from . import checks
from .readers import encode_table, read_npz

if TYPE_CHECKING:
    import pandas as pd

# A torch or Hugging Face Dataset is read item by item into memory; beyond this many items (or MAX_BYTES of inputs)
# it is refused with its size named: pass arrays, a Subset, or write it to an .npz file.
MAX_ITEMS = 200_000
MAX_BYTES = 2 << 30


@dataclass
class Arrays:
    """One side (pool or test) of a data set as arrays, and what error messages call it."""

    x: np.ndarray
    y: np.ndarray
    ids: np.ndarray
    source: str


def _is_frame(obj: Any) -> TypeGuard[pd.DataFrame]:
    """A pandas DataFrame; pandas is not imported to ask (≈ 0.5 s): an object cannot be one unless it is loaded."""
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(obj, pd.DataFrame)


def _is_named(obj: Any) -> bool:
    """A pandas Series or DataFrame (see ``_is_frame``)."""
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(obj, pd.Series | pd.DataFrame)


def is_python_data(obj: Any) -> bool:
    """True for the objects this module turns into a data file (a tuple of two arrays, a DataFrame, a Dataset)."""
    if _is_frame(obj) or isinstance(obj, torch.utils.data.Dataset | torch.utils.data.DataLoader) or _is_hf(obj):
        return True
    return isinstance(obj, tuple | list) and len(obj) == 2 and all(_is_array(a) for a in obj)


def _is_array(a: Any) -> bool:
    return isinstance(a, np.ndarray | torch.Tensor | list) or _is_named(a)


def _is_hf(obj: Any) -> bool:
    return type(obj).__module__.startswith("datasets.") and type(obj).__name__ == "Dataset"


def _numpy(a: Any) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    if _is_named(a):
        return a.to_numpy()
    return np.asarray(a)


def _ids(values: Any) -> np.ndarray:
    """Names as an array the .npz format keeps without pickling: integers when they are, else strings."""
    a = np.asarray(values)
    return a.astype(np.int64) if a.dtype.kind in "biu" else a.astype(str)


# ----------------------------------------------------------------------------- each form -> arrays
def _from_xy(obj: Any, source: str) -> Arrays:
    x, y = (_numpy(a) for a in obj)
    if x.ndim < 2:
        raise DataError(f"{source}: X must have a sample axis and features, shape (N, ...), got {x.shape}")
    if len(x) != len(y):
        raise DataError(f"{source}: X has {len(x)} examples but y has {len(y)}")
    if x.dtype.kind not in "biuf":
        raise DataError(f"{source}: X must be numeric, got {x.dtype}")
    named = [a for a in obj if _is_named(a)]  # sklearn-style (X_df, y_series)
    ids = _ids(named[0].index) if named else np.arange(len(x))
    return Arrays(x, y, ids, source)


def _from_torch(ds: Any, source: str) -> Arrays:
    if isinstance(ds, torch.utils.data.IterableDataset) or not hasattr(ds, "__len__"):
        raise DataError(f"{source}: an iterable Dataset has no length to read; give a map-style Dataset "
                        "(__len__ and __getitem__) or arrays")
    n = len(ds)
    if n > MAX_ITEMS:
        raise DataError(f"{source}: {n} items is more than gaplab reads into memory ({MAX_ITEMS}); pass a "
                        "torch.utils.data.Subset, arrays, or write it to an .npz file")
    xs, ys = [], []
    for i in range(n):
        item = ds[i]
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise DataError(f"{source}: item {i} is a {type(item).__name__}, not an (input, target) pair")
        xs.append(_numpy(item[0]))
        ys.append(_numpy(item[1]))
        if i == 0 and xs[0].nbytes * n > MAX_BYTES:
            raise DataError(f"{source}: {n} items of {xs[0].nbytes} bytes is more than gaplab reads into memory "
                            f"({MAX_BYTES >> 30} GiB); pass a torch.utils.data.Subset or arrays")
    try:
        x, y = np.stack(xs), np.stack(ys)
    except ValueError as e:
        raise DataError(f"{source}: items differ in shape ({e}); every input must have the same shape") from None
    if x.ndim == 1:
        x = x[:, None]
    a = _from_xy((x, y), source)
    a.ids = _ids(_dataset_ids(ds))
    return a


def _dataset_ids(ds: Any) -> np.ndarray:
    """Each item's index in the Dataset the user built: a ``Subset``'s items keep their parent's indices."""
    if isinstance(ds, torch.utils.data.Subset):
        return _dataset_ids(ds.dataset)[np.asarray(ds.indices, dtype=np.int64)]
    return np.arange(len(ds))


def _from_loader(loader: torch.utils.data.DataLoader, source: str) -> Arrays:
    """A DataLoader's examples: its map-style Dataset read whole (the same file as that Dataset), else batches
    drawn from it until MAX_ITEMS examples (the sample size is said in a warning when it stops short)."""
    if not isinstance(loader.dataset, torch.utils.data.IterableDataset):
        return _from_torch(loader.dataset, source)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    n = 0
    for batch in loader:
        if not isinstance(batch, tuple | list) or len(batch) != 2:
            raise DataError(f"{source}: a batch is a {type(batch).__name__}, not an (inputs, targets) pair")
        xs.append(_numpy(batch[0]))
        ys.append(_numpy(batch[1]))
        n += len(xs[-1])
        if n >= MAX_ITEMS:
            import warnings

            warnings.warn(f"{source}: drew a sample of {n} examples from an iterable DataLoader (at most "
                          f"{MAX_ITEMS})", stacklevel=4)
            break
    if not xs:
        raise DataError(f"{source}: the DataLoader gave no batch")
    return _from_xy((np.concatenate(xs), np.concatenate(ys)), source)


def _hf_table(ds: Any, target: str | None, source: str) -> tuple[Any, list | None, str]:
    """The Hugging Face data set's target column (``target``, else 'label'/'labels'), and its class names."""
    cols = list(ds.column_names)
    if target is None:
        target = next((c for c in ("label", "labels", "target") if c in cols), None)
        if target is None:
            raise DataError(f"{source}: no 'label' column; name the target column with target= "
                            f"(columns: {', '.join(cols)})")
    if target not in cols:
        raise DataError(f"{source}: target column {target!r} not found; available columns: {', '.join(cols)}")
    feature = ds.features[target]
    return ds, list(feature.names) if hasattr(feature, "names") else None, target


def _from_hf(ds: Any, target: str | None, source: str) -> tuple[Arrays | pd.DataFrame, list | None, str]:
    """Arrays when the inputs are one array column (pixels, a signal), else a table of the scalar columns."""
    ds, classes, target = _hf_table(ds, target, source)
    if len(ds) > MAX_ITEMS:
        raise DataError(f"{source}: {len(ds)} rows is more than gaplab reads into memory ({MAX_ITEMS}); "
                        "pass ds.select(range(n)) or arrays")
    inputs = [c for c in ds.column_names if c != target]
    first = ds[0] if len(ds) else {}
    if len(inputs) == 1 and np.asarray(first.get(inputs[0])).ndim >= 1:
        cols = ds.with_format("numpy")[:]
        return Arrays(np.asarray(cols[inputs[0]]), np.asarray(cols[target]), np.arange(len(ds)), source), \
            classes, target
    return ds.to_pandas(), classes, target


# ----------------------------------------------------------------------------- labels, checks, file
def _encode_labels(train: Arrays, test: Arrays | None, classes: list | None) -> list | None:
    """Integer labels stay; string (or bool) labels become 0..K-1 codes named by ``classes``; floats regress."""
    ys = [train.y] + ([test.y] if test is not None else [])
    kind = train.y.dtype.kind
    if kind == "f":
        return None
    if kind in "iu":  # class codes as they are (``classes``, when given, names them)
        if min(int(y.min()) for y in ys if len(y)) < 0:
            raise DataError(f"{train.source}: integer labels must be >= 0")
        return classes
    if classes is None:
        classes = sorted({v for y in ys for v in y.tolist()}, key=lambda v: (str(type(v)), v))
    lookup = {c: i for i, c in enumerate(classes)}
    for side in [train] + ([test] if test is not None else []):
        try:
            side.y = np.array([lookup[v] for v in side.y.tolist()], dtype=np.int64)
        except KeyError as e:
            raise DataError(f"{side.source}: label {e.args[0]!r} is not one of the classes "
                            f"{', '.join(map(str, classes))}") from None
    return [c if isinstance(c, str) else (c.item() if hasattr(c, "item") else c) for c in classes]


def _check(side: Arrays, classes: list | None, pooled: bool) -> None:
    """The file readers' checks, with messages naming the Python object and the examples by their ids."""
    if pooled:
        checks.check_examples(side.source, len(side.x))
    checks.check_finite(side.source, torch.as_tensor(side.x.reshape(len(side.x), -1).astype(np.float32)),
                        lambda i: f"example {side.ids[i].item()!r}")
    y = torch.tensor(side.y)
    if side.y.dtype.kind in "iu":
        checks.check_labels(side.source, y, classes, "y", pooled=pooled)
    else:
        checks.check_target_varies(side.source, y, "y")


def _write_npz(arrays: dict[str, np.ndarray], folder: Path) -> Path:
    """Write ``arrays`` as an .npz of fixed bytes (no timestamps) named by their hash; an existing one is kept."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".npz.part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
            for key in sorted(arrays):
                info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                with zf.open(info, "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.ascontiguousarray(arrays[key]), allow_pickle=False)
        h = hashlib.sha256()
        with open(tmp, "rb") as src:
            for block in iter(lambda: src.read(1 << 20), b""):
                h.update(block)
        path = folder / f"{h.hexdigest()[:16]}.npz"
        if path.exists():
            os.unlink(tmp)
        else:
            os.replace(tmp, path)  # atomic: a worker never sees half a file
        return path
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _side(obj: Any, target: str | None, source: str) -> tuple[Arrays | pd.DataFrame, list | None, str | None]:
    if _is_frame(obj):
        return obj, None, target
    if _is_hf(obj):
        return _from_hf(obj, target, source)
    if isinstance(obj, torch.utils.data.Dataset):
        return _from_torch(obj, source), None, target
    if isinstance(obj, torch.utils.data.DataLoader):
        return _from_loader(obj, source), None, target
    if isinstance(obj, tuple | list) and len(obj) == 2:
        return _from_xy(obj, source), None, target
    raise DataError(f"{source}: cannot use a {type(obj).__name__} as data; give (X, y) arrays, a pandas DataFrame "
                    "with target=, a map-style torch Dataset or a Hugging Face datasets.Dataset")


def _describe(obj: Any, name: str) -> str:
    if _is_frame(obj):
        return f"{name} (DataFrame)"
    if _is_hf(obj):
        return f"{name} (datasets.Dataset)"
    if isinstance(obj, torch.utils.data.Dataset | torch.utils.data.DataLoader):
        return f"{name} ({type(obj).__name__})"
    return f"{name} (X, y)"


def _tables(train: pd.DataFrame, test: pd.DataFrame | None, target: str | None, src: str, test_src: str,
            classes: list | None, max_categories: int) -> tuple[Arrays, Arrays | None, list | None]:
    """DataFrames encoded together (so a category or class seen on one side gets the same column on both)."""
    if target is None:
        raise DataError(f"{src}: name the target column with target= (columns: {', '.join(map(str, train.columns))})")
    if test is not None and list(test.columns) != list(train.columns):
        raise DataError(f"{test_src}: columns {', '.join(map(str, test.columns))} differ from the training "
                        f"table's {', '.join(map(str, train.columns))}")
    import pandas as pd

    both = train if test is None else pd.concat([train, test], ignore_index=True)
    index = np.concatenate([_ids(train.index)] + ([_ids(test.index)] if test is not None else []))
    x, y, task, _, found = encode_table(both, src, target=target, max_categories=max_categories,
                                        row_text=lambda pos: f"index {index[pos].item()!r}")
    if classes is not None:  # a ClassLabel's names over its integer codes
        found = classes
    n = len(train)
    xs, ys = x.numpy(), y.numpy()
    ys = ys.reshape(-1) if task == "regression" and ys.shape[1:] == (1,) else ys
    tr = Arrays(xs[:n], ys[:n], index[:n], src)
    te = Arrays(xs[n:], ys[n:], index[n:], test_src) if test is not None else None
    return tr, te, found if task == "classification" else None


def materialize(data: Any, test: Any = None, *, target: str | None = None, folder: str | Path,
                max_categories: int = 20) -> Path:
    """Check ``data`` (and ``test``) as the file readers check files and write them to ``folder/<sha>.npz``.

    Returns the file's path; the same content always gives the same path. Raises ``DataError`` naming the object
    (``data (DataFrame)``, ``test (X, y)``, ...) and the example by its id.
    """
    src, test_src = _describe(data, "data"), _describe(test, "test") if test is not None else ""
    a, classes, target = _side(data, target, src)
    b, test_classes, _ = _side(test, target, test_src) if test is not None else (None, None, None)
    if _is_frame(a) or _is_frame(b):
        if not (_is_frame(a) and (b is None or _is_frame(b))):
            raise DataError(f"{test_src or src}: data and test must both be tables or both be arrays")
        train, held, classes = _tables(a, b, target, src, test_src, classes or test_classes, max_categories)
    else:
        assert isinstance(a, Arrays) and (b is None or isinstance(b, Arrays))
        train, held = a, b
        if held is not None and held.x.shape[1:] != train.x.shape[1:]:
            raise DataError(f"{test_src}: inputs of shape {held.x.shape[1:]} but the training inputs are "
                            f"{train.x.shape[1:]}")
        classes = _encode_labels(train, held, classes or test_classes)
    _check(train, classes, pooled=held is None)
    if held is not None:
        _check(held, classes, pooled=False)
        if train.y.dtype.kind in "iu":
            checks.check_split(test_src, torch.tensor(train.y), torch.tensor(held.y), True, classes,
                               how="the test set given")
    arrays = {"x": train.x.astype(np.float32), "y": train.y, "ids": train.ids}
    if held is not None:
        arrays.update(x_test=held.x.astype(np.float32), y_test=held.y, ids_test=held.ids)
    if classes is not None:
        arrays["classes"] = _ids(classes)
    path = _write_npz(arrays, Path(folder))
    try:  # what the run will read: the reader's own checks, named after the object instead of the cache file
        read_npz(path)
    except DataError as e:
        raise DataError(str(e).replace(f"{path} (x)", src).replace(str(path), src)) from None
    return path


def default_folder(store: str | Path | None) -> Path:
    """Where Python data is written: beside the results store (``<store>.data``), else the user's cache."""
    if store is not None:
        return Path(f"{store}.data")
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gaplab" / "data"


def split_spec_data(section: Any) -> tuple[Any, Any, dict[str, Any]]:
    """From a spec's ``data`` section: the Python data, its test part and the remaining spec keys.

    ``data`` may be the object itself, or a mapping holding ``x``/``y`` (and ``x_test``/``y_test``) arrays or
    ``source``/``test`` objects beside ordinary ``data.*`` keys (``val_fraction``, ``train_size``, ...).
    """
    if is_python_data(section):
        return section, None, {}
    if not isinstance(section, Mapping):
        return None, None, {}
    rest = dict(section)
    obj = rest.pop("source", None)
    test = rest.pop("test", None)
    if "x" in rest or "y" in rest:
        if "x" not in rest or "y" not in rest:
            raise DataError("data: give both x and y")
        obj = (rest.pop("x"), rest.pop("y"))
    if "x_test" in rest or "y_test" in rest:
        if "x_test" not in rest or "y_test" not in rest:
            raise DataError("data: give both x_test and y_test")
        test = (rest.pop("x_test"), rest.pop("y_test"))
    if obj is None:
        if test is not None:
            raise DataError("data.test: a test set needs training data given the same way (data.source or x/y)")
        return None, None, {}
    return obj, test, rest
