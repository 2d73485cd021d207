"""Ship a sweep's user code and data files to Ray workers that cannot see the driver's folders.

The driver copies the files each user model's fingerprint covers (kept in their layout below the model's root
folder) and each user data file or folder into one staging package, ``gaplab_ship_<digest>``, which Ray sends to
every node as a ``py_modules`` entry of the tasks' runtime_env (zipped once, cached by content). A worker maps the
driver's paths in each spec to the shipped copies and checks the copies' fingerprints before training.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gaplab.errors import SpecError
from gaplab.spec import RunSpec

MANIFEST = "manifest.json"
PREFIX = "gaplab_ship_"
DEFAULT_MAX_BYTES = 512 << 20  # Ray's package limit (its gRPC message size) when Ray does not say


def max_bytes() -> int:
    """The largest package Ray's runtime_env uploads (``RAY_max_grpc_message_size``, 512 MiB by default)."""
    try:
        from ray._private.runtime_env.packaging import GCS_STORAGE_MAX_SIZE

        return int(GCS_STORAGE_MAX_SIZE)
    except (ImportError, AttributeError):
        return DEFAULT_MAX_BYTES


@dataclass
class Shipment:
    """A staged package on the driver: ``folder`` is the package (named ``name``) inside a temporary folder."""

    folder: Path
    name: str
    n_bytes: int

    def runtime_env(self) -> dict[str, Any]:
        return {"py_modules": [str(self.folder)]}

    def cleanup(self) -> None:
        shutil.rmtree(self.folder.parent, ignore_errors=True)


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def _files_of(path: Path) -> list[tuple[str, Path]]:
    """(path relative to ``path``'s parent, file) of a data file or every file below a data folder."""
    if path.is_file():
        return [(path.name, path)]
    return [(str(Path(path.name) / q.relative_to(path)), q) for q in sorted(path.rglob("*")) if q.is_file()]


def content_digest(files: list[tuple[str, Path]]) -> str:
    """sha256 of relative names and contents (not modification times, which a zip round trip does not keep)."""
    h = hashlib.sha256()
    for rel, p in sorted(files):
        fh = hashlib.sha256()
        with p.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                fh.update(block)
        h.update(rel.encode() + b"\0" + fh.digest())
    return h.hexdigest()[:16]


def _model_entries(specs: list[RunSpec]) -> tuple[dict[str, Any], list[tuple[str, Path]]]:
    """Manifest entries of the user models and the files to copy (package-relative name, source)."""
    from gaplab.models import user

    entries: dict[str, Any] = {}
    files: list[tuple[str, Path]] = []
    for s in specs:
        name = s.model.name
        if s.model.fingerprint is None or name in entries:
            continue
        code = user.code_fingerprint(name)  # SpecError naming a model file that went away
        if code.digest != s.model.fingerprint:
            raise SpecError(f"model.name: the code of '{name}' changed since the sweep was planned (fingerprint "
                            f"{code.digest}, planned {s.model.fingerprint}); run the command again")
        where, _ = user.split_name(name)
        folder = f"code/{code.digest}"
        entries[name] = {"fingerprint": code.digest, "dir": folder,
                         "file": os.path.relpath(Path(where).resolve(), code.root) if where.endswith(".py") else None}
        mine = {Path(f) for f in code.files}
        for f in code.files:  # a package's __init__.py runs on import even where the fingerprint leaves it out
            for parent in Path(f).parents:
                if parent == code.root or code.root not in parent.parents:
                    break
                if (parent / "__init__.py").is_file():
                    mine.add(parent / "__init__.py")
        files += [(f"{folder}/{os.path.relpath(f, code.root)}", f) for f in sorted(mine)]
    return entries, files


def _data_entries(specs: list[RunSpec]) -> tuple[dict[str, Any], list[tuple[str, Path]]]:
    entries: dict[str, Any] = {}
    files: list[tuple[str, Path]] = []
    for s in specs:
        path = s.data.path
        if path is None or path in entries:
            continue
        p = Path(path).expanduser()
        if not p.exists():
            raise SpecError(f"data.path: cannot ship '{path}' to the Ray cluster: no such file or folder")
        try:
            mine = _files_of(p)
            digest = content_digest(mine)
        except OSError as e:
            raise SpecError(f"data.path: cannot ship '{path}' to the Ray cluster: {e.strerror or e}") from None
        folder = f"data/{digest}"
        entries[path] = {"path": f"{folder}/{p.name}", "digest": digest}
        files += [(f"{folder}/{rel}", q) for rel, q in mine]
    return entries, files


def stage(specs: list[RunSpec], data: bool = True, limit: int | None = None) -> Shipment | None:
    """Copy the user model files (and, with ``data``, the data files) of ``specs`` into a package to ship; None
    when there is nothing to ship. A file that cannot be read, or a package over Ray's limit, is a SpecError."""
    models, code_files = _model_entries(specs)
    datas, data_files = _data_entries(specs) if data else ({}, [])
    if not models and not datas:
        return None
    files = code_files + data_files
    limit = max_bytes() if limit is None else limit
    try:
        total = sum(p.stat().st_size for _, p in files)
    except OSError as e:
        raise SpecError(f"cannot ship {e.filename} to the Ray cluster: {e.strerror}") from None
    if total >= limit:
        big = sorted(((p.stat().st_size, str(p)) for _, p in files), reverse=True)[:3]
        raise SpecError(f"data.path: the files to ship to the Ray cluster take {_mib(total)}, over Ray's "
                        f"{_mib(limit)} package limit (largest: {', '.join(f'{n} ({_mib(b)})' for b, n in big)}); "
                        "use a smaller file or raise RAY_max_grpc_message_size on the cluster")
    manifest = {"models": models, "data": datas}
    name = PREFIX + hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]
    tmp = Path(tempfile.mkdtemp(prefix="gaplab-ship-"))
    pkg = tmp / name
    try:
        for rel, src in files:
            dst = pkg / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
        (pkg / "__init__.py").write_text('"""User code and data shipped by gaplab to Ray workers."""\n')
        (pkg / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SpecError(f"cannot ship {e.filename} to the Ray cluster: {e.strerror}") from None
    return Shipment(pkg, name, total)


# ---- worker side ------------------------------------------------------------------------------------------------
_VERIFIED: set[str] = set()  # data copies already checked in this process


def package_root(name: str) -> Path:
    """Where the shipped package ``name`` was unpacked on this node (Ray put its parent on the import path)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"shipped package {name} is not importable on this worker (runtime_env py_modules)")
    return Path(list(spec.submodule_search_locations)[0])


def localize(spec_data: list[dict[str, Any]], package: str) -> list[dict[str, Any]]:
    """The specs (normalized data) with the driver's model and data paths mapped to the shipped copies, after
    checking that each copy's fingerprint is the one the run was planned with (SpecError otherwise)."""
    from gaplab.models import user

    root = package_root(package)
    manifest = json.loads((root / MANIFEST).read_text())
    mapped: dict[str, tuple[str, list[str]]] = {}  # driver's model name -> (shipped name, its files), checked
    out = []
    for d in spec_data:
        d = json.loads(json.dumps(d))
        name = d["model"]["name"]
        model = manifest["models"].get(name)
        if model is not None and name not in mapped:
            folder = root / model["dir"]
            if model["file"] is None:  # module:name, imported from the shipped root
                if str(folder) not in sys.path:
                    sys.path.insert(0, str(folder))
                new = name
            else:
                new = f"{folder / model['file']}:{user.split_name(name)[1]}"
            code = user.code_fingerprint(new)
            if code.digest != d["model"]["fingerprint"]:
                raise SpecError(f"model.name: the shipped copy of '{name}' has code fingerprint {code.digest} but "
                                f"the run was planned with {d['model']['fingerprint']}")
            mapped[name] = (new, list(code.files))
        if name in mapped:
            d["model"]["name"], d["model"]["files"] = mapped[name][0], list(mapped[name][1])
        data = manifest["data"].get(d["data"]["path"])
        if data is not None:
            p = root / data["path"]
            if str(p) not in _VERIFIED:
                got = content_digest(_files_of(p))
                if got != data["digest"]:
                    raise SpecError(f"data.path: the shipped copy of '{d['data']['path']}' differs from the "
                                    f"driver's (content {got}, shipped {data['digest']})")
                _VERIFIED.add(str(p))
            d["data"]["path"] = str(p)
        out.append(d)
    return out
