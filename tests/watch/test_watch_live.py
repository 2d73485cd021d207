"""``gaplab.watch`` sees functional ReLUs (``F.relu`` in a forward) through the doctor's probe, fires "loss explodes"
inside the epoch it happens in when it has the step losses (``w.step`` or ``w.track``), and its per-layer
ratios and gradient norms get their own run-page panels."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import gaplab
from gaplab.report.figures import run_figures


class Functional(nn.Module):
    """A forward that calls F.relu and torch.relu (no nn.ReLU module for a hook to see); ``dead`` units of the
    first layer get a bias so negative they never fire."""

    def __init__(self, dead: int = 0) -> None:
        super().__init__()
        self.a, self.b, self.c = nn.Linear(8, 16), nn.Linear(16, 16), nn.Linear(16, 2)
        with torch.no_grad():
            self.a.bias[:dead] = -1e4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c(torch.relu(self.b(F.relu(self.a(x)))))


def _data(n: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 8, generator=g)
    return x, (x[:, 0] > 0).long()


def test_functional_relus_are_counted_per_call_site() -> None:
    torch.manual_seed(0)
    model = Functional(dead=8)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    x, y = _data()
    with gaplab.watch(model, opt, store=None, name="fn", warn=False) as w:
        for _ in range(2):
            for i in range(0, len(x), 32):
                loss = F.cross_entropy(model(x[i:i + 32]), y[i:i + 32])
                opt.zero_grad()
                loss.backward()
                opt.step()
            row = w.epoch(train_loss=loss)
    assert set(k for k in row if k.startswith("dead/")) == {"dead/relu 1", "dead/relu 2"}
    assert row["dead/relu 1"] >= 0.5  # the 8 of 16 units whose bias is −10⁴
    assert 8 / 32 <= row["dead_relu"] < 1


def test_an_explosion_inside_the_first_epoch_warns_before_it_ends() -> None:
    torch.manual_seed(0)
    model = Functional()
    opt = torch.optim.SGD(model.parameters(), lr=50.0)  # far too high: the loss explodes within a few steps
    x, y = _data(2048)
    with gaplab.watch(model, opt, store=None, name="hot", warn=False) as w:
        criterion = w.track(nn.CrossEntropyLoss())
        for i in range(0, len(x), 16):  # one epoch of 128 steps; w.epoch is never reached while it explodes
            loss = criterion(model(x[i:i + 16]), y[i:i + 16])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if w.warnings:
                break
        assert w.history == [] and len(w.step_losses) < 128
        assert "epoch 1, step" in w.warnings[0] and "loss explodes" in w.warnings[0]


def test_ratio_and_gradient_norm_panels_are_log_scaled() -> None:
    hist = {"r": [{"epoch": e, "train_loss": 1.0 / e, "ratio/0": 1e-3 * e, "ratio/2": 1e-2, "gradnorm/0": 0.5,
                   "wnorm/0": 3.0} for e in (1, 2, 3)]}
    figs = {f["layout"]["title"]["text"] if isinstance(f["layout"]["title"], dict) else f["layout"]["title"]: f
            for f in run_figures(hist)}
    ratio = figs["update/weight ratio per layer"]
    assert [d["name"] for d in ratio["data"]] == ["ratio/0", "ratio/2"] and ratio["layout"]["yaxis"]["type"] == "log"
    assert figs["gradient norm per layer"]["layout"]["yaxis"]["type"] == "log"
    assert figs["weight norms"]["layout"]["yaxis"].get("type", "linear") == "linear"
