"""Pack checkpoints: a pack's whole training state on disk, so a killed sweep resumes mid-pack.

A checkpoint lives in a folder (by default beside the store, ``<store>.checkpoints/<pack-hash>.pt``) or under an
fsspec URL (``file://``, ``s3://``, ``gs://``... with the user's backend installed), so that on a cluster every node
finds it. It is written atomically every ``every`` seconds of training (local: temporary file, fsync,
``os.replace``; object stores: one PUT, which is all-or-nothing; other fsspec file systems: temporary file and move),
read back with ``torch.load(weights_only=True)`` and trusted only when its fingerprint (format version and the
pack's run ids in order) matches the pack being trained. Anything else (truncated file, changed spec, other version)
is discarded with a message on stderr and the pack starts from epoch 0.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import torch

from gaplab.errors import SpecError

FORMAT = 2  # 2: the flat (K, P) parameter table, rows and retired runs (compaction)
DEFAULT_EVERY = 60.0


def checkpoint_dir(store_path: str | Path) -> Path:
    """Where the checkpoints of the store at ``store_path`` go."""
    p = Path(store_path)
    return p.with_name(p.name + ".checkpoints")


# fsspec protocols whose single-object write is atomic (readers see the old object or the whole new one)
_OBJECT_STORES = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl"}


def is_url(folder: str | Path) -> bool:
    return isinstance(folder, str) and "://" in folder


def split_location(folder: str | Path) -> tuple[Any, str]:
    """(None, local folder) for a path or ``file://`` URL; (fsspec file system, root) for any other URL."""
    if not is_url(folder):
        return None, str(folder)
    assert isinstance(folder, str)
    if folder.startswith("file://"):
        return None, folder[len("file://"):] or "/"
    import fsspec

    fs, root = fsspec.core.url_to_fs(folder)
    return fs, root.rstrip("/")


def _protocols(fs: Any) -> set[str]:
    p = fs.protocol
    return {p} if isinstance(p, str) else set(p)


def check_location(folder: str | Path) -> str:
    """Make sure checkpoints can be written at ``folder`` (created if missing); SpecError naming it otherwise.

    Returns the location as the workers should get it (a local folder made absolute)."""
    try:
        fs, root = split_location(folder)
    except ImportError as e:  # fsspec knows the protocol but its backend package is missing
        raise SpecError(f"--checkpoint-dir {folder}: {str(e).splitlines()[0]}") from None
    except ValueError as e:  # unknown protocol
        raise SpecError(f"--checkpoint-dir {folder}: {e}") from None
    try:
        if fs is None:
            p = Path(root).expanduser().resolve()
            p.mkdir(parents=True, exist_ok=True)
            probe = p / f".probe-{uuid.uuid4().hex[:8]}"
            probe.write_bytes(b"")
            probe.unlink()
            return f"file://{p}" if is_url(folder) else str(p)
        fs.makedirs(root, exist_ok=True)
    except OSError as e:
        raise SpecError(f"--checkpoint-dir {folder}: cannot write there: {e.strerror or e}") from None
    return str(folder)


def fingerprint(run_ids: list[str]) -> dict[str, Any]:
    """What a checkpoint must match to be trusted: format version and the pack's run ids in order."""
    return {"format": FORMAT, "runs": list(run_ids)}


def pack_hash(run_ids: list[str]) -> str:
    return hashlib.sha256(",".join(run_ids).encode()).hexdigest()[:20]


def _note(msg: str) -> None:
    sys.stderr.write(f"gaplab: {msg}\n")
    sys.stderr.flush()


class Checkpointer:
    """Saves and restores one pack's state at ``folder/<pack-hash>.pt``; ``every`` = seconds between saves."""

    def __init__(self, folder: str | Path, run_ids: list[str], every: float = DEFAULT_EVERY) -> None:
        self.run_ids = list(run_ids)
        self.fs, root = split_location(folder)
        name = f"{pack_hash(self.run_ids)}.pt"
        self.path = Path(root) / name  # the local file (with a file system: only its name is used)
        self.key = f"{root}/{name}"  # the object's key on ``fs``
        self.where = str(self.path) if self.fs is None else f"{folder}/{name}"
        self.every = every
        self._last = self._prev = time.monotonic()  # last save, last call of due()

    def _read(self) -> bytes | None:
        if self.fs is None:
            return self.path.read_bytes() if self.path.exists() else None
        try:
            data: bytes = self.fs.cat_file(self.key)
        except FileNotFoundError:
            return None
        return data

    def load(self) -> dict[str, Any] | None:
        """The saved state if there is one that matches this pack; a bad one is deleted with a message."""
        raw = self._read()
        if raw is None:
            return None
        try:
            state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
        except Exception as exc:  # truncated or foreign file: never trusted, whatever the error
            self.discard(f"unreadable ({type(exc).__name__})")
            return None
        if not isinstance(state, dict) or state.get("fingerprint") != fingerprint(self.run_ids):
            self.discard("it belongs to another pack or format")
            return None
        return state

    def discard(self, reason: str) -> None:
        """Delete a checkpoint that cannot be used, saying why on stderr (the pack then starts from epoch 0)."""
        _note(f"discarded checkpoint {self.where}: {reason}")
        self.delete()

    def due(self) -> bool:
        """Whether to save now (called at each epoch end): when waiting for the next epoch end, as long as the last
        epoch took, would leave more than ``every`` seconds since the last save (or the start). So saves are at most
        ``every`` apart and a killed pack loses at most that much training, however long its epochs."""
        now = time.monotonic()
        epoch, self._prev = now - self._prev, now
        return self.every > 0 and now - self._last + epoch >= self.every

    def save(self, state: dict[str, Any]) -> None:
        """Write ``state`` atomically: a reader sees the previous checkpoint or this one, never a torn file.

        The temporary name is unique per writer (a folder shared by several nodes may see equal pids)."""
        buf = io.BytesIO()
        torch.save({**state, "fingerprint": fingerprint(self.run_ids)}, buf)  # whole state in memory: one write
        tmp_name = f"{self.path.name}.tmp{uuid.uuid4().hex[:12]}"
        if self.fs is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(tmp_name)
            with open(tmp, "wb") as f:
                f.write(buf.getbuffer())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        elif _protocols(self.fs) & _OBJECT_STORES:
            self.fs.pipe_file(self.key, buf.getvalue())
        else:
            tmp_key = f"{self.key.rsplit('/', 1)[0]}/{tmp_name}"
            self.fs.pipe_file(tmp_key, buf.getvalue())
            self.fs.mv(tmp_key, self.key)
        self._last = time.monotonic()

    def delete(self) -> None:
        """Remove the checkpoint and any temporary file a killed writer left behind."""
        if self.fs is None:
            for p in [self.path, *self.path.parent.glob(self.path.name + ".tmp*")]:
                p.unlink(missing_ok=True)
            return
        for key in [self.key, *self.fs.glob(self.key + ".tmp*")]:
            try:
                self.fs.rm(key)
            except FileNotFoundError:
                pass
