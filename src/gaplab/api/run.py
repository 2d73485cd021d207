"""``Run``: one trained model as the Python API hands it out, and the DataFrames built from runs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pandas as pd

from gaplab.spec import RunSpec, parse_run
from gaplab.store.db import Store as RawStore
from gaplab.store.export import flatten

if TYPE_CHECKING:
    import torch

    from gaplab.engine import RunResult


class Run:
    """One run: its spec, status, final metrics, per-epoch history and (if kept) its trained weights.

    Returned by ``gaplab.train``, held by ``Results`` and ``Store.run``. The history is read from the store
    when first asked for.

    Attributes
    ----------
    run_id : str
        The run's id: a hash of its normalized spec (the same spec always has the same id).
    status : str
        ``"done"``, ``"diverged"`` (the loss became non-finite) or ``"failed"`` (training raised).
    final : dict
        Final metrics: ``train_loss``, ``train_acc``, ``test_loss``, ``test_acc`` (``val_*`` with a validation
        split), ``epochs_run``, per-layer weight norms ``wnorm/...`` and early-stopping epochs.
    skipped : bool
        True when the run was already stored and was not trained again.

    Examples
    --------
    >>> import gaplab
    >>> run = gaplab.train(data="sine", model="mlp", width=16, epochs=3, progress=False)
    >>> run.status, run.final["epochs_run"]
    ('done', 3)
    >>> run.history[["epoch", "train_loss"]].shape
    (3, 2)
    >>> run.spec.model.args["width"]
    16
    """

    def __init__(self, run_id: str, spec: dict[str, Any], status: str, final: dict[str, Any], *,
                 error: str | None = None, seconds: float | None = None,
                 history: list[dict[str, Any]] | None = None, state: dict[str, torch.Tensor] | None = None,
                 store: RawStore | None = None, skipped: bool = False) -> None:
        self.run_id = run_id
        self.spec_data = spec
        self.status = status
        self.final = final
        self.error = error
        self.seconds = seconds
        self.skipped = skipped
        self._history = history
        self._state = state
        self._store = store
        self._spec: RunSpec | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any], store: RawStore, *, skipped: bool = False,
                 state: dict[str, torch.Tensor] | None = None) -> Run:
        """A run as the store holds it (``Store.run``/``Store.runs`` rows); history loads on demand."""
        return cls(row["id"], row["spec"], row["status"], row["final"], error=row["error"], seconds=row["seconds"],
                   store=store, skipped=skipped, state=state)

    @classmethod
    def from_result(cls, r: RunResult) -> Run:
        """A run fresh from the engine, not stored."""
        return cls(r.run_id, r.spec.normalized(), r.status, r.final, error=r.error, seconds=r.seconds,
                   history=r.history, state=r.state)

    @property
    def spec(self) -> RunSpec:
        """The run's validated spec (``run.spec.optim.lr``, ``run.spec.reg.l2``, ...).

        A run recorded by ``gaplab.watch`` (``run.external``) has no such spec: read ``run.spec_data``."""
        if self.external:
            raise AttributeError(f"run {self.run_id} was recorded by gaplab.{self.external} from your own loop: it "
                                 "has no gaplab run spec; its model and optimizer are in run.spec_data")
        if self._spec is None:
            self._spec = parse_run(self.spec_data)
        return self._spec

    @property
    def external(self) -> str | None:
        """What recorded the run when gaplab did not train it (``"watch"``), else None."""
        value = self.spec_data.get("external")
        return str(value) if value else None

    def history_records(self) -> list[dict[str, Any]]:
        """Per-epoch metrics as a list of dicts (``epoch`` plus one key per metric), in epoch order."""
        if self._history is None:
            self._history = self._store.history(self.run_id) if self._store is not None else []
        return self._history

    @property
    def history(self) -> pd.DataFrame:
        """Per-epoch metrics: one row per evaluated epoch, an ``epoch`` column and one column per metric."""
        return pd.DataFrame(self.history_records())

    def model(self) -> torch.nn.Module:
        """The trained model (final weights, or the best ones under early stopping) in eval mode.

        Needs the weights: train with ``keep_state=True``.
        """
        from gaplab.engine import build_trained

        state = self._state
        if state is None and self._store is not None:
            state = self._state = self._store.load_state(self.run_id)
        if state is None:
            raise RuntimeError(f"run {self.run_id}: weights were not kept; train it with keep_state=True")
        return build_trained(self.spec, state)

    def __repr__(self) -> str:
        shown = {k: self.final[k] for k in ("test_acc", "test_loss") if isinstance(self.final.get(k), float)}
        metrics = "".join(f", {k}={v:.4f}" for k, v in shown.items())
        return f"Run({self.run_id}, {self.status}{metrics})"


def runs_frame(runs: Iterable[Run]) -> pd.DataFrame:
    """One row per run: ``run_id``, ``status``, the spec flattened to dotted columns (``model.args.width``,
    ``reg.l2``, ``seed``, ...), every final metric (``test_acc``, ...), ``seconds`` and ``error``."""
    rows = []
    for r in runs:
        row: dict[str, Any] = {"run_id": r.run_id, "status": r.status}
        row.update(flatten(r.spec_data))
        row.update(r.final)
        row.update(seconds=r.seconds, error=r.error)
        rows.append(row)
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=["run_id", "status", "seconds", "error"])


def history_frame(runs: Iterable[Run]) -> pd.DataFrame:
    """Per-epoch metrics in long format: one row per (run, epoch, metric), columns run_id, epoch, metric, value."""
    rows = [{"run_id": r.run_id, "epoch": h["epoch"], "metric": k, "value": v}
            for r in runs for h in r.history_records() for k, v in h.items() if k != "epoch"]
    return pd.DataFrame(rows, columns=["run_id", "epoch", "metric", "value"])
