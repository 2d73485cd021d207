"""How `gaplab doctor` prints its findings: one table on a wide terminal, one block per check on a narrow one
(a six-column table at 80 columns breaks names mid-word: "update/weig ht ratio")."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

STYLE = {"PASS": "green", "WARN": "yellow", "FAIL": "bold red", "n/a": "dim"}
# Narrower than this many columns, the table gives each of its six columns too little room for a word.
MIN_TABLE_WIDTH = 120


def title(diag: Any) -> str:
    """The task the checks were measured on, in one line."""
    classes = f"{diag.task['classes']} classes, " if "classes" in diag.task else ""
    return f"gaplab doctor ({diag.mode}): {diag.task['kind']}, {classes}{diag.task['n_train']} training examples"


def table(diag: Any) -> Table:
    """Every finding as one row of check, measured, expected, verdict, likely cause, what to try."""
    t = Table(title=title(diag), show_lines=False)
    for col in ("check", "measured", "expected", "verdict", "likely cause", "what to try"):
        t.add_column(col, overflow="fold")
    for c in diag.checks:
        t.add_row(Text(c.name), Text(c.shown), Text(c.band), Text(c.verdict, style=STYLE[c.verdict]), Text(c.cause),
                  Text(c.fix))
    return t


def blocks(diag: Any) -> Group:
    """Every finding as a block: a rule with its name and verdict, then one labelled line per field."""
    parts: list[RenderableType] = [Text(title(diag), style="bold")]
    for c in diag.checks:
        head = Text.assemble((c.name, "bold"), "  ", (c.verdict, STYLE[c.verdict]))
        parts.append(Rule(head, align="left", style="dim"))
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True, style="dim")
        grid.add_column()
        for label, value in (("measured", c.shown), ("expected", c.band), ("cause", c.cause), ("try", c.fix)):
            if value:
                grid.add_row(label, Text(value))
        parts.append(grid)
    return Group(*parts)


def findings(diag: Any, width: int) -> RenderableType:
    """The table when the terminal is wide enough for it, else the blocks."""
    return table(diag) if width >= MIN_TABLE_WIDTH else blocks(diag)
