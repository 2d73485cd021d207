"""``Results``: the runs of a sweep (or of a stored group) with their DataFrames."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pandas as pd

from gaplab.api.run import Run, history_frame, runs_frame
from gaplab.errors import DataError


class Results:
    """The runs of a sweep in the sweep's order, returned by ``gaplab.sweep`` and ``Store.results``.

    Attributes
    ----------
    name : str
        The sweep's name (its group in the store).
    runs : list of Run
        Every run asked for, stored before or trained now.
    counts : dict
        ``runs``, ``skipped`` (already stored), ``trained``, ``diverged`` and ``failed``.

    Examples
    --------
    >>> import gaplab
    >>> res = gaplab.sweep({"name": "demo", "base": {"data": {"name": "sine"}, "optim": {"epochs": 2}},
    ...                     "grid": {"reg.l2": [0.0, 1.0], "seed": [0, 1]}}, progress=False)
    >>> len(res), res.counts["trained"]
    (4, 4)
    >>> res.to_pandas()[["reg.l2", "seed", "status"]]
       reg.l2  seed status
    0     0.0     0   done
    1     0.0     1   done
    2     1.0     0   done
    3     1.0     1   done
    >>> res.history().columns.tolist()
    ['run_id', 'epoch', 'metric', 'value']
    """

    def __init__(self, name: str, runs: list[Run], counts: dict[str, Any] | None = None) -> None:
        self.name = name
        self.runs = runs
        self.counts = counts if counts is not None else {"runs": len(runs), "skipped": len(runs), "trained": 0,
                                                         "diverged": 0, "failed": 0}

    @property
    def run_ids(self) -> list[str]:
        """The runs' ids, in the sweep's order."""
        return [r.run_id for r in self.runs]

    def to_pandas(self) -> pd.DataFrame:
        """One row per run: run_id, status, the spec as dotted columns, final metrics, seconds, error.

        Returns
        -------
        pandas.DataFrame
            Columns such as ``model.args.width``, ``reg.l2``, ``seed``, ``test_acc``, ``test_loss``.
        """
        return runs_frame(self.runs)

    def history(self) -> pd.DataFrame:
        """Per-epoch metrics of every run in long format (columns run_id, epoch, metric, value).

        Returns
        -------
        pandas.DataFrame
            Pivot it for plotting, e.g. ``h[h.metric == "test_acc"].pivot(index="epoch", columns="run_id")``.
        """
        return history_frame(self.runs)

    def __len__(self) -> int:
        return len(self.runs)

    def __iter__(self) -> Iterator[Run]:
        return iter(self.runs)

    def __getitem__(self, key: int | str) -> Run:
        """A run by position, or by id (a unique prefix is enough)."""
        if isinstance(key, int):
            return self.runs[key]
        found = [r for r in self.runs if r.run_id.startswith(key)]
        if len(found) != 1:
            raise DataError(f"{key!r}: {'no' if not found else 'more than one'} run of {self.name!r} has this id")
        return found[0]

    def __repr__(self) -> str:
        statuses = Counter(r.status for r in self.runs)
        return f"Results({self.name!r}: {len(self.runs)} runs: " + ", ".join(
            f"{n} {s}" for s, n in sorted(statuses.items())) + ")"
