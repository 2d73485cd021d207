"""Fuzzed CSV files through the path the CLI takes (spec → fingerprint → registries → data check).

Random tables with missing values, mixed types, empty and constant columns, unicode and duplicate names, and
raw random text: each becomes a usable data set or a SpecError/DataError naming the file or column.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gaplab.engine.datacache import prepared_for
from gaplab.engine.validate import check_data, check_registries, with_fingerprint
from gaplab.errors import GaplabError
from gaplab.spec import parse_run

# examples per test: together these fuzz tests stay under ~20 s on an idle 2-core machine
EXAMPLES = int(os.environ.get("GAPLAB_FUZZ_EXAMPLES", "100"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

cells = (st.none() | st.integers(-5, 5) | st.integers(-(10**20), 10**20)
         | st.floats(allow_nan=True, allow_infinity=True, width=32) | st.sampled_from(["a", "b", "", " ", "NA", "1,5"])
         | st.text(max_size=4) | st.booleans())
names = st.text(min_size=0, max_size=4) | st.sampled_from(["target", "x", "ü", "target "])


@st.composite
def tables(draw: st.DrawFn) -> tuple[pd.DataFrame, str]:
    n_rows = draw(st.integers(0, 25))
    n_cols = draw(st.integers(1, 4))
    cols = {}
    for j in range(n_cols):
        kind = draw(st.sampled_from(["int", "float", "str", "mixed", "empty", "const"]))
        if kind == "int":
            col = draw(st.lists(st.integers(0, 3), min_size=n_rows, max_size=n_rows))
        elif kind == "float":
            col = draw(st.lists(st.floats(-1e6, 1e6) | st.just(math.nan), min_size=n_rows, max_size=n_rows))
        elif kind == "str":
            col = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=n_rows, max_size=n_rows))
        elif kind == "empty":
            col = [None] * n_rows
        elif kind == "const":
            col = [1] * n_rows
        else:
            col = draw(st.lists(cells, min_size=n_rows, max_size=n_rows))
        name = draw(names)
        cols[name if name not in cols else f"{name}{j}"] = col
    target = draw(st.sampled_from([*cols, "missing"]))
    return pd.DataFrame(cols), target


def _through_the_cli_path(path: Path, target: str) -> None:
    try:
        spec = parse_run({"data": {"name": "file", "path": str(path), "target": target},
                          "model": {"name": "mlp", "args": {"width": 4}}, "optim": {"epochs": 1}})
        spec = with_fingerprint(spec)
        check_registries(spec, None)
        check_data(spec)
    except GaplabError as e:
        msg = str(e)
        # the message names the field (data..., data.path: ...) or the file it is about
        assert msg.startswith(("data", "data.path:", str(path))) and len(msg) > 12, msg
        return
    ds = prepared_for(spec).dataset
    assert len(ds.x_train) > 0 and torch.isfinite(ds.x_train).all()
    assert ds.task in ("classification", "regression")


@SETTINGS
@given(tables())
def test_any_csv_table_loads_or_names_the_problem(tmp_path_factory, table: tuple[pd.DataFrame, str]) -> None:
    df, target = table
    f = tmp_path_factory.mktemp("csv") / "t.csv"
    df.to_csv(f, index=False)
    _through_the_cli_path(f, target)


@SETTINGS
@given(st.text(max_size=80, alphabet=st.sampled_from(list("ab1.,;\n\"' -éx\t\r"))), st.sampled_from(["a", "b", "1"]))
def test_any_csv_text_loads_or_names_the_problem(tmp_path_factory, text: str, target: str) -> None:
    f = tmp_path_factory.mktemp("csv") / "raw.csv"
    f.write_text(text)
    _through_the_cli_path(f, target)
