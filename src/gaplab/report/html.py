"""A static HTML report from the results store: an index of study verdicts and one page per study.

Plain HTML and CSS, so it opens from disk anywhere; figures are copied next to the pages. The user-sweep pages
(``report.sweeps``) add plotly.js, copied next to them from the installed ``plotly`` package (no CDN).
"""

from __future__ import annotations

import html
import json
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from gaplab.store.db import Store
from gaplab.store.names import safe_name

# Pages for workflow results stored as artifacts (``Store.save_artifact``): kind → (section title, renderer).
# A renderer gets one stored artifact row and the page's folder, writes what it needs there and returns the
# page body (HTML); its link text is the artifact's ``data["title"]`` or its key.
ARTIFACT_PAGES: dict[str, tuple[str, Callable[[dict[str, Any], Path], str]]] = {}


def artifact_page(kind: str, title: str) -> Callable[[Callable[[dict[str, Any], Path], str]],
                                                     Callable[[dict[str, Any], Path], str]]:
    """Register the page renderer of an artifact kind (e.g. ``doctor``, ``advice``)."""

    def deco(fn: Callable[[dict[str, Any], Path], str]) -> Callable[[dict[str, Any], Path], str]:
        ARTIFACT_PAGES[kind] = (title, fn)
        return fn

    return deco


def _artifact_sections(store: Store, out: Path) -> str:
    """Write one page per stored artifact of every registered kind; return the index sections linking them."""
    parts = []
    for kind, (title, render) in ARTIFACT_PAGES.items():
        rows = store.artifacts(kind)
        if not rows:
            continue
        links = []
        for row in rows:
            folder = out / kind / safe_name(row["key"])
            folder.mkdir(parents=True, exist_ok=True)
            body = render(row, folder)
            label = str(row["data"].get("title") or row["key"])
            (folder / "index.html").write_text(
                page(f"gaplab: {label}", "<nav><a href=\"../../index.html\">← report</a></nav>" + body))
            links.append(f"<li><a href=\"{kind}/{safe_name(row['key'])}/index.html\">{html.escape(label)}</a></li>")
        parts.append(f"<h2>{html.escape(title)}</h2><ul id={kind}-pages>{''.join(links)}</ul>")
    return "".join(parts)


def copy_figures(src: str | Path | None, folder: Path, names: Iterable[str], also: tuple[str, ...] = ()) -> list[str]:
    """Copy the figure files ``names`` from ``src`` beside a page in ``folder``, with their ``also`` variants
    (other suffixes of the same stem, e.g. ``(".svg",)``); return the names now beside the page, in order."""
    shown = []
    for name in names:
        if src is not None:
            for f in dict.fromkeys([Path(src) / name, *(Path(src) / (Path(name).stem + ext) for ext in also)]):
                if f.exists() and f.resolve() != (folder / f.name).resolve():
                    shutil.copy2(f, folder / f.name)
        if (folder / name).exists():
            shown.append(name)
    return shown


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#1d2330;line-height:1.45}
h1{margin-bottom:.2em} .sub{color:#5b6475;margin-top:0}
table{border-collapse:collapse;margin:1em 0;font-size:.92em} th,td{border:1px solid #d6dae2;padding:.3em .6em;
text-align:left;vertical-align:top} th{background:#f1f3f7}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.held{color:#0a7d2c;font-weight:600} .failed{color:#b3261e;font-weight:600} .undecided{color:#8a6d00;font-weight:600}
figure{margin:1em 0} figure img{max-width:100%;border:1px solid #e3e6ec}
pre{background:#f6f8fa;padding:.8em;overflow-x:auto;font-size:.85em}
nav a{margin-right:1em}
"""

VERDICT_MARK = {True: ("held", "held"), False: ("did not hold", "failed"), None: ("undecided", "undecided")}


def page(title: str, body: str, head: str = "", body_attrs: str = "") -> str:
    """A whole HTML page in the report's style; ``head`` goes at the end of <head> (stylesheets, scripts) and
    ``body_attrs`` into the <body> tag (both already escaped by the caller). The dashboard's pages use it too."""
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style>{head}</head>"
            f"<body{' ' + body_attrs if body_attrs else ''}>\n{body}\n</body></html>\n")


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list) and len(v) > 12:
        return html.escape(json.dumps(v[:12])[:-1] + ", …]")
    return html.escape(json.dumps(v) if isinstance(v, list | dict) else str(v))


def _flatten(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            rows.extend(_flatten(v, key + " / "))
        else:
            rows.append((key, v))
    return rows


def _numbers_tables(numbers: dict[str, Any]) -> str:
    """One table per top-level number: scalars together, each mapping as its own key → value table."""
    scalars = [(k, v) for k, v in numbers.items() if not isinstance(v, dict)]
    parts = []
    if scalars:
        rows = "".join(f"<tr><th>{html.escape(k)}</th><td class=num>{_fmt(v)}</td></tr>" for k, v in scalars)
        parts.append(f"<h3>scalars</h3><table class=numbers>{rows}</table>")
    for k, v in numbers.items():
        if isinstance(v, dict):
            flat = _flatten(v)
            rows = "".join(f"<tr><td>{html.escape(a)}</td><td class=num>{_fmt(b)}</td></tr>" for a, b in flat[:400])
            more = f"<p>… {len(flat) - 400} more in verdict.json</p>" if len(flat) > 400 else ""
            parts.append(f"<h3>{html.escape(k)}</h3><table class=numbers><tr><th>key</th><th>value</th></tr>"
                         f"{rows}</table>{more}")
    return "\n".join(parts)


def _resolution(c: dict[str, Any]) -> str:
    """A check's resolution, or "exact" with the reason it carries no seed-to-seed noise."""
    if c.get("exact"):
        return f"exact<br><small>{html.escape(c['exact'])}</small>"
    return _fmt(c.get("resolution"))


def _checks_table(checks: list[dict[str, Any]]) -> str:
    """The verdict's declared checks: value, comparison, threshold, margin, resolution, outcome."""
    if not checks:
        return ""
    rows = []
    for c in checks:
        state = ("passed" if c["passed"] else "failed") if c.get("resolved", True) else "within resolution"
        cls = {"passed": "held", "failed": "failed"}.get(state, "undecided")
        rel = c.get("relative_margin")
        rows.append(
            f"<tr><td>{html.escape(c['name'])}</td><td>{html.escape(c['what'])}</td><td class=num>{_fmt(c['value'])}"
            f"</td><td>{html.escape(c['op'])}</td><td class=num>{_fmt(c['threshold'])}</td>"
            f"<td class=num>{_fmt(c['margin'])}</td><td class=num>{'—' if rel is None else f'{rel:+.0%}'}</td>"
            f"<td class=num>{_resolution(c)}</td><td class={cls}>{state}</td></tr>")
    return ("<table id=checks><tr><th>check</th><th>measured</th><th>value</th><th></th><th>threshold</th>"
            "<th>margin</th><th>relative</th><th>resolution</th><th>outcome</th></tr>" + "".join(rows) + "</table>")


def _latest(store: Store) -> dict[str, dict[str, Any]]:
    """The newest stored verdict of each study (newest first in the store)."""
    latest: dict[str, dict[str, Any]] = {}
    for row in store.studies():
        latest.setdefault(row["name"], row)
    return latest


def write_report(store: Store, out: str | Path) -> Path:
    """Write ``out/index.html`` (the gallery of verdicts) and ``out/NAME/index.html`` for every stored study;
    return the index."""
    from gaplab.report.gallery import card, gallery

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    latest = _latest(store)
    order = sorted(latest.values(), key=lambda r: (_claim_key(r["verdict"].get("claim_id", "")), r["name"]))
    cards = []
    for r in order:
        figs = _write_study_page(r, out / r["name"])
        cards.append(card(r["verdict"], f"{r['name']}/index.html", f"{r['name']}/{figs[0]}" if figs else None))
    held = sum(r["verdict"].get("held") is True for r in order)
    undecided = sum(r["verdict"].get("held") is None for r in order)
    body = (f"<h1>gaplab report</h1><p class=sub>{held} of {len(order)} claims held on these runs"
            f"{f', {undecided} undecided at this size' if undecided else ''}. "
            f"Each verdict is decided from measured numbers by a rule in its study; a card shows the number closest "
            f"to flipping it. Open a study for its rule, every check, figures, numbers and the command that "
            f"reproduces it.</p>{gallery(cards)}")
    import gaplab.report.pages  # noqa: F401  (registers the artifact pages)

    body += _artifact_sections(store, out)
    body += _sweep_sections(store, out)
    index = out / "index.html"
    index.write_text(page("gaplab report", body))
    return index


def _sweep_sections(store: Store, out: Path) -> str:
    """Pages for the user's own sweeps (``gaplab sweep``), drawn with the dashboard's figures."""
    from gaplab.report.queries import connect
    from gaplab.report.sweeps import write_sweep_pages

    con = connect(store.path)
    try:
        return write_sweep_pages(con, out)
    finally:
        con.close()


def _claim_key(cid: str) -> int:
    digits = "".join(ch for ch in cid.split("/")[0] if ch.isdigit())
    return int(digits) if digits else 999


def _write_study_page(row: dict[str, Any], folder: Path) -> list[str]:
    """Write the study's page in ``folder``; return its figure files (the first is the front page's thumbnail)."""
    v = row["verdict"]
    folder.mkdir(parents=True, exist_ok=True)
    figs = copy_figures(row["folder"], folder, v.get("figures", []), also=(".png", ".svg"))
    (folder / "verdict.json").write_text(json.dumps(v, indent=2))
    body = "<nav><a href=\"../index.html\">← all studies</a></nav>" + study_body(v, figs)
    (folder / "index.html").write_text(page(f"gaplab: {v['study']}", body))
    return figs


def study_body(v: dict[str, Any], figures: list[str]) -> str:
    """A study page's body: verdict, figures (``figures``: names beside the page), numbers, command, parameters."""
    figs = [f"<figure><img src=\"{html.escape(name)}\" alt=\"{html.escape(Path(name).stem)}\">"
            f"<figcaption>{html.escape(Path(name).stem.replace('_', ' '))} "
            f"(<a href=\"{html.escape(Path(name).stem)}.svg\">SVG</a>)</figcaption></figure>" for name in figures]
    text, cls = VERDICT_MARK[v.get("held")]
    params = html.escape(json.dumps(v.get("params", {}), indent=2))
    runs = v.get("runs", [])
    return (
        f"<h1>{html.escape(v['study'])} <small>({html.escape(v.get('claim_id', ''))})</small></h1>"
        f"<p class=sub>{html.escape(v['claim'])}</p>"
        f"<h2>Verdict: <span class={cls} id=verdict>{text}</span></h2><p>{html.escape(v['summary'])}</p>"
        f"{_checks_table(v.get('checks', []))}"
        f"<h2>Figures</h2>{''.join(figs) or '<p>(no figures)</p>'}"
        f"<h2>Numbers</h2>{_numbers_tables(v.get('numbers', {}))}"
        f"<h2>Reproduce</h2><pre>{html.escape(v.get('command', ''))}</pre>"
        f"<p>Preset <b>{html.escape(v['preset'])}</b>, seed {html.escape(str(v['seed']))}, {len(runs)} stored runs "
        f"(<code>gaplab runs list --group study/{html.escape(v['study'])}/{html.escape(v['preset'])}</code>); "
        f"took {html.escape(str(v.get('seconds', 0)))} s. Parameters:</p><pre>{params}</pre>"
        f"<p><a href=\"verdict.json\">verdict.json</a></p>"
    )
