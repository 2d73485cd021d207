"""How fast the dashboard opens a sweep of 10,000 runs × 100 epochs: its sweep page and a run page.

Builds the store once (rows inserted directly, ``gaplab.serve.synthetic``; reused on the next call), then
measures, against the same store:

- server: every request a page makes (the HTML, then the JSON its script fetches), cold (a fresh server, first
  request) and warm (median of 5);
- browser (when Chromium and Playwright are installed): navigation until the page is drawn (figures and table),
  cold (plotly.js not yet cached) and warm;
- the plain approach, for a ratio: load the sweep into Python the way ``gaplab runs export`` does
  (``Store.runs`` + pandas) and aggregate there.

    python benchmarks/serve_big_store.py [--runs 10000] [--epochs 100] [--store /tmp/gaplab-big.db]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import threading
import time
import urllib.request
from pathlib import Path


def timed(fn, repeat: int = 1) -> float:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def cpu(fn) -> float:  # type: ignore[no-untyped-def]
    """CPU seconds of this process (the server runs in it) while ``fn`` runs: steady on a busy machine."""
    c0 = time.process_time()
    fn()
    return time.process_time() - c0


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url) as r:
        return r.read()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--store", type=Path, default=Path("/tmp/gaplab-big.db"))
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args()

    from gaplab.report import queries
    from gaplab.serve.server import make_server
    from gaplab.serve.synthetic import build_store
    from gaplab.store.db import Store
    from gaplab.store.export import runs_frame

    store = args.store
    if store.exists():  # reuse a store built before with the same size
        con = queries.connect(store)
        n = con.execute("SELECT count(*) FROM groups WHERE name = 'big'").fetchone()[0]
        rows = con.execute("SELECT count(*) FROM epochs").fetchone()[0]
        con.close()
        if n != args.runs or rows < 0.9 * args.runs * args.epochs:
            store.unlink()
    if not store.exists():
        t0, c0 = time.perf_counter(), time.process_time()
        build_store(store, args.runs, args.epochs)
        print(f"built {store}: {args.runs} runs × {args.epochs} epochs in {time.perf_counter() - t0:.1f} s "
              f"({time.process_time() - c0:.1f} s CPU), {store.stat().st_size / 1e6:.0f} MB")
    con = queries.connect(store)
    epochs = con.execute("SELECT count(*) FROM epochs").fetchone()[0]
    run_id = queries.latest(con, "big", 1)[0]
    con.close()
    print(f"store {store}: {args.runs} runs, {epochs} epoch rows, {store.stat().st_size / 1e6:.0f} MB")

    server, dash = make_server(store, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    sweep_reqs = ["/sweep?group=big", "/api/sweep/plot?group=big", "/api/sweep/latest?group=big",
                  "/api/sweep/table?group=big&sort=final.test_acc&desc=1"]
    run_reqs = [f"/run?id={run_id}", f"/api/run/figures?id={run_id}"]
    print("\nserver time per request (cold = first request of a fresh server; warm = median of 5)")
    totals = {}
    for label, reqs in (("sweep page", sweep_reqs), ("run page", run_reqs)):
        cold = warm = 0.0
        for r in reqs:
            c = timed(lambda r=r: fetch(url + r))
            w = timed(lambda r=r: fetch(url + r), 5)
            cold, warm = cold + c, warm + w
            print(f"  {r[:60]:60s} cold {c * 1000:6.0f} ms   warm {w * 1000:6.0f} ms")
        dash._cache.clear()  # cold again, to count the CPU the whole page costs the server
        cold_cpu = cpu(lambda reqs=reqs: [fetch(url + r) for r in reqs])
        totals[label] = cold
        print(f"  {label}: all its requests {cold * 1000:.0f} ms cold ({cold_cpu * 1000:.0f} ms CPU), "
              f"{warm * 1000:.0f} ms warm")

    plain = timed(lambda: runs_frame(Store(store), "big").groupby(
        ["spec.data.label_noise", "spec.model.args.width"])["final.test_acc"].agg(["mean", "std"]))
    print(f"\nplain approach (Store.runs + pandas, as `runs export` does) for the sweep's aggregate: "
          f"{plain * 1000:.0f} ms = {plain / totals['sweep page']:.1f}× the sweep page's cold requests together")

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if args.no_browser or chromium is None:
        print("\n(browser timing skipped: no chromium)" if chromium is None else "")
    else:
        from playwright.sync_api import sync_playwright

        print("\nbrowser: navigation until drawn (sweep: plot, latest curves and table rows; run: its curves)")
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            page = b.new_page(viewport={"width": 1280, "height": 900})
            for label, path, first, sels in (
                    ("sweep page", "/sweep?group=big", "#runs tbody tr",
                     ["#sweep-plot .main-svg", "#latest-plot .main-svg .trace"]),
                    ("run page", f"/run?id={run_id}", "#spec", ["#run-figures .main-svg"])):
                for kind in ("cold" if label == "sweep page" else "first", "warm", "warm"):
                    t0 = time.perf_counter()
                    page.goto(url + path)
                    page.wait_for_selector(first, timeout=60_000)
                    t1 = time.perf_counter()
                    for s in sels:
                        page.wait_for_selector(s, timeout=60_000)
                    print(f"  {label} ({kind}): {(t1 - t0) * 1000:.0f} ms to its table, "
                          f"{(time.perf_counter() - t0) * 1000:.0f} ms to every figure drawn")
            b.close()
    server.shutdown()
    dash.close()


if __name__ == "__main__":
    main()
