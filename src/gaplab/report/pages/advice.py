"""The advice page: the advice in words, learning curves with fits and extrapolation bands, the numbers."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from gaplab.report.html import artifact_page, copy_figures


def _num(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


@artifact_page("advice", "Advice: more data or regularization?")
def render(row: dict[str, Any], folder: Path) -> str:
    """Copy the advice's PNGs next to the page; show words, figures, per-configuration table and predictions."""
    d = row["data"]
    x = d["numbers"]
    figs = [f"<figure><img src=\"{html.escape(name)}\" alt=\"{html.escape(name)}\"></figure>"
            for name in copy_figures(row.get("folder") or d.get("folder") or "", folder, d.get("figures", []))]
    words = "".join(f"<li>{html.escape(w)}</li>" for w in x.get("words", []))
    plan = d["plan"]
    head = ("<tr><th>configuration</th><th>what</th><th>error at n</th><th>paired vs plain (90 %)</th>"
            "<th>curve</th><th>fit</th><th>floor</th><th>2× n</th><th>4× n</th><th>10× n</th></tr>")
    rows = []
    for name, c in x["curves"].items():
        p = x["paired_vs_plain"].get(name)
        pair = "" if p is None else f"{_num(p['mean'])} ({_num(p['low'])} to {_num(p['high'])})"
        preds = c.get("predictions") or []
        cells = [f"{p_['error']:.3f} ({p_['low']:.3f}–{p_['high']:.3f}){' ⚑' if p_['flagged'] else ''}"
                 for p_ in preds] or ["—"] * 3
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{html.escape(c['label'])}</td>"
                    f"<td class=num>{_num(x['error_at_n'].get(name))}</td><td class=num>{pair}</td>"
                    f"<td>{html.escape(str(c.get('shape')))}</td><td>{html.escape(str(c.get('model', '—')))}</td>"
                    f"<td class=num>{_num(c.get('floor'))}</td>" + "".join(f"<td class=num>{v}</td>" for v in cells)
                    + "</tr>")
    sizes = ", ".join(map(str, plan["sizes"]))
    return (f"<h1>{html.escape(d.get('title', row['key']))}</h1>"
            f"<p class=sub>{plan['models']} models: {len(plan['configs'])} configurations × sizes {sizes} × "
            f"{plan['seeds']} seeds; model {html.escape(plan['model'])} {html.escape(str(plan['model_args']))}; "
            f"metric: {html.escape(x['metric'])}; took {d.get('seconds')} s.</p>"
            f"<h2>Advice</h2><ul id=advice>{words}</ul>"
            f"<h2>Learning curves</h2>{''.join(figs) or '<p>(no figures)</p>'}"
            f"<h2>Configurations</h2><table id=configs>{head}{''.join(rows)}</table>"
            f"<p>⚑ extrapolated beyond {x['extrapolation_limit']:g}× the largest measured size. Curves are chosen "
            f"among pow3, pow2, exp3 and vap3 by how well each, fitted without the largest sizes, predicts them; "
            f"intervals resample seeds at every size.</p>"
            f"<h2>Re-run</h2><pre>gaplab advise {html.escape(str(plan['data'].get('path') or ''))} "
            f"# group {html.escape(plan['group'])}</pre>")
