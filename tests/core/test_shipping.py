"""Shipping a sweep's user code and data to Ray workers, without Ray: stage on the 'driver', map on a 'worker'.

The worker side sees only the staged package (the driver's folders are renamed away before it maps the specs).
Checkpoints under an fsspec URL (``memory://`` here) are written and read like local ones.
"""

from __future__ import annotations

import shutil
import sys

import pytest

from gaplab.engine import shipping
from gaplab.engine.checkpoint import Checkpointer, check_location
from gaplab.engine.validate import with_fingerprint
from gaplab.errors import SpecError
from gaplab.models import user
from gaplab.spec import parse_run

NET = "from torch import nn\nfrom mylib.layers import act\n\n\ndef build(in_features, num_classes):\n" \
      "    return nn.Sequential(nn.Linear(in_features, 4), act(), nn.Linear(4, num_classes))\n"
LAYERS = "from torch import nn\n\n\ndef act():\n    return nn.ReLU()\n"


def _userland(tmp_path):
    root = tmp_path / "proj"
    (root / "mylib").mkdir(parents=True)
    (root / "mylib" / "__init__.py").write_text("")
    (root / "mylib" / "net.py").write_text(NET)
    (root / "mylib" / "layers.py").write_text(LAYERS)
    (root / "train.py").write_text("from mylib.net import build\n")
    (root / "data.csv").write_text("x,y,label\n" + "".join(f"{i % 7},{i % 3},{i % 2}\n" for i in range(40)))
    return root


def _spec(root, name: str):
    s = parse_run({"data": {"path": str(root / "data.csv"), "target": "label"}, "model": {"name": name}})
    return with_fingerprint(s, base=root)


def _worker_side(staged: shipping.Shipment, driver_root, tmp_path, monkeypatch):
    """Put the package where a worker would have it (its parent on sys.path) and hide the driver's folder."""
    node = tmp_path / "node"
    shutil.copytree(staged.folder, node / staged.name)
    staged.cleanup()
    monkeypatch.syspath_prepend(str(node))
    driver_root.rename(driver_root.with_name("moved-away"))
    return node / staged.name


@pytest.mark.parametrize("kind", ["file", "module"])
def test_shipped_copy_is_what_the_worker_trains(tmp_path, monkeypatch, kind) -> None:
    root = _userland(tmp_path)
    monkeypatch.chdir(root)
    name = f"{root / 'train.py'}:build" if kind == "file" else "mylib.net:build"
    spec = _spec(root, name)
    assert len(spec.model.files) == (4 if kind == "file" else 3)  # the helper modules and mylib/__init__.py too
    staged = shipping.stage([spec, spec.replace(seed=1)])
    assert staged is not None and staged.runtime_env() == {"py_modules": [str(staged.folder)]}
    [code] = (staged.folder / "code").iterdir()
    assert (code / "mylib" / "__init__.py").is_file()  # the package's __init__ travels with its modules
    monkeypatch.chdir(tmp_path)
    for mod in [m for m in sys.modules if m == "mylib" or m.startswith("mylib.")]:
        monkeypatch.delitem(sys.modules, mod)
    pkg = _worker_side(staged, root, tmp_path, monkeypatch)
    [mapped] = shipping.localize([spec.normalized()], staged.name)
    assert mapped["data"]["path"].startswith(str(pkg)) and mapped["model"]["fingerprint"] == spec.model.fingerprint
    assert all(f.startswith(str(pkg)) for f in mapped["model"]["files"])
    s = parse_run(mapped)
    from gaplab.engine.pack import train_pack

    [r] = train_pack([s.replace(**{"optim.epochs": 1})])
    assert r.status == "done"


def test_changed_or_missing_files_are_clear_errors(tmp_path, monkeypatch) -> None:
    root = _userland(tmp_path)
    spec = _spec(root, f"{root / 'train.py'}:build")
    (root / "mylib" / "layers.py").write_text(LAYERS + "# edited\n")  # after planning, before shipping
    with pytest.raises(SpecError, match="changed since the sweep was planned"):
        shipping.stage([spec])
    spec = _spec(root, f"{root / 'train.py'}:build")
    with pytest.raises(SpecError, match=r"data.path: the files to ship .* over Ray's"):
        shipping.stage([spec], limit=100)
    (root / "data.csv").rename(root / "gone.csv")  # moved after planning: named, before any pack starts
    with pytest.raises(SpecError, match="data.path: cannot ship .*data.csv.* no such file"):
        shipping.stage([spec])


def test_a_tampered_copy_is_refused_on_the_worker(tmp_path, monkeypatch) -> None:
    root = _userland(tmp_path)
    spec = _spec(root, f"{root / 'train.py'}:build")
    staged = shipping.stage([spec])
    assert staged is not None
    pkg = _worker_side(staged, root, tmp_path, monkeypatch)
    [data] = (pkg / "data").iterdir()
    (data / "data.csv").write_text("x,y,label\n1,2,0\n")
    with pytest.raises(SpecError, match="data.path: the shipped copy"):
        shipping.localize([spec.normalized()], staged.name)
    net = next((pkg / "code").iterdir()) / "mylib" / "layers.py"
    net.write_text(LAYERS + "# changed\n")
    with pytest.raises(SpecError, match="model.name: the shipped copy"):
        shipping.localize([spec.normalized()], staged.name)
    assert user.is_user_name(spec.model.name)


def test_checkpoints_under_an_fsspec_url(tmp_path) -> None:
    url = "memory://gaplab-test/ck"
    assert check_location(url) == url
    ck = Checkpointer(url, ["a", "b"], every=0)
    assert ck.load() is None
    ck.save({"epoch": 3})
    assert Checkpointer(url, ["a", "b"]).load()["epoch"] == 3
    assert Checkpointer(url, ["b", "a"]).load() is None  # another pack's name: nothing there
    ck.delete()
    assert ck.load() is None
    local = check_location(f"file://{tmp_path}/x")
    assert local == f"file://{tmp_path}/x" and Checkpointer(local, ["a"]).path.parent == tmp_path / "x"
    with pytest.raises(SpecError, match="--checkpoint-dir nosuch://x"):
        check_location("nosuch://x")
