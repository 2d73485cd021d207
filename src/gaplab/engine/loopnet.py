"""The fallback path: the pack's models run one after another (``functional_call`` on each model's slice).

For a forward that ``vmap`` cannot run exactly: a random operation outside gaplab's counter-based layers (e.g. the
attention dropout inside ``nn.MultiheadAttention``, ``torch.rand`` in a user's forward) or an operation with no batching
rule (``nn.GRU``, ``nn.LSTM``). Each model's random operations draw from torch's generator seeded by (its run's key,
its step), so its numbers are those it gets alone, and reproducible by seed. Slower than vmap by about the pack size
on small models; ``why_not_vmap`` says which operation forced it.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call
from torch.utils._python_dispatch import TorchDispatchMode

from gaplab import rng
from gaplab.engine.flat import FlatLayout
from gaplab.engine.vmapnet import StepContext, VmapNet, backward_into
from gaplab.phases import phase


class _RandomOps(TorchDispatchMode):
    """Records the ATen operations tagged as drawing from torch's generator (``nondeterministic_seeded``)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        if torch.Tag.nondeterministic_seeded in func.tags and str(func.overloadpacket) not in self.seen:
            self.seen.append(str(func.overloadpacket))
        return func(*args, **(kwargs or {}))


def why_not_vmap(net: VmapNet, flat: torch.Tensor, x: torch.Tensor) -> str | None:
    """None when one training step of the pack runs under ``vmap``; else the reason, naming the operation.

    Tried on two rows of the pool with copies of the buffers, so the pack's running statistics do not move."""
    k = flat.shape[0]
    xb = x[:2].unsqueeze(0).expand(k, *x[:2].shape).contiguous()
    w = torch.ones(k, xb.shape[1], device=flat.device)
    params = {n: v.detach().clone().requires_grad_(True) for n, v in net.layout.views(flat).items()}
    saved = net.buffers
    net.buffers = {n: b.clone() for n, b in saved.items()}
    try:
        out = net.outputs(params, xb, torch.zeros(k, dtype=torch.int64, device=flat.device), w)
        torch.autograd.grad(out.float().sum(), list(params.values()), allow_unused=True)
        return None
    except RuntimeError as e:
        msg = str(e)
        if "random operation" in msg:
            with _RandomOps() as mode:
                one = {n: v[0].detach() for n, v in params.items()}
                functional_call(net.base, (one, {n: b[0].clone() for n, b in saved.items()}), (x[:2],))
            ops = ", ".join(mode.seen) or "a random operation"
            return f"its forward calls {ops} (random, outside gaplab's dropout layers)"
        if "Batching rule not implemented" in msg or "could not generate a fallback" in msg:
            op = msg.split("for ", 1)[-1].split(".", 1)[0] if "for aten::" in msg else "an operation"
            return f"{op} has no vmap batching rule"
        raise
    finally:
        net.buffers = saved
        net.ctx.clear()


class LoopNet:
    """Same interface as VmapNet; models run one at a time, each seeded by (its key, its step counter)."""

    def __init__(self, base: nn.Module, layout: FlatLayout, buffers: dict[str, torch.Tensor],
                 keys: list[int]) -> None:
        self.base, self.layout, self.buffers = base, layout, buffers
        self.keys = list(keys)
        self.ctx = StepContext(base, buffers)
        dev = next(iter(buffers.values())).device if buffers else torch.device("cpu")
        self._devices = [dev] if dev.type == "cuda" else []

    def select(self, keep: torch.Tensor) -> None:
        """Keep only the models at indices ``keep`` (compaction)."""
        self.keys = [self.keys[i] for i in keep.tolist()]

    def _one(self, params: dict[str, torch.Tensor], k: int, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.base, ({n: v[k] for n, v in params.items()},
                                           {n: b[k] for n, b in self.buffers.items()}), (x,))

    @torch.no_grad()
    def forward(self, flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Outputs (K, N, ...) in evaluation mode; ``x`` (N, ...) is shared by every model."""
        self.base.eval()
        try:
            views = self.layout.views(flat)
            return torch.stack([self._one(views, k, x) for k in range(flat.shape[0])])
        finally:
            self.base.train()

    def loss_and_grad(self, flat: torch.Tensor, grad: torch.Tensor, x: torch.Tensor, target: torch.Tensor,
                      w: torch.Tensor, kind: str, counter: torch.Tensor) -> torch.Tensor:
        """As ``VmapNet.loss_and_grad``, one model after another."""
        params = {n: v.detach().requires_grad_(True) for n, v in self.layout.views(flat).items()}
        outs = []
        with phase("forward"):
            for k in range(flat.shape[0]):
                with rng.seeded(rng.derive_key(self.keys[k], int(counter[k])), self._devices):
                    self.ctx.set(counter[k], w[k])
                    try:
                        outs.append(self._one(params, k, x[k]))
                    finally:
                        self.ctx.clear()
        return backward_into(torch.stack(outs), target, w, kind, params, grad)
