"""Pack checkpoints: a pack's whole training state on disk, so a killed sweep resumes mid-pack.

A checkpoint lives beside the store (``<store>.checkpoints/<pack-hash>.pt``), is written atomically
(temporary file, fsync, ``os.replace``) every ``every`` seconds of training, read back with
``torch.load(weights_only=True)`` and trusted only when its fingerprint (format version and the pack's run
ids in order) matches the pack being trained. Anything else (truncated file, changed spec, other version)
is discarded with a message on stderr and the pack starts from epoch 0.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

FORMAT = 2  # 2: the flat (K, P) parameter table, rows and retired runs (compaction)
DEFAULT_EVERY = 60.0


def checkpoint_dir(store_path: str | Path) -> Path:
    """Where the checkpoints of the store at ``store_path`` go."""
    p = Path(store_path)
    return p.with_name(p.name + ".checkpoints")


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
        self.path = Path(folder) / f"{pack_hash(self.run_ids)}.pt"
        self.every = every
        self._last = time.monotonic()

    def load(self) -> dict[str, Any] | None:
        """The saved state if there is one that matches this pack; a bad one is deleted with a message."""
        if not self.path.exists():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as exc:  # truncated or foreign file: never trusted, whatever the error
            self.discard(f"unreadable ({type(exc).__name__})")
            return None
        if not isinstance(state, dict) or state.get("fingerprint") != fingerprint(self.run_ids):
            self.discard("it belongs to another pack or format")
            return None
        return state

    def discard(self, reason: str) -> None:
        """Delete a checkpoint that cannot be used, saying why on stderr (the pack then starts from epoch 0)."""
        _note(f"discarded checkpoint {self.path}: {reason}")
        self.delete()

    def due(self) -> bool:
        """Whether enough training time has passed since the last save (or the start)."""
        return self.every > 0 and time.monotonic() - self._last >= self.every

    def save(self, state: dict[str, Any]) -> None:
        """Write ``state`` atomically: a reader sees the previous checkpoint or this one, never a torn file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.tmp{os.getpid()}")
        with open(tmp, "wb") as f:
            torch.save({**state, "fingerprint": fingerprint(self.run_ids)}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._last = time.monotonic()

    def delete(self) -> None:
        """Remove the checkpoint and any temporary file a killed writer left behind."""
        for p in [self.path, *self.path.parent.glob(self.path.name + ".tmp*")]:
            p.unlink(missing_ok=True)
