"""Fuzzed run and sweep specs: any input parses to a valid spec or raises SpecError naming the key path.

Random nesting, types, unicode keys, huge and negative numbers, NaN/inf, empty axes, duplicate keys (in YAML
text), YAML-only types (dates, binary, sets). Never another exception, never a hang.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gaplab.engine.validate import check_data, check_registries
from gaplab.errors import GaplabError
from gaplab.spec import RunSpec, SpecError, load_sweep, parse_run

# examples per test: together these fuzz tests stay under ~20 s on an idle 2-core machine
EXAMPLES = int(os.environ.get("GAPLAB_FUZZ_EXAMPLES", "100"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

scalars = (st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.integers(-3, 300)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=6)
           | st.sampled_from(["mlp", "sgd", "adam", "cosine", "val_loss", "shift", "mnist1d", "cpu", "cuda:0", ""]))
values = st.recursive(scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                      max_leaves=8)
SECTIONS = {
    "data": ["name", "args", "train_size", "val_fraction", "label_noise", "noise_kind", "random_labels", "path"],
    "model": ["name", "args"],
    "optim": ["name", "lr", "momentum", "nesterov", "betas", "eps", "batch_size", "epochs", "schedule", "step_size"],
    "reg": ["l1", "l2", "weight_decay", "dropout", "keep_prob", "label_smoothing", "grad_clip", "augment", "mixup",
            "cutmix", "early_stopping"],
}


def section(keys: list[str]) -> st.SearchStrategy:
    known = st.dictionaries(st.sampled_from(keys), values, max_size=4)
    return known | values


run_data = st.fixed_dictionaries(
    {}, optional={**{k: section(v) for k, v in SECTIONS.items()}, "seed": values, "device": values,
                  "eval_every": values, "ünï©ødé": values})
dotted = st.sampled_from(["seed", "optim.lr", "reg.l2", "model.args.width", "data.train_size", "reg.dropout",
                          "optim.epochs", "model.name", "seed.x", "a..b", "", "reg.augment", "ключ"])
sweep_data = st.fixed_dictionaries(
    {}, optional={"name": values, "base": st.dictionaries(st.sampled_from(list(SECTIONS)), values, max_size=2) | values,
                  "grid": st.dictionaries(dotted, st.lists(scalars, max_size=3), max_size=3) | values,
                  "zip": st.dictionaries(dotted, st.lists(scalars, max_size=3), max_size=2) | values,
                  "extra": values})

# "<key path or file>: what is wrong" (after "sweep run (<its axes>): " for a run of a sweep; a key may hold ':')
NAMES_A_FIELD = re.compile(r"^.+?: \S", re.S)  # the key may be odd: ':', '\r', ...


def _check_error(e: GaplabError) -> None:
    assert NAMES_A_FIELD.match(str(e)), str(e)


def _valid(spec: RunSpec) -> None:
    """A spec that parsed is usable: normalizes to JSON, has an id, and its numbers are finite where required."""
    assert isinstance(spec.run_id, str) and len(spec.run_id) == 16
    json.dumps(spec.normalized())
    assert spec.optim.lr > 0 and spec.optim.epochs > 0 and spec.seed >= 0
    assert 0 <= spec.reg.dropout < 1 and not math.isnan(spec.reg.l2)


@SETTINGS
@given(run_data)
def test_any_run_spec_parses_or_names_the_field(data: dict) -> None:
    try:
        spec = parse_run(data)
    except SpecError as e:
        _check_error(e)
        return
    _valid(spec)
    try:
        check_registries(spec, None)
    except SpecError as e:
        _check_error(e)
        return
    # the data view it asks for (subset, validation split, label noise, seed) on a small built-in set
    small = spec.replace(**{"data.name": "moons", "data.args": {}, "data.path": None})
    try:
        check_data(small)
    except SpecError as e:
        _check_error(e)


@SETTINGS
@given(sweep_data, st.sampled_from(["yaml", "json"]))
def test_any_sweep_file_expands_or_names_the_field(tmp_path_factory, data: dict, fmt: str) -> None:
    folder: Path = tmp_path_factory.mktemp("sweep")
    f = folder / f"s.{fmt}"
    f.write_text(yaml.safe_dump(data, allow_unicode=True) if fmt == "yaml" else json.dumps(data))
    try:
        runs = load_sweep(f).expand()
    except SpecError as e:
        _check_error(e)
        return
    for r in runs:
        _valid(r)


yaml_docs = st.one_of(
    st.text(max_size=60),
    # duplicate keys, YAML-only types (dates, binary, sets), anchors, deep nesting
    st.sampled_from([
        "grid: {seed: [0]}\ngrid: {seed: [1, 2]}\n",
        "base: {seed: 2001-12-14}\ngrid: {seed: [0]}\n",
        "base: {optim: {lr: 2001-12-14t21:59:43.10-05:00}}\n",
        "grid: {seed: [!!binary aGVsbG8=]}\n",
        "grid: {seed: !!set {1, 2}}\n",
        "base: {model: {args: {width: .inf}}}\ngrid: {optim.lr: [.nan, -.inf, 1e400]}\n",
        "grid: {seed: []}\n",
        "zip: {seed: [0, 1], optim.lr: [0.1]}\n",
        "a: &x [*x]\n",
        "base: " + "[" * 60 + "]" * 60 + "\n",
        "grid: {model.args.width: [1e30, -1, 0]}\nbase: {model: {name: mlp}}\n",
        "name: [1, 2]\n",
        "? [a, b]\n: 1\n",
        "grid: {data.args.num_samples: [-5]}\n",
        "base: !!python/object:os.system 'echo x'\n",
    ]),
)


@SETTINGS
@given(yaml_docs)
def test_any_yaml_text_loads_or_names_the_problem(tmp_path_factory, text: str) -> None:
    f = tmp_path_factory.mktemp("y") / "s.yaml"
    f.write_text(text)
    try:
        runs = load_sweep(f).expand()
    except SpecError as e:
        assert str(e).startswith(str(f)) or NAMES_A_FIELD.match(str(e)), str(e)
        return
    for r in runs:
        _valid(r)
