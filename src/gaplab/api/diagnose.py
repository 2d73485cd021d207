"""``gaplab.diagnose`` and ``gaplab.advise``: the doctor and the advisor behind the spec forms of ``gaplab.train``.

A dict, YAML text, a file or a RunSpec, with ``gaplab.train``'s overrides (``width=64``, ``lr=0.1``) and its data
forms (``data=(X, y)``, a DataFrame with ``target=``, a torch or Hugging Face Dataset, ``test=``), resolved by the
same function (``gaplab.api.specs.build_run``), so a spec means the same run whichever door it goes through.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from gaplab.api.progress import Progress, progress_updates
from gaplab.api.specs import SpecSource, build_run
from gaplab.api.store import StoreLike, raw_store, store_path
from gaplab.api.threads import torch_threads
from gaplab.data.memory import MAX_ITEMS, default_folder
from gaplab.errors import SpecError
from gaplab.store.db import DEFAULT_PATH

SAMPLE = 20_000  # examples of a torch Dataset or DataLoader the doctor reads by default (its budgets use fewer)

if TYPE_CHECKING:
    from gaplab.advise import Advice
    from gaplab.doctor import Diagnosis


def diagnose(spec: SpecSource | nn.Module | Callable[..., nn.Module] = None, data: Any = None, *,
             loss: Any = None, optimizer: Any = None, lr: float | None = None, sample: int | None = SAMPLE,
             mode: str = "default", checks: Iterable[str] | None = None, target_error: float | None = None,
             folder: str | Path | None = None, store: StoreLike = DEFAULT_PATH, progress: Progress = True,
             threads: int | None = None, **overrides: Any) -> Diagnosis:
    """Run the training doctor on your model and data, or a run spec: PASS/WARN/FAIL (or n/a, with why) per check,
    its likely cause and what to try.

    Parameters
    ----------
    spec : an ``nn.Module`` instance, its class or a factory; or a dict, str, pathlib.Path or RunSpec, optional
        A model: ``gaplab.diagnose(model, data)``. An instance is a template: every seed and fold trains a copy
        re-initialized by its layers' ``reset_parameters`` under the run's seed (``gaplab.models.instance``;
        a warning names layers without one, which keep the weights given). A spec: what ``gaplab.train`` takes.
    data : what ``gaplab.train``'s ``data=`` takes — a data set name, ``(X, y)``, a DataFrame (with ``target=``),
        a torch or Hugging Face Dataset — or a ``DataLoader`` (its Dataset, or batches drawn into tensors; its
        ``batch_size`` becomes the run's unless ``batch_size=`` is given).
    loss : ``nn.CrossEntropyLoss()`` (its ``label_smoothing`` kept), ``nn.MSELoss()``, ``F.cross_entropy``, a name;
        checked against the data's task (gaplab trains cross-entropy or MSE as the data says).
    optimizer : ``"sgd"``/``"adam"``/``"adamw"``, ``torch.optim.SGD`` or an optimizer instance (its lr, momentum,
        betas, eps, AdamW's weight decay become the spec's); another optimizer is an error.
    lr : the learning rate (wins over the optimizer's).
    sample : a torch Dataset or DataLoader larger than this is diagnosed on a random sample of this many examples
        (seed 0; the sample size is printed and kept in ``Diagnosis.task["sample"]``); None reads it all.
    **overrides : ``gaplab.train``'s (``target=``, ``test=``, ``width=64``, ``epochs=``, ``batch_size=``).
    mode : {"default", "quick"}
        ``"quick"`` takes a few seconds with smaller budgets; it runs the label-noise family only when ``checks``
        names it (otherwise n/a, with that reason).
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

    overrides = dict(overrides)
    if _is_model(spec):
        overrides["model"], spec = spec, None
    for key, value in (("data", data), ("loss", loss), ("optimizer", optimizer), ("lr", lr)):
        if value is not None:
            overrides[key] = value
    drawn = None
    batch = getattr(overrides.get("data"), "batch_size", None)
    if isinstance(overrides.get("data"), torch.utils.data.DataLoader) and batch and \
            not {"batch_size", "optim.batch_size"} & set(overrides):
        overrides["batch_size"] = batch  # the batch size the user's loop trains with
    if "data" in overrides:
        overrides["data"], drawn = bounded(overrides["data"], sample)
        if drawn is not None and progress is not False:
            print(f"gaplab.diagnose: {drawn['text']}", file=sys.stderr)
    built = build_run(cast(SpecSource, spec), overrides, data_folder=default_folder(store_path(store)))
    with progress_updates(progress) as update, torch_threads(threads):
        d = run_doctor(built, mode=mode, checks=checks, target_error=target_error, folder=folder,
                       progress=update)
    if drawn is not None:
        d.task["sample"] = drawn
    return d


def _is_model(obj: Any) -> bool:
    """An ``nn.Module`` instance, an ``nn.Module`` subclass or a plain function (a factory), not a spec."""
    return isinstance(obj, nn.Module) or (inspect.isclass(obj) and issubclass(obj, nn.Module)) or \
        inspect.isfunction(obj)


def bounded(data: Any, sample: int | None) -> tuple[Any, dict[str, Any] | None]:
    """A torch Dataset or DataLoader cut to at most ``sample`` examples, and what was drawn (None for other data).

    A map-style Dataset (a DataLoader's too) gives a random ``Subset`` (seed 0; its items keep their indices as row
    ids); an iterable DataLoader gives its first batches, drawn into tensors."""
    from torch.utils.data import DataLoader, Dataset, IterableDataset, Subset

    if not isinstance(data, DataLoader | Dataset):
        return data, None
    what = "DataLoader" if isinstance(data, DataLoader) else "Dataset"
    ds = data.dataset if isinstance(data, DataLoader) else data
    if isinstance(ds, IterableDataset) or not hasattr(ds, "__len__"):
        if not isinstance(data, DataLoader):
            return data, None  # refused with its reason by the data reader
        xs, ys, n = [], [], 0
        limit = sample or MAX_ITEMS
        for batch in data:
            if not isinstance(batch, tuple | list) or len(batch) != 2:
                return data, None  # the data reader names what is wrong with the batch
            xs.append(torch.as_tensor(batch[0]))
            ys.append(torch.as_tensor(batch[1]))
            n += len(xs[-1])
            if n >= limit:
                break
        if not xs:
            return data, None
        x, y = torch.cat(xs)[:limit], torch.cat(ys)[:limit]
        return (x, y), {"drawn": len(x), "of": None, "from": what,
                        "text": f"data: drew {len(x)} examples from an iterable {what} (at most {limit})"}
    n = len(ds)
    if sample is None or n <= sample:
        return data, {"drawn": n, "of": n, "from": what, "text": f"data: all {n} examples of the {what}"}
    pick = torch.randperm(n, generator=torch.Generator().manual_seed(0))[:sample].sort().values
    return Subset(ds, pick.tolist()), {
        "drawn": sample, "of": n, "from": what,
        "text": f"data: a random sample of {sample} of the {what}'s {n} examples (seed 0; sample=None reads all)"}


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
    from gaplab.advise.plan import recipe_from_reg

    if isinstance(spec, str | Path) and not overrides and _is_data_name(spec):
        overrides = {"data": str(spec)} if not Path(str(spec)).exists() else {"path": str(spec)}
        spec = None
    folder_ = default_folder(store_path(store))
    built = build_run(spec, overrides, data_folder=folder_)
    model, model_args = _given_model(spec, overrides, folder_)
    recipe = {**_given_recipe(spec, overrides, built), **recipe_from_reg(built.reg)}  # other reg.* keys: an error
    db = raw_store(store)
    with progress_updates(progress) as update, torch_threads(threads):
        return run_advise(built.data, model, budget, model_args=model_args, n=n, seeds=seeds, epochs=epochs,
                          goal=goal, store=db, out=out, workers=workers, progress=update, **recipe)


# what advise's plan takes of your training recipe (the rest of its recipe is the plan's, at every size)
_RECIPE = {"optim.name": "optimizer", "optim.lr": "lr", "optim.batch_size": "batch_size"}


def _given_recipe(spec: SpecSource, overrides: dict[str, Any], built: Any) -> dict[str, Any]:
    """The optimizer, lr and batch size the caller gave (``lr=``, ``optimizer=`` an object or a name, the spec's
    ``optim``), as advise's recipe; another optimizer setting given is an error, since advise would not use it."""
    from gaplab.api.fit_args import expand
    from gaplab.api.specs import dotted_overrides, read_source

    raw, _, _ = read_source(spec if not isinstance(spec, Mapping) else {k: v for k, v in spec.items() if k == "optim"})
    given = {f"optim.{k}" for k in (raw.get("optim") or {})} if isinstance(raw, dict) else set()
    rest = {k: v for k, v in overrides.items() if k not in ("data", "test", "model", "target")}
    given |= {k if k != "optim" else "optim.name" for k in dotted_overrides(expand(rest)[0]) if k.startswith("optim")}
    extra = sorted(k for k in given - set(_RECIPE) if k not in ("optim.epochs", "optim.eps", "optim.betas")
                   and getattr(built.optim, k.split(".", 1)[1], None) not in (0, 0.0, False))
    if extra:
        raise SpecError(f"{extra[0]}: advise trains every size with its own recipe and takes only your optimizer, lr "
                        "and batch_size; leave it out (or use gaplab.sweep)")
    return {arg: getattr(built.optim, key.split(".", 1)[1]) for key, arg in _RECIPE.items() if key in given}


def _given_model(spec: SpecSource, overrides: dict[str, Any],
                 folder: Path | None = None) -> tuple[str | None, dict[str, Any]]:
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
    if name is not None and not isinstance(name, str):  # the model itself (model=MyNet, model=net)
        from gaplab.api.specs import model_name

        name = model_name(name, folder)
    return name, args


def _is_data_name(source: str | Path) -> bool:
    """A data set name or a data file/folder rather than a spec file or YAML text."""
    from gaplab.data import list_datasets

    s = str(source)
    if s in list_datasets():
        return True
    p = Path(s)
    return p.exists() and (p.is_dir() or p.suffix.lower() in (".csv", ".parquet", ".pq", ".npz"))
