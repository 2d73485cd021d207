"""The doctor's injected-fault catalogue in the default mode: is each fault flagged by the right check with the
right cause, and what else FAILs (false alarms)? Prints a Markdown table.

    python benchmarks/doctor_catalogue.py [--mode default|quick] [--seeds 1] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "doctor"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "models"))

import doctor_faults  # noqa: E402

from gaplab.doctor import diagnose  # noqa: E402
from gaplab.doctor.result import FAMILIES  # noqa: E402
from gaplab.engine.validate import with_fingerprint  # noqa: E402
from gaplab.spec import parse_run  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mode", default="default")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cases", default="", help="Comma-separated case numbers (0-based) to run; default all.")
    ap.add_argument("--no-header", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    folder = Path(tempfile.mkdtemp(prefix="doctor_catalogue_"))
    if not args.no_header:
        print("| case | seed | must flag | flagged | verdicts | other FAILs (false alarms) | WARNs | CPU s |")
        print("|---|---|---|---|---|---|---|---|")
    only = {int(c) for c in args.cases.split(",") if c}
    for i, (name, over, expected, word) in enumerate(doctor_faults.catalogue(folder)):
        if only and i not in only:
            continue
        for seed in range(args.seeds):
            spec = with_fingerprint(parse_run({**over, "seed": seed}))
            c0 = time.process_time()
            d = diagnose(spec, mode=args.mode, checks=FAMILIES)  # named: quick mode runs label noise too
            hits = [c for c in d.checks if c.name in expected]
            flagged = any(c.verdict != "PASS" and word in c.cause for c in hits)
            verdicts = ", ".join(f"{c.name} {c.verdict}" for c in hits) or "—"
            others = [c for c in d.failed() if c.name not in expected]
            extra = "; ".join(f"{c.name}: {c.cause[:70]}" for c in others) or "none"
            must = ", ".join(sorted(expected)) or "no FAIL"
            ok = ("yes" if flagged else "NO") if expected else ("yes" if not others else "NO")
            warns = ", ".join(c.name for c in d.warned()) or "none"
            print(f"| {name} | {seed} | {must} | {ok} | {verdicts} | {extra} | {warns} | "
                  f"{time.process_time() - c0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
