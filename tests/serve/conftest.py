"""Edge-case stores for the dashboard tests: empty, one run, NaN/inf losses, diverged runs, a script-named
run and group, a 10,000-run store (rows inserted directly), and a server over any of them."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gaplab.serve.server import make_server
from gaplab.serve.synthetic import build_store
from gaplab.spec import RunSpec
from gaplab.store.db import Store

SCRIPT = "<script>alert(1)</script>"


def history(epochs: int, loss0: float = 2.0, bad: Any = None, from_epoch: int = 99) -> list[dict[str, Any]]:
    """A smooth per-epoch history; from ``from_epoch`` on the losses are ``bad`` (NaN, inf) when given."""
    rows = []
    for e in range(1, epochs + 1):
        tl, vl = loss0 / e, loss0 / e + 0.3
        if bad is not None and e >= from_epoch:
            tl = vl = bad
        rows.append({"epoch": e, "train_loss": tl, "test_loss": vl, "train_acc": 1 - 0.5 / e, "test_acc": 0.8 - 0.3 / e,
                     "gap_loss": vl - tl, "gap_acc": 0.2, "wnorm/net.0.weight": 3.0 + e / 10})
    return rows


def spec(**dotted: Any) -> tuple[str, dict[str, Any]]:
    s = RunSpec().replace(**dotted)
    return s.run_id, s.normalized()


def save(db: Store, group: str, n_hist: int = 5, bad: Any = None, status: str = "done", final_extra: dict | None = None,
         **dotted: Any) -> str:
    rid, sp = spec(**dotted)
    h = history(n_hist, bad=bad, from_epoch=3)
    final = {k: v for k, v in h[-1].items() if k != "epoch"} | (final_extra or {})
    db.save_run(rid, sp, status, h, final, 1.0, None if status == "done" else "loss became non-finite in epoch 3",
                groups=[group])
    return rid


def sweep_store(path: Path) -> dict[str, Any]:
    """A 3 widths × 2 l2 × 3 seeds sweep with known final accuracies (width/1000 + l2 + seed/100)."""
    db = Store(path)
    ids = []
    for w in (16, 64, 256):
        for l2 in (0.0, 0.1):
            for s in (0, 1, 2):
                rid, sp = spec(**{"model.args.width": w, "reg.l2": l2, "seed": s})
                h = history(4)
                final = {"test_acc": w / 1000 + l2 + s / 100, "test_loss": 1.0 - w / 1000, "train_acc": 0.99}
                db.save_run(rid, sp, "done", h, final, 1.0, groups=["widths"])
                ids.append(rid)
    db.close()
    return {"path": path, "ids": ids}


@pytest.fixture(scope="session")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every edge-case store, built once per session."""
    tmp = tmp_path_factory.mktemp("serve-stores")
    out: dict[str, Path] = {}
    out["empty"] = tmp / "empty.db"
    Store(out["empty"]).close()
    out["one"] = tmp / "one.db"
    with Store(out["one"]) as db:
        save(db, "single", **{"model.args.width": 32})
    out["sweep"] = sweep_store(tmp / "sweep.db")["path"]
    with Store(out["sweep"]) as db:  # a stored study, as the static report shows it
        folder = tmp / "studies" / "polyfit"
        folder.mkdir(parents=True)
        from PIL import Image

        Image.new("RGB", (320, 200), (40, 90, 160)).save(folder / "fit.png")
        db.save_study("polyfit", "quick", 0, {
            "study": "polyfit", "claim_id": "C1", "claim": "a claim", "held": True, "summary": "it held " + SCRIPT,
            "figures": ["fit.png"], "numbers": {"gap": 0.5}, "command": "gaplab study polyfit", "preset": "quick",
            "seed": 0, "runs": [], "seconds": 1.0, "params": {}}, str(folder))
    out["odd"] = tmp / "odd.db"
    with Store(out["odd"]) as db:  # NaN and inf losses, diverged and failed runs, a script-named everything
        save(db, "odd", bad=math.nan, status="diverged", **{"model.args.width": 8})
        save(db, "odd", bad=math.inf, status="diverged", **{"model.args.width": 16})
        save(db, "odd", bad=-math.inf, **{"model.args.width": 24})
        save(db, "odd", **{"model.args.width": 32, "optim.lr": 1e-3})
        save(db, SCRIPT, final_extra={SCRIPT: 1.5}, **{"model.args.width": 48, "model.args.activation": SCRIPT,
                                                         "data.target": SCRIPT})
        save(db, SCRIPT, final_extra={SCRIPT: 2.5}, **{"model.args.width": 48, "model.args.activation": "relu",
                                                         "data.target": SCRIPT})
        rid, sp = spec(**{"model.args.width": 64})
        db.save_failed(rid, sp, "RuntimeError: " + SCRIPT)
        db.tag("odd", [rid])
    out["big"] = tmp / "big.db"
    build_store(out["big"], n_runs=10_000, epochs=3)
    return out


class Served:
    def __init__(self, store: Path) -> None:
        self.server, self.dash = make_server(store, "127.0.0.1", 0)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.dash.close()


@pytest.fixture(scope="session")
def serve_store() -> Iterator[Any]:
    """``serve_store(path)`` → a running server (one per store, shut down at the end of the session)."""
    running: dict[Path, Served] = {}

    def start(path: Path) -> Served:
        if path not in running:
            running[path] = Served(path)
        return running[path]

    yield start
    for s in running.values():
        s.close()
