"""Validated run and sweep specs from what a notebook or the CLI holds: a dict, YAML text, a file or a spec.

Both doors (``gaplab.train``/``gaplab.sweep`` and ``gaplab train``/``gaplab sweep``) build their specs here, so
a spec means the same thing and fails with the same message whichever door it came through.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from gaplab.api import fit_args
from gaplab.errors import SpecError
from gaplab.spec import MAX_RUNS, RunSpec, SweepSpec, format_error, load_file, parse_run, set_dotted, yaml_lines

# What a spec can be given as: a validated spec, plain data, YAML text, or a YAML/TOML/JSON file.
SpecSource = BaseModel | Mapping[str, Any] | str | Path | None

# Short names for the spec keys people change most (the flags of `gaplab train`), so that
# ``gaplab.train(spec, width=64, l2=1.0)`` means ``{"model.args.width": 64, "reg.l2": 1.0}``.
KEYWORDS = {
    "data": "data.name", "path": "data.path", "target": "data.target", "train_size": "data.train_size",
    "val_fraction": "data.val_fraction", "label_noise": "data.label_noise",
    "model": "model.name", "width": "model.args.width", "depth": "model.args.depth",
    "optimizer": "optim.name", "lr": "optim.lr", "momentum": "optim.momentum",
    "batch_size": "optim.batch_size", "epochs": "optim.epochs", "schedule": "optim.schedule",
    "l1": "reg.l1", "l2": "reg.l2", "weight_decay": "reg.weight_decay", "dropout": "reg.dropout",
    "label_smoothing": "reg.label_smoothing", "mixup": "reg.mixup", "seed": "seed", "device": "device",
}


def _is_text(source: str) -> bool:
    """YAML text rather than a file name: it spans lines, maps a key (``a: b``) or is a flow mapping."""
    s = source.strip()
    return not s or "\n" in s or ": " in s or s.startswith("{")


def read_source(source: SpecSource) -> tuple[Any, dict[str, int], str]:
    """Plain data of a spec, its key-path → line map (YAML only), and the prefix its errors get (``FILE: ``)."""
    if source is None:
        return {}, {}, ""
    if isinstance(source, BaseModel):
        return source.model_dump(mode="json"), {}, ""
    if isinstance(source, Mapping):
        return copy.deepcopy(dict(source)), {}, ""
    if isinstance(source, Path) or (isinstance(source, str) and not _is_text(source)):
        data, lines = load_file(source)
        return data, lines, f"{source}: "
    if isinstance(source, str):
        try:
            data = yaml.safe_load(source)
        except yaml.YAMLError as e:
            raise SpecError(f"spec text: cannot parse: {e}".replace("\n", " ")) from None
        return ({} if data is None else data), yaml_lines(source), ""
    raise SpecError(f"a spec must be a dict, YAML text or a file path, got {type(source).__name__}")


def _spec_folder(source: SpecSource) -> Path | None:
    """The folder of a spec file (a model file it names is relative to it), None for a spec not read from a file."""
    if isinstance(source, Path) or (isinstance(source, str) and not _is_text(source)):
        return Path(source).parent
    return None


def dotted_overrides(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Overrides as dotted spec keys: ``width=64`` → ``model.args.width``; dotted keys pass through.

    A mapping given for a section name (``data={...}``) replaces that section.
    """
    out: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if "." in key:
            out[key] = value
        elif isinstance(value, Mapping) and key in RunSpec.model_fields:
            out[key] = dict(value)
        elif key in KEYWORDS:
            out[KEYWORDS[key]] = value
        elif key in RunSpec.model_fields:
            out[key] = value
        else:
            raise SpecError(f"{key}: unknown override; give a dotted spec key (e.g. 'reg.early_stopping.patience') "
                            f"or one of: {', '.join(sorted(KEYWORDS))}")
    return out


def model_name(obj: Any, folder: str | Path | None) -> Any:
    """The spec name of a model given as an object: a class or factory becomes its ``file.py:Name``, an ``nn.Module``
    instance its saved template's name (``gaplab.models.instance``, saved in ``folder``); anything else unchanged."""
    from torch import nn

    if isinstance(obj, nn.Module):
        from gaplab.data.memory import default_folder
        from gaplab.models.instance import register

        return register(obj, folder if folder is not None else default_folder(None))
    if callable(obj):
        from gaplab.models.user import name_of

        return name_of(obj)
    return obj


def _model_objects_named(run: Any, folder: str | Path | None = None) -> None:
    """A model given as an object (``model=MyNet``, ``model=net``) is named in the spec (``model_name``)."""
    model = run.get("model") if isinstance(run, dict) else None
    if isinstance(model, dict) and "name" in model:
        model["name"] = model_name(model["name"], folder)


def python_data(source: SpecSource, overrides: Mapping[str, Any] | None, folder: str | Path | None,
                section: str | None = None) -> tuple[SpecSource, dict[str, Any]]:
    """Data given as Python objects (``data=(X, y)``, a DataFrame, a torch/Hugging Face Dataset, ``test=``; or the
    same in the spec's ``data`` section, ``section`` naming where that is: ``base`` for a sweep) written to a
    content-addressed .npz in ``folder`` (default: the user's cache), and the spec pointed at that file.

    Returns the source and overrides with the objects replaced by ``data.path``; anything else passes unchanged.
    """
    from gaplab.data.memory import default_folder, is_python_data, materialize, split_spec_data

    rest = dict(overrides or {})
    obj = rest.pop("data") if is_python_data(rest.get("data")) else None
    test = rest.pop("test", None)
    target = rest.get("target")
    if obj is None and isinstance(source, Mapping):
        holder = source.get(section, {}) if section else source
        if isinstance(holder, Mapping):
            obj, test_in, kept = split_spec_data(holder.get("data"))
            if obj is not None:
                test = test if test is not None else test_in
                target = target if target is not None else kept.pop("target", None)
                holder = {**holder, "data": kept}
                source = {**source, section: holder} if section else holder
    if obj is None:
        if test is not None:
            raise SpecError("test: a test set needs the training data given the same way "
                            "(data=(X, y), a DataFrame, a Dataset)")
        return source, rest
    rest.pop("target", None)  # consumed by the table; the .npz has no target column
    path = materialize(obj, test, target=target, folder=folder if folder is not None else default_folder(None))
    rest.update({"data.name": "file", "data.path": str(path)})
    return source, rest


def build_run(source: SpecSource, overrides: Mapping[str, Any] | None = None,
              data_folder: str | Path | None = None) -> RunSpec:
    """A validated RunSpec: ``source`` with ``overrides`` (dotted keys or keywords) applied in order.

    Model and data-set names and arguments are checked against their registries, the data is loaded once
    (so a bad file or column fails here), and a user data file's content fingerprint enters the run id.
    Data given as Python objects is written to ``data_folder`` first (see ``python_data``).
    Errors are ``SpecError``s naming the key path (and ``FILE: `` and the line when read from a file).
    """
    source, overrides = python_data(source, overrides, data_folder)
    overrides, loss = fit_args.expand(overrides)
    data, lines, prefix = read_source(source)
    if isinstance(data, dict):
        for key, value in dotted_overrides(overrides).items():
            set_dotted(data, key, value)
        _model_objects_named(data, data_folder)
    from gaplab.engine import check_runs, with_fingerprint

    base = _spec_folder(source)
    try:
        spec = with_fingerprint(parse_run(data, lines), base=base)
        check_runs([spec], lines)
    except SpecError as e:
        raise SpecError(prefix + str(e)) from None
    _check_loss(loss, spec)
    return spec


def _check_loss(kind: str | None, spec: RunSpec) -> None:
    if kind is not None:
        from gaplab.engine import prepared_for

        fit_args.check_loss(kind, prepared_for(spec).dataset.task)


def _override_base(data: dict[str, Any], overrides: Mapping[str, Any], data_folder: str | Path | None) -> None:
    """Apply run overrides to a sweep's ``base`` (in place) and name its model objects."""
    if overrides:
        base = data.get("base") or {}
        if isinstance(base, dict):
            for key, value in dotted_overrides(overrides).items():
                set_dotted(base, key, value)
            data["base"] = base
    _model_objects_named(data.get("base"), data_folder)


def build_sweep(source: SpecSource, overrides: Mapping[str, Any] | None = None,
                device: str | None = None, max_runs: int | None = MAX_RUNS,
                data_folder: str | Path | None = None) -> tuple[SweepSpec, list[RunSpec]]:
    """A validated sweep and its runs: ``overrides`` change the base run, ``device`` every run's device; a sweep of
    more than ``max_runs`` runs (None: no limit) is a SpecError before any run is built.

    Every distinct data/model/device is checked against the registries and its data loaded, so a bad sweep
    fails before training. Python data (overrides or ``base.data``) is written to ``data_folder`` first.
    """
    source, overrides = python_data(source, overrides, data_folder, section="base")
    overrides, loss = fit_args.expand(overrides)
    data, lines, prefix = read_source(source)
    if isinstance(data, dict):
        _override_base(data, overrides, data_folder)
    try:
        sw = SweepSpec.model_validate(data)
    except ValidationError as e:
        raise SpecError(f"{prefix}{format_error(e, '', lines)}") from None
    from gaplab.engine import check_runs, with_fingerprint

    seen: dict[str, str] = {}
    try:
        runs = sw.expand(max_runs)
    except SpecError as e:
        raise SpecError(f"{prefix}{e}") from None
    base = _spec_folder(source)
    try:
        specs = [with_fingerprint(s, seen, base) for s in runs]
    except SpecError as e:
        raise SpecError(f"{prefix}{e}") from None
    if device:
        specs = [s.replace(device=device) for s in specs]
    try:
        check_runs(specs)
    except SpecError as e:
        raise SpecError(f"{prefix}{e}") from None
    if specs:
        _check_loss(loss, specs[0])
    return sw, specs
