"""Folder names from stored keys (artifact keys, group names): safe on every file system."""

from __future__ import annotations

import hashlib


def safe_name(key: str, limit: int | None = 80) -> str:
    """``key`` with letters, digits, '-', '_' and '.' kept and the rest '_', cut to ``limit`` characters
    (``None``: no cut); "_" for an empty key. A cut name ends in 8 hex digits of the whole key's hash, so two
    long keys that share their first ``limit`` characters still get two folders."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in key)
    if limit is not None and len(safe) > limit:
        digest = hashlib.sha1(key.encode()).hexdigest()[:8]
        safe = f"{safe[:limit - 9]}-{digest}" if limit > 9 else digest[:limit]
    return safe or "_"
