"""The dashboard as a plain function of a request: ``Dashboard.handle(method, target, headers) -> Response``.

No sockets here, so tests call it in-process; ``gaplab.serve.server`` puts it behind ``http.server``. Every
request opens its own read-only connection (a fresh snapshot: a sweep writing beside it shows up at once).
Unknown ids and malformed parameters answer 404/400 with a short page; any other error answers a bare 500 and its
traceback goes to the server's log, never to the browser.
"""

from __future__ import annotations

import json
import mimetypes
import sqlite3
import sys
import tempfile
import threading
import traceback
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gaplab.errors import DataError
from gaplab.report import figures, queries, sweeps
from gaplab.report.queries import BadRequest, NotFound
from gaplab.serve import pages
from gaplab.store.db import json_safe
from gaplab.store.names import safe_name

# Same-origin only: no wildcard CORS; scripts and data from this server alone (plotly.js is served here).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1", "[::1]"}
MAX_COMPARE = 12


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


class Params:
    """Query parameters with typed getters that raise BadRequest (→ 400) on malformed values."""

    def __init__(self, query: str) -> None:
        try:
            self.raw = urllib.parse.parse_qs(query, keep_blank_values=True, strict_parsing=False,
                                             max_num_fields=200)
        except ValueError as e:
            raise BadRequest(f"malformed query string: {e}") from None

    def get(self, name: str, default: str | None = None) -> str | None:
        v = self.raw.get(name)
        return v[-1] if v else default

    def getall(self, name: str) -> list[str]:
        return self.raw.get(name, [])

    def getint(self, name: str, default: int) -> int:
        v = self.get(name)
        if v is None or v == "":
            return default
        try:
            return int(v)
        except ValueError:
            raise BadRequest(f"{name} must be a whole number, got {v!r}") from None

    def getbool(self, name: str) -> bool:
        v = self.get(name, "0")
        if v not in ("0", "1", "true", "false", ""):
            raise BadRequest(f"{name} must be 0 or 1, got {v!r}")
        return v in ("1", "true")

    def filters(self) -> dict[str, str]:
        """Column filters, given as ``f.COLUMN=TEXT``."""
        return {k[2:]: v[-1] for k, v in self.raw.items() if k.startswith("f.")}


class Dashboard:
    """Routes requests over the store at ``store_path`` (opened read-only per request)."""

    def __init__(self, store_path: str | Path, allowed_hosts: set[str] | None = None) -> None:
        self.path = Path(store_path)
        queries.connect(self.path).close()  # fail early, with a clear message, if there is no store
        self.allowed_hosts = allowed_hosts  # None: any Host header (the server was bound beyond loopback)
        self._cache: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()
        self._tmp = tempfile.TemporaryDirectory(prefix="gaplab-serve-")
        self.routes: dict[str, Callable[[sqlite3.Connection, Params], Response]] = {
            "/": self.home, "/sweep": self.sweep, "/run": self.run,
            "/api/groups": self.api_groups, "/api/sweep": self.api_sweep, "/api/sweep/table": self.api_table,
            "/api/sweep/plot": self.api_plot, "/api/sweep/latest": self.api_latest, "/api/run": self.api_run,
            "/api/run/figures": self.api_run_figures,
        }

    def close(self) -> None:
        self._tmp.cleanup()

    # ---- dispatch --------------------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: dict[str, str] | None = None) -> Response:
        """Answer one request; never raises."""
        url = urllib.parse.urlsplit(target)
        api = url.path.startswith("/api/")
        try:
            if method not in ("GET", "HEAD"):
                return self._error(405, "the dashboard only reads: GET requests only", api)
            host = (headers or {}).get("Host", "")
            if self.allowed_hosts is not None and host.rsplit(":", 1)[0] not in self.allowed_hosts:
                raise BadRequest(f"unexpected Host header {host!r} (open the dashboard at http://127.0.0.1)")
            if url.path.startswith("/static/"):
                return self.static(url.path[len("/static/"):])
            params = Params(url.query)
            con = queries.connect(self.path)
            try:
                if url.path.startswith("/study/"):
                    return self.study(con, url.path[len("/study/"):])
                if url.path.startswith("/artifact/"):
                    return self.artifact(con, url.path[len("/artifact/"):])
                route = self.routes.get(url.path)
                if route is None:
                    raise NotFound(f"no page at {url.path}")
                return route(con, params)
            finally:
                con.close()
        except NotFound as e:
            return self._error(404, str(e), api)
        except (BadRequest, DataError) as e:
            return self._error(400, str(e), api)
        except Exception:  # a bug: the traceback goes to the log, the browser gets a plain 500
            traceback.print_exc(file=sys.stderr)
            return self._error(500, "internal error (the traceback is in the server's output)", api)

    def _error(self, status: int, message: str, api: bool) -> Response:
        if api:
            return self._json({"error": message}, status)
        return Response(status, pages.error(status, message).encode())

    @staticmethod
    def _json(obj: Any, status: int = 200) -> Response:
        body = json.dumps(json_safe(obj), allow_nan=False, sort_keys=True).encode()
        return Response(status, body, "application/json", {"Cache-Control": "no-store"})

    @staticmethod
    def _html(text: str) -> Response:
        return Response(200, text.encode(), headers={"Cache-Control": "no-store"})

    # ---- cached per store version ------------------------------------------------------------------
    def overview(self, con: sqlite3.Connection, group: str | None) -> dict[str, Any]:
        """A sweep's columns, counts and default axes; recomputed only when a run of it was written."""
        queries.check_group(con, group)
        return self._memo(("overview", group), queries.version(con, group),
                          lambda: sweeps.sweep_overview(con, group))

    def _memo(self, key: tuple[Any, ...], version: list[Any], compute: Callable[[], Any]) -> Any:
        """``compute()`` once per ``key`` and store ``version``: a new run in the sweep makes it stale."""
        full = (*key, tuple(version))
        with self._lock:
            hit = self._cache.get(full)
        if hit is None:
            hit = compute()
            with self._lock:
                if len(self._cache) > 256:
                    self._cache.clear()
                self._cache[full] = hit
        return hit

    # ---- pages ------------------------------------------------------------------------------------
    def home(self, con: sqlite3.Connection, p: Params) -> Response:
        import gaplab.report.pages  # noqa: F401  (registers the artifact pages of doctor, advice, ...)
        from gaplab.report.html import ARTIFACT_PAGES

        arts = {kind: (title, rows) for kind, (title, _) in ARTIFACT_PAGES.items()
                if (rows := queries.artifacts(con, kind))}
        return self._html(pages.home(str(self.path), queries.groups(con), queries.version(con), queries.studies(con),
                                     arts))

    def sweep(self, con: sqlite3.Connection, p: Params) -> Response:
        group = p.get("group")
        ov = self.overview(con, group)
        return self._html(pages.sweep(ov, f"sweep {group}" if group is not None else "all runs"))

    def run(self, con: sqlite3.Connection, p: Params) -> Response:
        runs = self._runs(con, p)
        flat = [dict(flat_spec(r["spec"])) for r in runs]
        keys = sorted(set().union(*flat))
        if len(runs) > 1:
            keys = [k for k in keys if len({json.dumps(f.get(k), sort_keys=True) for f in flat}) > 1]
        spec_rows = [(k, [f.get(k) for f in flat]) for k in keys]
        finals = sorted(set().union(*(r["final"] for r in runs)))
        return self._html(pages.run(runs, spec_rows, finals))

    def _runs(self, con: sqlite3.Connection, p: Params) -> list[dict[str, Any]]:
        ids = [i for v in p.getall("id") for i in v.split(",") if i]
        if not ids:
            raise BadRequest("give a run id: /run?id=RUN_ID (several: id=A&id=B)")
        if len(ids) > MAX_COMPARE:
            raise BadRequest(f"compare at most {MAX_COMPARE} runs at once, got {len(ids)}")
        runs = [queries.run(con, i) for i in ids]
        return list({r["id"]: r for r in runs}.values())

    def study(self, con: sqlite3.Connection, rest: str) -> Response:
        from gaplab.report.html import study_body

        name, _, file = rest.partition("/")
        name = urllib.parse.unquote(name)
        row = queries.study(con, name)
        if row is None:
            raise NotFound(f"no study named {name!r} in this store")
        v = row["verdict"]
        src = Path(row["folder"])
        allowed = {Path(n).stem + ext for n in v.get("figures", []) for ext in (".png", ".svg")}
        if file:
            file = urllib.parse.unquote(file)
            if file == "verdict.json":
                return self._json(v)
            if file not in allowed or not (src / file).is_file():
                raise NotFound(f"study {name!r} has no file {file!r}")
            return self._file(src / file)
        figs = [n for n in v.get("figures", []) if (src / n).is_file()]
        return self._html(pages.wrapped(name, study_body(v, figs)))

    def artifact(self, con: sqlite3.Connection, rest: str) -> Response:
        """A doctor/advice/... result, drawn by the renderer the static report registers for its kind."""
        import gaplab.report.pages  # noqa: F401
        from gaplab.report.html import ARTIFACT_PAGES

        parts = rest.split("/")
        if len(parts) != 3:
            raise NotFound("artifact pages are /artifact/KIND/KEY/")
        kind, key, file = (urllib.parse.unquote(x) for x in parts)
        if kind not in ARTIFACT_PAGES:
            raise NotFound(f"no page kind {kind!r}")
        row = queries.artifact(con, kind, key)
        if row is None:
            raise NotFound(f"no {kind} result {key!r} in this store")
        title, render = ARTIFACT_PAGES[kind]
        folder = Path(self._tmp.name) / safe_name(kind) / f"{safe_name(key)}-{int(row['created'] * 1000)}"
        with self._lock:
            body = self._cache.get(("artifact", kind, key, row["created"]))
            if body is None:
                folder.mkdir(parents=True, exist_ok=True)
                body = render(row, folder)
                self._cache[("artifact", kind, key, row["created"])] = body
        if file:
            target = (folder / file).resolve()
            if target.parent != folder.resolve() or not target.is_file():
                raise NotFound(f"{kind} result {key!r} has no file {file!r}")
            return self._file(target)
        return self._html(pages.wrapped(str(row["data"].get("title") or key), body))

    def static(self, name: str) -> Response:
        if name == "plotly.min.js":
            path = figures.plotly_js()
        elif name in ("gaplab.js", "gaplab.css"):
            path = figures.static_dir() / name
        else:
            raise NotFound(f"no static file {name!r}")
        resp = self._file(path)
        resp.headers["Cache-Control"] = "max-age=3600"
        return resp

    @staticmethod
    def _file(path: Path) -> Response:
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype.endswith("javascript"):
            ctype += "; charset=utf-8"
        return Response(200, path.read_bytes(), ctype)

    # ---- JSON API ---------------------------------------------------------------------------------
    def api_groups(self, con: sqlite3.Connection, p: Params) -> Response:
        """Every group with counts, plus the store's total and version (the home page polls this)."""
        version = queries.version(con)
        return self._json({"groups": queries.groups(con), "total": version[0], "version": version})

    def api_sweep(self, con: sqlite3.Connection, p: Params) -> Response:
        """Counts, version, columns and metrics of a sweep (the sweep page polls this every ~2 s)."""
        group = p.get("group")
        ov = self.overview(con, group)
        return self._json({k: v for k, v in ov.items() if k != "cols"} |
                          {"columns": [c.public() for c in ov["cols"].values()],
                           "counts": queries.status_counts(con, group)})  # fresh: claims change without new runs

    def api_table(self, con: sqlite3.Connection, p: Params) -> Response:
        group = p.get("group")
        ov = self.overview(con, group)
        show = [c for v in p.getall("col") for c in v.split(",") if c] or ov["table_columns"]
        args = dict(sort=p.get("sort") or "id", desc=p.getbool("desc"), filters=p.filters(),
                    page=p.getint("page", 0), size=p.getint("size", 50))
        tbl = self._memo(("table", group, tuple(show), json.dumps(args, sort_keys=True)), ov["version"],
                         lambda: queries.table(con, group, ov["cols"], show, **args))  # type: ignore[arg-type]
        return self._json(tbl)

    def api_plot(self, con: sqlite3.Connection, p: Params) -> Response:
        ov = self.overview(con, p.get("group"))
        by = p.get("by", ov["by"]) or None
        metric, x, logx, logy = p.get("metric", ov["metric"]), p.get("x", ov["x"]), p.getbool("logx"), p.getbool("logy")
        fig = self._memo(("plot", ov["group"], metric, x, by, logx, logy), ov["version"],
                         lambda: sweeps.plot_figure(con, ov, metric, x, by, logx, logy))
        return self._json(fig)

    def api_latest(self, con: sqlite3.Connection, p: Params) -> Response:
        group = p.get("group")
        ov = self.overview(con, group)
        n = p.getint("n", 8)
        if not 1 <= n <= 50:
            raise BadRequest("n must be between 1 and 50")
        metric, logy = p.get("metric") or "test_loss", p.getbool("logy")
        return self._json(self._memo(("latest", group, metric, n, logy), ov["version"],
                                     lambda: sweeps.latest_figure(con, group, metric, n, logy)))

    def api_run(self, con: sqlite3.Connection, p: Params) -> Response:
        max_points = self._max_points(p)
        runs = self._runs(con, p)
        for r in runs:
            r["history"] = queries.history(con, r["id"], max_points)
        return self._json({"runs": runs})

    @staticmethod
    def _max_points(p: Params) -> int:
        max_points = p.getint("max_points", 500)
        if not 10 <= max_points <= 5000:
            raise BadRequest("max_points must be between 10 and 5000")
        return max_points

    def api_run_figures(self, con: sqlite3.Connection, p: Params) -> Response:
        """The run page's panels for one run or several overlaid, downsampled to ``max_points`` epochs."""
        max_points = self._max_points(p)
        runs = self._runs(con, p)
        hist = {(r["id"] if len(runs) == 1 else r["id"][:10]): queries.history(con, r["id"], max_points)
                for r in runs}
        return self._json({"figures": figures.run_figures(hist, p.getbool("logy"))})


def flat_spec(spec: dict[str, Any]) -> list[tuple[str, Any]]:
    """A spec as dotted key → value pairs (lists kept whole)."""
    return [(".".join(parts), v) for parts, v in queries.spec_leaves(spec, ())]
