"""``gaplab.sweep``: run a sweep through the pack engine and the store (the CLI's ``gaplab sweep`` too)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from gaplab.api.progress import Progress, ProgressFn, progress_updates
from gaplab.api.results import Results
from gaplab.api.run import Run
from gaplab.api.specs import SpecSource, build_sweep
from gaplab.api.store import StoreLike, raw_store, store_path
from gaplab.api.threads import torch_threads
from gaplab.data.memory import default_folder
from gaplab.errors import SpecError
from gaplab.spec import MAX_RUNS, RunSpec
from gaplab.store.db import DEFAULT_PATH
from gaplab.store.db import Store as RawStore


def plan(specs: Sequence[RunSpec], store: RawStore | None, max_pack: int = 64, workers: int = 1) -> dict[str, Any]:
    """What a local sweep would do: how many runs, how many not stored yet, the sizes of the packs they form, how
    many train at once (``workers`` processes, or packs side by side in threads of one process) and the engine path
    each pack takes (fused, conv, vmap, loop) with the reason. The executor trains the same ``schedule``."""
    from gaplab.engine import path_of, schedule, unique_pending

    pending, ids = unique_pending(specs, store)
    sched = schedule(specs, workers, max_pack, pending={s.run_id for s in pending})
    paths = [dict(zip(("path", "reason"), path_of(p[0]), strict=True)) for p in sched.packs]
    return {"runs": len(ids), "pending": len(pending), "packs": [len(p) for p in sched.packs],
            "at_once": sched.at_once, "paths": paths}


def execute(specs: Sequence[RunSpec], store: RawStore | None, group: str, *, executor: str = "local",
            workers: int = 1, max_pack: int = 64, address: str | None = None, progress: ProgressFn | None = None,
            keep_state: bool = False, checkpoint_every: float | None = None,
            checkpoint_dir: str | None = None) -> dict[str, Any]:
    """Train every pending spec with the chosen executor; the executor's summary (counts, ids, fresh results).

    ``checkpoint_every``: seconds of training between pack checkpoints (0 = none; default ≈1 min), kept in
    ``checkpoint_dir`` (a folder or fsspec URL every node sees; default beside the store, none on a remote cluster).
    """
    from gaplab.engine import DEFAULT_EVERY

    every = DEFAULT_EVERY if checkpoint_every is None else checkpoint_every
    if executor == "ray":
        from gaplab.engine.ray_executor import run_ray  # says which extra to install when Ray is missing

        return run_ray(specs, store, group=group, max_pack=max_pack, address=address, progress=progress,
                       keep_state=keep_state, checkpoint_every=every, checkpoint_dir=checkpoint_dir)
    if executor == "local":
        from gaplab.engine import run_local

        return run_local(specs, store, group=group, max_pack=max_pack, progress=progress, workers=workers,
                         keep_state=keep_state, checkpoint_every=every, checkpoint_dir=checkpoint_dir)
    raise SpecError(f"executor: must be 'local' or 'ray', got {executor!r}")


def collect(name: str, specs: Sequence[RunSpec], out: dict[str, Any], store: RawStore | None) -> Results:
    """The sweep's runs in its order, read back from the store (or from the fresh results without one)."""
    fresh = {r.run_id: r for r in out["results"]}
    stored = {r["id"]: r for r in store.runs(group=name)} if store is not None else {}
    by_id = {s.run_id: s for s in specs}
    runs = []
    for rid in out["ids"]:
        if rid in stored:
            state = fresh[rid].state if rid in fresh else None
            runs.append(Run.from_row(stored[rid], store, skipped=rid not in fresh, state=state))  # type: ignore[arg-type]
        elif rid in fresh:
            runs.append(Run.from_result(fresh[rid]))
        else:  # failed without a store to say why
            runs.append(Run(rid, by_id[rid].normalized(), "failed", {}))
    counts = {k: v for k, v in out.items() if k not in ("results", "ids")}
    return Results(name, runs, counts)


def sweep(spec: SpecSource, *, store: StoreLike = DEFAULT_PATH, workers: int = 1, executor: str = "local",
          max_pack: int = 64, address: str | None = None, device: str | None = None, keep_state: bool = False,
          progress: Progress = True, threads: int | None = None, max_runs: int | None = MAX_RUNS,
          checkpoint_dir: str | None = None, **overrides: Any) -> Results:
    """Run every run of a sweep (a base run plus grid/zip axes) and return them as ``Results``.

    Runs that share data and architecture train together as one stacked model (a pack); runs already in the
    store are read back, not trained again, so calling it again after an interruption resumes.

    Parameters
    ----------
    spec : dict, str, pathlib.Path or SweepSpec
        ``{"name": ..., "base": {run spec}, "grid": {dotted key: [values]}, "zip": {dotted key: [values]}}``,
        as plain data, YAML text or a YAML/TOML/JSON file. Grid axes form a product; zip axes advance together.
    store : str, pathlib.Path, Store or None, default "gaplab-results/gaplab.db"
        Results database (runs are tagged with the sweep's name); None keeps nothing.
    workers : int, default 1
        Local executor: train packs concurrently in this many processes.
    executor : {"local", "ray"}, default "local"
        ``"ray"`` sends packs to a Ray cluster (``address``, or a local one); needs the ``ray`` extra.
    max_pack : int, default 64
        Most models trained at once in one pack.
    address : str, optional
        Ray cluster address.
    checkpoint_dir : str, optional
        Folder or fsspec URL (``file://``, ``s3://``...) for pack checkpoints, one every node of a cluster sees
        (default: beside the store; none on a remote Ray cluster).
    device : str, optional
        Override every run's device (``"cpu"``, ``"cuda"``).
    keep_state : bool, default False
        Keep every run's final weights (``results[i].model()``).
    progress : bool or callable, default True
        Show a progress bar; False is silent; a callable gets ``(label, done_epochs, total_epochs)``.
    threads : int, optional
        Torch threads for this call (default: leave torch's setting).
    max_runs : int or None, default 100000
        A sweep whose axes make more runs is refused (a SpecError naming its axes) before any run is built;
        None: no limit.
    **overrides
        Keys of the base run to change, dotted or short (``epochs=5``), as in ``gaplab.train``.

    Returns
    -------
    Results
        ``.to_pandas()`` one row per run, ``.history()`` per-epoch metrics, ``.counts``.

    Examples
    --------
    >>> import gaplab
    >>> spec = '''
    ... name: widths
    ... base: {data: {name: mnist1d, args: {num_samples: 600}}, optim: {epochs: 2}}
    ... grid: {model.args.width: [8, 32]}
    ... zip: {reg.l2: [0.0, 1.0], reg.dropout: [0.0, 0.2]}
    ... '''
    >>> res = gaplab.sweep(spec, progress=False)
    >>> res
    Results('widths': 4 runs: 4 done)
    >>> df = res.to_pandas()
    >>> df[["model.args.width", "reg.l2", "reg.dropout"]]
       model.args.width  reg.l2  reg.dropout
    0                 8     0.0          0.0
    1                 8     1.0          0.2
    2                32     0.0          0.0
    3                32     1.0          0.2
    >>> gaplab.sweep(spec, progress=False).counts["skipped"]  # stored: nothing is trained again
    4
    """
    sw, specs = build_sweep(spec, overrides, device, max_runs, data_folder=default_folder(store_path(store)))
    db = raw_store(store)
    with progress_updates(progress) as update, torch_threads(threads):
        out = execute(specs, db, sw.name, executor=executor, workers=workers, max_pack=max_pack, address=address,
                      progress=update, keep_state=keep_state, checkpoint_dir=checkpoint_dir)
    results = collect(sw.name, specs, out, db)
    if out["failed"]:
        warnings.warn(f"sweep {sw.name}: {out['failed']} runs failed (status 'failed'; see their 'error')",
                      RuntimeWarning, stacklevel=2)
    return results
