"""The command-line flags that set run-spec keys, typed once and shared by `gaplab train`, `doctor` and `advise`.

Each flag is an ``Annotated`` type whose option is made by ``_flag`` from the API's keyword table
(``gaplab.api.specs.KEYWORDS``), so a flag and the keyword ``gaplab.train`` takes name the same spec key.
``RunFlags`` carries the values a command received (``RunFlags.received`` reads them from the command's click
context, in one place for every command); its ``overrides`` are the dotted spec keys they set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from gaplab.api import specs as api_specs
from gaplab.api.specs import KEYWORDS
from gaplab.cli.common import parse_assignments
from gaplab.errors import SpecError
from gaplab.spec import RunSpec

# A positional path with one of these suffixes is a run spec; anything else is the user's data.
SPEC_SUFFIXES = (".yaml", ".yml", ".toml", ".json")
# The help panel the run flags are listed under, apart from each command's own options.
PANEL = "Run settings (each sets the spec key in brackets)"


def _flag(name: str, help: str, *, hidden: bool = False) -> Any:
    """The option of keyword ``name``: ``--name-with-dashes``, its help and the spec key it sets."""
    if name not in KEYWORDS:  # a flag must set a key gaplab.train knows, or the two doors drift apart
        raise ValueError(f"{name!r} is not a spec keyword")
    return typer.Option(f"--{name.replace('_', '-')}", help=escape(f"{help} [{KEYWORDS[name]}]"), hidden=hidden,
                        rich_help_panel=PANEL)


Source = Annotated[str | None, typer.Argument(
    metavar="[DATA|SPEC]", show_default=False,
    help="Your data (a CSV/Parquet/.npz file or an image folder), or a run spec file (.yaml, .yml, .toml, .json). "
         "Flags override what it sets.")]
DataArg = Annotated[str | None, typer.Argument(
    metavar="[DATA]", show_default=False, help="Your data: a CSV/Parquet/.npz file or an image folder.")]
SpecFile = Annotated[Path | None, typer.Option(
    "--spec", help="A run spec file, when the positional argument is your data.")]
Sets = Annotated[list[str], typer.Option("--set", help="Any spec key: --set reg.early_stopping.patience=5")]

Data = Annotated[str | None, _flag("data", "Built-in data set (see `gaplab list datasets`) when no DATA is given.")]
DataPath = Annotated[str | None, _flag("path", "Your data file or folder (same as the DATA argument).", hidden=True)]
Target = Annotated[str | None, _flag("target", "Target column of a CSV/Parquet file.")]
TrainSize = Annotated[int | None, _flag("train_size", "Train on a stratified subset of this size.")]
ValFraction = Annotated[float | None, _flag("val_fraction", "Hold out this fraction for validation.")]
LabelNoise = Annotated[float | None, _flag("label_noise", "Fraction of training labels resampled.")]
Model = Annotated[str | None, _flag(
    "model", "A name from `gaplab list models`, or your own model: path/to/file.py:name or module:name "
             "(a factory or an nn.Module class; see README 'Your own model').")]
Width = Annotated[int | None, _flag("width", "Hidden width (mlp, random-features) or channels (cnn).")]
Depth = Annotated[int | None, _flag("depth", "Hidden layers (mlp).")]
Optimizer = Annotated[str | None, _flag("optimizer", "sgd, adam or adamw.")]
Lr = Annotated[float | None, _flag("lr", "Learning rate.")]
Momentum = Annotated[float | None, _flag("momentum", "SGD momentum.")]
BatchSize = Annotated[int | None, _flag("batch_size", "Mini-batch size.")]
Epochs = Annotated[int | None, _flag("epochs", "Epochs.")]
Schedule = Annotated[str | None, _flag("schedule", "constant, step or cosine.")]
L1 = Annotated[float | None, _flag("l1", "L1 penalty λ (λ/2m·Σ|W|).")]
L2 = Annotated[float | None, _flag("l2", "L2 penalty λ (λ/2m·Σ‖W‖²).")]
WeightDecay = Annotated[float | None, _flag("weight_decay", "Decoupled weight decay.")]
Dropout = Annotated[float | None, _flag(
    "dropout", "Dropout rate (1 − keep_prob) of every dropout layer; on your own model it replaces its rates.")]
LabelSmoothing = Annotated[float | None, _flag("label_smoothing", "Label smoothing ε.")]
Mixup = Annotated[float | None, _flag("mixup", "MixUp α (0 = off).")]
Seed = Annotated[int | None, _flag("seed", "Run seed (init, batches, dropout, noise).")]
Device = Annotated[str | None, _flag("device", "cpu or cuda.")]


@dataclass(frozen=True)
class RunFlags:
    """The run-spec flags one command received (None: not given, the spec or its default decides)."""

    data: str | None = None
    path: str | None = None
    target: str | None = None
    train_size: int | None = None
    val_fraction: float | None = None
    label_noise: float | None = None
    model: str | None = None
    width: int | None = None
    depth: int | None = None
    optimizer: str | None = None
    lr: float | None = None
    momentum: float | None = None
    batch_size: int | None = None
    epochs: int | None = None
    schedule: str | None = None
    l1: float | None = None
    l2: float | None = None
    weight_decay: float | None = None
    dropout: float | None = None
    label_smoothing: float | None = None
    mixup: float | None = None
    seed: int | None = None
    device: str | None = None

    @classmethod
    def received(cls, ctx: typer.Context) -> RunFlags:
        """The run flags among the parameters a command parsed (typer needs each flag in the command's signature;
        its value is read back here, so no command lists the table again)."""
        return cls.from_params(ctx.params)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> RunFlags:
        """The run flags among ``params`` (a command's parameters by name); other names are left out."""
        return cls(**{f.name: params.get(f.name) for f in fields(cls)})

    def overrides(self) -> dict[str, Any]:
        """The dotted spec keys the given flags set."""
        return {KEYWORDS[f.name]: v for f in fields(self) if (v := getattr(self, f.name)) is not None}


def is_spec_file(path: str | Path) -> bool:
    """A positional path is a run spec when its suffix says so (no data reader takes these suffixes)."""
    return Path(path).suffix.lower() in SPEC_SUFFIXES


def build_run(source: str | Path | None, flags: RunFlags, sets: list[str], spec: Path | None = None) -> RunSpec:
    """A validated RunSpec from the positional DATA or SPEC, ``--spec``, the flags, then ``--set`` overrides."""
    overrides = flags.overrides()
    if source is not None and is_spec_file(source):
        if spec is not None:
            raise SpecError(f"--spec {spec}: {source} is already a spec file; give your data as DATA")
        spec = Path(source)
    elif source is not None:
        if flags.path is not None or flags.data is not None:
            raise SpecError(f"{source}: DATA is your data file; drop --data/--path or the DATA argument")
        overrides.update({"data.name": "file", "data.path": str(source)})
    overrides.update(parse_assignments(sets, "model.args.width=64"))
    return api_specs.build_run(spec, overrides)
