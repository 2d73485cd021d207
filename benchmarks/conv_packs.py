"""Conv packs: one training step of K ``cnn1d``/``cnn2d``/``resnet`` models or a user's ``nn.Sequential`` CNN as a
plain loop, a vmap pack and the conv path (engine.conv).

Two tables, measured in one run (same process, same load; the machine's load average is printed — quote ratios):
1. per conv layer shape, forward + backward of K models as im2col + ``bmm`` (what engine.conv does in 1-D) against one
   grouped convolution (``groups = K``, autograd backward; what it does in 2-D, on channels-last tensors);
2. per channel count, a whole SGD step (momentum 0.9, batch 100): K ``nn.Module``s one after another with
   ``torch.optim.SGD`` (the plain loop), a pack on the vmap path, a pack on the conv path — and the conv path's useful
   GFLOP/s against the float32 GEMM peak measured here.
Timings are this process's CPU time (on a shared box, wall time counts the other processes' turns; with one thread
CPU time is the wall time of an idle box), interleave the approaches and keep the median of ``--repeats`` rounds.

    python benchmarks/conv_packs.py                      # cnn1d channels 4 16 64, cnn2d 8 32; K 16, 1 thread
    python benchmarks/conv_packs.py --channels 4 16 64 --k 16 --threads 2
    python benchmarks/conv_packs.py --channels --cnn2d-channels --resnet-channels 8 --zoo-channels 8   # some rows
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from gaplab.api.specs import build_run
from gaplab.engine.batches import epoch_batches
from gaplab.engine.conv import Conv, ConvNet, _col2im, _im2col, _weight_grad, _weight_matrix, out_shape
from gaplab.engine.pack import Pack, build_model
from gaplab.spec import RunSpec

DATA = {"name": "mnist1d", "args": {"num_samples": 16000, "train_split": 0.25}, "standardize": False}
BATCH = 100


def _median_ms(fns: dict[str, Callable[[], object]], repeats: int, inner: int) -> dict[str, float]:
    """Median milliseconds per call of each function, the functions interleaved round by round."""
    for f in fns.values():  # warm-up
        for _ in range(2):
            f()
    times: dict[str, list[float]] = {n: [] for n in fns}
    for _ in range(repeats):
        for n, f in fns.items():
            t = time.process_time()
            for _ in range(inner):
                f()
            times[n].append((time.process_time() - t) / inner * 1e3)
    return {n: statistics.median(v) for n, v in times.items()}


def gemm_peak(repeats: int = 5) -> float:
    """float32 GFLOP/s (per CPU second) of a 1024³ matrix product on this process's threads (best of ``repeats``)."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    best = 0.0
    for _ in range(repeats):
        t = time.process_time()
        torch.mm(a, b)
        best = max(best, 2 * 1024 ** 3 / max(time.process_time() - t, 1e-9) / 1e9)
    return best


def _layer_shapes(channels: list[int], channels_2d: list[int]) -> list[tuple[tuple[int, ...], int, int, Conv]]:
    """(input spatial shape, in channels, out channels, conv) of every conv layer of cnn1d (MNIST-1D) and cnn2d
    (8x8 digits) at the given channel counts."""
    out = []
    for ch in channels:
        length, c_in = 40, 1
        for kern in (5, 3, 3):
            c = Conv("w", "b", (kern,), (2,), (1,))
            out.append(((length,), c_in, ch, c))
            (length,), c_in = out_shape((length,), c), ch
    for ch in channels_2d:
        c = Conv("w", "b", (3, 3), (1, 1), (1, 1))
        out += [((8, 8), 1, ch, c), ((8, 8), ch, ch, c)]
    return out


def layer_table(channels: list[int], channels_2d: list[int], k: int, repeats: int) -> list[tuple[str, float, float]]:
    """(shape, im2col+bmm ms, grouped conv ms) per conv layer shape."""
    rows = []
    for spatial, c_in, ch, c in _layer_shapes(channels, channels_2d):
        outs = out_shape(spatial, c)
        w = torch.randn(k, ch, c_in, *c.kernel) * 0.1
        b = torch.randn(k, ch) * 0.1
        h_cl = torch.randn(k, BATCH, *spatial, c_in)  # channels-last, as engine.conv keeps 1-D activations
        dz = torch.randn(k, BATCH * math.prod(outs), ch)

        def bmm(h_cl=h_cl, w=w, b=b, dz=dz, c=c, spatial=spatial) -> None:
            col, wm = _im2col(h_cl, c), _weight_matrix(w)
            torch.baddbmm(b.unsqueeze(1), col, wm.transpose(1, 2))
            _weight_grad(col, dz, w.shape).contiguous()
            _col2im(torch.bmm(dz, wm), c, BATCH, spatial)

        conv = F.conv1d if len(spatial) == 1 else F.conv2d
        fmt = torch.channels_last if len(spatial) == 2 else torch.contiguous_format  # as engine.conv keeps 2-D
        xg = torch.randn(BATCH, k * c_in, *spatial).contiguous(memory_format=fmt).requires_grad_(True)
        wg = w.reshape(k * ch, c_in, *c.kernel).contiguous(memory_format=fmt).requires_grad_(True)
        bg = b.reshape(-1).clone().requires_grad_(True)
        gout = torch.randn(BATCH, k * ch, *outs).contiguous(memory_format=fmt)

        def grouped(xg=xg, wg=wg, bg=bg, gout=gout, c=c, conv=conv) -> None:
            out = conv(xg, wg, bg, stride=c.stride, padding=c.padding, groups=k)
            torch.autograd.grad(out, (xg, wg, bg), gout)

        ms = _median_ms({"bmm": bmm, "grouped": grouped}, repeats, 5)
        k_s = "x".join(map(str, c.kernel))
        rows.append((f"{c_in:3d}->{ch:3d} k{k_s} in {'x'.join(map(str, spatial))}", ms["bmm"], ms["grouped"]))
    return rows


ZOO_CNN = Path(__file__).parents[1] / "tests" / "models" / "zoo" / "zoo.py"


def _specs(model: str, ch: int, k: int, data: dict | None = None) -> list[RunSpec]:
    """K runs of ``model`` at ``ch`` channels (gaplab's, or the user zoo's Sequential CNN ``zoo-cnn``)."""
    data = data or (DATA if model == "cnn1d" else {"name": "digits"})
    name = f"{ZOO_CNN}:cnn" if model == "zoo-cnn" else model
    base = build_run({"data": data, "model": {"name": name, "args": {"channels": ch}},
                      "optim": {"name": "sgd", "lr": 0.01, "momentum": 0.9, "batch_size": BATCH, "epochs": 1}}, {})
    return [base.replace(seed=i) for i in range(k)]


def _pack_step(pack: Pack) -> Callable[[], object]:
    idx, w, per_model = epoch_batches(pack.data.train_idx, BATCH, list(range(pack.k)))
    active = torch.ones(pack.k, dtype=torch.bool)
    state = {"s": 0}

    def step() -> None:
        s = state["s"] = state["s"] + 1
        pack.step(idx[:, s % idx.shape[1]], w[:, s % idx.shape[1]], active, 0, s, 1.0, per_model)

    return step


def _loop_step(specs: list[RunSpec], pack: Pack) -> Callable[[], object]:
    """The plain approach: each model an nn.Module with its own torch.optim.SGD, one step after another."""
    ds = pack.data.ds
    models = [build_model(s, ds.input_shape, ds.output_dim) for s in specs]
    opts = [torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9) for m in models]
    x, y = pack.data.x_pool[:BATCH * 8], pack.data.true_labels[:BATCH * 8]
    state = {"s": 0}

    def step() -> None:
        s = state["s"] = (state["s"] + 1) % 8
        xb, yb = x[s * BATCH:(s + 1) * BATCH], y[s * BATCH:(s + 1) * BATCH]
        for m, o in zip(models, opts, strict=True):
            o.zero_grad(set_to_none=True)
            F.cross_entropy(m(xb), yb).backward()
            o.step()

    return step


def macs_per_example(pack: Pack) -> int:
    """Multiply-adds of one forward pass (convolutions and head)."""
    assert isinstance(pack.net, ConvNet)
    return pack.net.macs_per_example()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--channels", type=int, nargs="*", default=[4, 16, 64])
    ap.add_argument("--cnn2d-channels", type=int, nargs="*", default=[8, 32],
                    help="cnn2d (avg pool) on 8x8 digits at these channel counts")
    ap.add_argument("--resnet-channels", type=int, nargs="*", default=[8, 16],
                    help="resnet (batch norm, 2 residual blocks) on MNIST-1D and on digits at these channel counts")
    ap.add_argument("--zoo-channels", type=int, nargs="*", default=[8],
                    help="the user zoo's nn.Sequential CNN (batch norm, channel dropout, max pool) on digits")
    ap.add_argument("--k", type=int, default=16, help="models in the pack")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=7)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    peak = gemm_peak()
    print(f"{a.k} models per pack, batch {BATCH}, cnn1d on MNIST-1D (1x40), cnn2d on digits (1x8x8), "
          f"{a.threads} thread(s); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; GEMM peak {peak:.0f} GFLOP/s")
    print("\nper conv layer, forward + backward of K models (ms): im2col+bmm | grouped conv | grouped/bmm")
    for shape, t_bmm, t_grp in layer_table(a.channels, a.cnn2d_channels, a.k, a.repeats):
        print(f"  {shape:<32} {t_bmm:8.3f} | {t_grp:8.3f} | {t_grp / t_bmm:5.2f}x")
    print("\none SGD step of the K models (ms): loop | vmap | conv ; loop/conv, vmap/conv ; conv GFLOP/s (% of peak)")
    cases = [("cnn1d", ch, None) for ch in a.channels] + [("cnn2d", ch, None) for ch in a.cnn2d_channels]
    cases += [("resnet", ch, d) for ch in a.resnet_channels for d in (DATA, {"name": "digits"})]
    cases += [("zoo-cnn", ch, None) for ch in a.zoo_channels]
    for model, ch, data in cases:
        specs = _specs(model, ch, a.k, data)
        conv, vmap = Pack(specs, path="conv"), Pack(specs, path="vmap")
        assert Pack(specs[:1]).path == "conv"
        fns = {"loop": _loop_step(specs, conv), "vmap": _pack_step(vmap), "conv": _pack_step(conv)}
        ms = _median_ms(fns, a.repeats, 3)
        gflops = 6 * macs_per_example(conv) * BATCH * a.k / (ms["conv"] / 1e3) / 1e9
        label = f"{model}-{'1d' if data is DATA else '2d'}" if model == "resnet" else model
        print(f"  {label:<9} channels {ch:3d}: {ms['loop']:8.2f} | {ms['vmap']:8.2f} | {ms['conv']:8.2f} ; "
              f"{ms['loop'] / ms['conv']:5.2f}x, {ms['vmap'] / ms['conv']:5.2f}x ; "
              f"{gflops:6.1f} ({gflops / peak:.0%})")

if __name__ == "__main__":
    main()
