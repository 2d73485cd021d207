"""The report's front page is a gallery: per claim a thumbnail, the verdict, one sentence and the key number;
the rule stays on the study page."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from gaplab.report.gallery import key_number, one_sentence  # noqa: E402
from gaplab.report.html import write_report  # noqa: E402
from gaplab.store.db import Store  # noqa: E402

SUMMARY = ("Claim held: Learning rates up to 1 trained; 2 of 7 diverged. The smallest (0.0001) ended at loss 2.308. "
           "Rule: held iff all of: learning rates (of 7) that diverged >= 1; loss decrease < 0.1.")


def _verdict(name: str, held: bool | None) -> dict:
    checks = [{"name": "large_diverges", "what": "learning rates (of 7) that diverged", "value": 2.0, "op": ">=",
               "threshold": 1.0, "passed": True, "margin": 1.0, "relative_margin": 1.0, "resolution": None,
               "exact": "a count of discrete events", "resolved": True},
              {"name": "small_crawls", "what": "loss decrease at the smallest lr", "value": 0.0123, "op": "<",
               "threshold": 0.1, "passed": True, "margin": 0.0877, "relative_margin": 0.877, "resolution": 0.02,
               "exact": "", "resolved": True}]
    return {"study": name, "claim": "Too small a learning rate crawls; too large diverges.", "held": held,
            "summary": SUMMARY, "numbers": {"x": 1.0}, "preset": "quick", "seed": 0, "runs": [], "claim_id": "C9",
            "checks": checks, "tightest": "small_crawls", "undecided_reason": "" if held is not None else
            "small_crawls is within its resolution", "figures": ["curve.png"], "command": f"gaplab study {name}",
            "params": {}, "seconds": 1.0}


def test_sentence_and_key_number() -> None:
    assert one_sentence(SUMMARY) == "Learning rates up to 1 trained; 2 of 7 diverged."
    assert key_number(_verdict("x", True)) == "loss decrease at the smallest lr: 0.0123 (needs < 0.1)"


def test_front_page_is_a_gallery_and_the_rule_stays_on_the_study_page(tmp_path: Path) -> None:
    figs = tmp_path / "figs"
    figs.mkdir()
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [1, 0])
    fig.savefig(figs / "curve.png")
    plt.close(fig)
    db = Store(tmp_path / "s.db")
    db.save_study("learning-rate", "quick", 0, _verdict("learning-rate", True), str(figs))
    db.save_study("dropout-bn", "quick", 0, _verdict("dropout-bn", None), str(figs))
    index = write_report(db, tmp_path / "rep").read_text()
    assert index.count("class=card") == 2 and 'src="learning-rate/curve.png"' in index
    assert "Learning rates up to 1 trained; 2 of 7 diverged." in index and "(needs &lt; 0.1)" in index
    assert "Rule:" not in index and "The smallest" not in index  # one sentence, no rule
    assert "undecided because small_crawls is within its resolution" in index
    assert (tmp_path / "rep" / "learning-rate" / "curve.png").exists()
    study = (tmp_path / "rep" / "learning-rate" / "index.html").read_text()
    assert "Rule: held iff" in study and "exact<br><small>a count of discrete events" in study
