"""The dashboard's HTML pages: server-rendered shells whose figures and tables ``gaplab.js`` fills from the API.

Every user string is escaped here (``html.escape``) or travels as JSON in a ``<script type="application/json">``
block that the script reads with ``textContent``; the script builds table cells with ``textContent`` too.
"""

from __future__ import annotations

import html
import time
import urllib.parse
from typing import Any

from gaplab.report.figures import script_json
from gaplab.report.html import page as report_page
from gaplab.report.sweeps import counts_html, fixed_html

_NAV = "<nav><a href=\"/\">gaplab dashboard</a><a href=\"/sweep\">all runs</a></nav>"


def page(title: str, body: str, kind: str, data: dict[str, Any] | None = None, plotly: bool = True) -> str:
    """A whole dashboard page: ``kind`` tells the script what to do, ``data`` is its JSON configuration."""
    head = ("<link rel=icon href=\"data:,\"><link rel=stylesheet href=\"/static/gaplab.css\">"
            "<script src=\"/static/gaplab.js\"></script>"
            + ("<script async src=\"/static/plotly.min.js\"></script>" if plotly else ""))
    cfg = f"<script type=\"application/json\" id=page-data>{script_json(data or {})}</script>"
    return report_page(title, f"{_NAV}{body}{cfg}", head=head, body_attrs=f"data-page=\"{html.escape(kind)}\"")


def q(**params: Any) -> str:
    """A query string from parameters (None dropped), every value percent-encoded."""
    return urllib.parse.urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)


def _ago(t: float | None) -> str:
    if not t:
        return "—"
    s = max(0, int(time.time() - t))
    return f"{s} s ago" if s < 120 else f"{s // 60} min ago" if s < 7200 else f"{s // 3600} h ago"


def groups_table(groups: list[dict[str, Any]]) -> str:
    """Sweeps and study groups with counts by status (the home page polls and redraws it)."""
    if not groups:
        return "<p id=no-groups>No sweeps in this store yet: run <code>gaplab sweep SPEC.yaml</code>.</p>"
    rows = []
    for g in groups:
        c = g["counts"]
        rows.append(f"<tr><td><a href=\"/sweep?{q(group=g['name'])}\">{html.escape(g['name'])}</a></td>"
                    f"<td class=num>{g['runs']}</td>" +
                    "".join(f"<td class=\"num status-{s}\">{c.get(s, 0)}</td>" for s in c) +
                    f"<td>{_ago(g['last'])}</td></tr>")
    head = "".join(f"<th>{html.escape(s)}</th>" for s in groups[0]["counts"])
    return (f"<table id=groups><thead><tr><th>sweep / group</th><th>runs</th>{head}<th>last run stored</th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>")


def home(store: str, groups: list[dict[str, Any]], version: list[Any], studies: dict[str, dict[str, Any]],
         artifacts: dict[str, tuple[str, list[dict[str, Any]]]]) -> str:
    from gaplab.report.html import VERDICT_MARK

    st = []
    for name, r in sorted(studies.items()):
        v = r["verdict"]
        text, cls = VERDICT_MARK[v.get("held")]
        st.append(f"<tr><td>{html.escape(str(v.get('claim_id', '')))}</td>"
                  f"<td><a href=\"/study/{urllib.parse.quote(name, safe='')}/\">{html.escape(name)}</a></td>"
                  f"<td class={cls}>{text}</td><td>{html.escape(str(v.get('summary', '')))}</td></tr>")
    studies_html = (f"<h2>Studies</h2><table id=studies><tr><th>claim</th><th>study</th><th>verdict</th>"
                    f"<th>summary</th></tr>{''.join(st)}</table>" if st else "")
    arts = []
    for kind, (title, rows) in artifacts.items():
        links = "".join(
            f"<li><a href=\"/artifact/{urllib.parse.quote(kind, safe='')}/{urllib.parse.quote(r['key'], safe='')}/\">"
            f"{html.escape(str(r['data'].get('title') or r['key']))}</a></li>" for r in rows)
        arts.append(f"<h2>{html.escape(title)}</h2><ul id=\"{html.escape(kind)}-pages\">{links}</ul>")
    body = (f"<h1>gaplab dashboard</h1><p class=sub>Store <code>{html.escape(store)}</code>, read-only: "
            f"<span id=total-runs>{version[0]}</span> runs. New runs appear here as a sweep stores them.</p>"
            f"<h2>Sweeps</h2><div id=groups-box>{groups_table(groups)}</div>{studies_html}{''.join(arts)}")
    return page("gaplab dashboard", body, "home", {"version": version}, plotly=False)


def sweep(ov: dict[str, Any], title: str) -> str:
    """The sweep page: counts, plot controls and plot, latest runs' curves, the runs table (filled by script)."""
    keys = [c["id"] for c in ov["swept"]] + [k for k in ("seed",) if k not in [c["id"] for c in ov["swept"]]]
    data = {"group": ov["group"], "metrics": ov["metrics"], "keys": keys, "metric": ov["metric"], "x": ov["x"],
            "by": ov["by"], "columns": ov["table_columns"], "version": ov["version"],
            "sort": ov["metric"] or "id", "desc": True}
    body = (f"<h1>{html.escape(title)}</h1>{counts_html(ov['counts'])}{fixed_html(ov['fixed'])}"
            "<h2>Final metric against the swept keys</h2>"
            "<div class=controls id=plot-controls><label>metric <select id=metric></select></label>"
            "<label>x <select id=xkey></select></label><label>group by <select id=bykey></select></label>"
            "<label><input type=checkbox id=logx> log x</label><label><input type=checkbox id=logy> log y</label>"
            "</div><div class=figure id=sweep-plot></div>"
            "<h2>Latest runs</h2><div class=controls><label>curve <select id=latest-metric></select></label></div>"
            "<div class=figure id=latest-plot></div>"
            "<h2>Runs <small id=runs-total></small></h2><p class=hint>Click a header to sort; type in a filter box "
            "(<code>&gt;0.5</code>, <code>&lt;=64</code>, <code>!=relu</code>, <code>64</code> or any text). Tick runs "
            "and <button id=compare type=button disabled>compare</button> them.</p>"
            "<div class=pager><button id=prev type=button>←</button> <span id=page-info></span> "
            "<button id=next type=button>→</button></div>"
            "<table class=runs id=runs><thead></thead><tbody></tbody></table><p id=live-status class=hint></p>")
    return page(f"gaplab: {title}", body, "sweep", data)


def run(runs: list[dict[str, Any]], spec_rows: list[tuple[str, list[Any]]], finals: list[str]) -> str:
    """A run page (or several runs overlaid): status, the spec (only differing keys for several), curves."""
    ids = [r["id"] for r in runs]
    heads = "".join(f"<th><a href=\"/run?{q(id=r['id'])}\">{html.escape(r['id'])}</a></th>" for r in runs)

    def cells(vals: list[Any]) -> str:
        return "".join(f"<td>{html.escape(_text(v))}</td>" for v in vals)

    status = "".join(f"<td class=\"status-{html.escape(r['status'])}\">{html.escape(r['status'])}"
                     f"{'<br><small>' + html.escape(r['error'].splitlines()[0]) + '</small>' if r['error'] else ''}"
                     f"</td>" for r in runs)
    groups = cells([", ".join(r["groups"]) or "—" for r in runs])
    spec = "".join(f"<tr><th>{html.escape(k)}</th>{cells(v)}</tr>" for k, v in spec_rows)
    final = "".join(f"<tr><th>{html.escape(k)}</th>{cells([r['final'].get(k) for r in runs])}</tr>" for k in finals) \
        or "<tr><td>none stored (a failed run keeps only its error)</td></tr>"
    title = f"run {ids[0]}" if len(ids) == 1 else f"{len(ids)} runs compared"
    spec_title = "Spec" if len(ids) == 1 else "Spec keys that differ"
    body = (f"<h1>{html.escape(title)}</h1><table id=run-head><tr><th>run</th>{heads}</tr>"
            f"<tr><th>status</th>{status}</tr><tr><th>groups</th>{groups}</tr></table>"
            f"<h2>Curves</h2><div class=controls><label><input type=checkbox id=logy> log y</label></div>"
            f"<div id=run-figures></div>"
            f"<div class=cols><div><h2>Final metrics</h2><table id=final>{final}</table></div>"
            f"<div><h2>{spec_title}</h2><table id=spec>{spec}</table></div></div>")
    return page(f"gaplab: {title}", body, "run", {"ids": ids})


def _text(v: Any) -> str:
    import json

    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, list | dict | bool):
        return json.dumps(v)
    return str(v)


def wrapped(title: str, body: str) -> str:
    """A study or artifact page: the static report's own body inside the dashboard's frame."""
    return page(f"gaplab: {title}", body, "static", plotly=False)


def error(status: int, message: str) -> str:
    what = {400: "Bad request", 404: "Not found"}.get(status, "Error")
    body = f"<h1>{status} {what}</h1><p id=error-message>{html.escape(message)}</p>"
    return page(f"{status} {what}", body, "error", plotly=False)
