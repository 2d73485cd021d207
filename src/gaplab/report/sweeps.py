"""Sweep pages: status counts, the final metric against the swept keys, the latest runs' curves, the runs table.

The HTML fragments here are shared by the static report (``write_sweep_pages``) and the dashboard's sweep page;
the figures come from ``gaplab.report.figures`` and the numbers from ``gaplab.report.queries`` in both.
"""

from __future__ import annotations

import hashlib
import html
import sqlite3
from pathlib import Path
from typing import Any

from gaplab.report import figures, queries
from gaplab.store.names import safe_name

STATIC_ROWS = 500  # rows of the runs table a static page lists (the dashboard pages through all)
MAX_LINES = 50  # lines one sweep plot draws at most (one per value of its group-by key)


def counts_html(counts: dict[str, int]) -> str:
    """Status counts as badges; the dashboard updates the numbers in place (``data-status``)."""
    items = "".join(f"<li class=\"status-{html.escape(s)}\" data-status=\"{html.escape(s)}\"><b>{n}</b> "
                    f"{html.escape(s)}</li>" for s, n in counts.items())
    return f"<ul class=counts id=counts>{items}</ul>"


def fixed_html(fixed: dict[str, Any]) -> str:
    """The spec keys every run of the sweep shares, as a collapsed table."""
    if not fixed:
        return ""
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(figures.label_text(v))}</td></tr>"
                   for k, v in sorted(fixed.items()))
    return f"<details id=fixed><summary>settings shared by every run ({len(fixed)})</summary><table>{rows}</table>" \
           f"</details>"


def table_columns(cols: dict[str, queries.Column]) -> list[str]:
    """Columns of the runs table: id, status, swept keys, final metrics (weight norms aside), seconds."""
    keys = [c.id for c in queries.swept(cols)] or [k for k in ("data.name", "model.name") if k in cols]
    mets = [m for m in queries.metrics(cols) if "wnorm/" not in m]
    return ["id", "status", *keys, *mets, "seconds"]


def table_html(tbl: dict[str, Any], run_href: str | None = None) -> str:
    """A runs table (one page of ``queries.table``) as HTML; ids link to ``run_href`` + id when given."""
    head = "".join(f"<th>{html.escape(c['id'])}</th>" for c in tbl["columns"])
    body = []
    for rid, row in zip(tbl["ids"], tbl["rows"], strict=True):
        cells = []
        for c, v in zip(tbl["columns"], row, strict=True):
            text = html.escape(figures.label_text(v))
            if c["id"] == "id" and run_href is not None:
                text = f"<a href=\"{html.escape(run_href + rid)}\">{text}</a>"
            cells.append(f"<td class=num>{text}</td>" if c["numeric"] else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table class=runs><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def sweep_overview(con: sqlite3.Connection, group: str | None) -> dict[str, Any]:
    """What a sweep page needs first: columns, swept keys, metrics, counts, default plot axes, version."""
    cols = queries.columns(con, group)
    swept = [c.public() for c in queries.swept(cols)]
    mets = queries.metrics(cols)
    metric, x, by = figures.default_axes(swept, mets)
    return {"group": group, "cols": cols, "swept": swept, "metrics": mets, "metric": metric, "x": x, "by": by,
            "counts": queries.status_counts(con, group), "fixed": queries.fixed(cols),
            "version": queries.version(con, group), "table_columns": table_columns(cols)}


def plot_figure(con: sqlite3.Connection, ov: dict[str, Any], metric: str | None, x: str | None, by: str | None,
                log_x: bool = False, log_y: bool = False) -> dict[str, Any]:
    """The sweep's metric-vs-key figure (an empty one that says why when nothing finished yet)."""
    if metric is None or x is None:
        return empty_figure("no finished runs with metrics yet")
    pts = queries.aggregate(con, ov["group"], ov["cols"], metric, x, by)
    lines = len({p["by"] for p in pts})
    if lines > MAX_LINES:
        raise queries.BadRequest(f"group by {by!r} would draw {lines} lines; pick a key with at most {MAX_LINES}")
    if not pts:
        return empty_figure("no finished runs yet")
    return figures.sweep_figure(pts, metric, x, by, log_x, log_y)


def latest_figure(con: sqlite3.Connection, group: str | None, metric: str = "test_loss", n: int = 8,
                  log_y: bool = False) -> dict[str, Any]:
    """Per-epoch ``metric`` of the group's most recently finished runs (grows as a live sweep stores runs)."""
    ids = queries.latest(con, group, n)
    if not ids:
        return empty_figure("no finished runs yet")
    curves = queries.metric_curves(con, ids, metric)
    return figures.curves_figure({rid[:10]: curves[rid] for rid in ids}, metric,
                                 f"{metric} per epoch, latest {len(ids)} runs", log_y)


def empty_figure(message: str) -> dict[str, Any]:
    return {"data": [], "layout": {"annotations": [{"text": html.escape(message), "showarrow": False,
                                                    "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}],
                                   "xaxis": {"visible": False}, "yaxis": {"visible": False}, "height": 240}}


def folder_name(group: str) -> str:
    """A folder name for a sweep: its name made safe, plus a short hash when that changed it (no collisions)."""
    safe = safe_name(group)
    return safe if safe == group else f"{safe}-{hashlib.sha1(group.encode()).hexdigest()[:8]}"


def write_sweep_pages(con: sqlite3.Connection, out: Path) -> str:
    """Write ``out/sweeps/NAME/index.html`` for every user sweep (groups outside ``study/``); return the index
    section that links them ("" when there are none). plotly.js and the page script are copied into ``out``."""
    from gaplab.report.html import page

    names = [g for g in queries.groups(con) if not g["name"].startswith("study/")]
    if not names:
        return ""
    figures.copy_assets(out)
    links = []
    for g in names:
        folder = out / "sweeps" / folder_name(g["name"])
        folder.mkdir(parents=True, exist_ok=True)
        ov = sweep_overview(con, g["name"])
        tbl = queries.table(con, g["name"], ov["cols"], ov["table_columns"],
                            sort=ov["metric"] or "id", desc=True, size=STATIC_ROWS)
        more = (f"<p>The {tbl['total'] - STATIC_ROWS} other runs: <code>gaplab serve</code> pages through all, "
                f"or <code>gaplab runs export runs.csv --group …</code>.</p>" if tbl["total"] > STATIC_ROWS else "")
        title = html.escape(g["name"])
        body = (f"<nav><a href=\"../../index.html\">← report</a></nav><h1>sweep {title}</h1>"
                f"{counts_html(ov['counts'])}{fixed_html(ov['fixed'])}"
                f"<h2>Final metric against the swept keys</h2>"
                f"{figures.figure_div(plot_figure(con, ov, ov['metric'], ov['x'], ov['by']), 'sweep-plot')}"
                f"<h2>Latest runs</h2>{figures.figure_div(latest_figure(con, g['name']), 'latest-plot')}"
                f"<h2>Runs ({tbl['total']}, best {ov['metric'] or ''} first)</h2>{table_html(tbl)}{more}")
        head = ("<link rel=stylesheet href=\"../../gaplab.css\"><script src=\"../../gaplab.js\"></script>"
                "<script async src=\"../../plotly.min.js\"></script>")
        (folder / "index.html").write_text(page(f"gaplab: sweep {g['name']}", body, head=head))
        counts = ", ".join(f"{n} {s}" for s, n in g["counts"].items() if n)
        links.append(f"<li><a href=\"sweeps/{html.escape(folder_name(g['name']))}/index.html\">{title}</a> "
                     f"({g['runs']} runs: {html.escape(counts)})</li>")
    return f"<h2>Sweeps</h2><ul id=sweep-pages>{''.join(links)}</ul>"
