"""``gaplab.Store``: a results database read as DataFrames (runs, metrics, groups, study verdicts).

It wraps ``gaplab.store.db.Store`` (the one the engine writes through) rather than extending it, so the
engine's store keeps plain Python data and this door adds pandas on top.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gaplab.api.results import Results
from gaplab.api.run import Run
from gaplab.api.verdict import Verdict, verdicts_frame
from gaplab.errors import DataError, SpecError
from gaplab.store.db import DEFAULT_PATH
from gaplab.store.db import Store as RawStore

STATUSES = ("done", "diverged", "failed")


class Store:
    """An existing results database (``gaplab-results/gaplab.db`` unless told), read as DataFrames.

    Parameters
    ----------
    path : str or pathlib.Path, default "gaplab-results/gaplab.db"
        The SQLite file that ``gaplab sweep``/``gaplab.sweep`` wrote.
    create : bool, default False
        Make an empty store when there is none; otherwise a missing file is a ``DataError`` (a typo
        should not read as an empty store).

    Examples
    --------
    >>> import gaplab
    >>> _ = gaplab.sweep({"name": "lr", "base": {"data": {"name": "sine"}, "optim": {"epochs": 2}},
    ...                   "grid": {"optim.lr": [0.01, 0.1]}}, progress=False)
    >>> store = gaplab.Store("gaplab-results/gaplab.db")
    >>> store.groups()
      group   kind  runs  done  diverged  failed
    0    lr  sweep     2     2         0       0
    >>> store.runs(group="lr")[["optim.lr", "status"]]
       optim.lr status
    0      0.01   done
    1      0.10   done
    >>> m = store.metrics(group="lr")
    >>> m[m.metric == "train_loss"].pivot(index="epoch", columns="run_id", values="value").shape
    (2, 2)
    """

    def __init__(self, path: str | Path = DEFAULT_PATH, *, create: bool = False) -> None:
        p = Path(path)
        if not create and not p.is_file():
            raise DataError(f"{p}: no results store there (gaplab.Store(path, create=True) makes a new one)")
        self.db = RawStore(p)

    @property
    def path(self) -> Path:
        """The database file."""
        return self.db.path

    def run(self, run_id: str) -> Run:
        """One stored run by id (a unique prefix is enough).

        Parameters
        ----------
        run_id : str
            The run's id, as in ``runs()["run_id"]`` or ``gaplab runs list``.

        Returns
        -------
        Run
        """
        row = self.db.run(run_id)
        if row is None:
            raise DataError(f"no run with id {run_id!r} in {self.path} (or the prefix is not unique)")
        return Run.from_row(row, self.db)

    def results(self, group: str | None = None, status: str | None = None) -> Results:
        """Stored runs (all, or of one sweep/study ``group``, or with one ``status``) as ``Results``: oldest first,
        a group's in the order its sweep declared them.

        Parameters
        ----------
        group : str, optional
            A sweep's name or ``study/NAME/PRESET``; see ``groups()``.
        status : {"done", "diverged", "failed"}, optional

        Returns
        -------
        Results
        """
        if status is not None and status not in STATUSES:
            raise SpecError(f"status: must be one of {', '.join(STATUSES)}, got {status!r}")
        rows = self.db.runs(status=status, group=group)
        return Results(group or str(self.path), [Run.from_row(r, self.db) for r in rows])

    def runs(self, group: str | None = None, status: str | None = None) -> pd.DataFrame:
        """One row per stored run: run_id, status, the spec as dotted columns, final metrics, seconds, error.

        Parameters
        ----------
        group : str, optional
            Only runs of this sweep or study group, in the order it declared them.
        status : {"done", "diverged", "failed"}, optional
            Only runs with this status.

        Returns
        -------
        pandas.DataFrame
        """
        return self.results(group, status).to_pandas()

    def metrics(self, group: str | None = None, status: str | None = None) -> pd.DataFrame:
        """Per-epoch metrics in long format (run_id, epoch, metric, value), filtered like ``runs``.

        Returns
        -------
        pandas.DataFrame
        """
        return self.results(group, status).history()

    def groups(self) -> pd.DataFrame:
        """Every group (a sweep, or a study's ``study/NAME/PRESET``) with its run counts by status.

        Returns
        -------
        pandas.DataFrame
            Columns group, kind (sweep or study), runs, done, diverged, failed.
        """
        rows = [{"group": g, "kind": "study" if g.startswith("study/") else "sweep", "runs": sum(counts.values()),
                 **{s: counts.get(s, 0) for s in STATUSES}} for g, counts in self.db.group_counts().items()]
        return pd.DataFrame(rows, columns=["group", "kind", "runs", *STATUSES])

    def studies(self) -> pd.DataFrame:
        """Stored study verdicts, newest first: study, claim_id, preset, seed, held, summary, runs, seconds, folder.

        Returns
        -------
        pandas.DataFrame
        """
        return verdicts_frame(self.db.studies())

    def verdict(self, study: str, preset: str = "quick", seed: int = 0) -> Verdict:
        """The stored verdict of ``study`` run with ``preset`` and ``seed``.

        Returns
        -------
        Verdict
        """
        for r in self.db.studies():
            if (r["name"], r["preset"], r["seed"]) == (study, preset, seed):
                return Verdict(r["verdict"], r["folder"], self.db)
        raise DataError(f"no verdict of study {study!r} (preset {preset}, seed {seed}) in {self.path}")

    def close(self) -> None:
        """Close the database connection."""
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"


StoreLike = str | Path | Store | RawStore | None


def raw_store(store: StoreLike) -> RawStore | None:
    """The engine's store for what a caller gave: a path (created if new), a ``Store``, or None (keep nothing)."""
    if store is None or isinstance(store, RawStore):
        return store
    if isinstance(store, Store):
        return store.db
    return RawStore(store)


def store_path(store: StoreLike) -> Path | None:
    """The database file a caller's store names (without opening it), None for no store."""
    if store is None:
        return None
    if isinstance(store, Store | RawStore):
        return Path(store.path)
    return Path(store)
