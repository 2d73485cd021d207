"""The user-model zoo (tests/models/zoo) in packs: which path each model takes and its step time per model against
training it alone in a plain PyTorch loop, measured in one run.

    python benchmarks/user_models.py                 # K = 8, batch 64, 1 thread
    python benchmarks/user_models.py --k 16 --threads 2

Plain loop: the user's unmodified ``nn.Module``, ``torch.optim.SGD``, ``F.cross_entropy``, one model at a time.
Pack: gaplab's ``Pack.step`` on K copies (different seeds). Both time optimizer steps only (no evaluation).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from gaplab.api.specs import build_run
from gaplab.engine.batches import epoch_batches
from gaplab.engine.datacache import prepared_for
from gaplab.engine.pack import Pack

ZOO = Path(__file__).resolve().parents[1] / "tests" / "models" / "zoo"
MODELS = {"mlp": "mnist1d", "cnn": "digits", "SmallResNet": "digits", "SequenceTransformer": "mnist1d",
          "SequenceGRU": "mnist1d", "Classifier": "mnist1d"}


def plain_step_ms(spec, steps: int) -> float:
    """Milliseconds per step of the textbook loop on the user's own model."""
    sys.path.insert(0, str(ZOO))
    import zoo

    prep = prepared_for(spec)
    ds = prep.dataset
    name = spec.model.name.rsplit(":", 1)[1]
    fn = getattr(zoo, name)
    from gaplab.models.user import MAPPED, _signature

    params = _signature(fn).parameters
    model = fn(**{k: f(ds.input_shape, ds.output_dim) for k, f in MAPPED.items() if k in params})
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    idx, w, _ = epoch_batches([prep.train_idx], spec.optim.batch_size, [0])
    model.train()

    def step(s: int) -> None:
        sel = idx[0, s % idx.shape[1]]
        loss = F.cross_entropy(model(ds.x_train[sel]), prep.labels[sel])
        opt.zero_grad()
        loss.backward()
        opt.step()

    for s in range(3):
        step(s)
    t = time.perf_counter()
    for s in range(steps):
        step(s)
    return (time.perf_counter() - t) / steps * 1e3


def pack_step_ms(specs, steps: int) -> tuple[float, str]:
    """Milliseconds per step of a pack of len(specs) models, and the path it took."""
    pack = Pack(specs)
    idx, w, per_model = epoch_batches(pack.data.train_idx, specs[0].optim.batch_size, list(range(pack.k)))
    active = torch.ones(pack.k, dtype=torch.bool)
    n = idx.shape[1]
    for s in range(3):
        pack.step(idx[:, s % n], w[:, s % n], active, 0, s, 1.0, per_model)
    t = time.perf_counter()
    for s in range(steps):
        pack.step(idx[:, s % n], w[:, s % n], active, 0, s, 1.0, per_model)
    return (time.perf_counter() - t) / steps * 1e3, pack.path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--k", type=int, default=8, help="models per pack")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(f"K = {a.k}, batch {a.batch}, {a.threads} thread(s), SGD momentum; ms per optimizer step")
    print(f"{'model':<22}{'path':<7}{'plain loop, 1 model':>21}{'pack, per model':>17}{'pack vs loop':>14}")
    for name, data in MODELS.items():
        spec = build_run({"data": {"name": data}, "model": {"name": f"{ZOO}/zoo.py:{name}"},
                          "optim": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "batch_size": a.batch}})
        plain = plain_step_ms(spec, a.steps)
        packed, path = pack_step_ms([spec.replace(seed=i) for i in range(a.k)], a.steps)
        per = packed / a.k
        print(f"{name:<22}{path:<7}{plain:>21.2f}{per:>17.2f}{plain / per:>13.2f}×")


if __name__ == "__main__":
    main()
