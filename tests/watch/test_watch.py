"""``gaplab.watch`` in a plain PyTorch loop and ``GaplabCallback`` in a Lightning Trainer, on MNIST-1D: the stored
per-epoch metrics are what the loop saw, the layers' dynamics are recorded, a 100x learning rate gets the doctor's
live "loss explodes" warning, and the runs open in ``gaplab serve``."""

from __future__ import annotations

import functools
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import gaplab
from gaplab.api.watch import TrainingWarning
from gaplab.serve.app import Dashboard

sys.path.insert(0, str(Path(__file__).parent))
from loops import mnist1d, train_loop  # noqa: E402

HOST = {"Host": "127.0.0.1:8765"}
GIVEN = ("train_loss", "train_acc", "val_loss", "val_acc")


@pytest.fixture(scope="module")
def data() -> Any:
    torch.set_num_threads(1)
    return mnist1d(2000)


def _stored(db: Path, group: str) -> gaplab.Run:
    runs = gaplab.Store(db).results(group=group)
    assert len(runs) == 1
    return runs[0]


def test_plain_loop_is_stored_as_the_loop_saw_it(data: Any, tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrainingWarning)  # a healthy loop gets no warning
        printed = train_loop(data, lr=0.1, epochs=6,
                             watcher=functools.partial(gaplab.watch, store=db, name="plain", steps_per_epoch=16))
    run = _stored(db, "external/plain")
    assert run.status == "done" and run.external == "watch" and run.spec_data["external"] == "watch"
    hist = run.history
    assert len(hist) == 6
    for key in GIVEN:
        assert hist[key].tolist() == pytest.approx([p[key] for p in printed], rel=1e-12)
    assert hist["gap_loss"].tolist() == pytest.approx([p["val_loss"] - p["train_loss"] for p in printed])
    layers = ("0", "2", "4")
    for prefix in ("ratio/", "gradnorm/", "wnorm/"):
        assert all(hist[prefix + n].gt(0).all() for n in layers)
    assert hist["ratio/0"].lt(0.5).all() and hist["dead_relu"].between(0, 1).all()
    assert run.final["epochs_run"] == 6 and run.final["check/loss does not explode"] == 0


def test_learning_rate_100x_too_high_warns_live(data: Any, tmp_path: Path) -> None:
    with pytest.warns(TrainingWarning, match=r"epoch 1, step \d+: loss explodes — learning rate too high: the loss"):
        train_loop(data, lr=10.0, epochs=2,
                   watcher=functools.partial(gaplab.watch, store=tmp_path / "w.db", name="hot"))
    assert _stored(tmp_path / "w.db", "external/hot").final["check/loss does not explode"] == 2


def test_a_stalled_loss_warns_after_a_few_epochs(data: Any, tmp_path: Path) -> None:
    with pytest.warns(TrainingWarning, match="epoch 5: loss stalls — learning rate too low"):
        train_loop(data, lr=1e-5, epochs=5, watcher=functools.partial(gaplab.watch, store=None, name="cold"))


def _lightning_module(lr: float) -> Any:
    import lightning.pytorch as pl

    class Net(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(40, 128), nn.ReLU(), nn.Linear(128, 10))
            self.printed: list[dict[str, float]] = []
            self._losses: list[float] = []

        def training_step(self, batch: Any, _i: int) -> torch.Tensor:
            x, y = batch
            loss = nn.functional.cross_entropy(self.net(x), y)
            self._losses.append(loss.item())
            self.log("train_loss", loss, on_step=False, on_epoch=True)
            return loss

        def validation_step(self, batch: Any, _i: int) -> None:
            x, y = batch
            out = self.net(x)
            val = {"val_loss": float(nn.functional.cross_entropy(out, y)),
                   "val_acc": float((out.argmax(1) == y).float().mean())}
            self.log_dict(val)
            if not self.trainer.sanity_checking:
                self.printed.append({**val, "train_loss": sum(self._losses) / max(len(self._losses), 1)})
            self._losses = []

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=lr, momentum=0.9)

    return Net()


def _fit(data: Any, lr: float, db: Path, name: str, epochs: int) -> Any:
    import lightning.pytorch as pl

    from gaplab.integrations.lightning import GaplabCallback

    x, y, xv, yv = data
    torch.manual_seed(0)
    module = _lightning_module(lr)
    train = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=100, shuffle=True)
    val = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xv, yv), batch_size=len(xv))
    trainer = pl.Trainer(max_epochs=epochs, callbacks=[GaplabCallback(store=db, name=name)], logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         accelerator="cpu", devices=1, num_sanity_val_steps=0)
    trainer.fit(module, train, val)
    return module


def test_lightning_callback_stores_the_logged_metrics_and_warns(data: Any, tmp_path: Path) -> None:
    pytest.importorskip("lightning")
    db = tmp_path / "w.db"
    module = _fit(data, 0.1, db, "pl", epochs=3)
    run = _stored(db, "external/pl")
    assert run.status == "done" and len(run.history) == 3
    for key in ("train_loss", "val_loss", "val_acc"):
        assert run.history[key].tolist() == pytest.approx([p[key] for p in module.printed], rel=1e-5)
    assert run.history["ratio/net.0"].gt(0).all() and run.spec_data["model"]["name"] == "Net"
    with pytest.warns(TrainingWarning, match="loss explodes"):
        _fit(data, 10.0, db, "pl-hot", epochs=1)

    # both kinds of run open in the dashboard, beside each other in the group list
    dash = Dashboard(db)
    home = dash.handle("GET", "/", HOST)
    assert home.status == 200
    groups = {g["name"] for g in dash.handle("GET", "/api/groups", HOST).json()["groups"]}
    assert {"external/pl", "external/pl-hot"} <= groups
    page = dash.handle("GET", f"/run?id={run.run_id}", HOST)
    assert page.status == 200 and "watch" in page.body.decode()
    figs = dash.handle("GET", f"/api/run/figures?id={run.run_id}", HOST).json()["figures"]
    titles = [f["layout"]["title"]["text"] for f in figs]
    assert {"loss", "accuracy", "generalization gap", "weight norms"} <= set(titles), titles
