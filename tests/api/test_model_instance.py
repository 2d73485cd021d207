"""``gaplab.diagnose(model_instance, data, loss=, optimizer=, lr=)``: an ``nn.Module`` instance is a template
re-initialized per seed; its run id follows its class code and architecture; another process builds it from its
saved file; the PyTorch loss and optimizer map onto the spec or fail naming the field; a DataLoader is sampled."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import gaplab
from gaplab.api.diagnose import bounded
from gaplab.data import memory
from gaplab.errors import SpecError
from gaplab.models import create_model, instance

NET_CODE = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, width=16):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(5, width), nn.ReLU(), nn.Linear(width, 2))
        self.temperature = nn.Parameter(torch.ones(1))  # no reset_parameters: kept as given

    def forward(self, x):
        return self.body(x) / self.temperature
'''


def _xy(n: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 5, generator=g)
    return x, (x[:, 0] + 0.3 * x[:, 1] > 0).long()


@pytest.fixture
def netmod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A user's model class in its own importable file (``netmod_<test>.py``)."""
    name = f"netmod_{abs(hash(str(tmp_path))) % 10**8}"
    (tmp_path / f"{name}.py").write_text(NET_CODE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    mod = __import__(name)
    yield mod, tmp_path / f"{name}.py"
    sys.modules.pop(name, None)


def _name(model: nn.Module, folder: Path) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return instance.register(model, folder)


def test_instance_is_reinitialized_per_seed_and_kept_layers_named(netmod, tmp_path: Path) -> None:
    mod, _ = netmod
    net = mod.Net()
    with torch.no_grad():
        net.temperature.fill_(2.0)
    with pytest.warns(UserWarning, match=r"1 submodule\(s\) have no reset_parameters .*\(the model itself\)"):
        name = instance.register(net, tmp_path / "models")
    assert instance.is_instance_name(name) and name.endswith(".pt:Net")

    def build(seed: int) -> nn.Module:
        torch.manual_seed(seed)
        return create_model(name, (5,), 2)

    a, b, c = build(0), build(0), build(1)
    assert torch.equal(a.body[0].weight, b.body[0].weight)
    assert not torch.equal(a.body[0].weight, c.body[0].weight)
    assert not torch.equal(a.body[0].weight, net.body[0].weight)  # the given weights never reach training
    assert float(a.temperature.detach()) == 2.0  # kept as given, in every seed
    instance._LIVE.clear()  # as in a worker process: the saved file is read instead
    assert torch.equal(build(0).body[2].weight, a.body[2].weight)


def test_run_id_follows_architecture_and_class_code_not_given_weights(netmod, tmp_path: Path) -> None:
    mod, path = netmod
    folder = tmp_path / "models"
    from gaplab.api.specs import build_run

    def run_id(model: nn.Module) -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return build_run(None, {"data": _xy(), "model": model}, data_folder=folder).run_id

    ref = run_id(mod.Net())
    assert run_id(mod.Net()) == ref  # other random weights, same template
    assert run_id(mod.Net(width=32)) != ref  # architecture
    path.write_text(NET_CODE.replace("/ self.temperature", "/ self.temperature.abs()"))
    assert run_id(mod.Net()) != ref  # the class's code (its file's fingerprint), even for an object built before


def test_another_process_builds_the_same_model(netmod, tmp_path: Path) -> None:
    mod, path = netmod
    name = _name(mod.Net(), tmp_path / "models")
    torch.manual_seed(3)
    here = create_model(name, (5,), 2).body[0].weight
    code = textwrap.dedent(f"""
        import sys, torch
        sys.path.insert(0, {str(path.parent)!r})
        from gaplab.models import create_model
        torch.manual_seed(3)
        w = create_model({name!r}, (5,), 2).body[0].weight
        print(repr(w.sum().item()))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(Path(gaplab.__file__).parents[1]), "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.strip()) == here.sum().item()


def test_diagnose_takes_an_instance_a_dataloader_and_the_torch_loss_and_optimizer(netmod, tmp_path: Path) -> None:
    mod, _ = netmod
    torch.set_num_threads(1)
    net = mod.Net()
    x, y = _xy()
    loader = DataLoader(TensorDataset(x, y), batch_size=25, shuffle=True)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = gaplab.diagnose(net, loader, loss=nn.CrossEntropyLoss(label_smoothing=0.1), optimizer=opt,
                            mode="quick", checks=["init"], progress=False, store=tmp_path / "s.db")
    s = d.spec
    assert s["model"]["name"].endswith(".pt:Net") and s["model"]["fingerprint"]
    assert s["optim"]["name"] == "sgd" and s["optim"]["lr"] == 0.05 and s["optim"]["momentum"] == 0.9
    assert s["optim"]["nesterov"] is True and s["optim"]["batch_size"] == 25
    assert s["reg"]["label_smoothing"] == 0.1
    assert d.task["sample"]["drawn"] == 200 and d.check("initial loss").verdict in ("PASS", "WARN")
    from gaplab.api.specs import build_run

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # another folder: its template is saved (and warned about) again
        spec = build_run(None, {"data": (x, y), "model": net, "optimizer": opt, "lr": 0.2}, data_folder=tmp_path)
    assert spec.optim.lr == 0.2 and spec.optim.momentum == 0.9  # lr= wins over the optimizer's


@pytest.mark.parametrize(("kw", "words"), [
    ({"optimizer": "rmsprop"}, "optim.name"),
    ({"optimizer": torch.optim.RMSprop}, "optimizer: gaplab trains with SGD, Adam or AdamW; got RMSprop"),
    ({"loss": nn.MSELoss()}, "loss: mean squared error given, but the data is classification"),
    ({"loss": nn.L1Loss()}, "loss: gaplab trains with cross-entropy (classification) or mean squared error"),
    ({"loss": "hinge"}, "loss: unknown loss 'hinge'"),
])
def test_bad_loss_or_optimizer_names_the_field(kw: dict, words: str, tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=None) as e:
        gaplab.diagnose(data=_xy(), mode="quick", checks=["init"], progress=False, store=tmp_path / "s.db", **kw)
    assert words in str(e.value)


def test_coupled_weight_decay_is_refused_and_adamw_maps(tmp_path: Path) -> None:
    net = nn.Linear(5, 2)
    with pytest.raises(SpecError, match=r"SGD\(weight_decay=0.01\).*l2=wd·m"):
        gaplab.diagnose(data=_xy(), optimizer=torch.optim.SGD(net.parameters(), lr=0.1, weight_decay=0.01),
                        checks=["init"], progress=False, store=tmp_path / "s.db")
    d = gaplab.diagnose(data=_xy(), optimizer=torch.optim.AdamW(net.parameters(), lr=3e-3), mode="quick",
                        checks=["init"], progress=False, store=tmp_path / "s.db")
    assert d.spec["optim"]["name"] == "adamw" and d.spec["reg"]["weight_decay"] == 0.01


def test_a_large_dataloader_is_sampled_and_keeps_its_item_indices(tmp_path: Path) -> None:
    x, y = _xy(300)
    loader = DataLoader(TensorDataset(x, y), batch_size=10)
    sub, drawn = bounded(loader, 120)
    assert drawn is not None and drawn["drawn"] == 120 and drawn["of"] == 300 and "120 of the DataLoader's 300" \
        in drawn["text"]
    path = memory.materialize(sub, folder=tmp_path)
    ids = np.load(path)["ids"]
    assert len(ids) == 120 and ids.max() > 120 and np.array_equal(np.load(path)["x"], x[ids].numpy())
    _, small = bounded(loader, None)
    assert small is not None and small["drawn"] == 300
    stream = DataLoader(torch.utils.data.IterableDataset.__new__(_Stream), batch_size=None)
    (xs, ys), drawn = bounded(stream, 50)
    assert drawn is not None and len(xs) == 50 == len(ys) and "iterable DataLoader" in drawn["text"]


class _Stream(torch.utils.data.IterableDataset):
    def __iter__(self):
        x, y = _xy(300)
        return iter(zip(x.split(20), y.split(20), strict=True))


def test_advise_takes_the_optimizer_lr_and_batch_it_can_use(tmp_path: Path) -> None:
    from gaplab.api.diagnose import _given_recipe
    from gaplab.api.specs import build_run

    def recipe(**over: object) -> dict:
        return _given_recipe(None, dict(over), build_run(None, {"data": _xy(), **over}, data_folder=tmp_path))

    net = nn.Linear(5, 2)
    assert recipe() == {}
    assert recipe(optimizer=torch.optim.SGD(net.parameters(), lr=0.05), batch_size=32) == \
        {"optimizer": "sgd", "lr": 0.05, "batch_size": 32}
    assert recipe(optimizer="adamw", lr=0.01) == {"optimizer": "adamw", "lr": 0.01}
    with pytest.raises(SpecError, match=r"optim.momentum: advise trains every size with its own recipe"):
        recipe(optimizer=torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9))
