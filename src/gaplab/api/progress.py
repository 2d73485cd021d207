"""Progress for the Python API: a tqdm bar (a widget in Jupyter when ipywidgets is there), or a caller's callback."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

ProgressFn = Callable[[str, int, int], None]
# What a caller passes: True (a bar), False (silent), or its own ``update(label, done, total)``.
Progress = bool | ProgressFn


def _in_notebook() -> bool:
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell"


def _bar_class() -> Any:
    """tqdm's notebook widget inside Jupyter with ipywidgets installed, its text bar (on stderr) elsewhere."""
    if _in_notebook():
        try:
            import ipywidgets  # noqa: F401
            from tqdm.notebook import tqdm as notebook_tqdm

            return notebook_tqdm
        except ImportError:
            pass
    from tqdm.std import tqdm

    return tqdm


@contextmanager
def progress_updates(progress: Progress) -> Iterator[ProgressFn | None]:
    """Yield the ``update(label, done_epochs, total_epochs)`` the engine calls, or None when silent.

    The bar is made on the first update, so a call whose runs are all stored already shows nothing.
    """
    if callable(progress):
        yield progress
        return
    if not progress:
        yield None
        return
    bars: list[Any] = []

    def update(label: str, done: int, total: int) -> None:
        if not bars:
            bars.append(_bar_class()(total=total, unit="epoch", desc=label, leave=True))
        bar = bars[0]
        bar.total = total
        bar.set_description_str(label, refresh=False)
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        for bar in bars:
            bar.close()
