"""The exceptions gaplab raises for bad input; the CLI turns exactly these into one line and exit code 2.

Anything else is a bug and keeps its traceback. Each subclasses ``ValueError`` so callers that catch
``ValueError`` keep working.
"""

from __future__ import annotations


class GaplabError(ValueError):
    """Bad input to gaplab: the message names the field, file or line at fault."""


class SpecError(GaplabError):
    """A spec that cannot be used; the message names the key path (and file line where known)."""


class DataError(GaplabError):
    """Data that cannot be used (empty table, one class, too few rows, unreadable file); names the file/column."""


class DataFileNotFoundError(DataError, FileNotFoundError):
    """A data file or folder the user named does not exist (still a ``FileNotFoundError`` for old callers)."""


def user_stacklevel() -> int:
    """``warnings.warn``'s ``stacklevel`` for the caller's caller chain's first frame outside gaplab: a warning then
    points at the user's line (``gaplab.train(model=net)``, ``w.step(loss)``), however deep inside gaplab it rose."""
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parent)
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(root):
        frame, level = frame.f_back, level + 1  # type: ignore[assignment]
    return level
