"""Make the README's dashboard screenshots from a real sweep: train ``examples/dashboard_sweep.yaml`` with
``gaplab sweep``, serve the store, and photograph the sweep page and a run page in headless Chromium.

    python scripts/dashboard_screenshots.py [--store /tmp/gaplab-shots/gaplab.db] [--out docs]

Needs Chromium (Debian: ``apt-get install chromium``) and Playwright (the test extra). The PNGs are reduced to
a 256-colour palette to keep the repository small.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def shoot(page, path: Path, clip_height: int) -> None:  # type: ignore[no-untyped-def]
    page.screenshot(path=str(path), clip={"x": 0, "y": 0, "width": 1280, "height": clip_height})
    with Image.open(path) as im:
        im.convert("RGB").quantize(256).save(path, optimize=True)
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", type=Path, default=Path("/tmp/gaplab-shots/gaplab.db"))
    ap.add_argument("--out", type=Path, default=ROOT / "docs")
    args = ap.parse_args()
    gaplab = [sys.executable, "-m", "gaplab.cli.app"]
    subprocess.run([*gaplab, "sweep", str(ROOT / "examples" / "dashboard_sweep.yaml"), "--store", str(args.store)],
                   check=True)

    from playwright.sync_api import sync_playwright

    from gaplab.report import queries
    from gaplab.serve.server import make_server

    con = queries.connect(args.store)
    cols = queries.columns(con, "width-l2")
    best = queries.table(con, "width-l2", cols, ["id"], sort="final.test_acc", desc=True, size=2)["ids"]
    con.close()
    server, dash = make_server(args.store, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    args.out.mkdir(parents=True, exist_ok=True)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = b.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(url + "/sweep?group=width-l2")
        for sel in ("#sweep-plot .main-svg", "#latest-plot .main-svg", "#runs tbody tr"):
            page.wait_for_selector(sel)
        page.select_option("#bykey", "reg.l2")
        page.check("#logx")
        page.wait_for_timeout(800)
        shoot(page, args.out / "dashboard-sweep.png", 1000)
        page.goto(f"{url}/run?id={best[0]}&id={best[1]}")
        page.wait_for_selector("#run-figures .main-svg")
        page.wait_for_timeout(800)
        shoot(page, args.out / "dashboard-run.png", 1000)
        b.close()
    server.shutdown()
    dash.close()


if __name__ == "__main__":
    main()
