"""A user's own nn.Module is first class: named by file path, its code in the run id, exact alone and in a pack, its
batch norm as ``model.train()``/``model.eval()`` in a plain loop, its failures named."""

from __future__ import annotations

import importlib
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

import gaplab
from gaplab import rng
from gaplab.advise.plan import DROPOUT, base_plan
from gaplab.api.specs import build_run
from gaplab.cli.app import app
from gaplab.engine.batches import epoch_batches
from gaplab.engine.datacache import prepared_for
from gaplab.engine.pack import INIT, SHUFFLE, Pack, train_pack
from gaplab.errors import SpecError
from gaplab.models import create_model
from gaplab.models.layers import Dropout
from gaplab.spec import DataSpec

ZOO = Path(__file__).parent / "zoo"
SGD = {"name": "sgd", "lr": 0.05, "momentum": 0.9, "batch_size": 64}
# (zoo name, data set, the pack path it must take)
MODELS = {
    "mlp": ("mnist1d", "fused"),  # an nn.Sequential MLP: engine.fused
    "cnn": ("digits", "conv"),  # an nn.Sequential CNN: engine.conv
    "SmallResNet": ("digits", "vmap"),
    "SequenceTransformer": ("mnist1d", "loop"),
    "SequenceGRU": ("mnist1d", "loop"),
    "Classifier": ("mnist1d", "vmap"),
}


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _spec(name: str, epochs: int = 2, **over):
    data, _ = MODELS.get(name, ("digits", ""))
    base = {"data": {"name": data, "train_size": 256}, "model": {"name": f"{ZOO}/zoo.py:{name}"},
            "optim": {**SGD, "epochs": epochs}}
    return build_run(base, over)


def _metrics(history: list[dict]) -> list[list[float]]:
    keys = ("train_loss", "test_loss", "train_acc", "test_acc")
    return [[h[k] for k in keys] for h in history]


@pytest.mark.parametrize("name", list(MODELS))
def test_alone_equals_pack_of_eight(name: str) -> None:
    spec = _spec(name)
    mates = [spec.replace(seed=1 + i, **{"data.train_size": 200 + 8 * i}) for i in range(7)]
    alone = Pack([spec])
    r_alone = alone.fit()[0]
    pack = Pack([mates[0], mates[1], spec, *mates[2:]])
    r_pack = pack.fit()[2]
    assert pack.path == MODELS[name][1], pack.path_reason
    for a, b in zip(_metrics(r_alone.history), _metrics(r_pack.history), strict=True):
        assert a == pytest.approx(b, abs=1e-5)


def _plain_loop(spec, model: torch.nn.Module) -> list[list[float]]:
    """The textbook loop on the user's unmodified model: model.train() for the steps, model.eval() to measure."""
    prep = prepared_for(spec)
    ds, o = prep.dataset, spec.optim
    opt = torch.optim.SGD(model.parameters(), lr=o.lr, momentum=o.momentum)
    out = []
    for epoch in range(o.epochs):
        idx, w, _ = epoch_batches([prep.train_idx], o.batch_size, [rng.derive_key(spec.seed, SHUFFLE, epoch)])
        model.train()
        for st in range(idx.shape[1]):
            sel = idx[0, st][w[0, st] > 0]
            loss = F.cross_entropy(model(ds.x_train[sel]), prep.labels[sel])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            tr, te = model(ds.x_train[prep.train_idx]), model(ds.x_test)
        out.append([float(F.cross_entropy(tr, prep.labels[prep.train_idx])), float(F.cross_entropy(te, ds.y_test)),
                    float((tr.argmax(1) == prep.labels[prep.train_idx]).float().mean()),
                    float((te.argmax(1) == ds.y_test).float().mean())])
    return out


def _import_zoo() -> ModuleType:
    """The zoo module from ZOO, imported afresh: another test may have imported a different ``zoo`` (a user's
    project of the same name) earlier in this process."""
    for name in ("zoo", "zoo_blocks"):
        sys.modules.pop(name, None)
    sys.path.insert(0, str(ZOO))
    try:
        return importlib.import_module("zoo")
    finally:
        sys.path.remove(str(ZOO))


@pytest.mark.parametrize("name", ["cnn", "SmallResNet"])
def test_batch_norm_matches_plain_pytorch_train_eval(name: str) -> None:
    zoo = _import_zoo()
    spec = _spec(name, epochs=3, **{"reg.dropout": 0.0} if name == "cnn" else {})
    with torch.random.fork_rng():
        torch.manual_seed(rng.derive_key(spec.seed, INIT))
        model = zoo.cnn(1, 10) if name == "cnn" else zoo.SmallResNet(10)
    for m in model.modules():  # dropout off on both sides (reg.dropout 0): masks are gaplab's own
        if isinstance(m, torch.nn.Dropout2d):
            m.p = 0.0
    ref = _plain_loop(spec, model)
    ours = train_pack([spec, spec.replace(seed=5)], keep_state=True)[0]
    for a, b in zip(_metrics(ours.history), ref, strict=True):
        assert a == pytest.approx(b, abs=1e-5)
    for n, t in model.state_dict().items():  # running statistics come back with the weights
        assert torch.allclose(ours.state[n].to(t.dtype), t, atol=1e-4), n


def mask_rate(pack: Pack, row: int = 0) -> float:
    """The share of units that model ``row`` of ``pack`` drops at its first dropout layer, measured on 64k units."""
    name, d = next((n, m) for n, m in pack.base.named_modules() if isinstance(m, Dropout))
    probe = Dropout(float(pack.buffers[f"{name}.p"][row]), kind=d.kind)
    probe.key.fill_(int(pack.buffers[f"{name}.key"][row]))
    probe.counter = 7
    return float((probe.train()(torch.ones(64, 1000)) == 0).float().mean())


def test_user_dropout_layers_swapped_and_rate_set_by_reg_dropout() -> None:
    m = create_model(f"{ZOO}/zoo.py:cnn", (1, 8, 8), 10)
    drops = [d for d in m.modules() if isinstance(d, Dropout)]
    assert [(d.kind, round(float(d.p), 3)) for d in drops] == [("channel", 0.1)]
    assert mask_rate(Pack([_spec("mlp", **{"reg.dropout": 0.5})])) == pytest.approx(0.5, abs=0.01)
    assert mask_rate(Pack([_spec("mlp")])) == pytest.approx(0.3, abs=0.01)  # no reg.dropout: the rate in the code
    assert mask_rate(Pack([_spec("mlp", **{"reg.dropout": 0.0})])) == 0.0


def test_reg_dropout_on_a_model_without_dropout_is_an_error() -> None:
    with pytest.raises(SpecError, match="reg.dropout: model .* has no dropout layer"):
        _spec("SmallResNet", **{"reg.dropout": 0.2})


def test_class_with_num_classes_and_lazy_layer_builds() -> None:
    m = create_model(f"{ZOO}/zoo.py:Classifier", (40,), 7)
    assert m(torch.zeros(3, 40)).shape == (3, 7)
    with pytest.raises(SpecError, match="takes no argument.*'width'.*it takes: hidden"):
        create_model(f"{ZOO}/zoo.py:Classifier", (40,), 7, width=3)


def _copy_zoo(tmp_path: Path) -> Path:
    dst = tmp_path / "proj"
    shutil.copytree(ZOO, dst, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


def test_editing_the_model_code_changes_the_run_id_and_unchanged_code_reuses_the_run(tmp_path: Path) -> None:
    proj = _copy_zoo(tmp_path)
    store = tmp_path / "s.db"
    spec = {"data": {"name": "digits", "train_size": 128}, "model": {"name": f"{proj}/zoo.py:SmallResNet"},
            "optim": {**SGD, "epochs": 1}}
    first = gaplab.train(spec, store=store, progress=False)
    again = gaplab.train(spec, store=store, progress=False)
    assert again.run_id == first.run_id and again.skipped
    assert first.spec.model.files == (str(proj / "zoo.py"), str(proj / "zoo_blocks.py"))
    blocks = proj / "zoo_blocks.py"  # a module the model file imports: its edit is an edit of the model
    blocks.write_text(blocks.read_text().replace("torch.relu(x + self.bn2", "torch.tanh(x + self.bn2"))
    edited = gaplab.train(spec, store=store, progress=False)
    assert edited.run_id != first.run_id and not edited.skipped


def test_run_id_does_not_depend_on_where_the_model_file_lies(tmp_path: Path) -> None:
    a, b = _copy_zoo(tmp_path / "a"), _copy_zoo(tmp_path / "b")
    ids = {build_run({"model": {"name": f"{p}/zoo.py:mlp"}}).run_id for p in (a, b)}
    assert len(ids) == 1


def test_model_path_in_a_spec_file_is_relative_to_the_file(tmp_path: Path, monkeypatch) -> None:
    proj = _copy_zoo(tmp_path)
    (proj / "run.yaml").write_text("data: {name: digits}\nmodel: {name: zoo.py:cnn}\n")
    monkeypatch.chdir(tmp_path)
    spec = build_run(Path("proj/run.yaml"))
    assert spec.model.name == f"{proj / 'zoo.py'}:cnn"


def test_cli_module_name_from_the_working_directory(tmp_path: Path, monkeypatch) -> None:
    proj = _copy_zoo(tmp_path)
    monkeypatch.chdir(proj)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(proj))])
    res = CliRunner().invoke(app, ["train", "--data", "digits", "--model", "zoo:mlp", "--epochs", "1",
                                   "--train-size", "128", "--no-store", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["status"] == "done"


BROKEN = '''
import torch
from torch import nn

def raises_in_init(num_classes):
    raise RuntimeError("no weights file")

class RaisesInForward(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(64, 10)
    def forward(self, x):
        return self.lin(x)  # forgot to flatten

def wrong_shape(in_features):
    return nn.Sequential(nn.Flatten(), nn.Linear(in_features, 3))

def frozen(in_features, num_classes):
    m = nn.Sequential(nn.Flatten(), nn.Linear(in_features, num_classes))
    m.requires_grad_(False)
    return m

class NanAtInit(nn.Module):
    def __init__(self, in_features, num_classes):
        super().__init__()
        self.lin = nn.Linear(in_features, num_classes)
    def forward(self, x):
        return self.lin(x.flatten(1)) / 0.0 * 0.0

def rrelu(in_features, num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(in_features, num_classes), nn.RReLU())
'''


@pytest.mark.parametrize("attr, message", [
    ("raises_in_init", "building it raised RuntimeError: no weights file"),
    ("RaisesInForward", r"forward in train mode on a batch of shape \(2, 1, 8, 8\) raised RuntimeError"),
    ("wrong_shape", r"returned shape \(2, 3\) for a batch of 2; expected \(2, 10\)"),
    ("frozen", "no trainable parameters"),
    ("NanAtInit", "not finite"),
    ("rrelu", "layer '2' \\(RReLU\\) is not supported"),
    ("missing", "has no callable 'missing'; it defines: .*NanAtInit"),
])
def test_a_broken_user_model_is_a_user_error_that_names_the_cause(tmp_path: Path, attr: str, message: str) -> None:
    (tmp_path / "broken.py").write_text(BROKEN)
    res = CliRunner().invoke(app, ["train", "--data", "digits", "--model", f"{tmp_path}/broken.py:{attr}",
                                   "--no-store"])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    import re

    assert re.search(message, " ".join(res.output.split())), res.output


@pytest.mark.parametrize("name", list(MODELS))
def test_every_zoo_model_trains_from_the_cli_and_the_api(tmp_path: Path, name: str) -> None:
    data, path = MODELS[name]
    res = CliRunner().invoke(app, ["train", "--data", data, "--model", f"{ZOO}/zoo.py:{name}", "--epochs", "1",
                                   "--train-size", "128", "--store", str(tmp_path / "s.db"), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["status"] == "done" and 0.0 <= out["test_acc"] <= 1.0
    run = gaplab.train({"data": {"name": data, "train_size": 128}, "model": {"name": f"{ZOO}/zoo.py:{name}"},
                       "optim": {"epochs": 1}}, store=tmp_path / "s.db", progress=False)
    assert run.run_id == out["run_id"] and run.skipped  # the same run through either door


def test_advise_dropout_configuration_drops_at_its_rate_and_plain_does_not() -> None:
    plan = base_plan(DataSpec(name="digits"), f"{ZOO}/zoo.py:cnn", None, 200, epochs=1)
    configs = {c.name: c for c in plan.configs}
    assert "dropout" in configs
    n = plan.sizes[-1]
    drop, plain = plan.spec(configs["dropout"], n, 0), plan.spec(configs["plain"], n, 0)
    assert drop.model.fingerprint and drop.model.fingerprint == plain.model.fingerprint
    assert mask_rate(Pack([drop])) == pytest.approx(DROPOUT, abs=0.02)
    assert mask_rate(Pack([plain])) == 0.0


def test_advise_model_without_dropout_layers_gets_no_dropout_configuration() -> None:
    plan = base_plan(DataSpec(name="digits"), f"{ZOO}/zoo.py:SmallResNet", None, 200, epochs=1)
    assert not any(c.name == "dropout" for c in plan.configs)
    assert any("no dropout configuration" in n for n in plan.notes)
    combined = next(c for c in plan.configs if c.name == "combined")
    assert "reg.dropout" not in combined.overrides


def test_api_takes_the_model_class_itself(tmp_path: Path) -> None:
    zoo = _import_zoo()
    spec = build_run({"data": {"name": "digits"}}, {"model": zoo.SmallResNet})
    assert spec.model.name == f"{ZOO / 'zoo.py'}:SmallResNet" and spec.model.fingerprint

    class Local(torch.nn.Module):
        pass

    with pytest.raises(SpecError, match="not defined at the top level of a .py file"):
        build_run({}, {"model": Local})


def test_module_name_fingerprint_covers_the_package_init(tmp_path: Path, monkeypatch) -> None:
    pkg = tmp_path / "nets"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("SCALE = 1\n")
    (pkg / "small.py").write_text(BROKEN)
    monkeypatch.chdir(tmp_path)
    from gaplab.models.user import code_fingerprint

    before = code_fingerprint("nets.small:wrong_shape")
    assert before.files == (str(pkg / "__init__.py"), str(pkg / "small.py"))
    (pkg / "__init__.py").write_text("SCALE = 2\n")
    assert code_fingerprint("nets.small:wrong_shape").digest != before.digest
