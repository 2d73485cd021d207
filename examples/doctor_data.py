"""Write the two user data sets of the README's `gaplab doctor` examples (nothing is downloaded):

- ``cancer.csv``: scikit-learn's breast-cancer table, 30 numeric columns and a ``target`` column;
- ``digits_png/<class>/<n>.png``: scikit-learn's 8×8 digits as an image-class folder.

    python examples/doctor_data.py [OUT_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.datasets import load_breast_cancer, load_digits


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    b = load_breast_cancer()
    df = pd.DataFrame(b.data, columns=[c.replace(" ", "_") for c in b.feature_names])
    df["target"] = b.target
    df.to_csv(out / "cancer.csv", index=False)
    d = load_digits()
    for i, (img, label) in enumerate(zip(d.images, d.target, strict=True)):
        folder = out / "digits_png" / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((img * 255 / 16).astype(np.uint8), mode="L").save(folder / f"{i}.png")
    print(f"wrote {out / 'cancer.csv'} and {out / 'digits_png'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("."))
