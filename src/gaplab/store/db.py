"""The results database: SQLite in WAL mode holding runs, per-epoch metrics and final metrics.

A run is written in one transaction when it finishes (spec, status, timings, every epoch, final
numbers), so a sweep killed at any instant — even by SIGKILL — leaves only whole runs behind, and a
re-run skips them.
"""

from __future__ import annotations

import io
import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from gaplab.errors import DataError

DEFAULT_PATH = Path("gaplab-results") / "gaplab.db"
FINISHED = ("done", "diverged")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    seconds REAL,
    error TEXT,
    final TEXT
);
CREATE TABLE IF NOT EXISTS epochs (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    metrics TEXT NOT NULL,
    PRIMARY KEY (run_id, epoch)
);
CREATE TABLE IF NOT EXISTS states (
    run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    blob BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS studies (
    name TEXT NOT NULL,
    preset TEXT NOT NULL,
    seed INTEGER NOT NULL,
    verdict TEXT NOT NULL,
    folder TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (name, preset, seed)
);
CREATE TABLE IF NOT EXISTS artifacts (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    data TEXT NOT NULL,
    folder TEXT,
    created REAL NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE TABLE IF NOT EXISTS groups (
    name TEXT NOT NULL,
    run_id TEXT NOT NULL,
    seq INTEGER,
    PRIMARY KEY (name, run_id)
);
CREATE TABLE IF NOT EXISTS claims (
    run_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    heartbeat REAL NOT NULL
);
"""

# A run's place in its group: one after the group's last (tag() numbers a sweep's runs in its declared order)
_NEXT_SEQ = "SELECT coalesce(max(seq), -1) + 1 FROM groups WHERE name = ?"

# A claim whose owner has not beaten its heartbeat for this long is taken over (its process is presumed dead).
STALE_AFTER = 60.0


def new_owner() -> str:
    """A claim owner token for this process: host, pid and a random part (pids get reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _owner_is_dead(owner: str) -> bool:
    """True when ``owner`` names a process on this host that no longer runs (or is a zombie)."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # a killed process not yet reaped by its parent still answers kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return False


def json_safe(v: Any) -> Any:
    """JSON has no NaN/inf: store them as null so every reader can parse the row."""
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return None
    if isinstance(v, dict):
        return {k: json_safe(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [json_safe(x) for x in v]
    return v


def _dumps(v: Any) -> str:
    return json.dumps(json_safe(v), sort_keys=True)


def study_rows(con: sqlite3.Connection, name: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Stored study verdicts (of study ``name``, or all), newest first, at most ``limit``: name, preset, seed,
    verdict (parsed), folder, created. ``Store.studies`` and the read-only report queries both read with it."""
    where, args = ("WHERE name = ?", (name,)) if name is not None else ("", ())
    cut = f" LIMIT {int(limit)}" if limit is not None else ""
    rows = con.execute(f"SELECT name, preset, seed, verdict, folder, created FROM studies {where}"
                       f" ORDER BY created DESC{cut}", args)
    return [{"name": n, "preset": p, "seed": s, "verdict": json.loads(v), "folder": f, "created": c}
            for n, p, s, v, f, c in rows]


def artifact_rows(con: sqlite3.Connection, kind: str, key: str | None = None) -> list[dict[str, Any]]:
    """Stored workflow results of ``kind`` (only ``key``'s when given), newest first: key, data (parsed), folder,
    created. ``Store.artifacts`` and the read-only report queries both read with it."""
    where, args = ("kind = ? AND key = ?", (kind, key)) if key is not None else ("kind = ?", (kind,))
    rows = con.execute(f"SELECT key, data, folder, created FROM artifacts WHERE {where} ORDER BY created DESC", args)
    return [{"key": k, "data": json.loads(d), "folder": f, "created": c} for k, d, f, c in rows]


def group_rows(con: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every group (a sweep or a study) by name: its stored runs by status (``counts``) and the newest finish time
    (``last``), in one query. Runs tagged but not stored yet (a sweep under way) count under no status."""
    out: dict[str, dict[str, Any]] = {}
    for name, status, n, last in con.execute(
            "SELECT g.name, r.status, count(r.id), max(r.finished) FROM groups g LEFT JOIN runs r ON r.id = g.run_id"
            " GROUP BY g.name, r.status ORDER BY g.name"):
        g = out.setdefault(name, {"name": name, "counts": {}, "last": None})
        if status is not None:
            g["counts"][status] = n
            g["last"] = max(g["last"] or 0, last or 0) or None
    return list(out.values())


class Store:
    """A results database at ``path`` (created with its folder on first use)."""

    def __init__(self, path: str | Path = DEFAULT_PATH) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=NORMAL")
            self._con.execute("PRAGMA foreign_keys=ON")
            self._con.executescript(_SCHEMA)
            self._group_order()
        except (OSError, sqlite3.DatabaseError) as e:  # a folder, an unwritable place, not an SQLite file
            raise DataError(f"--store {self.path}: cannot open it as a results database: {e}") from None

    def _group_order(self) -> None:
        """Give a store written before groups kept their order one: its runs in the order they were tagged (the
        table's rowids); index it, so a run's place and a group's listing are lookups."""
        def has_seq() -> bool:
            return "seq" in {r[1] for r in self._con.execute("PRAGMA table_info(groups)")}

        if not has_seq():
            with self._tx() as c:  # under the write lock: a second process opening it now waits, then skips
                if not has_seq():
                    c.execute("ALTER TABLE groups ADD COLUMN seq INTEGER")
                    c.execute("UPDATE groups SET seq = rowid")
        self._con.execute("CREATE INDEX IF NOT EXISTS groups_seq ON groups (name, seq)")

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._con.execute("BEGIN IMMEDIATE")
        try:
            yield self._con
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        self._con.execute("COMMIT")

    # ---- writing -----------------------------------------------------------------------------
    def save_run(self, run_id: str, spec: dict[str, Any], status: str, history: list[dict[str, Any]],
                 final: dict[str, Any], seconds: float, error: str | None = None,
                 groups: Iterable[str] = (), state: dict[str, Any] | None = None) -> None:
        """Write one finished run (replacing any earlier attempt of it) atomically; ``state`` = final weights."""
        blob = None
        if state is not None:
            buf = io.BytesIO()
            torch.save(state, buf)
            blob = buf.getvalue()
        now = time.time()
        with self._tx() as c:
            c.execute("DELETE FROM epochs WHERE run_id = ?", (run_id,))
            c.execute(
                "INSERT OR REPLACE INTO runs (id, spec, status, created, started, finished, seconds, error, final)"
                " VALUES (?, ?, ?, COALESCE((SELECT created FROM runs WHERE id = ?), ?), ?, ?, ?, ?, ?)",
                (run_id, _dumps(spec), status, run_id, now, now - seconds, now, seconds, error, _dumps(final)),
            )
            c.executemany(
                "INSERT INTO epochs (run_id, epoch, metrics) VALUES (?, ?, ?)",
                [(run_id, int(h["epoch"]), _dumps({k: v for k, v in h.items() if k != "epoch"}))
                 for h in history],
            )
            c.executemany(f"INSERT OR IGNORE INTO groups (name, run_id, seq) VALUES (?, ?, ({_NEXT_SEQ}))",
                          [(g, run_id, g) for g in groups])
            if blob is not None:
                c.execute("INSERT OR REPLACE INTO states (run_id, blob) VALUES (?, ?)", (run_id, blob))
            c.execute("DELETE FROM claims WHERE run_id = ?", (run_id,))

    def load_state(self, run_id: str) -> dict[str, Any] | None:
        """A run's final weights (a state dict), if they were kept."""
        row = self._con.execute("SELECT blob FROM states WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else torch.load(io.BytesIO(row[0]), weights_only=True)

    def with_state(self, run_ids: Iterable[str]) -> set[str]:
        """The ids among ``run_ids`` whose final weights are stored."""
        return self._ids_where("SELECT run_id FROM states WHERE run_id IN ({})", run_ids)

    def save_failed(self, run_id: str, spec: dict[str, Any], error: str) -> None:
        """Record a run that raised: kept for inspection, re-tried by the next sweep."""
        now = time.time()
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO runs (id, spec, status, created, finished, error) VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, _dumps(spec), "failed", now, now, error),
            )
            c.execute("DELETE FROM claims WHERE run_id = ?", (run_id,))

    # ---- claims: which process trains which run (concurrent sweeps on one store) -------------
    def claim(self, run_ids: Iterable[str], owner: str, stale_after: float = STALE_AFTER) -> set[str]:
        """Atomically claim the runs among ``run_ids`` that are neither finished nor claimed by a live owner.

        A claim is live while its owner beats its heartbeat (``heartbeat``) and, on this host, its process
        runs; other claims are taken over. Returns the ids now claimed by ``owner`` (its earlier claims too).
        """
        return self.claim_split(run_ids, owner, stale_after)[0]

    def claim_split(self, run_ids: Iterable[str], owner: str,
                    stale_after: float = STALE_AFTER) -> tuple[set[str], set[str]]:
        """``claim``, also returning which of ``run_ids`` were already finished: (claimed now, finished)."""
        ids = list(run_ids)
        now = time.time()
        with self._tx() as c:
            held = {r: (o, h) for r, o, h in self._rows_in(
                "SELECT run_id, owner, heartbeat FROM claims WHERE run_id IN ({})", ids)}
            done = self.finished(ids)
            dead: dict[str, bool] = {}
            mine = []
            for r in ids:
                if r in done:
                    continue
                if r in held and held[r][0] != owner:
                    o, beat = held[r]
                    if now - beat < stale_after and not dead.setdefault(o, _owner_is_dead(o)):
                        continue
                mine.append(r)
            c.executemany("INSERT OR REPLACE INTO claims (run_id, owner, heartbeat) VALUES (?, ?, ?)",
                          [(r, owner, now) for r in mine])
        return set(mine), done

    def heartbeat(self, owner: str) -> None:
        """Mark every claim of ``owner`` as alive now."""
        with self._tx() as c:
            c.execute("UPDATE claims SET heartbeat = ? WHERE owner = ?", (time.time(), owner))

    def release(self, owner: str) -> None:
        """Drop every claim of ``owner`` (a sweep ending; storing a run drops its claim already)."""
        with self._tx() as c:
            c.execute("DELETE FROM claims WHERE owner = ?", (owner,))

    def claimed(self, run_ids: Iterable[str]) -> dict[str, str]:
        """Who holds a claim on each of ``run_ids`` that is claimed: run id → owner."""
        return dict(self._rows_in("SELECT run_id, owner FROM claims WHERE run_id IN ({})", run_ids))

    def tag(self, group: str, run_ids: Iterable[str]) -> None:
        """Add runs to a named group (a sweep or a study), so reports can find them; the group lists them in this
        order, after the runs it had (a run it had keeps its place)."""
        with self._tx() as c:
            first = c.execute(_NEXT_SEQ, (group,)).fetchone()[0]
            c.executemany("INSERT OR IGNORE INTO groups (name, run_id, seq) VALUES (?, ?, ?)",
                          [(group, r, first + i) for i, r in enumerate(run_ids)])

    # ---- reading -----------------------------------------------------------------------------
    def _rows_in(self, query: str, run_ids: Iterable[str]) -> Iterator[tuple[Any, ...]]:
        """The rows of ``query`` (its ``IN ({})`` filled with ``run_ids``), asked in chunks SQLite accepts."""
        ids = list(run_ids)
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            yield from self._con.execute(query.format(",".join("?" * len(chunk))), chunk)

    def _ids_where(self, query: str, run_ids: Iterable[str]) -> set[str]:
        """The first column of ``query`` (ending in ``IN ({})``) over ``run_ids``, as a set."""
        return {r[0] for r in self._rows_in(query, run_ids)}

    def finished(self, run_ids: Iterable[str]) -> set[str]:
        """The ids among ``run_ids`` that are stored as done or diverged."""
        return self._ids_where("SELECT id FROM runs WHERE status IN ('done','diverged') AND id IN ({})", run_ids)

    def _row(self, r: sqlite3.Row | tuple) -> dict[str, Any]:
        keys = ("id", "spec", "status", "created", "started", "finished", "seconds", "error", "final")
        d = dict(zip(keys, r, strict=True))
        d["spec"] = json.loads(d["spec"])
        d["final"] = json.loads(d["final"]) if d["final"] else {}
        return d

    def run(self, run_id: str) -> dict[str, Any] | None:
        """One run (spec and final metrics parsed), or None; a unique id prefix is accepted."""
        rows = self._con.execute("SELECT * FROM runs WHERE id LIKE ? || '%'", (run_id,)).fetchall()
        if len(rows) != 1:
            return None
        return self._row(rows[0])

    def runs(self, status: str | None = None, group: str | None = None) -> list[dict[str, Any]]:
        """All runs, optionally only those with ``status`` or in ``group``: oldest first, a group's in the order it
        was tagged (a sweep's as it declared them: packs trained side by side finish in either order)."""
        q, args = "SELECT runs.* FROM runs", []
        where = []
        if group is not None:
            q += " JOIN groups ON groups.run_id = runs.id"
            where.append("groups.name = ?")
            args.append(group)
        if status is not None:
            where.append("runs.status = ?")
            args.append(status)
        if where:
            q += " WHERE " + " AND ".join(where)
        q += " ORDER BY " + ("groups.seq, " if group is not None else "") + "runs.created, runs.id"
        return [self._row(r) for r in self._con.execute(q, args)]

    def history(self, run_id: str) -> list[dict[str, Any]]:
        """Per-epoch metrics of a run, in epoch order."""
        rows = self._con.execute("SELECT epoch, metrics FROM epochs WHERE run_id = ? ORDER BY epoch", (run_id,))
        return [{"epoch": e, **json.loads(m)} for e, m in rows]

    def save_study(self, name: str, preset: str, seed: int, verdict: dict[str, Any], folder: str) -> None:
        """Record a study's verdict (the latest per name, preset and seed) and where its figures are."""
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO studies (name, preset, seed, verdict, folder, created)"
                      " VALUES (?, ?, ?, ?, ?, ?)", (name, preset, seed, _dumps(verdict), folder, time.time()))

    def studies(self) -> list[dict[str, Any]]:
        """Every stored study verdict, newest first, with its folder."""
        return study_rows(self._con)

    def save_artifact(self, kind: str, key: str, data: dict[str, Any], folder: str | None = None) -> None:
        """Record a workflow result (a doctor diagnosis, an advice) under ``kind``/``key``; the latest wins."""
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO artifacts (kind, key, data, folder, created) VALUES (?, ?, ?, ?, ?)",
                      (kind, key, _dumps(data), folder, time.time()))

    def artifacts(self, kind: str) -> list[dict[str, Any]]:
        """Every stored result of ``kind``, newest first: key, data (parsed), folder, created."""
        return artifact_rows(self._con, kind)

    def groups(self) -> list[str]:
        return [r[0] for r in self._con.execute("SELECT DISTINCT name FROM groups ORDER BY name")]

    def group_counts(self) -> dict[str, dict[str, int]]:
        """Every group by name with its stored runs counted by status (groups ordered by name)."""
        return {g["name"]: g["counts"] for g in group_rows(self._con)}
