"""How robust is each study's verdict? Run studies × seeds × thread counts and print a markdown table.

Every (study, seed, threads) runs in its own temporary store (thread count is not part of a run's id, so a shared
store would reuse the first thread count's runs). Each cell shows the verdict and the tightest check's margin
(``Check.score``: margin in units of its resolution, or relative to the threshold when it has none), e.g.
``held +0.42 (ridge_helps)``; a cell that differs between 1 and 2 threads shows both.

``--json FILE`` keeps every verdict whole (summary, numbers, the checks table, seconds, the commit it ran on),
rewritten after each cell so a long table can be watched and resumed (``--resume`` skips cells already in FILE);
``--render FILE`` prints the table of such a file again.

    python benchmarks/verdict_table.py --studies polyfit,dropout --seeds 0-4 --threads 1,2 --preset quick
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

WORD = {True: "held", False: "DID NOT HOLD", None: "undecided"}


def _ints(text: str) -> list[int]:
    """'0-4' or '0,2,3' → list of ints."""
    out: list[int] = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-")
            out.extend(range(int(a), int(b) + 1))
        elif part:
            out.append(int(part))
    return out


def source_commit() -> str:
    """The commit of the gaplab source that runs (``+dirty`` when it has uncommitted changes), so a result file
    says which code made each cell; "unknown" outside a git checkout."""
    import gaplab

    root = Path(gaplab.__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=root, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def run_one(name: str, preset: str, seed: int, threads: int, overrides: dict[str, Any]) -> dict[str, Any]:
    """One study run in a fresh store: its whole verdict, the tightest check, CPU and wall seconds."""
    import torch

    from gaplab.store.db import Store
    from gaplab.studies import run_study
    from gaplab.studies.framework.checks import Check, tightest

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.process_time()
        v = run_study(name, preset, seed, Path(tmp) / "out", Store(Path(tmp) / "s.db"), overrides=overrides)
        cpu = time.process_time() - t0
    data = v.to_json()
    checks = [Check.from_row(c) for c in data["checks"]]
    tight = tightest(checks) if checks else None
    return {"threads": threads, "held": v.held, "check": tight.name if tight else "",
            "score": tight.score if tight else None, "margin": tight.margin if tight else None,
            "cpu": round(cpu, 2), "wall": v.seconds, "scores": {c.name: c.score for c in checks},
            "summary": data["summary"], "undecided_reason": data["undecided_reason"], "numbers": data["numbers"],
            "checks": data["checks"], "params": data["params"], "runs": data["runs"], "figures": data["figures"],
            "commit": source_commit()}


def cell(res: list[dict[str, Any]]) -> str:
    """One table cell from the results of the thread counts (the tightest check recomputed from the stored rows)."""
    from gaplab.studies.framework.checks import Check, tightest

    parts = []
    for r in res:
        s = f"{WORD[r['held']]}"
        if r["checks"]:
            tight = tightest([Check.from_row(c) for c in r["checks"]])
            s += f" {tight.score:+.2f} ({tight.name})" if math.isfinite(tight.score) else f" ({tight.name})"
        parts.append(s)
    return parts[0] if len(set(parts)) == 1 else " / ".join(parts)


def _clean(v: Any) -> Any:
    """JSON without NaN/inf (null instead)."""
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_clean(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--studies", default="", help="comma-separated study names (default: every study)")
    ap.add_argument("--seeds", default="0-4", help="seeds, e.g. 0-4 or 0,3")
    ap.add_argument("--threads", default="1,2", help="torch thread counts, e.g. 1,2")
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--set", action="append", default=[], help="preset override KEY=JSON (applies to every study)")
    ap.add_argument("--json", help="also write every result (whole verdicts) to this JSON file, after each cell")
    ap.add_argument("--resume", action="store_true", help="skip cells already in the --json file")
    args = ap.parse_args(argv)

    from gaplab.studies import all_studies

    names = [s for s in args.studies.split(",") if s] or list(all_studies())
    seeds, threads = _ints(args.seeds), _ints(args.threads)
    overrides = {k: json.loads(v) for k, v in (a.split("=", 1) for a in args.set)}
    table: dict[str, dict[str, list[dict[str, Any]]]] = {}
    if args.resume and args.json and Path(args.json).exists():
        table = json.loads(Path(args.json).read_text())["table"]
    for seed in seeds:  # seed-major: a table stopped early has whole columns
        for name in names:
            for t in threads:
                done = table.get(name, {}).get(str(seed), [])
                if any(r["threads"] == t for r in done):
                    continue
                r = run_one(name, args.preset, seed, t, overrides)
                table.setdefault(name, {}).setdefault(str(seed), []).append(r)
                print(f"{name} seed {seed} threads {t}: {cell([r])}  cpu {r['cpu']:.1f} s", file=sys.stderr,
                      flush=True)
                if args.json:
                    Path(args.json).write_text(json.dumps(_clean(
                        {"preset": args.preset, "seeds": seeds, "threads": threads, "overrides": overrides,
                         "table": table}), indent=1))
    print(render(table, names, seeds, args.preset, args.threads))
    return 0


def render(table: dict[str, dict[str, list[dict[str, Any]]]], names: list[str], seeds: list[int], preset: str,
           threads: str) -> str:
    """The markdown table (one row per study, one column per seed) and, below it, the reason of every cell that
    is not "held"."""
    lines = [f"preset {preset}, threads {threads}; cell: verdict, tightest check's margin "
             "(in resolutions, or relative to the threshold)", "",
             "| study | " + " | ".join(f"seed {s}" for s in seeds) + " | CPU s/run |",
             "|---|" + "---|" * (len(seeds) + 1)]
    notes = []
    for name in names:
        by_seed = table.get(name, {})
        cpu = [r["cpu"] for s in seeds for r in by_seed.get(str(s), [])]
        lines.append(f"| {name} | " + " | ".join(cell(by_seed[str(s)]) if str(s) in by_seed else "not run"
                                                 for s in seeds) + f" | {sum(cpu) / max(1, len(cpu)):.1f} |")
        for s in seeds:
            for r in by_seed.get(str(s), []):
                if r["held"] is not True:
                    why = r["undecided_reason"] or r["summary"].split(" Failed: ")[-1].split(" Rule:")[0]
                    notes.append(f"- {name}, seed {s}, {r['threads']} thread(s), {WORD[r['held']]}: {why}")
    return "\n".join(lines + ([""] + notes if notes else []))


def _render_main(argv: list[str]) -> int:
    """``--render FILE``: print the table of a saved ``--json`` file without running anything."""
    data = json.loads(Path(argv[1]).read_text())
    table = data["table"]
    from gaplab.studies import all_studies

    names = [n for n in all_studies() if n in table] + [n for n in table if n not in all_studies()]
    seeds = sorted({int(s) for b in table.values() for s in b})
    print(render(table, names, seeds, data["preset"], ",".join(map(str, data["threads"]))))
    return 0


if __name__ == "__main__":
    raise SystemExit(_render_main(sys.argv[1:]) if sys.argv[1:2] == ["--render"] else main())
