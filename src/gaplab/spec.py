"""Validated, frozen run and sweep specifications; files in, normalized JSON out, stable run ids.

A run spec names everything that decides a run's numbers (data, model, optimizer, regularization,
seed). Its id is a hash of the normalized spec, so the same spec always maps to the same stored run.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gaplab.errors import GaplabError, SpecError


def _data_args_with_defaults(name: str, path: str | None, args: dict[str, Any]) -> dict[str, Any]:
    """``data.args`` with every default of the data set's registered args model filled in (so ``{}`` and the
    defaults spelled out are one spec and one run id). Unknown names or bad args stay as given: the registry
    check reports them with their key path."""
    from gaplab.data import registry

    try:
        model = registry.dataset_args_model(registry.FILE if path is not None else name)
        return model.model_validate(args).model_dump(mode="json")
    except (GaplabError, ValidationError):
        return dict(args)


def _model_args_with_defaults(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """``model.args`` with the factory's keyword defaults filled in (``dropout`` lives in ``reg``); defaults that
    are not plain JSON data are left out. Unknown models stay as given for the registry check."""
    import inspect

    from gaplab.models import registry

    try:
        params = registry.model_kwargs(name)
    except GaplabError:
        return dict(args)
    filled: dict[str, Any] = {}
    for k, prm in params.items():
        if k == "dropout" or prm.default is inspect.Parameter.empty:
            continue
        try:
            filled[k] = json.loads(json.dumps(prm.default))
        except (TypeError, ValueError):
            continue
    return {**filled, **args}


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class DataSpec(_Frozen):
    """Which data set, which slice of it this run trains on, and how its labels are corrupted."""

    name: str = "mnist1d"
    args: dict[str, Any] = Field(default_factory=dict)
    path: str | None = None
    # content fingerprint of a user file (filled in by the CLI), so an edited file is a different run
    fingerprint: str | None = None
    target: str | None = None
    train_size: int | None = Field(default=None, gt=0)
    val_fraction: float = Field(default=0.0, ge=0.0, lt=1.0)
    standardize: bool = True
    label_noise: float = Field(default=0.0, ge=0.0, le=1.0)
    noise_kind: Literal["symmetric", "asymmetric"] = "symmetric"
    random_labels: float = Field(default=0.0, ge=0.0, le=1.0)
    permute_inputs: bool = False
    gaussian_inputs: bool = False

    @model_validator(mode="after")
    def _fill_arg_defaults(self) -> DataSpec:
        if self.path is not None:  # a path is always read as the user's file: the stored spec says so
            object.__setattr__(self, "name", "file")
        object.__setattr__(self, "args", _data_args_with_defaults(self.name, self.path, self.args))
        return self


class ModelSpec(_Frozen):
    """A registered model (or the user's ``path/to/file.py:name`` / ``module:name``) and its keyword arguments."""

    name: str = "mlp"
    args: dict[str, Any] = Field(default_factory=dict)
    # a user model's code fingerprint (filled in with the files it covered by engine.validate.with_code), so an
    # edited model is a different run; the files are kept for the record and not hashed
    fingerprint: str | None = None
    files: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _fill_arg_defaults(self) -> ModelSpec:
        object.__setattr__(self, "args", _model_args_with_defaults(self.name, self.args))
        return self


class OptimSpec(_Frozen):
    """Optimizer, learning-rate schedule and batching."""

    name: Literal["sgd", "adam", "adamw"] = "adam"
    lr: float = Field(default=1e-2, gt=0.0)
    momentum: float = Field(default=0.0, ge=0.0, lt=1.0)
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = Field(default=1e-8, gt=0.0)
    batch_size: int = Field(default=100, gt=0)
    epochs: int = Field(default=20, gt=0)
    schedule: Literal["constant", "step", "cosine"] = "constant"
    step_size: int = Field(default=30, gt=0)
    gamma: float = Field(default=0.1, gt=0.0)

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> OptimSpec:
        if self.nesterov and (self.name != "sgd" or self.momentum == 0):
            raise ValueError("nesterov needs optim.name 'sgd' and optim.momentum > 0")
        return self


class EarlyStopSpec(_Frozen):
    """Stop when the monitored metric has not improved for ``patience`` epochs; best weights kept."""

    monitor: Literal["val_loss", "val_acc", "test_loss", "test_acc", "train_loss"] = "val_loss"
    mode: Literal["min", "max"] | None = None
    patience: int = Field(default=10, ge=1)
    min_delta: float = Field(default=0.0, ge=0.0)

    @property
    def direction(self) -> Literal["min", "max"]:
        return self.mode or ("max" if self.monitor.endswith("acc") else "min")


class AugmentSpec(_Frozen):
    """One augmentation of ``gaplab.regularize.catalog.AUGMENTATIONS`` and its strength (shift: samples; noise:
    std; crop: pad; rotate: degrees; cutout: size)."""

    name: str
    amount: float = Field(default=0.0, ge=0.0)

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        from gaplab.regularize.catalog import AUGMENTATIONS

        if v not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation {v!r}; choose from: {', '.join(AUGMENTATIONS)}")
        return v


class RegSpec(_Frozen):
    """Every regularizer of a run; all compose. Penalties follow λ/(2m)·Σ‖W‖² (see regularize.penalties)."""

    l1: float = Field(default=0.0, ge=0.0)
    l2: float = Field(default=0.0, ge=0.0)
    weight_decay: float = Field(default=0.0, ge=0.0)
    penalize_bias: bool = False
    penalize_norm: bool = False
    # None: each dropout layer keeps its own rate (a user model's as written; gaplab's models have rate 0)
    dropout: float | None = Field(default=None, ge=0.0, lt=1.0)
    keep_prob: float | None = Field(default=None, gt=0.0, le=1.0)
    label_smoothing: float = Field(default=0.0, ge=0.0, lt=1.0)
    grad_clip: float | None = Field(default=None, gt=0.0)
    input_noise: float = Field(default=0.0, ge=0.0)
    augment: tuple[AugmentSpec, ...] = ()
    mixup: float = Field(default=0.0, ge=0.0)
    cutmix: float = Field(default=0.0, ge=0.0)
    early_stopping: EarlyStopSpec | None = None

    @model_validator(mode="after")
    def _keep_prob_is_dropout(self) -> RegSpec:
        # keep_prob (Ng's course) is stored as its dropout rate so both spellings hash alike.
        if self.keep_prob is not None:
            if self.dropout not in (None, 0.0, 1.0 - self.keep_prob):
                raise ValueError("give reg.dropout or reg.keep_prob, not both")
            object.__setattr__(self, "dropout", round(1.0 - self.keep_prob, 12))
            object.__setattr__(self, "keep_prob", None)
        if self.mixup and self.cutmix:
            raise ValueError("reg.mixup and reg.cutmix cannot both be on in one run")
        return self


class RunSpec(_Frozen):
    """Everything that decides one run's numbers."""

    data: DataSpec = Field(default_factory=DataSpec)
    model: ModelSpec = Field(default_factory=ModelSpec)
    optim: OptimSpec = Field(default_factory=OptimSpec)
    reg: RegSpec = Field(default_factory=RegSpec)
    seed: int = Field(default=0, ge=0)
    device: str = "cpu"
    eval_every: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _registered_dropout_is_zero(self) -> RunSpec:
        # gaplab's own models have no dropout unless asked: None and 0 are one run (and the ids of old stores hold)
        if self.reg.dropout is None and ":" not in self.model.name:
            object.__setattr__(self.reg, "dropout", 0.0)
        return self

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if not (v == "cpu" or v.startswith("cuda") or v == "mps"):
            raise ValueError("device must be 'cpu', 'cuda[:N]' or 'mps'")
        return v

    def normalized(self) -> dict[str, Any]:
        """The spec as plain JSON data, every default filled in (``data.args`` and ``model.args`` too, from the
        data set's and the model's registered defaults); what the run id hashes."""
        return self.model_dump(mode="json")

    @property
    def run_id(self) -> str:
        return run_id(self)

    def replace(self, **dotted: Any) -> RunSpec:
        """A copy with dotted keys (``{"model.args.width": 64}``) changed, validated again."""
        data = self.normalized()
        for key, value in dotted.items():
            set_dotted(data, key, value)
        return parse_run(data)


# Fields that choose where a run executes, not what it computes: kept out of the id.
_NOT_HASHED = ("device",)


def hashed(spec: RunSpec) -> dict[str, Any]:
    """What the run id hashes: the normalized spec without the device (but with its kind when not the CPU), without the
    file names of a user model's code
    (its fingerprint stands for them), and a model file named by its file name alone, so the same code at another
    place or reached by another relative path is the same run."""
    data = {k: v for k, v in spec.normalized().items() if k not in _NOT_HASHED}
    kind = spec.device.split(":")[0]
    if kind != "cpu":
        # a GPU's kernels round differently from the CPU's: another device kind is other numbers (which GPU is not)
        data["device_kind"] = kind
    model = dict(data["model"])
    model.pop("files", None)
    if model["args"].get("batch_norm") is True and ":" not in model["name"]:
        # gaplab's batch-norm models evaluate with running statistics since 2026-12: runs stored before then (batch
        # statistics at evaluation) are other numbers, so they are other runs
        model["norm"] = "running-statistics"
    if model.get("fingerprint") is None:
        model.pop("fingerprint", None)
    else:
        where, _, attr = model["name"].rpartition(":")
        if where.endswith((".py", ".pt")):  # .pt: a model instance's saved template (gaplab.models.instance)
            model["name"] = f"{Path(where).name}:{attr}"
    data["model"] = model
    return data


def run_id(spec: RunSpec) -> str:
    """Stable 16-hex id: sha256 of the canonical JSON of ``hashed(spec)``."""
    data = hashed(spec)
    canon = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()[:16]


def set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    """Set ``data['a']['b']`` for key ``'a.b'``, creating dicts on the way."""
    parts = key.split(".")
    node = data
    for p in parts[:-1]:
        nxt = node.get(p)
        if nxt is None:
            nxt = node[p] = {}
        if not isinstance(nxt, dict):
            raise SpecError(f"{key}: '{p}' is not a section")
        node = nxt
    node[parts[-1]] = value


def format_error(err: ValidationError, prefix: str = "", lines: dict[str, int] | None = None) -> str:
    msgs = []
    for e in err.errors():
        path = ".".join(str(p) for p in (prefix.split(".") if prefix else []) + list(e["loc"]))
        where = f" (line {lines[path]})" if lines and path in lines else ""
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        msgs.append(f"{path or '<spec>'}{where}: {msg}")
    return "; ".join(msgs)


def parse_run(data: dict[str, Any], lines: dict[str, int] | None = None) -> RunSpec:
    """Validate plain data into a RunSpec; raise SpecError naming the key path on any problem."""
    if not isinstance(data, dict):
        raise SpecError("a run spec must be a mapping of sections (data, model, optim, reg, seed)")
    try:
        spec = RunSpec.model_validate(data)
    except ValidationError as e:
        raise SpecError(format_error(e, "", lines)) from None
    return spec


# Most runs a sweep may expand to unless asked for more (``expand(max_runs=...)``, ``gaplab sweep --max-runs``):
# a grid's product grows fast, and expanding one with millions of runs would stall before any check could say so.
MAX_RUNS = 100_000


class SweepSpec(_Frozen):
    """A base run plus axes: ``grid`` axes form a product, ``zip`` axes advance together."""

    name: str = "sweep"
    base: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    zip: dict[str, list[Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _zip_lengths(self) -> SweepSpec:
        lengths = {k: len(v) for k, v in self.zip.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"zip axes must have equal lengths, got {lengths}")
        for k, v in {**self.grid, **self.zip}.items():
            if len(v) == 0:
                raise ValueError(f"axis '{k}' is empty")
        return self

    def size(self) -> int:
        """How many runs the sweep expands to: the product of the grid axes' lengths times the zip axes' length."""
        n = len(next(iter(self.zip.values()))) if self.zip else 1
        for values in self.grid.values():
            n *= len(values)
        return n

    def expand(self, max_runs: int | None = MAX_RUNS) -> list[RunSpec]:
        """All runs of the sweep, in a stable order (grid product outer, zip inner); a SpecError naming the axes
        when there would be more than ``max_runs`` (None: no limit), counted before any run is built."""
        n = self.size()
        if max_runs is not None and n > max_runs:
            lengths = [f"{k} ({len(v)})" for k, v in self.grid.items()]
            if self.zip:
                lengths.append(f"zip {', '.join(self.zip)} ({len(next(iter(self.zip.values())))})")
            raise SpecError(f"sweep {self.name!r}: its axes {' × '.join(lengths)} make {n:,} runs, more than the limit "
                            f"of {max_runs:,}; shorten an axis, or raise the limit (gaplab sweep --max-runs N, "
                            f"gaplab.sweep(..., max_runs=N))")
        grid_keys = list(self.grid)
        zip_keys = list(self.zip)
        zip_rows = list(zip(*self.zip.values())) if zip_keys else [()]
        runs = []
        for combo in itertools.product(*self.grid.values()):
            for zrow in zip_rows:
                data = json.loads(json.dumps(self.base))
                for k, v in [*zip(grid_keys, combo), *zip(zip_keys, zrow)]:
                    set_dotted(data, k, v)
                axes = ", ".join(f"{k}={v}" for k, v in [*zip(grid_keys, combo), *zip(zip_keys, zrow)])
                try:
                    runs.append(parse_run(data))
                except SpecError as e:
                    raise SpecError(f"sweep run ({axes}): {e}") from None
        return runs


def yaml_lines(text: str) -> dict[str, int]:
    """Map dotted key paths to 1-based line numbers in a YAML document (for error messages)."""
    lines: dict[str, int] = {}
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return lines

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                path = f"{prefix}.{k.value}" if prefix else str(k.value)
                lines[path] = k.start_mark.line + 1
                walk(v, path)

    walk(root, "")
    return lines


def load_file(path: str | Path) -> tuple[dict[str, Any], dict[str, int]]:
    """Read a YAML, JSON or TOML spec file into plain data plus a key-path → line map."""
    p = Path(path)
    if not p.exists():
        raise SpecError(f"{p}: no such file")
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"{p}: cannot read it: {e}") from None
    lines: dict[str, int] = {}
    try:
        if p.suffix == ".toml":
            data = tomllib.loads(text)
        elif p.suffix == ".json":
            data = json.loads(text)
        else:
            data, lines = yaml.safe_load(text), yaml_lines(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError, json.JSONDecodeError, ValueError, RecursionError) as e:
        # ValueError: a YAML timestamp that is no date (0000-00-00)
        raise SpecError(f"{p}: cannot parse: {e}".replace("\n", " ")) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(f"{p}: a spec file holds a mapping of keys (data:, model:, ...), not a {type(data).__name__}")
    try:
        _check_plain(data, "", p)
    except RecursionError:
        raise SpecError(f"{p}: nested too deeply (or a YAML alias refers to itself)") from None
    return data, lines


def _check_plain(v: Any, path: str, file: Path) -> None:
    """Spec values are JSON data: a YAML date, binary or set (or a TOML date) is named with its key path."""
    if isinstance(v, dict):
        for k, x in v.items():
            _check_plain(x, f"{path}.{k}" if path else str(k), file)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            _check_plain(x, f"{path}[{i}]", file)
    elif not (v is None or isinstance(v, bool | int | float | str)):
        raise SpecError(f"{file}: {path or '<spec>'}: a {type(v).__name__} is not a spec value (quote it)")


def load_run(path: str | Path) -> RunSpec:
    data, lines = load_file(path)
    try:
        return parse_run(data, lines)
    except SpecError as e:
        raise SpecError(f"{path}: {e}") from None


def load_sweep(path: str | Path) -> SweepSpec:
    data, lines = load_file(path)
    try:
        sweep = SweepSpec.model_validate(data)
    except ValidationError as e:
        raise SpecError(f"{path}: {format_error(e, '', lines)}") from None
    return sweep
