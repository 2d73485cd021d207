"""Folder names from stored keys (artifact keys, group names): safe on every file system."""

from __future__ import annotations


def safe_name(key: str, limit: int | None = 80) -> str:
    """``key`` with letters, digits, '-', '_' and '.' kept and the rest '_', cut to ``limit`` characters
    (``None``: no cut); "_" for an empty key."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in key)
    return (safe if limit is None else safe[:limit]) or "_"
