"""A user's model given as an ``nn.Module`` instance (``gaplab.diagnose(model, data)``, ``gaplab.train(model=net)``).

gaplab trains many copies of a model (seeds, folds, a learning-rate grid, packs, worker processes), so an instance is
a template, not the model trained: every build is a deep copy re-initialized under the run's seed, each submodule
by its own ``reset_parameters`` (``_reset_parameters``: ``nn.MultiheadAttention``), children before parents as
their constructors ran, so two seeds are two different initializations and one seed is always the same one.
A submodule that holds parameters but has no reset method (nor an ancestor with one) keeps the values given, in
every seed; a warning names it. Buffers of such modules (constants, e.g. a positional table) are kept silently.

The template is saved once, content-addressed, as ``<folder>/model-<digest>.pt`` (``torch.save`` of the whole
module) and named ``<that file>:<ClassName>``, so worker processes and later sessions build the same model; a
class that cannot be imported there (defined in a notebook's ``__main__``) fails there with a message saying so.
The digest hashes the template re-initialized under a fixed seed (its architecture, settings, kept values) and the
code of every user class in it (``models.user.code_fingerprint``): a changed class, layer size or kept weight is a
new run id; the given weights of re-initialized layers are not part of it (they never reach training).
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import io
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from gaplab import rng
from gaplab.errors import SpecError, user_stacklevel

SUFFIX = ".pt"
_LIVE: dict[str, nn.Module] = {}  # saved file -> its template, for builds in the process that registered it


def is_instance_name(name: str) -> bool:
    """``<folder>/model-<digest>.pt:<ClassName>``: a registered instance (``register``)."""
    where, _, attr = name.rpartition(":")
    return bool(attr) and where.endswith(SUFFIX)


def _reset_method(m: nn.Module) -> Callable[[], None] | None:
    fn = getattr(m, "reset_parameters", None) or getattr(m, "_reset_parameters", None)
    return fn if callable(fn) else None


def reinitialize(model: nn.Module) -> list[str]:
    """Re-initialize every submodule that can be (children first, then the modules containing them, so a parent's
    own scheme — ``nn.Transformer``'s — wins, as in its constructor); return the submodules whose parameters are
    kept as given (no reset method on them or on any ancestor)."""
    mods = list(model.named_modules())
    covered: set[str] = set()
    for name, m in mods:
        if _reset_method(m) is not None:
            covered.add(name)
    for _name, m in reversed(mods):  # reversed pre-order: every module after all of its descendants
        fn = _reset_method(m)
        if fn is not None:
            with torch.no_grad():
                fn()

    def under_reset(name: str) -> bool:
        parts = name.split(".") if name else []
        return any(".".join(parts[:i]) in covered for i in range(len(parts) + 1))

    return [name or "(the model itself)" for name, m in mods
            if any(True for _ in m.parameters(recurse=False)) and not under_reset(name)]


def _user_code(model: nn.Module) -> list[str]:
    """A digest of the code of every class in ``model`` that is the user's, not an installed library's."""
    from gaplab.models import user

    installed = user.installed_roots()
    out = []
    for cls in sorted({type(m) for m in model.modules()}, key=lambda c: f"{c.__module__}.{c.__qualname__}"):
        try:
            file = inspect.getsourcefile(cls)
        except TypeError:
            file = None
        path = Path(file).resolve() if file and Path(file).is_file() else None
        if path is not None and (any(path.is_relative_to(i) for i in installed) or "site-packages" in path.parts):
            continue  # torch's own layers: their code is the installed library's version
        if path is not None and path.suffix == ".py":
            out.append(f"{cls.__qualname__}:{user.code_fingerprint(f'{path}:_').digest}")
            continue
        try:  # a notebook or an interactive session: the class's own source, when Python kept it
            out.append(f"{cls.__qualname__}:{hashlib.sha256(inspect.getsource(cls).encode()).hexdigest()[:16]}")
        except (OSError, TypeError):
            out.append(f"{cls.__module__}.{cls.__qualname__}")
    return out


def template(model: nn.Module) -> tuple[nn.Module, list[str]]:
    """A deep copy of ``model`` re-initialized under a fixed seed (what the digest hashes) and the kept submodules."""
    try:
        t = copy.deepcopy(model)
    except Exception as e:
        raise SpecError(f"model: the {type(model).__name__} instance cannot be copied ({type(e).__name__}: {e}); "
                        "pass its class or a factory (model=MyNet)") from None
    with rng.seeded(0):
        kept = reinitialize(t)
    return t, kept


def register(model: nn.Module, folder: str | Path) -> str:
    """Save ``model`` as a template in ``folder`` (once per content) and return its model name."""
    t, kept = template(model)
    buf = io.BytesIO()
    try:
        torch.save(t, buf)
        saved: bytes | None = buf.getvalue()
        body = buf.getvalue()
    except Exception:  # e.g. a lambda attribute: buildable in this process only
        saved = None
        body = repr(t).encode() + b"".join(v.detach().cpu().numpy().tobytes() for v in t.state_dict().values())
    h = hashlib.sha256(body)
    for code in _user_code(model):
        h.update(b"\0" + code.encode())
    digest = h.hexdigest()[:16]
    path = Path(folder).expanduser().resolve() / f"model-{digest}{SUFFIX}"
    if saved is not None and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(saved)
        os.replace(tmp, path)
    if kept and str(path) not in _LIVE:
        warnings.warn(f"model {type(model).__name__}: {len(kept)} submodule(s) have no reset_parameters and keep the "
                      f"weights given in every seed: {', '.join(kept[:8])}{' …' if len(kept) > 8 else ''}",
                      UserWarning, stacklevel=user_stacklevel())
    _LIVE[str(path)] = t
    return f"{path}:{type(model).__name__}"


def _load(name: str) -> nn.Module:
    where = name.rpartition(":")[0]
    if where in _LIVE:
        return _LIVE[where]
    if not Path(where).is_file():
        raise SpecError(f"model.name: '{name}': the saved model instance is missing (it could not be saved, or its "
                        "folder was removed); pass the instance again in this process")
    try:
        t = torch.load(where, weights_only=False)
    except Exception as e:
        raise SpecError(f"model.name: loading the saved model instance '{where}' failed ({type(e).__name__}: {e}); "
                        "its class must be importable here — define it in a .py file on the Python path, not in a "
                        "notebook, or run in the process that created it (workers=1)") from None
    if not isinstance(t, nn.Module):
        raise SpecError(f"model.name: '{where}' holds a {type(t).__name__}, not an nn.Module")
    _LIVE[where] = t
    return t


def factory(name: str) -> Callable[..., nn.Module]:
    """The builder of a registered instance: a fresh copy re-initialized from the global RNG (the engine seeds it)."""
    t = _load(name)

    def build(input_shape: tuple[int, ...], output_dim: int) -> nn.Module:
        m = copy.deepcopy(t)
        reinitialize(m)
        return m

    return build


def fingerprint_files(name: str) -> tuple[str, tuple[str, ...]]:
    """(digest, files) of a registered instance: the digest is in its file name; the files are the template's."""
    where = name.rpartition(":")[0]
    stem = Path(where).stem
    return stem.removeprefix("model-"), (where,)
