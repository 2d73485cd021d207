"""`gaplab doctor`'s printout: a table on a wide terminal, one block per check on a narrow one, no word split."""

from __future__ import annotations

import io

from rich.console import Console

from gaplab.cli.doctor_view import MIN_TABLE_WIDTH, findings
from gaplab.doctor.result import FAIL, PASS, WARN, Diagnosis, Finding

NAMES = ("update/weight ratio", "one-feature leakage", "initial loss")


def _diag() -> Diagnosis:
    checks = [
        Finding("dynamics", NAMES[0], 0.3, "3e-1 (layer 0.weight)", "1e-4 … 1e-2 per step", FAIL,
                "learning rate too large for this layer: updates as large as the weights themselves",
                "lower the learning rate 10×, or clip gradients (reg.grad_clip)"),
        Finding("data", NAMES[1], 0.99, "accuracy 0.99 from column diagnosis_code", "< 0.95", WARN,
                "one column predicts the target alone", "check that diagnosis_code is not derived from the target"),
        Finding("init", NAMES[2], 2.31, "2.31", "ln 10 = 2.30 ± 10 %", PASS),
    ]
    return Diagnosis(spec={}, task={"kind": "classification", "classes": 10, "n_train": 3200}, checks=checks)


def _render(width: int) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(findings(_diag(), width))
    return console.export_text()


def test_narrow_terminal_prints_one_block_per_check_without_splitting_words() -> None:
    text = _render(80)
    lines = text.splitlines()
    assert max(map(len, lines)) <= 80
    for name in NAMES:  # each check's name whole on its own rule line, with its verdict
        assert any(name in line for line in lines), name
    assert "update/weight ratio  FAIL" in text and "diagnosis_code is not derived" in " ".join(text.split())
    assert "measured" in text and "try" in text and "┃" not in text


def test_wide_terminal_keeps_the_table() -> None:
    text = _render(MIN_TABLE_WIDTH + 20)
    assert "┃ check" in text and "┃ likely cause" in text
    assert all(name in text for name in NAMES)
