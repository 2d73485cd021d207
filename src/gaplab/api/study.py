"""``gaplab.study``: run one claim's study (training through the engine and the store) and get its verdict.

A top-level door like the CLI, so it may import ``gaplab.studies``; it runs the same ``run_study`` as
``gaplab study NAME``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gaplab.api.progress import Progress, progress_updates
from gaplab.api.store import StoreLike, raw_store
from gaplab.api.threads import torch_threads
from gaplab.api.verdict import Verdict
from gaplab.errors import SpecError
from gaplab.store.db import DEFAULT_PATH

DEFAULT_OUT = Path("gaplab-results") / "studies"


def study(name: str, preset: str = "quick", seed: int = 0, *, store: StoreLike = DEFAULT_PATH,
          out: str | Path = DEFAULT_OUT, progress: Progress = True, threads: int | None = None,
          **params: Any) -> Verdict:
    """Run the study of one claim: train (or reuse) its runs, draw its figures, decide its verdict.

    Parameters
    ----------
    name : str
        A study's name, e.g. ``"double-descent"`` (``gaplab study list`` names them all).
    preset : {"quick", "full"}, default "quick"
        ``quick`` takes seconds to a minute; ``full`` is the faithful, publication-scale version (minutes).
    seed : int, default 0
        Seed of every run in the study.
    store : str, pathlib.Path, Store or None, default "gaplab-results/gaplab.db"
        Results database for its runs and verdict; None keeps nothing.
    out : str or pathlib.Path, default "gaplab-results/studies"
        Its figures and ``verdict.json`` go to ``out/NAME``.
    progress : bool or callable, default True
        Show a progress bar; False is silent; a callable gets ``(label, done, total)``.
    threads : int, optional
        Torch threads for this call (default: leave torch's setting).
    **params
        Preset parameters to change (``epochs=5``); unknown names are a ``SpecError`` listing the known ones.

    Returns
    -------
    Verdict
        ``held`` (True, False or None), ``summary``, ``numbers``, ``figures``, ``results()`` (its runs).

    Examples
    --------
    >>> import gaplab
    >>> v = gaplab.study("learning-rate", progress=False)
    >>> v.held, v.folder.name
    (True, 'learning-rate')
    >>> runs = v.results().to_pandas()  # the study's runs, one row each
    >>> runs["optim.lr"].is_monotonic_increasing and set(runs["status"]) == {"done", "diverged"}
    True
    >>> gaplab.study("no-such-claim")
    Traceback (most recent call last):
    ...
    gaplab.errors.SpecError: ...study 'no-such-claim'...
    """
    from gaplab.studies import get, run_study

    try:  # bad names are the caller's input: SpecError, whatever the registry raises
        get(name).params(preset, params)
    except ValueError as e:
        raise SpecError(str(e)) from None
    db = raw_store(store)
    with progress_updates(progress) as update, torch_threads(threads):
        v = run_study(name, preset=preset, seed=seed, out=out, store=db, overrides=params or None, progress=update)
    return Verdict(v.to_json(), (Path(out) / name).resolve(), db)
