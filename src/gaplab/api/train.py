"""``gaplab.train``: train one model through the pack engine and the store (the CLI's ``gaplab train`` too)."""

from __future__ import annotations

from typing import Any

from gaplab.api.progress import Progress, ProgressFn, progress_updates
from gaplab.api.run import Run
from gaplab.api.specs import SpecSource, build_run
from gaplab.api.store import StoreLike, raw_store, store_path
from gaplab.api.threads import torch_threads
from gaplab.data.memory import default_folder
from gaplab.spec import RunSpec
from gaplab.store.db import DEFAULT_PATH
from gaplab.store.db import Store as RawStore


def run_one(spec: RunSpec, store: RawStore | None, progress: ProgressFn | None = None,
            keep_state: bool = False) -> Run:
    """Train (or reuse from ``store``) one validated run and return it whatever its status.

    The CLI's ``train`` calls this and prints; ``train`` below calls it and raises on a failed run.
    """
    from gaplab.engine import run_local

    out = run_local([spec], store, progress=progress, keep_state=keep_state)
    fresh = out["results"][0] if out["results"] else None
    if store is not None:
        row = store.run(spec.run_id)
        assert row is not None, f"run {spec.run_id} was not stored"
        return Run.from_row(row, store, skipped=bool(out["skipped"]), state=fresh.state if fresh else None)
    if fresh is not None:
        return Run.from_result(fresh)
    return Run(spec.run_id, spec.normalized(), "failed", {}, error=out["errors"].get(spec.run_id))


def train(spec: SpecSource = None, *, store: StoreLike = DEFAULT_PATH, keep_state: bool = False,
          progress: Progress = True, threads: int | None = None, **overrides: Any) -> Run:
    """Train one model and return its final metrics and per-epoch history.

    The run goes through the same pack engine and results store as ``gaplab train``: its id is a hash of its
    spec, and a run already in the store is read back instead of trained again.

    Parameters
    ----------
    spec : dict, str, pathlib.Path or RunSpec, optional
        The run spec: plain data (``{"model": {"name": "mlp"}, ...}``), YAML text, or a YAML/TOML/JSON file.
        Missing keys take their defaults (MNIST-1D, an MLP, Adam, 20 epochs).
    store : str, pathlib.Path, Store or None, default "gaplab-results/gaplab.db"
        Results database to read from and write to; None keeps nothing.
    keep_state : bool, default False
        Keep the final weights, so ``run.model()`` returns the trained model.
    progress : bool or callable, default True
        Show a progress bar (a widget in Jupyter); False is silent; a callable gets ``(label, done, total)``.
    threads : int, optional
        Torch threads for this call (default: leave torch's setting).
    **overrides
        Spec keys to change: dotted (``**{"reg.early_stopping.patience": 5}``) or the short names of the
        ``gaplab train`` flags (``width=64``, ``l2=1.0``, ``dropout=0.2``, ``epochs=50``, ``seed=1``, ...).

    Returns
    -------
    Run
        ``run.final`` (final metrics), ``run.history`` (per-epoch DataFrame), ``run.model()`` (with keep_state).

    Raises
    ------
    gaplab.SpecError
        A spec that cannot be used (unknown key or name, bad value, missing data file); the message names the key.
    RuntimeError
        Training raised (the run is stored as failed).

    Examples
    --------
    >>> import gaplab
    >>> run = gaplab.train({"data": {"name": "mnist1d", "args": {"num_samples": 600}}, "optim": {"epochs": 2}},
    ...                    width=32, l2=1.0, progress=False)
    >>> run.status, len(run.run_id)
    ('done', 16)
    >>> 0.0 <= run.final["test_acc"] <= 1.0
    True
    >>> run.history[["epoch", "train_loss", "test_acc"]].shape
    (2, 3)

    YAML text works as well as a dict; ``keep_state`` keeps the weights for predictions on new inputs:

    >>> import torch
    >>> sine = gaplab.train("data: {name: sine}\\noptim: {epochs: 2}", width=16, keep_state=True, progress=False)
    >>> sine.model()(torch.zeros(5, 1)).shape
    torch.Size([5, 1])
    >>> gaplab.train(model="nope", progress=False)
    Traceback (most recent call last):
    ...
    gaplab.errors.SpecError: model.name: unknown model 'nope'; choose from: ...
    """
    built = build_run(spec, overrides, data_folder=default_folder(store_path(store)))
    db = raw_store(store)
    with progress_updates(progress) as update, torch_threads(threads):
        run = run_one(built, db, update, keep_state)
    if run.status == "failed":
        first = (run.error or "").strip().splitlines()[:1]
        raise RuntimeError(f"run {run.run_id} failed" + (f": {first[0]}" if first else ""))
    return run

