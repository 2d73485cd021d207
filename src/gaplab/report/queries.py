"""Read-only queries over a results store: what the dashboard and the static report's sweep pages show.

Aggregation, sorting, filtering, paging and curve downsampling all happen in SQLite (``json_extract`` over the
stored JSON), so a sweep of 10,000 runs never travels to Python whole. The connection is opened with
``mode=ro``: it never writes, and in WAL mode it reads beside a sweep that is writing.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gaplab.errors import DataError
from gaplab.store.db import STALE_AFTER, artifact_rows, group_rows, study_rows

STATUSES = ("done", "running", "diverged", "failed")
FINISHED_SQL = "r.status IN ('done','diverged')"
# A claim whose owner beat its heartbeat lately, on a run not stored as finished (parameter: the oldest fresh beat).
_LIVE_CLAIM = f"c.heartbeat > ? AND c.run_id NOT IN (SELECT id FROM runs WHERE {FINISHED_SQL.replace('r.', '')})"
# Columns every run has, outside its spec and final metrics.
BUILTIN = {"id": "r.id", "status": "r.status", "seconds": "r.seconds"}
_FILTER = re.compile(r"^\s*(>=|<=|!=|>|<|=)?\s*(.*?)\s*$")


class NotFound(LookupError):
    """An id, group or study that the store does not hold."""


class BadRequest(ValueError):
    """A malformed or unknown query parameter (column, metric, number)."""


def connect(path: str | Path) -> sqlite3.Connection:
    """Open the store at ``path`` read-only; DataError if there is none."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no results store there (run `gaplab sweep` or `gaplab train` first, or pass --store)")
    uri = "file:" + urllib.parse.quote(str(p.resolve())) + "?mode=ro"
    con = sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False)
    try:
        con.execute("PRAGMA query_only=ON")
        con.execute("SELECT count(*) FROM runs").fetchone()
    except sqlite3.DatabaseError as e:
        con.close()
        raise DataError(f"{p}: not a gaplab results store ({e})") from None
    return con


def _scope(group: str | None) -> tuple[str, tuple[Any, ...]]:
    """FROM clause of the runs of ``group`` (all runs when None), with its parameters."""
    if group is None:
        return "runs r", ()
    return "runs r JOIN groups g ON g.run_id = r.id AND g.name = ?", (group,)


def check_group(con: sqlite3.Connection, group: str | None) -> None:
    if group is not None and con.execute("SELECT 1 FROM groups WHERE name = ? LIMIT 1", (group,)).fetchone() is None:
        raise NotFound(f"no sweep or group named {group!r} in this store")


def json_path(key: str) -> str:
    """The SQLite JSON path of a top-level key (a metric name), quoted so any characters are literal."""
    if not _addressable(key):
        raise BadRequest(f"unsupported key {key!r}")
    return _path([key])


def version(con: sqlite3.Connection, group: str | None = None) -> list[Any]:
    """A cheap fingerprint that changes whenever a run of the group is written (count, newest row, newest time)."""
    src, args = _scope(group)
    n, top, last = con.execute(f"SELECT count(*), max(r.rowid), max(r.finished) FROM {src}", args).fetchone()
    return [n, top or 0, last or 0]


def groups(con: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every group (sweep or study) with its run counts by status and last write, user sweeps first.

    "running" counts the group's live claims (``running_by_group``), so a sweep under way shows here even before
    it has stored a run; a group with neither stored runs nor live claims is left out.
    """
    live = running_by_group(con)
    out = []
    for g in group_rows(con):
        counts = {s: g["counts"].get(s, 0) for s in STATUSES}
        counts["running"] += live.get(g["name"], 0)
        if g["counts"] or counts["running"]:
            out.append({"name": g["name"], "runs": sum(g["counts"].values()), "last": g["last"], "counts": counts})
    return sorted(out, key=lambda g: (g["name"].startswith("study/"), g["name"]))


def status_counts(con: sqlite3.Connection, group: str | None = None) -> dict[str, int]:
    """Runs by status: the four usual ones always present, any other status stored as it is.

    Runs are stored whole when they finish, so "running" counts live claims (a sweep process training the run,
    heartbeat fresh) where the store keeps claims: all of them for the whole store; for a group the claims on its
    tagged runs (a sweep tags all its runs before it claims any).
    """
    src, args = _scope(group)
    counts = dict.fromkeys(STATUSES, 0)
    for status, n in con.execute(f"SELECT r.status, count(*) FROM {src} GROUP BY r.status", args):
        counts[status] = n
    counts["running"] += running(con, group)
    return counts


def running(con: sqlite3.Connection, group: str | None = None) -> int:
    """Unfinished runs claimed by a live sweep process (0 on stores without a claims table)."""
    if group is not None:
        return running_by_group(con, group).get(group, 0)
    if not _has_claims(con):
        return 0
    return con.execute(f"SELECT count(*) FROM claims c WHERE {_LIVE_CLAIM}", (time.time() - STALE_AFTER,)).fetchone()[0]


def running_by_group(con: sqlite3.Connection, group: str | None = None) -> dict[str, int]:
    """Live claims on unfinished runs per group (only ``group``'s when given). A sweep tags all its runs with its
    group before it claims any, so its claims count here while it trains them."""
    if not _has_claims(con):
        return {}
    only, args = ("", ()) if group is None else (" AND g.name = ?", (group,))
    return dict(con.execute(f"SELECT g.name, count(*) FROM claims c JOIN groups g ON g.run_id = c.run_id{only}"
                            f" WHERE {_LIVE_CLAIM} GROUP BY g.name", (*args, time.time() - STALE_AFTER)))



def _has_claims(con: sqlite3.Connection) -> bool:
    """Whether the store has a claims table (older stores do not)."""
    return con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'claims'").fetchone() is not None


@dataclass(frozen=True)
class Column:
    """A table column: ``id`` as the API names it, the SQL that reads it, and whether its values are numbers."""

    id: str
    sql: str
    numeric: bool
    kind: str  # "run", "spec" or "metric"
    distinct: int = 0
    value: Any = None  # the single value of a spec key that does not vary

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "numeric": self.numeric, "kind": self.kind, "distinct": self.distinct}


def columns(con: sqlite3.Connection, group: str | None = None) -> dict[str, Column]:
    """Every column of the group's runs: built-ins, spec keys (leaves; lists whole) and final metrics.

    Fast on big sweeps: one scan collects the distinct values of each top-level spec section, and only those
    few distinct sections are parsed here to see which of their keys vary.
    """
    src, args = _scope(group)
    cols = {"id": Column("id", "r.id", False, "run"), "status": Column("status", "r.status", False, "run"),
            "seconds": Column("seconds", "r.seconds", True, "run")}
    top = [k for (k,) in con.execute(
        f"SELECT DISTINCT t.key FROM (SELECT r.spec FROM {src} LIMIT 20) s, json_each(s.spec) t ORDER BY t.key",
        args) if _addressable(k)]
    # One scan: the distinct values of each top-level spec key (whole sections; SQLite compares their JSON
    # text), then the few distinct sections are split into leaves here to see which keys vary.
    exprs = ", ".join(f"json_group_array(DISTINCT r.spec -> '{_path([k])}')" for k in top)
    row = con.execute(f"SELECT {exprs} FROM {src}", args).fetchone() if top else ()
    for parts, vals in sorted(_distinct_leaves(top, row).items()):
        if not all(_addressable(p) for p in parts):
            continue
        decoded = [json.loads(v) for v in vals]
        nums = [v for v in decoded if isinstance(v, int | float) and not isinstance(v, bool)]
        numeric = bool(nums) and len(nums) + sum(v is None for v in decoded) == len(decoded)
        cid = ".".join(parts)
        cols[cid] = Column(cid, f"json_extract(r.spec, '{_path(list(parts))}')", numeric, "spec", len(vals),
                           decoded[0] if len(decoded) == 1 else None)
    metric_rows = con.execute(f"SELECT DISTINCT t.key, t.type FROM {src}, json_each(r.final) t"
                              " WHERE r.final IS NOT NULL", args).fetchall()
    types: dict[str, set[str]] = {}
    for key, typ in metric_rows:
        types.setdefault(key, set()).add(typ)
    for key in sorted(types):
        if _addressable(key):
            cid = "final." + key
            numeric = types[key] <= {"integer", "real", "null"}
            cols[cid] = Column(cid, f"json_extract(r.final, '{_path([key])}')", numeric, "metric")
    return cols


def _distinct_leaves(top: list[str], row: tuple[str, ...]) -> dict[tuple[str, ...], set[str]]:
    """Key path → distinct JSON values of every spec leaf, from each top-level key's distinct sections."""
    values: dict[tuple[str, ...], set[str]] = {}
    for key, arr in zip(top, row, strict=True):
        sections = json.loads(arr)
        seen: dict[tuple[str, ...], int] = {}
        for v in sections:
            leaves = spec_leaves(v, (key,)) if isinstance(v, dict) and v else [((key,), v)]
            for parts, leaf in leaves:
                values.setdefault(parts, set()).add(json.dumps(leaf, sort_keys=True))
                seen[parts] = seen.get(parts, 0) + 1
        for parts, n in seen.items():
            if n < len(sections):  # missing from some runs' specs: that is a value too
                values[parts].add("null")
    return values


def _addressable(key: str) -> bool:
    """Keys a JSON path can name exactly (no quotes or backslashes; the engine never writes those)."""
    return bool(key) and not any(ch in key for ch in "\\\"'")


def _path(parts: list[str]) -> str:
    """The SQLite JSON path of nested keys, each quoted so dots and brackets inside a key stay literal."""
    return "$" + "".join(f'."{p}"' for p in parts)


def spec_leaves(d: dict[str, Any], prefix: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
    """(key path, value) of every leaf of a nested mapping; lists and empty mappings are leaves."""
    out: list[tuple[tuple[str, ...], Any]] = []
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.extend(spec_leaves(v, (*prefix, k)))
        else:
            out.append(((*prefix, k), v))
    return out


def _sql_str(s: str) -> str:
    return s.replace("'", "''")


def swept(cols: dict[str, Column]) -> list[Column]:
    """Spec keys that take more than one value in the group: the sweep's axes (seed included)."""
    return [c for c in cols.values() if c.kind == "spec" and c.distinct > 1]


def fixed(cols: dict[str, Column]) -> dict[str, Any]:
    """Spec keys with one value across the group, and that value."""
    return {c.id: c.value for c in cols.values() if c.kind == "spec" and c.distinct == 1}


def metrics(cols: dict[str, Column]) -> list[str]:
    """Numeric final metrics, the usual ones first and per-layer weight norms last."""
    names = [c.id for c in cols.values() if c.kind == "metric" and c.numeric]
    order = ["final.test_acc", "final.test_loss", "final.train_acc", "final.train_loss", "final.gap_acc",
             "final.gap_loss", "final.val_acc", "final.val_loss"]
    return sorted(names, key=lambda n: (order.index(n) if n in order else len(order) + ("wnorm/" in n), n))


def _get(cols: dict[str, Column], cid: str, what: str) -> Column:
    if cid not in cols:
        raise BadRequest(f"unknown {what} {cid!r}")
    return cols[cid]


def _filter_sql(col: Column, text: str) -> tuple[str, list[Any]]:
    """One column filter: ``>0.5``, ``<=3``, ``!=relu`` or ``64`` compare; other text matches as a substring."""
    m = _FILTER.match(text)
    op, val = (m.group(1), m.group(2)) if m else (None, text)
    try:
        num: float | None = float(val)
    except ValueError:
        num = None
    if op and op not in ("=", "!="):
        if num is None:
            raise BadRequest(f"filter on {col.id!r}: {text!r} compares with a number, e.g. >0.5")
        return f"{col.sql} {op} ?", [num]
    if num is not None and col.numeric:
        return f"{col.sql} {'!=' if op == '!=' else '='} ?", [num]
    if op:
        return f"CAST({col.sql} AS TEXT) {'!=' if op == '!=' else '='} ?", [val]
    pattern = "%" + val.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return f"CAST({col.sql} AS TEXT) LIKE ? ESCAPE '\\'", [pattern]


def table(con: sqlite3.Connection, group: str | None, cols: dict[str, Column], show: list[str], sort: str = "id",
          desc: bool = False, filters: dict[str, str] | None = None, page: int = 0, size: int = 50
          ) -> dict[str, Any]:
    """One page of the runs table: ``show`` columns, sorted, filtered, with the total that matched."""
    if not 1 <= size <= 500:
        raise BadRequest("size must be between 1 and 500")
    if not 0 <= page <= 10**9:
        raise BadRequest("page must be between 0 and 10^9")
    src, args = _scope(group)
    shown = [_get(cols, c, "column") for c in show]
    where, wargs = [], []
    for cid, text in (filters or {}).items():
        if text.strip():
            sql, a = _filter_sql(_get(cols, cid, "filter column"), text)
            where.append(sql)
            wargs.extend(a)
    w = (" WHERE " + " AND ".join(where)) if where else ""
    order = _get(cols, sort, "sort column").sql
    total = con.execute(f"SELECT count(*) FROM {src}{w}", (*args, *wargs)).fetchone()[0]
    sel = ", ".join(c.sql for c in shown)
    rows = con.execute(f"SELECT r.id, {sel} FROM {src}{w} ORDER BY {order} {'DESC' if desc else 'ASC'} NULLS LAST,"
                       f" r.id LIMIT ? OFFSET ?", (*args, *wargs, size, page * size)).fetchall()
    return {"columns": [c.public() for c in shown], "rows": [list(r[1:]) for r in rows],
            "ids": [r[0] for r in rows], "total": total, "page": page, "size": size}


def aggregate(con: sqlite3.Connection, group: str | None, cols: dict[str, Column], metric: str, x: str,
              by: str | None = None) -> list[dict[str, Any]]:
    """Final ``metric`` of finished runs by (``x``, ``by``): n, mean, sample std, min, max, non-finite count.

    Everything else that varies in the group (seeds, other axes) is pooled into each point's spread.
    """
    src, args = _scope(group)
    m = _get(cols, metric, "metric").sql
    xs = _get(cols, x, "x key").sql
    bs = _get(cols, by, "group-by key").sql if by else "NULL"
    rows = con.execute(
        f"SELECT x, b, count(v), avg(v), avg(v * v), min(v), max(v), sum(v IS NULL) FROM"
        f" (SELECT {xs} AS x, {bs} AS b, {m} AS v FROM {src} WHERE {FINISHED_SQL})"
        " GROUP BY x, b ORDER BY b, x", args).fetchall()
    out = []
    for xv, bv, n, mean, sq, lo, hi, missing in rows:
        std = math.sqrt(max(0.0, (sq - mean * mean) * n / (n - 1))) if n and n > 1 else None
        out.append({"x": xv, "by": bv, "n": n, "mean": mean, "std": std, "min": lo, "max": hi, "missing": missing})
    return out


def latest(con: sqlite3.Connection, group: str | None, n: int = 8) -> list[str]:
    """Ids of the ``n`` most recently finished runs of the group."""
    src, args = _scope(group)
    return [r[0] for r in con.execute(
        f"SELECT r.id FROM {src} WHERE {FINISHED_SQL} ORDER BY r.finished DESC, r.id LIMIT ?", (*args, n))]


def run(con: sqlite3.Connection, run_id: str) -> dict[str, Any]:
    """One run by its full id (or a unique prefix): spec, status, final metrics, groups; NotFound otherwise."""
    if not re.fullmatch(r"[0-9A-Za-z_-]{1,64}", run_id):
        raise BadRequest(f"malformed run id {run_id!r}")
    pattern = run_id.replace("_", "\\_") + "%"
    rows = con.execute("SELECT id, spec, status, created, started, finished, seconds, error, final FROM runs"
                       " WHERE id = ? OR id LIKE ? ESCAPE '\\' LIMIT 2", (run_id, pattern)).fetchall()
    exact = [r for r in rows if r[0] == run_id]
    if exact:
        rows = exact
    if len(rows) != 1:
        raise NotFound(f"no run with id {run_id!r}" + (" (the prefix is not unique)" if rows else ""))
    keys = ("id", "spec", "status", "created", "started", "finished", "seconds", "error", "final")
    d = dict(zip(keys, rows[0], strict=True))
    d["spec"] = json.loads(d["spec"])
    d["final"] = json.loads(d["final"]) if d["final"] else {}
    d["groups"] = [g for (g,) in con.execute("SELECT name FROM groups WHERE run_id = ? ORDER BY name", (d["id"],))]
    return d


def history(con: sqlite3.Connection, run_id: str, max_points: int = 500) -> list[dict[str, Any]]:
    """Per-epoch metrics of a run in epoch order, thinned to at most about ``max_points`` rows (last kept)."""
    n, last = con.execute("SELECT count(*), max(epoch) FROM epochs WHERE run_id = ?", (run_id,)).fetchone()
    stride = max(1, math.ceil(n / max_points)) if n else 1
    rows = con.execute(
        "SELECT epoch, metrics FROM (SELECT epoch, metrics, row_number() OVER (ORDER BY epoch) - 1 AS i"
        " FROM epochs WHERE run_id = ?) WHERE i % ? = 0 OR epoch = ? ORDER BY epoch", (run_id, stride, last))
    return [{"epoch": e, **json.loads(m)} for e, m in rows]


def metric_curves(con: sqlite3.Connection, run_ids: list[str], metric: str,
                  max_points: int = 500) -> dict[str, list[tuple[int, Any]]]:
    """One metric's per-epoch values for several runs, read with ``json_extract`` (no full rows parsed) and
    thinned like ``history`` to about ``max_points`` epochs per run (each run's last epoch kept)."""
    out: dict[str, list[tuple[int, Any]]] = {r: [] for r in run_ids}
    if not run_ids:
        return out
    marks = ",".join("?" * len(run_ids))
    for rid, epoch, v in con.execute(
            "SELECT run_id, epoch, v FROM (SELECT run_id, epoch, json_extract(metrics, ?) AS v,"
            " row_number() OVER (PARTITION BY run_id ORDER BY epoch) - 1 AS i, count(*) OVER (PARTITION BY run_id)"
            f" AS n FROM epochs WHERE run_id IN ({marks})) WHERE i % max(1, (n + ? - 1) / ?) = 0 OR i = n - 1"
            " ORDER BY run_id, epoch", (json_path(metric), *run_ids, max_points, max_points)):
        out[rid].append((epoch, v))
    return out


def studies(con: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """The newest stored verdict of each study, by name (what the static report shows)."""
    latest_rows: dict[str, dict[str, Any]] = {}
    for row in study_rows(con):
        latest_rows.setdefault(row["name"], row)
    return latest_rows


def study(con: sqlite3.Connection, name: str) -> dict[str, Any] | None:
    """The newest stored verdict of one study (the row ``studies`` gives for it), or None."""
    rows = study_rows(con, name, limit=1)
    return rows[0] if rows else None


def artifact(con: sqlite3.Connection, kind: str, key: str) -> dict[str, Any] | None:
    """One stored workflow result (the row ``artifacts`` gives for it), or None."""
    rows = artifact_rows(con, kind, key)
    return rows[0] if rows else None


def artifacts(con: sqlite3.Connection, kind: str) -> list[dict[str, Any]]:
    """Stored workflow results of ``kind``, newest first (the rows ``Store.artifacts`` gives)."""
    return artifact_rows(con, kind)
