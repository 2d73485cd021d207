"""What --quick leaves out to stay within seconds, said rather than silent: the label-noise family (unless named)."""

from __future__ import annotations

from gaplab.doctor import workflow
from gaplab.doctor.context import Context
from gaplab.doctor.result import NA
from gaplab.spec import parse_run

SPEC = {"data": {"name": "teacher-mlp", "args": {"n_train": 200, "n_test": 50, "classes": 3}}, "model": {"name": "mlp"}}


def test_quick_skips_label_noise_unless_named() -> None:
    quick = Context(parse_run(SPEC), "quick")
    skipped = workflow._inapplicable("label_noise", quick, named=False)
    assert skipped is not None and skipped.verdict == NA
    assert "skipped in --quick" in skipped.shown and "--check label_noise" in skipped.details["reason"]
    assert workflow._inapplicable("label_noise", quick, named=True) is None
    assert workflow._inapplicable("label_noise", Context(parse_run(SPEC), "default"), named=False) is None
