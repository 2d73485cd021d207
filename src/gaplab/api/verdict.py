"""``Verdict``: a study's conclusion as the Python API hands it out (from ``gaplab.study`` or a store)."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import pandas as pd

from gaplab.api.results import Results
from gaplab.api.run import Run
from gaplab.store.db import Store as RawStore


class Verdict:
    """Whether a study's claim held on this run, why, the measured numbers, its figures and its runs.

    Attributes
    ----------
    study, claim, claim_id : str
        The study's name, the claim it tests and the claim's id in SEEDS.md (``"C14"``).
    held : bool or None
        Decided from the measured numbers by the study's stated rule; None when undecided at this size.
    summary : str
        One paragraph: what was measured and why the claim held or not.
    numbers : dict
        Every number the verdict rests on.
    folder : pathlib.Path or None
        Where ``verdict.json`` and the figures are.

    Examples
    --------
    >>> import gaplab
    >>> v = gaplab.study("learning-rate", progress=False)
    >>> v.study, v.claim_id, v.preset
    ('learning-rate', 'C20', 'quick')
    >>> v.held  # the quick preset's learning rates span crawling, training and diverging
    True
    >>> all(f.exists() for f in v.figures) and len(v.results()) == len(v.run_ids)
    True
    """

    def __init__(self, data: dict[str, Any], folder: str | Path | None = None, store: RawStore | None = None) -> None:
        self.data = data
        self.folder = Path(folder) if folder else None
        self._store = store

    study = property(lambda self: self.data["study"], doc="The study's name.")
    claim = property(lambda self: self.data["claim"], doc="The claim the study tests.")
    claim_id = property(lambda self: self.data.get("claim_id", ""), doc="The claim's id (C1 ... C23).")
    held = property(lambda self: self.data["held"], doc="True, False, or None (undecided).")
    summary = property(lambda self: self.data["summary"], doc="Why the claim held or not, with the numbers.")
    numbers = property(lambda self: self.data["numbers"], doc="Every number the verdict rests on.")
    preset = property(lambda self: self.data["preset"], doc="The preset it ran (quick or full).")
    seed = property(lambda self: self.data["seed"], doc="The study's seed.")
    run_ids = property(lambda self: list(self.data.get("runs", [])), doc="Ids of the runs it trained or reused.")

    @property
    def figures(self) -> list[Path]:
        """The study's figures (PNG files; an SVG of each lies beside it)."""
        return [self.folder / f if self.folder else Path(f) for f in self.data.get("figures", [])]

    def results(self) -> Results:
        """The study's runs as ``Results`` (needs the store the study ran with)."""
        if self._store is None:
            raise RuntimeError(f"study {self.study}: no store holds its runs (it ran with store=None)")
        rows = {r["id"]: r for r in self._store.runs(group=f"study/{self.study}/{self.preset}")}
        runs = [Run.from_row(rows[i], self._store) for i in self.run_ids if i in rows]
        return Results(f"study/{self.study}/{self.preset}", runs)

    def to_dict(self) -> dict[str, Any]:
        """The verdict as plain JSON data (what ``verdict.json`` holds)."""
        return dict(self.data)

    def __repr__(self) -> str:
        mark = {True: "held", False: "did not hold", None: "undecided"}[self.held]
        return f"Verdict({self.study} ({self.claim_id}): {mark} — {self.summary})"

    def _repr_html_(self) -> str:
        """In a notebook: the claim, the verdict, the summary and the figures inline."""
        mark = {True: "held", False: "did not hold", None: "undecided"}[self.held]
        parts = [f"<p><b>{html.escape(self.study)}</b> ({html.escape(self.claim_id)}): <b>{mark}</b></p>",
                 f"<p><i>{html.escape(self.claim)}</i></p>", f"<p>{html.escape(self.summary)}</p>"]
        for f in self.figures:
            if f.exists():
                data = base64.b64encode(f.read_bytes()).decode()
                parts.append(f'<img src="data:image/png;base64,{data}" style="max-width:100%">')
        return "\n".join(parts)


def verdicts_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Stored study verdicts, one row each: study, claim_id, preset, seed, held, summary, runs, seconds, folder."""
    out = [{"study": r["name"], "claim_id": r["verdict"].get("claim_id", ""), "preset": r["preset"],
            "seed": r["seed"], "held": r["verdict"].get("held"), "summary": r["verdict"].get("summary", ""),
            "runs": len(r["verdict"].get("runs", [])), "seconds": r["verdict"].get("seconds"),
            "folder": r["folder"], "created": pd.Timestamp(r["created"], unit="s")} for r in rows]
    cols = ["study", "claim_id", "preset", "seed", "held", "summary", "runs", "seconds", "folder", "created"]
    return pd.DataFrame(out, columns=cols)
