"""The report's front page: a gallery a reader scans in a minute, one card per claim with a thumbnail figure,
the verdict, one sentence and the key number. The rule and every check stay on the study's own page."""

from __future__ import annotations

import html
import re
from typing import Any

from gaplab.report.html import VERDICT_MARK

CSS = """
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:1em;margin:1em 0}
.card{display:block;border:1px solid #d6dae2;border-radius:6px;padding:.6em;color:inherit;text-decoration:none}
.card:hover{border-color:#8a94a6} .card img{width:100%;height:150px;object-fit:contain;background:#fff}
.card h3{margin:.3em 0 0;font-size:1em} .card p{margin:.3em 0;font-size:.88em} .card .claim{color:#5b6475}
.card .claim.what{display:-webkit-box;-webkit-line-clamp:2;-webkit-box-orient:vertical;overflow:hidden}
.card .key{font-variant-numeric:tabular-nums;color:#3a4252}
"""

# The summary's sentences end at a full stop followed by a capital or an opening bracket (not "0.5" or "e.g.").
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")


def one_sentence(summary: str) -> str:
    """The first sentence of what the study found: the summary after its verdict words, before any rule."""
    _, _, findings = summary.partition(": ")
    findings = (findings or summary).split(" Rule: ")[0]
    return _SENTENCE_END.split(findings.strip(), maxsplit=1)[0]


def key_number(v: dict[str, Any]) -> str:
    """The check closest to flipping (the verdict's ``tightest``), as "what: value (needs op threshold)"."""
    checks = {c["name"]: c for c in v.get("checks", [])}
    c = checks.get(v.get("tightest", "")) or next(iter(checks.values()), None)
    if c is None:
        return ""
    return f"{c['what']}: {c['value']:.3g} (needs {c['op']} {c['threshold']:.3g})"


def card(v: dict[str, Any], href: str, thumbnail: str | None) -> str:
    """One claim's card, linking to its study page at ``href``."""
    text, cls = VERDICT_MARK[v.get("held")]
    if v.get("held") is None:
        text = "undecided at this size"
    img = f"<img src=\"{html.escape(thumbnail)}\" alt=\"{html.escape(v['study'])}\" loading=lazy>" if thumbnail else ""
    why = v.get("undecided_reason") if v.get("held") is None else ""
    why_html = f"<p class=claim>undecided because {html.escape(why)}</p>" if why else ""
    return (f"<a class=card href=\"{html.escape(href)}\">{img}<h3>{html.escape(v['study'])} "
            f"<span class={cls}>{html.escape(text)}</span></h3>"
            f"<p class='claim what' title=\"{html.escape(v['claim'])}\">{html.escape(v['claim'])}</p>"
            f"<p>{html.escape(one_sentence(v['summary']))}</p><p class=key>{html.escape(key_number(v))}</p>"
            f"{why_html}</a>")


def gallery(cards: list[str]) -> str:
    """The cards in a responsive grid (with its style)."""
    return f"<style>{CSS}</style><div class=gallery id=verdicts>{''.join(cards)}</div>"
