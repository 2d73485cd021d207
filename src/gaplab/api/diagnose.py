"""``gaplab.diagnose`` and ``gaplab.advise``: the doctor and the advisor behind the spec forms of ``gaplab.train``.

A dict, YAML text, a file or a RunSpec, with ``gaplab.train``'s overrides (``width=64``, ``lr=0.1``) and its data
forms (``data=(X, y)``, a DataFrame with ``target=``, a torch or Hugging Face Dataset, ``test=``), resolved by the
same function (``gaplab.api.specs.build_run``), so a spec means the same run whichever door it goes through.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gaplab.api.progress import Progress, progress_updates
from gaplab.api.specs import SpecSource, build_run
from gaplab.api.store import StoreLike, raw_store, store_path
from gaplab.api.threads import torch_threads
from gaplab.data.memory import default_folder
from gaplab.store.db import DEFAULT_PATH

if TYPE_CHECKING:
    from gaplab.advise import Advice
    from gaplab.doctor import Diagnosis


def diagnose(spec: SpecSource = None, *, mode: str = "default", checks: Iterable[str] | None = None,
             target_error: float | None = None, folder: str | Path | None = None, store: StoreLike = DEFAULT_PATH,
             progress: Progress = True, threads: int | None = None, **overrides: Any) -> Diagnosis:
    """Run the training doctor on a run spec: PASS/WARN/FAIL per check, its likely cause and what to try.

    Parameters
    ----------
    spec : dict, str, pathlib.Path or RunSpec, optional
        What ``gaplab.train`` takes; ``**overrides`` too (``data=(X, y)``, ``target=``, ``test=``, ``width=64``).
    mode : {"default", "quick"}
        ``"quick"`` takes a few seconds with smaller budgets.
    checks : families to run (data, init, input, overfit, lr, dynamics, bias_variance, label_noise); all by default.
    target_error : the error you aim for (the bias reference); default: the best simple baseline.
    folder : where to draw the figures (none without it).
    store : where Python data is written (``<store>.data``); nothing else is stored.

    Returns
    -------
    gaplab.doctor.Diagnosis
        ``.checks``, ``.summary``, ``.check(name)``; label-noise suspects named by row id in
        ``.check("label noise (heuristic)").details["suspect_ids"]`` and ``.out_of_fold`` probabilities.

    Examples
    --------
    >>> import gaplab
    >>> d = gaplab.diagnose({"data": {"name": "sine"}}, mode="quick", checks=["init"], progress=False)
    >>> d.worst in ("PASS", "WARN", "FAIL"), [c.family for c in d.checks][:1]
    (True, ['init'])
    """
    from gaplab.doctor import diagnose as run_doctor

    built = build_run(spec, overrides, data_folder=default_folder(store_path(store)))
    with progress_updates(progress) as update, torch_threads(threads):
        return run_doctor(built, mode=mode, checks=checks, target_error=target_error, folder=folder,
                          progress=update)


def advise(spec: SpecSource = None, *, budget: str | float | None = "5m", store: StoreLike = DEFAULT_PATH,
           progress: Progress = True, threads: int | None = None, n: int | None = None, seeds: int | None = None,
           epochs: int | None = None, goal: float | None = None, workers: int = 1, out: str | Path | None = None,
           **overrides: Any) -> Advice:
    """Should you collect more data or regularize, with what and how much: ``gaplab advise`` on a run spec.

    ``gaplab.advise`` is this function (calling the ``gaplab.advise`` package calls it).

    Parameters
    ----------
    spec : dict, str, pathlib.Path or RunSpec, optional
        What ``gaplab.train`` takes (its data and model are advised on), with its ``**overrides``
        (``data=(X, y)``, ``target=``, ``width=64``); a bare data set name or data file path works too.
    budget : a time ('90s', '5m', '1h') the plan is shrunk to fit.
    n : treat only n examples as yours (default: the whole training pool).
    seeds, epochs : override the plan's (at least 2 seeds).
    goal : an error level: can more data reach it?
    store : results database; the sweep's runs are stored there and a re-run resumes.

    Returns
    -------
    gaplab.advise.Advice
        ``.text()`` (the advice in words), ``.numbers`` (every number), ``.figures`` in ``.folder``.

    Examples
    --------
    ``gaplab.advise("digits", budget="2m")`` or ``gaplab.advise(data=df, target="label")``; its data forms fail
    as ``gaplab.train``'s do, before anything trains:

    >>> import numpy as np, gaplab
    >>> gaplab.advise(data=(np.zeros((5, 3)), np.arange(5) % 2), progress=False)
    Traceback (most recent call last):
    ...
    gaplab.errors.DataError: data (X, y): only 5 examples; gaplab needs at least 10 to hold out a test set ...
    """
    from gaplab.advise import advise as run_advise

    if isinstance(spec, str | Path) and not overrides and _is_data_name(spec):
        overrides = {"data": str(spec)} if not Path(str(spec)).exists() else {"path": str(spec)}
        spec = None
    built = build_run(spec, overrides, data_folder=default_folder(store_path(store)))
    model, model_args = _given_model(spec, overrides)
    db = raw_store(store)
    with progress_updates(progress) as update, torch_threads(threads):
        return run_advise(built.data, model, budget, model_args=model_args, n=n, seeds=seeds, epochs=epochs,
                          goal=goal, store=db, out=out, workers=workers, progress=update)


def _given_model(spec: SpecSource, overrides: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The model name and arguments the caller gave (not the spec's defaults): advise picks its own model for the
    data's kind (a CNN for images, ...) unless told."""
    from gaplab.api.specs import dotted_overrides, read_source

    raw, _, _ = read_source(spec if not isinstance(spec, Mapping) else {k: v for k, v in spec.items() if k == "model"})
    section = dict(raw.get("model") or {}) if isinstance(raw, dict) else {}
    name, args = section.get("name"), dict(section.get("args") or {})
    for key, value in dotted_overrides({k: v for k, v in overrides.items() if k not in ("data", "test")}).items():
        if key == "model.name":
            name = value
        elif key.startswith("model.args."):
            args[key.removeprefix("model.args.")] = value
        elif key == "model" and isinstance(value, dict):
            name, args = value.get("name", name), {**args, **(value.get("args") or {})}
    if callable(name):  # the model class or factory itself (model=MyNet)
        from gaplab.models.user import name_of

        name = name_of(name)
    return name, args


def _is_data_name(source: str | Path) -> bool:
    """A data set name or a data file/folder rather than a spec file or YAML text."""
    from gaplab.data import list_datasets

    s = str(source)
    if s in list_datasets():
        return True
    p = Path(s)
    return p.exists() and (p.is_dir() or p.suffix.lower() in (".csv", ".parquet", ".pq", ".npz"))
