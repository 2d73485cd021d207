"""Label-noise suspects named by file path: sklearn's digits written as PNGs into class folders, 30 % of the files
moved into a wrong class folder; ``gaplab doctor`` (label_noise family) names suspect paths. Prints the precision of
the top 100 suspects (the fraction that really were moved) per seed, beside a random pick's expected precision and
cleanlab's ``find_label_issues`` ranking of the same out-of-fold probabilities (what ``doctor --json`` exports).

    PYTHONPATH=src python benchmarks/doctor_image_suspects.py [--seeds 0 1 2 3 4] [--mode quick]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def noisy_digit_folder(root: Path, seed: int, noise: float = 0.3) -> set[str]:
    """Write the 1797 digits as 8x8 PNGs, one folder per class, a ``noise`` fraction moved into another class's
    folder; returns the moved files' paths (as the reader names them)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    rng = np.random.default_rng(seed)
    moved: set[str] = set()
    for c in range(10):
        (root / str(c)).mkdir(parents=True, exist_ok=True)
    for i, (img, label) in enumerate(zip(d.images, d.target)):
        folder = int(label)
        if rng.random() < noise:
            folder = int((label + rng.integers(1, 10)) % 10)  # always another class
        path = root / str(folder) / f"digit{i:04d}.png"
        Image.fromarray((img * (255 / 16)).round().astype(np.uint8), mode="L").save(path)
        if folder != label:
            moved.add(str(path))
    return moved


def top_precision(root: Path, moved: set[str], seed: int, mode: str,
                  top: int = 100) -> tuple[float, int, float, float]:
    """(precision of the top ``top`` suspects, suspects found, moved fraction of the training pool, precision of
    cleanlab's top ``top`` on the same out-of-fold probabilities)."""
    from cleanlab.filter import find_label_issues

    import gaplab

    diag = gaplab.diagnose(path=str(root), seed=seed, mode=mode, checks=["label_noise"], progress=False, store=None)
    ids = diag.check("label noise (heuristic)").details["suspect_ids"]
    oof = diag.out_of_fold
    pool = oof["ids"]
    base = float(np.mean([p in moved for p in pool]))
    ranked = find_label_issues(np.array(oof["given"]), np.array(oof["probabilities"]),
                               return_indices_ranked_by="self_confidence")
    cl = float(np.mean([pool[i] in moved for i in ranked[:top]]))
    return float(np.mean([p in moved for p in ids[:top]])), len(ids), base, cl


def main() -> None:
    import torch

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--mode", default="quick")
    a = ap.parse_args()
    precisions = []
    for seed in a.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "digits"
            moved = noisy_digit_folder(root, seed)
            t0 = time.perf_counter()
            p, n, base, cl = top_precision(root, moved, seed, a.mode)
            precisions.append(p)
            print(f"seed {seed}: top-100 precision {p:.2f} ({n} suspects; random pick {base:.2f}; cleanlab on the "
                  f"same out-of-fold probabilities {cl:.2f}); {time.perf_counter() - t0:.1f} s")
    print(f"min {min(precisions):.2f}, mean {np.mean(precisions):.2f} over seeds {a.seeds} ({a.mode})")


if __name__ == "__main__":
    main()
