"""Readers for user-supplied local files: CSV/Parquet, .npz, image folders, MNIST IDX, CIFAR-10 batches."""

from __future__ import annotations

import gzip
import pickle
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from gaplab.errors import DataError, DataFileNotFoundError, GaplabError

from . import checks
from .dataset import Dataset, Task
from .transforms import validation_split

if TYPE_CHECKING:  # pandas costs ≈ 0.5 s to import: only a table file needs it
    import pandas as pd

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp"}
TABULAR_EXTS = {".csv", ".parquet", ".pq"}
# optional .npz arrays: the examples' names (ids, ids_test; default their index) and the class names (classes)
NPZ_NAMES = ("ids", "ids_test", "classes")
IDX_FILES = (
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
)


class FileArgs(BaseModel):
    """Arguments accepted by ``read_file`` (and by ``load_dataset('file', ...)``)."""

    model_config = ConfigDict(extra="forbid")

    target: str = "target"
    test_fraction: float = Field(0.2, ge=0.0, lt=1.0)
    seed: int = 0
    max_categories: int = Field(20, ge=1)
    mode: str | None = Field(None, pattern="^(L|RGB)$")
    size: int | tuple[int, int] | None = None  # image (height, width); an int means square


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn a library's failure to read or parse a user's file into a DataError naming the file."""
    try:
        yield
    except GaplabError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:  # pandas/pyarrow parse errors are ValueErrors
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"{path}: cannot read it: {msg}") from None


def _split(y: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(int(seed))
    return validation_split(y, fraction, gen)


def _dataset_from_pool(
    name: str, x: torch.Tensor, y: torch.Tensor, task: Task, num_classes: int | None,
    classes: list | None, test_fraction: float, seed: int, source: str, ids: np.ndarray | None = None,
) -> Dataset:
    """Split off the test set (stratified, seeded) and check both sides can train and test a model; ``ids`` (the
    examples' names, default their positions) follow their examples to either side."""
    train_idx, test_idx = _split(y, test_fraction, seed)
    checks.check_split(source, y[train_idx], y[test_idx], task == "classification", classes,
                       how=f"test_fraction={test_fraction}")
    ids = np.arange(len(y)) if ids is None else ids
    return Dataset(name, x[train_idx], y[train_idx], x[test_idx], y[test_idx], task, num_classes, classes,
                   ids=ids[train_idx.numpy()], test_ids=ids[test_idx.numpy()])


def _check_given_split(source: str, ds: Dataset) -> Dataset:
    """Checks for a file that brings its own test set: two classes, each test class trained, neither side empty."""
    checks.check_examples(source, ds.n_train + ds.n_test)
    classification = ds.task == "classification"
    if classification:
        checks.check_labels(source, ds.y_train, ds.classes, "the training labels", pooled=False)
    checks.check_split(source, ds.y_train, ds.y_test, classification, ds.classes, how="the file's own split")
    return ds


# ----------------------------------------------------------------------------- tabular
def _first_missing(series: pd.Series) -> int | None:
    bad = np.flatnonzero(series.isna().to_numpy())
    return int(bad[0]) if len(bad) else None


def _row_text(pos: int, csv: bool) -> str:
    row = pos + 1
    return f"data row {row} (line {row + 1} of the CSV, counting the header)" if csv else f"row {row}"


def _encode_target(y: pd.Series, max_categories: int) -> tuple[torch.Tensor, Task, int | None, list | None]:
    import pandas as pd

    kind = y.dtype.kind
    levels = pd.unique(y)
    if kind in "biu" and len(levels) > max_categories:
        kind = "f"  # many integer levels: treat as a number
    if kind == "f":
        return torch.as_tensor(y.to_numpy(np.float32)).reshape(-1, 1), "regression", None, None
    try:
        classes = sorted(levels.tolist())
    except TypeError:
        classes = sorted(levels.tolist(), key=str)
    lookup = {c: i for i, c in enumerate(classes)}
    labels = torch.as_tensor(np.array([lookup[v] for v in y.tolist()], dtype=np.int64))
    return labels, "classification", len(classes), classes


def encode_table(df: pd.DataFrame, src: str, *, target: str = "target", max_categories: int = 20,
                 row_text: Callable[[int], str] = lambda pos: _row_text(pos, False),
                 ) -> tuple[torch.Tensor, torch.Tensor, Task, int | None, list | None]:
    """A checked table as (inputs, targets, task, classes count, class names): numeric features as float32, small
    categoricals one-hot encoded. ``src`` is what error messages call the table, ``row_text(pos)`` one row."""
    if target not in df.columns:
        raise DataError(f"{src}: target column {target!r} not found; available columns: "
                        f"{', '.join(map(str, df.columns))}")
    if len(df) == 0:
        raise DataError(f"{src}: no data rows, only a header ({', '.join(map(str, df.columns))})")
    checks.check_examples(src, len(df), "data rows")
    for col in df.columns:
        pos = _first_missing(df[col])
        if pos is not None:
            raise DataError(f"{src}: column {col!r} has a missing value at {row_text(pos)}")
    blocks = [_feature_block(df[col], src, max_categories) for col in df.columns if col != target]
    if not blocks:
        raise DataError(f"{src}: no feature columns besides the target {target!r}")
    x = torch.as_tensor(np.concatenate(blocks, axis=1))
    checks.check_finite(src, x, row_text)
    y, task, num_classes, classes = _encode_target(df[target], max_categories)
    where = f"target column {target!r}"
    if task == "classification":
        checks.check_labels(src, y, classes, where)
    else:
        checks.check_target_varies(src, y, where)
    return x, y, task, num_classes, classes


def _feature_block(s: pd.Series, src: str, max_categories: int) -> np.ndarray:
    """One feature column as float32 (n, 1), or a small categorical one-hot encoded (n, levels)."""
    import pandas as pd

    if s.dtype.kind in "biuf":
        return s.to_numpy(np.float32).reshape(-1, 1)
    levels = sorted(pd.unique(s.astype(str)).tolist())
    if len(levels) > max_categories:
        raise DataError(f"{src}: non-numeric column {s.name!r} has {len(levels)} distinct values, "
                        f"more than max_categories={max_categories}; encode it numerically or drop it")
    codes = pd.Categorical(s.astype(str), categories=levels).codes
    return np.eye(len(levels), dtype=np.float32)[codes]


def dataframe_to_dataset(df: pd.DataFrame, name: str, *, csv: bool = False, target: str = "target",
                         test_fraction: float = 0.2, seed: int = 0, max_categories: int = 20,
                         source: str | None = None) -> Dataset:
    """Turn a table read from a file into a Dataset (see ``encode_table``); its examples are named by their data
    row number (1 = the first row under a CSV's header), as the file's error messages count them.

    ``source`` (default ``name``) is what error messages call the table, e.g. its file path.
    """
    src = source or name
    x, y, task, num_classes, classes = encode_table(df, src, target=target, max_categories=max_categories,
                                                    row_text=lambda pos: _row_text(pos, csv))
    return _dataset_from_pool(name, x, y, task, num_classes, classes, test_fraction, seed, src,
                              ids=np.arange(1, len(df) + 1))


# ----------------------------------------------------------------------------- npz
def _npz_arrays(path: Path) -> dict[str, np.ndarray]:
    """The x, y (and x_test, y_test) arrays of an .npz file, checked for presence and matching lengths."""
    with _reading(path), np.load(path, allow_pickle=False) as z:
        keys = set(z.files)
        for key in ("x", "y"):
            if key not in keys:
                raise DataError(f"{path}: missing array {key!r} (found: {', '.join(sorted(keys)) or 'none'})")
        if ("x_test" in keys) != ("y_test" in keys):
            missing = "y_test" if "x_test" in keys else "x_test"
            raise DataError(f"{path}: missing array {missing!r} (x_test and y_test go together)")
        arrays = {k: z[k] for k in ("x", "y", "x_test", "y_test", *NPZ_NAMES) if k in keys}
    for sfx in ("", "_test"):
        if "x" + sfx not in arrays:
            continue
        x, y = arrays["x" + sfx], arrays["y" + sfx]
        if x.ndim < 2:
            raise DataError(f"{path}: x{sfx} must have a sample axis and features, shape (N, ...), got {x.shape}")
        if len(x) != len(y):
            raise DataError(f"{path}: x{sfx} has {len(x)} examples but y{sfx} has {len(y)}")
        if x.dtype.kind not in "biuf" or y.dtype.kind not in "biuf":
            raise DataError(f"{path}: x{sfx} and y{sfx} must be numeric arrays, got {x.dtype} and {y.dtype}")
        ids = arrays.get("ids" + sfx)
        if ids is not None and (ids.ndim != 1 or len(ids) != len(x)):
            raise DataError(f"{path}: ids{sfx} must name each of the {len(x)} examples of x{sfx}, "
                            f"got shape {ids.shape}")
    return arrays


def read_npz(path: Path, *, test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """Arrays ``x``, ``y`` and optionally ``x_test``, ``y_test``; integer y means classification.

    Optional ``ids`` / ``ids_test`` name the examples (default: their index in ``x`` / ``x_test``) and ``classes``
    names the labels 0..K-1.
    """
    arrays = _npz_arrays(path)
    has_test = "x_test" in arrays
    classification = arrays["y"].dtype.kind in "biu"
    classes = arrays["classes"].tolist() if "classes" in arrays else None

    def conv_y(a: np.ndarray) -> torch.Tensor:
        if classification:
            return torch.as_tensor(a.astype(np.int64).reshape(-1))
        t = torch.as_tensor(a.astype(np.float32))
        return t.reshape(-1, 1) if t.ndim == 1 else t.reshape(len(t), -1)

    x = torch.as_tensor(arrays["x"].astype(np.float32))
    y = conv_y(arrays["y"])
    if not has_test:  # a file with its own test set is checked as a whole below
        checks.check_examples(str(path), len(x))
    checks.check_finite(f"{path} (x)", x)
    num_classes = None
    task: Task = "classification" if classification else "regression"
    if classification:
        num_classes = _npz_num_classes(path, [y] + ([conv_y(arrays["y_test"])] if has_test else []), classes)
        if not has_test:
            checks.check_labels(str(path), y, classes, where="array 'y'")
    elif not has_test:
        checks.check_target_varies(str(path), y, "array 'y'")
    ids = arrays.get("ids")
    if has_test:
        x_test = torch.as_tensor(arrays["x_test"].astype(np.float32))
        checks.check_finite(f"{path} (x_test)", x_test)
        ds = Dataset(path.stem, x, y, x_test, conv_y(arrays["y_test"]), task, num_classes, classes, ids=ids,
                     test_ids=arrays.get("ids_test"))
        return _check_given_split(str(path), ds)
    return _dataset_from_pool(path.stem, x, y, task, num_classes, classes, test_fraction, seed, str(path), ids=ids)


def _npz_num_classes(path: Path, labels: list[torch.Tensor], classes: list | None) -> int:
    """Classes of an .npz's integer labels (train and test): the largest label + 1, or as many as ``classes``
    names (which must name every label)."""
    if min((int(t.min()) for t in labels if len(t)), default=0) < 0:
        raise DataError(f"{path}: integer labels must be >= 0")
    num_classes = max((int(t.max()) for t in labels if len(t)), default=0) + 1
    if classes is None:
        return num_classes
    if len(classes) < num_classes:
        raise DataError(f"{path}: array 'classes' names {len(classes)} classes but a label is {num_classes - 1}")
    return len(classes)


# ----------------------------------------------------------------------------- image folder
def _is_gray(mode: str) -> bool:
    return mode in ("1", "L", "LA", "I", "I;16", "F")


def read_image_folder(root: Path, *, mode: str | None = None, size: int | tuple[int, int] | None = None,
                      test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """One subfolder per class of png/jpg/bmp images -> (C, H, W) float32 in [0, 1]."""
    from PIL import Image

    class_dirs = sorted(p for p in root.iterdir() if p.is_dir())
    if not class_dirs:
        raise DataError(f"{root}: expected one subfolder per class")
    files: list[tuple[Path, int]] = []
    for label, d in enumerate(class_dirs):
        found = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_EXTS)
        if not found:
            raise DataError(f"{root}: class folder {d.name!r} has no png/jpg/bmp images")
        files += [(p, label) for p in found]
    checks.check_examples(str(root), len(files), "images")
    images = []
    try:
        for p, _ in files:
            try:
                im = Image.open(p)
                im.load()  # decode now (and close the file) so a broken image is named here
            except (OSError, ValueError, Image.DecompressionBombError) as e:
                raise DataError(f"{p}: cannot read the image: {e}") from None
            images.append(im)
        arrays = _image_arrays(images, mode, size)
    finally:
        for im in images:
            im.close()
    x = torch.as_tensor(np.stack(arrays))
    y = torch.tensor([label for _, label in files], dtype=torch.int64)
    names = [d.name for d in class_dirs]
    checks.check_labels(str(root), y, names, "the class folders")
    return _dataset_from_pool(root.name, x, y, "classification", len(names), names, test_fraction, seed, str(root),
                              ids=np.array([str(p) for p, _ in files]))


def _image_arrays(images: list, mode: str | None, size: int | tuple[int, int] | None) -> list[np.ndarray]:
    """Each image as (C, H, W) float32 in [0, 1]: one mode for all (gray when every image is), one size (the
    first image's unless ``size`` says)."""
    from PIL import Image

    if mode is None:
        mode = "L" if all(_is_gray(im.mode) for im in images) else "RGB"
    if size is None:
        w, h = images[0].size
    elif isinstance(size, int):
        h = w = size
    else:
        h, w = size
    arrays = []
    for im in images:
        im2 = im.convert(mode)
        if im2.size != (w, h):
            im2 = im2.resize((w, h), Image.Resampling.BILINEAR)
        a = np.asarray(im2, dtype=np.float32) / 255.0
        arrays.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
    return arrays


# ----------------------------------------------------------------------------- MNIST IDX
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path, expected_ndim: int | None = None) -> np.ndarray:
    """Parse one IDX file (optionally gzipped): magic 0x0000<dtype><ndim>, big-endian int32 dims, data."""
    with _reading(path):
        with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as f:
            raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path}: bad IDX magic number {raw[:4].hex() or '(empty file)'}")
    ndim = raw[3]
    if expected_ndim is not None and ndim != expected_ndim:
        raise DataError(f"{path}: bad IDX magic number {raw[:4].hex()} (expected {expected_ndim} dims)")
    dims = np.frombuffer(raw, dtype=">i4", count=ndim, offset=4).astype(int).tolist()
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    offset = 4 + 4 * ndim
    need = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - offset != need:
        raise DataError(f"{path}: IDX header promises {need} data bytes but file has {len(raw) - offset}")
    return np.frombuffer(raw, dtype=dtype, offset=offset).reshape(dims)


def _find_idx(root: Path, stem: str) -> Path:
    for cand in (root / stem, root / f"{stem}.gz"):
        if cand.exists():
            return cand
    raise DataFileNotFoundError(f"{root}: missing MNIST file {stem} (or {stem}.gz)")


def read_mnist_idx(root: Path) -> Dataset:
    """A directory of the four MNIST IDX files -> (1, 28, 28) float32 in [0, 1]."""
    xs, ys = [], []
    for split in ("train", "t10k"):
        images = read_idx(_find_idx(root, f"{split}-images-idx3-ubyte"), 3)
        labels = read_idx(_find_idx(root, f"{split}-labels-idx1-ubyte"), 1)
        if len(images) != len(labels):
            raise DataError(f"{root}: {split} has {len(images)} images but {len(labels)} labels")
        xs.append(torch.as_tensor(images.astype(np.float32)[:, None] / 255.0))
        ys.append(torch.as_tensor(labels.astype(np.int64)))
    num_classes = max(10, max((int(y.max()) for y in ys if len(y)), default=0) + 1)
    return _check_given_split(str(root), Dataset(root.name, xs[0], ys[0], xs[1], ys[1], "classification", num_classes))


# ----------------------------------------------------------------------------- CIFAR-10
class _SafeUnpickler(pickle.Unpickler):
    """Only numpy arrays and plain containers may be rebuilt from a CIFAR batch."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("copy_reg", "_reconstructor"),
        ("copyreg", "_reconstructor"), ("builtins", "object"), ("__builtin__", "object"),
        ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch")


def _load_batch(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            d = _SafeUnpickler(f, encoding="bytes").load()
    except Exception as e:  # a user file that does not unpickle (refused class, truncated, garbage): bad input
        raise DataError(f"{path}: not a readable CIFAR-10 batch: {type(e).__name__}: {e}") from None
    if not isinstance(d, dict):
        raise DataError(f"{path}: not a CIFAR-10 batch (expected a dict)")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()}


def _cifar_arrays(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    d = _load_batch(path)
    for key in ("data", "labels"):
        if key not in d:
            raise DataError(f"{path}: CIFAR-10 batch lacks key {key!r}")
    data = np.asarray(d["data"], dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{path}: CIFAR-10 data must be (N, 3072) uint8, got {data.shape}")
    labels = np.asarray(d["labels"], dtype=np.int64).reshape(-1)
    if len(labels) != len(data):
        raise DataError(f"{path}: {len(data)} images but {len(labels)} labels")
    if len(labels) and labels.min() < 0:
        raise DataError(f"{path}: labels must be >= 0")
    x = torch.as_tensor(data.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0)
    return x, torch.as_tensor(labels)


def read_cifar10(root: Path) -> Dataset:
    """``data_batch_*`` (any subset) and ``test_batch`` python pickles -> (3, 32, 32) float32 in [0, 1]."""
    train_files = sorted(root.glob("data_batch_*"))
    if not train_files:
        raise DataFileNotFoundError(f"{root}: no CIFAR-10 data_batch_* files")
    if not (root / "test_batch").exists():
        raise DataFileNotFoundError(f"{root}: missing CIFAR-10 test_batch")
    parts = [_cifar_arrays(p) for p in train_files]
    x_test, y_test = _cifar_arrays(root / "test_batch")
    classes = None
    if (root / "batches.meta").exists():
        names = _load_batch(root / "batches.meta").get("label_names")
        if names is not None:
            classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    ds = Dataset(root.name, torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]),
                 x_test, y_test, "classification", len(classes) if classes else 10, classes)
    return _check_given_split(str(root), ds)


# ----------------------------------------------------------------------------- dispatch
def _dir_kind(root: Path) -> str:
    names = {p.name for p in root.iterdir()}
    if any(f in names or f + ".gz" in names for f in IDX_FILES):
        return "idx"
    if "test_batch" in names or any(n.startswith("data_batch_") for n in names):
        return "cifar10"
    if any(p.is_dir() for p in root.iterdir()):
        return "images"
    raise DataError(f"{root}: directory is neither MNIST IDX files, CIFAR-10 batches nor class subfolders")


def read_file(path: str | Path, target: str | None = None, **args: Any) -> Dataset:
    """Read a local file or directory into a Dataset, choosing the reader by extension / content."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DataFileNotFoundError(f"data file not found: {p}")
    if target is not None:
        args["target"] = target
    opts = FileArgs.model_validate(args)
    if p.is_dir():
        kind = _dir_kind(p)
        if kind == "idx":
            return read_mnist_idx(p)
        if kind == "cifar10":
            return read_cifar10(p)
        return read_image_folder(p, mode=opts.mode, size=opts.size, test_fraction=opts.test_fraction,
                                 seed=opts.seed)
    ext = p.suffix.lower()
    if ext in (".csv", ".parquet", ".pq"):
        import pandas as pd

        csv = ext == ".csv"
        with _reading(p):
            df = pd.read_csv(p) if csv else pd.read_parquet(p)
        return dataframe_to_dataset(df, p.stem, csv=csv, target=opts.target, test_fraction=opts.test_fraction,
                                    seed=opts.seed, max_categories=opts.max_categories, source=str(p))
    if ext == ".npz":
        return read_npz(p, test_fraction=opts.test_fraction, seed=opts.seed)
    raise DataError(f"{p}: unsupported file type {ext or '(none)'}; use .csv, .parquet, .pq, .npz, "
                     "an image-class folder, an MNIST IDX folder or a CIFAR-10 batch folder")


def fingerprint(path: str | Path) -> str:
    """A short content hash of a data file (its bytes) or folder (relative paths, sizes, modification times)."""
    import hashlib

    p = Path(path)
    h = hashlib.sha256()
    if p.is_file():
        with p.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    elif p.is_dir():
        for q in sorted(q for q in p.rglob("*") if q.is_file()):
            st = q.stat()
            h.update(f"{q.relative_to(p)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    else:
        raise DataFileNotFoundError(f"{p}: no such file or folder")
    return h.hexdigest()[:16]
