"""Plotly figure specs for sweeps and runs: the one place both the dashboard and the static report draw from.

Each function takes plain data (from ``gaplab.report.queries``) and returns ``{"data": [...], "layout": {...}}``,
JSON that ``Plotly.react`` draws as it is. Every user string in a figure (run names, keys, values, metric names)
goes through ``html.escape``: plotly renders a small HTML subset in labels and decodes entities, so escaped text
shows as the literal characters and never as markup.
"""

from __future__ import annotations

import html
import json
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from gaplab.store.db import json_safe

# Per-epoch panels of a run page: title and the metrics it holds (present ones only are drawn).
PANELS: list[tuple[str, tuple[str, ...]]] = [
    ("loss", ("train_loss", "val_loss", "test_loss")),
    ("accuracy", ("train_acc", "val_acc", "test_acc")),
    ("generalization gap", ("gap_loss", "gap_acc")),
    ("clean / noisy training accuracy", ("clean_acc", "noisy_acc", "noisy_true_acc", "random_set_acc",
                                         "labelled_set_acc")),
]
WNORM_PANEL = "weight norms"
# per-layer panels: (title, metric prefix, y-axis title, log y). Ratios and gradient norms span decades (a rate
# problem shows as a layer 100× off the others), so they are drawn on a log axis.
LAYER_PANELS = [(WNORM_PANEL, "wnorm/", "norm", False),
                ("update/weight ratio per layer", "ratio/", "‖ΔW‖/‖W‖ per step", True),
                ("gradient norm per layer", "gradnorm/", "‖∇W‖", True)]
_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]


def esc(v: Any) -> str:
    """A user value as plotly-safe text."""
    return html.escape(v if isinstance(v, str) else json.dumps(v))


def _layout(title: str, x_title: str, y_title: str, log_x: bool = False, log_y: bool = False) -> dict[str, Any]:
    return {"title": {"text": esc(title), "font": {"size": 14}},
            "xaxis": {"title": {"text": esc(x_title)}, "type": "log" if log_x else "linear", "automargin": True},
            "yaxis": {"title": {"text": esc(y_title)}, "type": "log" if log_y else "linear", "automargin": True},
            "margin": {"l": 60, "r": 20, "t": 40, "b": 50}, "height": 360, "legend": {"font": {"size": 11}},
            "hovermode": "closest", "template": None, "plot_bgcolor": "#fff", "paper_bgcolor": "#fff"}


def label_text(v: Any) -> str:
    """A value as short text: 4 significant digits, JSON for lists, mappings and booleans, '—' for none."""
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.4g}"
    return json.dumps(v) if isinstance(v, bool | list | dict) else str(v)


def sweep_figure(points: Sequence[dict[str, Any]], metric: str, x: str, by: str | None = None,
                 log_x: bool = False, log_y: bool = False) -> dict[str, Any]:
    """Final ``metric`` against swept key ``x``, one line per value of ``by``: mean with ± one std error bars."""
    series: dict[Any, list[dict[str, Any]]] = {}
    for p in points:
        series.setdefault(p["by"], []).append(p)
    numeric_x = all(isinstance(p["x"], int | float) and not isinstance(p["x"], bool) for p in points)
    data = []
    for i, (b, pts) in enumerate(series.items()):
        pts = sorted(pts, key=lambda p: (p["x"] is None, p["x"])) if numeric_x else pts
        name = f"{by} = {label_text(b)}" if by else metric
        data.append({
            "type": "scatter", "mode": "lines+markers", "name": esc(name),
            "x": [p["x"] if numeric_x else esc(label_text(p["x"])) for p in pts],
            "y": [p["mean"] for p in pts],
            "error_y": {"type": "data", "array": [p["std"] or 0 for p in pts], "visible": True},
            "text": [f"n={p['n']}" + (f", {p['missing']} non-finite" if p["missing"] else "") for p in pts],
            "hovertemplate": "%{x}: %{y:.4g} ± %{error_y.array:.2g} (%{text})<extra>" + esc(name) + "</extra>",
            "line": {"color": _COLORS[i % len(_COLORS)]}, "marker": {"size": 6},
        })
    title = f"{metric} vs {x}" + (f" by {by}" if by else "") + " (mean ± std over the other keys)"
    layout = _layout(title, x, metric, log_x and numeric_x, log_y)
    if not numeric_x:
        layout["xaxis"]["type"] = "category"
    return json_safe({"data": data, "layout": layout})


def curves_figure(curves: dict[str, Sequence[tuple[int, Any]]], metric: str, title: str | None = None,
                  log_y: bool = False) -> dict[str, Any]:
    """One metric per epoch for several runs (label → [(epoch, value)]); non-finite values leave gaps."""
    data = [{"type": "scatter", "mode": "lines", "name": esc(label), "x": [e for e, _ in pts],
             "y": [v for _, v in pts], "line": {"color": _COLORS[i % len(_COLORS)], "width": 1.5}}
            for i, (label, pts) in enumerate(curves.items())]
    return json_safe({"data": data, "layout": _layout(title or f"{metric} per epoch", "epoch", metric, False, log_y)})


def run_figures(histories: dict[str, list[dict[str, Any]]], log_y: bool = False) -> list[dict[str, Any]]:
    """The run page's panels (loss, accuracy, gap, clean/noisy; per layer: weight norms, update/weight ratios and
    gradient norms, as ``gaplab.watch`` records them) for one or several runs' histories.

    With one run each panel has one line per metric; with several, one line per run and metric, dashed by
    metric, so runs can be compared side by side.
    """
    present: set[str] = set()
    for h in histories.values():
        for row in h:
            present.update(row)
    panels = [(t, tuple(m for m in ms if m in present), t, log_y) for t, ms in PANELS] + [
        (t, tuple(sorted(k for k in present if k.startswith(prefix))), y, log_y or log)
        for t, prefix, y, log in LAYER_PANELS]
    figs = []
    dashes = ["solid", "dash", "dot", "dashdot", "longdash"]
    for title, ms, y_title, log in panels:
        if not ms:
            continue
        data = []
        for ri, (label, h) in enumerate(histories.items()):
            for mi, m in enumerate(ms):
                one = len(histories) == 1
                name = m if one else f"{label} {m}"
                color = _COLORS[(mi if one else ri) % len(_COLORS)]
                data.append({"type": "scatter", "mode": "lines", "name": esc(name),
                             "x": [row["epoch"] for row in h], "y": [row.get(m) for row in h],
                             "line": {"color": color, "width": 1.5, "dash": "solid" if one else dashes[mi % 5]}})
        figs.append(json_safe({"data": data, "layout": _layout(title, "epoch", y_title, False, log)}))
    return figs


def default_axes(swept: Sequence[dict[str, Any]], metrics: Sequence[str]) -> tuple[str | None, str | None,
                                                                                str | None]:
    """What a sweep plot shows first: (metric, x, by).

    ``swept`` are the varying spec keys (``id``, ``numeric``, ``distinct``). x is the numeric key (seed aside)
    with the most values; by is another key with the fewest (at most 12); seeds are pooled into the spread.
    """
    metric = "final.test_acc" if "final.test_acc" in metrics else (metrics[0] if metrics else None)
    axes = [c for c in swept if c["id"] != "seed"]
    if not axes:
        return metric, "seed", None
    x = max(axes, key=lambda c: (c["numeric"], c["distinct"]))
    rest = [c for c in axes if c["id"] != x["id"] and c["distinct"] <= 12]
    by = min(rest, key=lambda c: c["distinct"])["id"] if rest else None
    return metric, x["id"], by


def status_text(counts: dict[str, int]) -> str:
    """Status counts as one line: '12 done, 0 running, 1 diverged, 0 failed'."""
    return ", ".join(f"{n} {html.escape(s)}" for s, n in counts.items())


def script_json(obj: Any) -> str:
    """JSON safe inside an HTML ``<script type="application/json">`` element (no ``</script>``, no NaN)."""
    text = json.dumps(json_safe(obj), allow_nan=False, sort_keys=True)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def figure_div(fig: dict[str, Any], div_id: str, css_class: str = "figure") -> str:
    """A placeholder div plus its figure JSON; ``gaplab.js`` draws every such pair on page load."""
    return (f"<div class=\"{css_class}\" id=\"{html.escape(div_id)}\"></div>"
            f"<script type=\"application/json\" data-figure-for=\"{html.escape(div_id)}\">{script_json(fig)}</script>")


def plotly_js() -> Path:
    """plotly.js as installed with the ``plotly`` Python package (no CDN, nothing vendored by hand)."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: plotly.min.js missing from the installed plotly package")
    return path


def static_dir() -> Path:
    """The dashboard's own script and style sheet (shared with the static report's sweep pages)."""
    return Path(__file__).parent / "static"


def copy_assets(out: Path, names: Iterable[str] = ("gaplab.js", "gaplab.css")) -> None:
    """Put plotly.min.js and the shared script and style next to static report pages (offline use)."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy2(plotly_js(), out / "plotly.min.js")
    for n in names:
        shutil.copy2(static_dir() / n, out / n)
