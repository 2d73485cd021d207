"""The report page of a doctor diagnosis: the checks table, the paragraph and the plots, from the stored JSON."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from gaplab.report.html import artifact_page, copy_figures

_CLASS = {"PASS": "held", "WARN": "undecided", "FAIL": "failed"}


@artifact_page("doctor", "Training diagnoses (gaplab doctor)")
def render(row: dict[str, Any], folder: Path) -> str:
    d = row["data"]
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(c['family'])}</td><td>{e(c['name'])}</td><td class=num>{e(c['shown'])}</td>"
        f"<td>{e(c['band'])}</td><td class={_CLASS.get(c['verdict'], '')}>{e(c['verdict'])}</td>"
        f"<td>{e(c['cause'])}</td><td>{e(c['fix'])}</td></tr>" for c in d.get("checks", []))
    figs = [f"<figure><img src=\"{e(name)}\" alt=\"{e(name)}\"></figure>"
            for name in copy_figures(row.get("folder") or None, folder, d.get("plots", []))]
    task = d.get("task", {})
    spec = d.get("spec", {})
    counts = d.get("counts", {})
    data = spec.get("data", {})
    sub = (f"{e(str(task.get('kind', '')))} · {e(str(data.get('path') or data.get('name')))}"
           f" · model {e(str(spec.get('model', {}).get('name')))} · mode {e(str(d.get('mode')))} · "
           f"{counts.get('PASS', 0)} pass, {counts.get('WARN', 0)} warn, {counts.get('FAIL', 0)} fail"
           f"{f', {n_a} n/a' if (n_a := counts.get('n/a', 0)) else ''} · "
           f"{d.get('seconds', 0):.1f} s")
    return (f"<h1>Diagnosis: {e(str(d.get('title') or row['key']))}</h1><p class=sub>{sub}</p>"
            f"<h2>Diagnosis</h2><p id=summary>{e(d.get('summary', ''))}</p>"
            f"<h2>Checks</h2><table id=checks><tr><th>family</th><th>check</th><th>measured</th><th>expected</th>"
            f"<th>verdict</th><th>likely cause</th><th>what to try</th></tr>{rows}</table>"
            + "".join(figs))
