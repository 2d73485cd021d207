"""Smoke test of benchmarks/pack_scaling.py: a tiny grid writes every cell, the table and the figure."""

from __future__ import annotations

import gc
import importlib.util
import json
from pathlib import Path

import pytest
import torch

from gaplab.engine.pack import Pack

_path = Path(__file__).resolve().parents[2] / "benchmarks" / "pack_scaling.py"
_spec = importlib.util.spec_from_file_location("pack_scaling", _path)
assert _spec is not None and _spec.loader is not None
pack_scaling = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pack_scaling)


def test_quick_grid_writes_every_cell(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    threads = torch.get_num_threads()
    try:
        pack_scaling.main(["--quick", "--widths", "8", "16", "--ks", "1", "2", "--steps", "2", "--threads", "1",
                           "--json", str(tmp_path / "r.json"), "--plot", str(tmp_path / "r.png")])
    finally:
        torch.set_num_threads(threads)
    assert gc.isenabled()  # collection is paused only inside the timed windows
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["peak_gflops"] > 0 and set(res["bmm_gflops"]) == {"8", "16"}
    assert all(v > 0 for v in res["bmm_gflops"].values())
    cells = {(c["width"], c["k"], c["approach"]): c for c in res["cells"]}
    assert set(cells) == {(w, k, a) for w in (8, 16) for k in (1, 2) for a in ("plain", "vmap", "fused")}
    for (w, _k, _a), c in cells.items():
        assert c["gflops"] > 0 and c["steps_per_s"] > 0 and c["seconds"] > 0 and c["threads"] >= 1
        # both rates come from the same time: GFLOP/s = model-steps/s × 6 × batch × multiply-adds
        assert c["gflops"] == pytest.approx(c["steps_per_s"] * 6 * 100 * (40 * w + w * w + 10 * w) / 1e9)
    # the plain loop is timed once per width and scaled by K: the same throughput at every K
    assert cells[(8, 1, "plain")]["steps_per_s"] == pytest.approx(cells[(8, 2, "plain")]["steps_per_s"])
    table = capsys.readouterr().out
    assert "| 16 | 2 |" in table and "n/a" not in table
    assert (tmp_path / "r.png").stat().st_size > 10_000


def test_cnn1d_grid_times_the_conv_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    threads = torch.get_num_threads()
    try:
        pack_scaling.main(["--family", "cnn1d", "--quick", "--channels", "2", "--ks", "1", "2", "--steps", "2",
                           "--threads", "1", "--clock", "cpu", "--json", str(tmp_path / "c.json"),
                           "--plot", str(tmp_path / "c.png")])
    finally:
        torch.set_num_threads(threads)
    res = json.loads((tmp_path / "c.json").read_text())
    assert res["family"] == "cnn1d" and res["clock"] == "cpu" and res["bmm_gflops"]["2"] > 0
    assert res["peak_n"] == 1024 and len(res["load_average"]) == 2
    cells = {(c["k"], c["approach"]): c for c in res["cells"]}
    assert set(cells) == {(k, a) for k in (1, 2) for a in ("plain", "vmap", "conv")}
    # the CNN's multiply-adds at 2 channels: convolutions 19·2·1·5 + 10·2·2·3 + 5·2·2·3, head 5·2·10
    macs = 190 + 120 + 60 + 100
    # the plain loop's nn.Sequential is the same network as gaplab's cnn1d: same parameter count
    plain, _, _ = pack_scaling.plain_cnn(2, torch.zeros(4, 40), torch.zeros(4, dtype=torch.long), 0)
    spec = pack_scaling.base_spec(pack_scaling.FAMILIES["cnn1d"], 2, 1)
    assert sum(p.numel() for p in plain.parameters()) == Pack([spec]).flat.shape[1]
    for c in cells.values():
        assert c["gflops"] > 0 and c["threads"] >= 1
        assert c["gflops"] == pytest.approx(c["steps_per_s"] * 6 * 100 * macs / 1e9)
    table = capsys.readouterr().out
    assert "| channels | K | plain GFLOP/s | vmap GFLOP/s | conv GFLOP/s |" in table and "n/a" not in table
    assert "times are this process's CPU seconds" in table
    assert (tmp_path / "c.png").stat().st_size > 10_000
