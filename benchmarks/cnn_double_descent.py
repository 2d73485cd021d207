"""CNN deep double descent on MNIST-1D: the mnist1d notebook's channel sweep, (a) as the notebook runs it, (b) through
gaplab's pack engine (the conv path).

From greydanus/mnist1d, notebooks/deep-double-descent.ipynb: MNIST-1D made with ``make_dataset`` (16 000 samples,
train split 0.25: 4 000 train, 12 000 test), 15 % of the training labels replaced by a uniform random class, the
ConvBase ``nn.Sequential(Conv1d(1, c, 5, stride 2, padding 1), ReLU, Conv1d(c, c, 3, 2, 1), ReLU, Conv1d(c, c, 3, 2, 1),
ReLU, Flatten, Linear(5c, 10))`` at channel counts c = 2, 4, …, 28, 30, 35, …, 100, SGD(lr 0.01, momentum 0.9), a
shuffled DataLoader with batch 100, 500 epochs. Published test errors (one seed): 19.6 % at 10 channels, 33.8 % at 18,
27.7 % at 100.

(a) one model after another, as the notebook; (b) the same runs as gaplab runs (``cnn1d``: the same ConvBase), every
seed in one sweep, planned into packs by gaplab's planner and trained one pack after another in this process. Timings
are CPU seconds of this process (on a shared box wall time counts other processes' turns): per channel count, (a)'s own
time and (b)'s share of its pack's time (a pack's time split equally among its models, as the engine charges runs).
Useful FLOP/s count 6 × multiply-adds × examples × epochs of training (forward and backward), against the float32
GEMM peak measured in the same run on the same threads. Test errors are means over ``--seeds``.

Results are cached in ``--cache`` per (approach, channels, seed, epochs), each with the machine it ran on: a killed
run resumes, a rerun prints, and the table says when its entries come from more than one machine (their times do not
compare then). Processes may share one cache: each entry is merged into the file under a lock.

    python benchmarks/cnn_double_descent.py                   # the notebook's sweep, 500 epochs, 3 seeds (hours)
    python benchmarks/cnn_double_descent.py --quick           # 6 channel counts, 30 epochs, 3 seeds

The full sweep's loop (a) is ≈ 2 CPU hours and (b) ≈ 1 on a 2-core box; on both cores, the loop in two halves
side by side, then (b) and the table:

    python benchmarks/cnn_double_descent.py --only-plain --channels 2 4 6 8 10 12 14 16 18 20 22 24 26 28 30 35 40 45 &
    python benchmarks/cnn_double_descent.py --only-plain --channels 50 55 60 65 70 75 80 85 90 95 100; wait
    python benchmarks/cnn_double_descent.py
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from conv_packs import gemm_peak  # benchmarks/ is the script's folder, first on sys.path
from torch import nn
from torch.utils.data import DataLoader, Sampler, TensorDataset

from gaplab import rng
from gaplab.engine.batches import epoch_batches
from gaplab.engine.datacache import prepared_for, shared_pool
from gaplab.engine.pack import SHUFFLE, build_model, train_pack
from gaplab.engine.padding import flops_per_example
from gaplab.engine.planning import plan_packs
from gaplab.spec import RunSpec, parse_run

CHANNELS = [*range(2, 30, 2), *range(30, 101, 5)]
QUICK_CHANNELS = [2, 4, 10, 18, 40, 100]
PUBLISHED = {10: 19.64, 18: 33.80, 100: 27.7}  # the notebook's test errors (%), one seed, 500 epochs
DATA = {"name": "mnist1d", "args": {"num_samples": 16000, "train_split": 0.25}, "standardize": False}
NOISE = 0.15
N_TRAIN = 4000



def notebook_cnn(channels: int) -> nn.Module:
    """The notebook's ``get_model_cnn``."""
    return nn.Sequential(
        nn.Conv1d(1, channels, 5, stride=2, padding=1), nn.ReLU(),
        nn.Conv1d(channels, channels, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv1d(channels, channels, 3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(channels * 5, 10))


class GaplabOrder(Sampler[list[int]]):
    """The batches of one gaplab run as the notebook's DataLoader would yield them: epoch e shuffles the training
    indices with the run's own key (engine.batches.epoch_batches), so (a) and (b) see the same example order."""

    def __init__(self, train_idx: torch.Tensor, seed: int, batch: int) -> None:
        self.train_idx, self.seed, self.batch, self.epoch = train_idx, seed, batch, 0

    def __iter__(self) -> Iterator[list[int]]:
        idx, _, steps = epoch_batches([self.train_idx], self.batch, [rng.derive_key(self.seed, SHUFFLE, self.epoch)])
        self.epoch += 1
        n = len(self.train_idx)
        for s in range(int(steps[0])):
            yield idx[0, s, : min(self.batch, n - s * self.batch)].tolist()

    def __len__(self) -> int:
        return -(-len(self.train_idx) // self.batch)


def notebook_run(channels: int, epochs: int, seed: int) -> dict[str, float]:
    """The notebook's ``fit_model`` (its model, ``torch.optim.SGD``, a ``DataLoader``, one model at a time), on the
    draws of gaplab's run of the same seed: its noisy labels, its initial weights, its example order. Both sides then
    differ only in how the arithmetic runs, so their test errors compare the engine, not the draw (with the notebook's
    own draws, 3 seeds' means differ by up to 4 points at 30 epochs). Returns train and test error (%) and the run's
    CPU seconds."""
    spec = gaplab_specs([channels], epochs, seed)[0]
    ds = shared_pool(spec.data)
    prep = prepared_for(spec, ds)  # the run's label table: 15 % replaced by a uniform class (the notebook's noise)
    x, y = ds.x_train.unsqueeze(1), prep.labels
    t = time.process_time()
    model = notebook_cnn(channels)
    with torch.no_grad():
        for mine, theirs in zip(model.parameters(), build_model(spec, ds.input_shape, ds.output_dim).parameters(),
                                strict=True):
            mine.copy_(theirs)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loader = DataLoader(TensorDataset(x, y), batch_sampler=GaplabOrder(prep.train_idx, seed, 100))
    for _ in range(epochs):
        for xb, yb in loader:
            opt.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
    with torch.no_grad():
        xt, yt = x[prep.train_idx], y[prep.train_idx]
        train_err = float((model(xt).argmax(1) != yt).float().mean()) * 100
        test_err = float((model(ds.x_test.unsqueeze(1)).argmax(1) != ds.y_test).float().mean()) * 100
    return {"train_err": train_err, "test_err": test_err, "cpu": time.process_time() - t}


def gaplab_specs(channels: list[int], epochs: int, seed: int) -> list[RunSpec]:
    base = parse_run({"data": {**DATA, "label_noise": NOISE}, "model": {"name": "cnn1d"}, "seed": seed,
                      "optim": {"name": "sgd", "lr": 0.01, "momentum": 0.9, "batch_size": 100, "epochs": epochs},
                      "eval_every": epochs})
    return [base.replace(**{"model.args.channels": c}) for c in channels]


def gaplab_runs(channels: list[int], epochs: int, seeds: int, max_pack: int) -> dict[str, dict[str, float]]:
    """Every seed's runs as one sweep through the planner and the pack engine (seeds share packs, as in a sweep with
    a seed axis): per "channels|seed", errors (%) and the run's share of its pack's CPU time."""
    out: dict[str, dict[str, float]] = {}
    specs = [s for seed in range(seeds) for s in gaplab_specs(channels, epochs, seed)]
    for pack in plan_packs(specs, max_pack):
        t = time.process_time()
        results = train_pack(pack)
        cpu = time.process_time() - t
        for r in results:
            out[f"{r.spec.model.args['channels']}|{r.spec.seed}"] = {
                "train_err": 100 * (1 - r.final["train_acc"]), "test_err": 100 * (1 - r.final["test_acc"]),
                "cpu": cpu / len(results), "pack": len(results), "path": r.final.get("engine_path", "?")}
    return out


def useful_flops(channels: int, epochs: int) -> float:
    spec = gaplab_specs([channels], 1, 0)[0]
    return 6.0 * flops_per_example(spec, channels) * N_TRAIN * epochs


def machine() -> str:
    """This machine's CPU model (what makes cached CPU times comparable or not)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ×{os.cpu_count()}"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()} ×{os.cpu_count()}"


class Cache:
    """Results by key in a JSON file, merged into it under a lock after every entry (a killed run resumes; several
    processes may fill one cache)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, dict] = json.loads(path.read_text()) if path.exists() else {}

    def get(self, key: str) -> dict | None:
        return self.data.get(key)

    def put(self, key: str, value: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.path.exists():
                self.data = {**json.loads(self.path.read_text()), **self.data}
            self.data[key] = {**value, "machine": machine()}
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True))
            os.replace(tmp, self.path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=None, help="default 500 (30 with --quick)")
    ap.add_argument("--channels", type=int, nargs="+", default=None)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-pack", type=int, default=64)
    ap.add_argument("--quick", action="store_true", help=f"channels {QUICK_CHANNELS}, 30 epochs")
    ap.add_argument("--cache", type=Path, default=Path(__file__).parent / "results" / "cnn_double_descent.json")
    ap.add_argument("--skip-plain", action="store_true", help="only (b)")
    ap.add_argument("--only-plain", action="store_true",
                    help="only (a), into the cache (e.g. two halves of --channels side by side), no table")
    a = ap.parse_args()
    epochs = a.epochs or (30 if a.quick else 500)
    channels = a.channels or (QUICK_CHANNELS if a.quick else CHANNELS)
    torch.set_num_threads(a.threads)
    shared_pool(parse_run({"data": DATA}).data)  # generate the data before timing anything
    peak = gemm_peak()
    notebook_run(2, 1, 0)  # warm-up: first calls pay for kernel and allocator set-up, in both approaches
    gaplab_runs([2], 1, 1, a.max_pack)
    cache = Cache(a.cache)
    loop: dict[tuple[int, int], dict] = {}
    key = f"gaplab|{epochs}|{a.seeds}|{','.join(map(str, channels))}|{a.max_pack}|{a.threads}"
    if cache.get(key) is None and not a.only_plain:
        cache.put(key, gaplab_runs(channels, epochs, a.seeds, a.max_pack))
    got = dict(cache.get(key) or {})
    machines = set() if a.only_plain else {got.pop("machine", "unrecorded")}
    ours = {(int(k.split("|")[0]), int(k.split("|")[1])): v for k, v in got.items()}
    peak_b = gemm_peak()  # on a shared box the peak drifts with the load: measured again right after (b)
    for seed in range(a.seeds if not a.skip_plain else 0):
        for c in channels:
            lkey = f"loop-gaplab-draws|{epochs}|{seed}|{c}|{a.threads}"
            lgot = cache.get(lkey)
            if lgot is None:
                cache.put(lkey, notebook_run(c, epochs, seed))
                lgot = cache.data[lkey]
                if a.only_plain:
                    print(f"(a) {c} channels, seed {seed}: {lgot['cpu']:.1f} CPU s", flush=True)
            machines.add(lgot.get("machine", "unrecorded"))
            loop[(c, seed)] = lgot
    if a.only_plain:
        return
    seeds = range(a.seeds)
    peaks = f"{peak:.1f} before, {peak_b:.1f} after (b), {gemm_peak():.1f} at the end"
    peak = max(peak, peak_b)  # shares against the higher: the conservative reading
    print(f"CNN double descent (mnist1d notebook), {epochs} epochs, {len(channels)} channel counts × {a.seeds} seeds, "
          f"{a.threads} thread(s); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"float32 GEMM peak {peaks} GFLOP/s per CPU second (shares of the higher before/after (b)); cached results "
          f"count as measured when they ran: delete {a.cache.name} for one fresh run")
    if len(machines) > 1:
        print(f"NOTE: the cached entries come from {len(machines)} machines ({'; '.join(sorted(machines))}): their "
              "CPU times do not compare; only the test errors do")
    print("channels | (a) loop CPU s | (b) gaplab CPU s | (a)/(b) | (b) useful GFLOP/s (% peak) | "
          "test err % (a) | (b) | (b)-(a) | train err % (a) | (b) | published")
    tot_a = tot_b = tot_f = 0.0
    rows: dict[int, tuple[float, float, float]] = {}  # channels -> (a)/(b), (b) useful FLOPs, (b) CPU s
    for c in channels:
        fl = useful_flops(c, epochs)
        t_b = statistics.mean(ours[(c, s)]["cpu"] for s in seeds)
        e_b = statistics.mean(ours[(c, s)]["test_err"] for s in seeds)
        tr_b = statistics.mean(ours[(c, s)]["train_err"] for s in seeds)
        tot_b += t_b * a.seeds
        tot_f += fl * a.seeds
        if loop:
            t_a = statistics.mean(loop[(c, s)]["cpu"] for s in seeds)
            e_a = statistics.mean(loop[(c, s)]["test_err"] for s in seeds)
            tr_a = statistics.mean(loop[(c, s)]["train_err"] for s in seeds)
            tot_a += t_a * a.seeds
        else:
            t_a = e_a = tr_a = float("nan")
        pub = f"{PUBLISHED[c]:.1f}" if c in PUBLISHED and epochs == 500 else "—"
        gf = fl / t_b / 1e9
        rows[c] = (t_a / t_b, fl * a.seeds, t_b * a.seeds)
        print(f"{c:8d} | {t_a:14.1f} | {t_b:16.1f} | {t_a / t_b:6.1f}x | {gf:8.1f} ({gf / peak:4.0%})          "
              f"| {e_a:14.1f} | {e_b:5.1f} | {e_b - e_a:+7.1f} | {tr_a:15.1f} | {tr_b:5.1f} | {pub}")
    paths = sorted({v["path"] for v in ours.values()})
    print(f"whole sweep: (a) {tot_a:.0f} CPU s, (b) {tot_b:.0f} CPU s, (a)/(b) {tot_a / tot_b:.1f}x; (b) "
          f"{tot_f / tot_b / 1e9:.1f} useful GFLOP/s = {tot_f / tot_b / 1e9 / peak:.0%} of peak; engine path(s): "
          f"{', '.join(paths)}")
    print(must_show(rows, tot_a / tot_b if loop else float("nan"), peak))


def must_show(rows: dict[int, tuple[float, float, float]], whole: float, peak: float) -> str:
    """The issue's three numbers from one run: (b)'s share of the GEMM peak at the largest channel counts (those at
    ≥ 80 % of the largest), (a)/(b) at the smallest channel count, and (a)/(b) over the whole sweep."""
    top = [c for c in rows if c >= 0.8 * max(rows)]
    share = sum(rows[c][1] for c in top) / sum(rows[c][2] for c in top) / 1e9 / peak
    lo = min(rows)
    return (f"must show: (b) at channels {','.join(map(str, top))} = {share:.0%} of the GEMM peak (bar 50 %); "
            f"(a)/(b) at {lo} channels = {rows[lo][0]:.1f}x (bar 5x); whole sweep (a)/(b) = {whole:.1f}x (bar 2x)")

if __name__ == "__main__":
    main()
