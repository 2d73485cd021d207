"""A user's own model, named ``path/to/file.py:name`` or ``module:name``: import, call contract, code fingerprint.

``name`` may be a factory function or an ``nn.Module`` subclass. gaplab passes the data's shapes only to parameters
that ask for them by name (``MAPPED``); everything else comes from ``model.args``. The fingerprint hashes the source of
the file that defines the model and of the user's own modules it imports (not installed libraries), so an edited
model is a new run.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import inspect
import math
import os
import sys
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from gaplab.errors import SpecError

# parameter name -> what gaplab passes, from the data's input shape (B, *input_shape) and its output size
MAPPED: dict[str, Callable[[tuple[int, ...], int], Any]] = {
    "input_shape": lambda s, k: tuple(s),
    "output_dim": lambda s, k: k,
    "num_classes": lambda s, k: k,
    "n_classes": lambda s, k: k,
    "num_outputs": lambda s, k: k,
    "out_features": lambda s, k: k,
    "output_size": lambda s, k: k,
    "in_features": lambda s, k: math.prod(s),
    "input_dim": lambda s, k: math.prod(s),
    "n_features": lambda s, k: math.prod(s),
    "in_channels": lambda s, k: s[0] if len(s) > 1 else 1,
    "in_chans": lambda s, k: s[0] if len(s) > 1 else 1,
}


def is_user_name(name: str) -> bool:
    """``module:attr`` or ``file.py:attr`` (a registered model's name has no colon)."""
    return ":" in name


def name_of(obj: Any) -> str:
    """``file.py:Name`` for a model class or factory object (``gaplab.train(model=MyNet)``): gaplab imports models by
    name (so worker processes and later sessions build the same one), so it must live at the top level of a file."""
    name = getattr(obj, "__name__", None)
    try:
        file = inspect.getsourcefile(obj)
    except TypeError:
        file = None
    if not name or getattr(obj, "__qualname__", name) != name or not file or not file.endswith(".py") \
            or not Path(file).is_file():
        raise SpecError(f"model.name: {obj!r} is not defined at the top level of a .py file; gaplab imports a model "
                        "by name: move it into a file and pass 'path/to/file.py:Name'")
    return f"{os.path.normpath(file)}:{name}"


def split_name(name: str) -> tuple[str, str]:
    """(module or file path, attribute) of a user model name; the attribute follows the last colon."""
    where, _, attr = name.rpartition(":")
    if not where or not attr:
        raise SpecError(f"model.name: '{name}': give 'path/to/file.py:name' or 'module:name'")
    return where, attr


def is_file_name(name: str) -> bool:
    return split_name(name)[0].endswith(".py")


def resolve_name(name: str, base: Path | None = None) -> str:
    """A file model's path made absolute (relative to ``base``, e.g. a spec file's folder, else the working
    directory), so that worker processes and later sessions find the same file; other names unchanged."""
    if not is_user_name(name) or not is_file_name(name):
        return name
    where, attr = split_name(name)
    p = Path(where).expanduser()
    if not p.is_absolute():
        p = (base or Path.cwd()).resolve() / p
    return f"{os.path.normpath(p)}:{attr}"


_LOADED: dict[str, tuple[str, ModuleType]] = {}  # model module or file -> (code digest, module)


def _purge(files: tuple[str, ...]) -> None:
    """Forget the user's modules among ``files``, so an edited helper module is imported again with its model."""
    mine = set(files)
    for name, mod in list(sys.modules.items()):
        f = getattr(mod, "__file__", None)
        if f and str(Path(f).resolve()) in mine:
            del sys.modules[name]


def _import_file(path: Path) -> ModuleType:
    """Import a .py file as a module, its folder importable (as ``python file.py`` makes it)."""
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    mod_name = f"gaplab_user_{path.stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise SpecError(f"model.name: cannot import model file '{path}'")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        sys.modules.pop(mod_name, None)
        raise SpecError(f"model.name: importing '{path}' failed: {_one_line(e)}") from None
    return module


def _import_module(module_name: str) -> ModuleType:
    """Import ``module_name`` with the working directory importable (a console script does not put it on the path)."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            raise SpecError(f"model.name: no module '{module_name}' in the working directory ({os.getcwd()}) or on "
                            "the Python path; name a file instead: --model path/to/file.py:name") from None
        raise SpecError(f"model.name: importing '{module_name}' failed: {_one_line(e)}") from None
    except Exception as e:
        raise SpecError(f"model.name: importing '{module_name}' failed: {_one_line(e)}") from None


def _load_module(where: str) -> ModuleType:
    """The module of a user model, imported again (with the user's other modules) whenever its code changed."""
    code = code_fingerprint(f"{where}:_")
    cached = _LOADED.get(where)
    if cached is not None and cached[0] == code.digest:
        return cached[1]
    _purge(code.files)
    module = _import_file(Path(where)) if where.endswith(".py") else _import_module(where)
    _LOADED[where] = (code.digest, module)
    return module


def _one_line(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}".replace("\n", " ")


def load_callable(name: str) -> Callable[..., nn.Module]:
    """The factory or ``nn.Module`` subclass that a user model name points at (for a model instance given to gaplab,
    the builder of its re-initialized copies: ``gaplab.models.instance``)."""
    from gaplab.models import instance

    if instance.is_instance_name(name):
        return instance.factory(name)
    where, attr = split_name(name)
    module = _load_module(where)
    fn = getattr(module, attr, None)
    if fn is None or not callable(fn):
        have = sorted(k for k, v in vars(module).items()
                      if not k.startswith("_") and (inspect.isfunction(v) or _is_module_class(v))
                      and getattr(v, "__module__", None) == module.__name__)
        raise SpecError(f"model.name: '{name}': '{where}' has no callable '{attr}'"
                        + (f"; it defines: {', '.join(have)}" if have else ""))
    return fn


def _is_module_class(v: Any) -> bool:
    return inspect.isclass(v) and issubclass(v, nn.Module)


def own_parameters(fn: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    """The keyword parameters a user callable takes from ``model.args``: all but those gaplab fills in (MAPPED)."""
    return {k: p for k, p in _signature(fn).parameters.items()
            if k not in MAPPED and k != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


def _signature(fn: Callable[..., Any]) -> inspect.Signature:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return inspect.Signature()


def call_user(fn: Callable[..., Any], name: str, input_shape: tuple[int, ...], output_dim: int,
              args: dict[str, Any]) -> nn.Module:
    """Build the user's model: mapped parameters by name from the data, ``args`` for the rest."""
    params = _signature(fn).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    if not takes_any:
        unknown = sorted(set(args) - set(params))
        if unknown:
            own = ", ".join(own_parameters(fn)) or "(none)"
            raise SpecError(f"model.args: '{name}' takes no argument(s) {', '.join(map(repr, unknown))}; "
                            f"it takes: {own}")
    kwargs = {k: f(input_shape, output_dim) for k, f in MAPPED.items() if k in params and k not in args}
    kwargs.update(args)
    try:
        model = fn(**kwargs)
    except Exception as e:
        missing = [k for k, p in params.items() if p.default is p.empty and k not in kwargs and k != "self"
                   and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        hint = (f"; give {', '.join(missing)} in model.args (--set model.args.{missing[0]}=...) or name it one of "
                f"{', '.join(MAPPED)} to get it from the data") if missing else ""
        raise SpecError(f"model '{name}': building it raised {_one_line(e)}{hint}") from None
    if not isinstance(model, nn.Module):
        raise SpecError(f"model '{name}': returned a {type(model).__name__}, not an nn.Module")
    return model


def materialize(model: nn.Module, name: str, input_shape: tuple[int, ...]) -> None:
    """Give lazy layers (``nn.LazyLinear``, ...) their shapes with one forward pass on zeros (in eval mode, so no
    running statistics move), as PyTorch's docs advise before training."""
    from torch.nn.modules.lazy import LazyModuleMixin

    if not any(isinstance(m, LazyModuleMixin) and m.has_uninitialized_params() for m in model.modules()):
        return
    was = model.training
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(2, *input_shape))
    except Exception as e:
        raise SpecError(f"model '{name}': its forward on inputs of shape (2, {', '.join(map(str, input_shape))}) "
                        f"raised {_one_line(e)}") from None
    finally:
        model.train(was)


# ---- code fingerprint ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CodeFingerprint:
    """A hash of the user's model code, the files it covered (absolute paths, sorted) and their root folder."""

    digest: str
    files: tuple[str, ...]
    root: Path


def installed_roots() -> list[Path]:
    """The standard library's and site-packages' folders: code there is installed, not the user's own."""
    paths = sysconfig.get_paths()
    roots = {paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    return [Path(r).resolve() for r in roots if r]


def _is_users(path: Path, root: Path, installed: list[Path]) -> bool:
    return (path.is_relative_to(root) and not any(path.is_relative_to(i) for i in installed)
            and "site-packages" not in path.parts)


def _imported_names(tree: ast.AST, package: str | None) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                if not package:
                    continue
                try:
                    base = importlib.util.resolve_name("." * node.level + base, package)
                except ImportError:
                    continue
            names.append(base)
            names += [f"{base}.{a.name}" for a in node.names if base]
    return [n for n in names if n]


def _in_root(module_name: str, root: Path) -> Path | None:
    """The source file of ``module_name`` inside ``root``, found as a fresh interpreter with ``root`` first on its
    path would find it (``a/b.py`` or ``a/b/__init__.py``); None if it is not the user's."""
    base = root.joinpath(*module_name.split("."))
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.is_file():
            return p.resolve()
    return None


def _root_of(where: str) -> tuple[Path, Path, str | None]:
    """(root folder of the user's code, the model's file, its module name) for a file or a module name."""
    if where.endswith(".py"):
        first = Path(where).resolve()
        if not first.is_file():
            raise SpecError(f"model.name: no model file '{where}'")
        return first.parent, first, None
    cwd = Path(os.getcwd()).resolve()
    if str(cwd) not in sys.path:
        sys.path.insert(0, str(cwd))
    found = _in_root(where, cwd)
    if found is not None:
        return cwd, found, where
    try:
        spec = importlib.util.find_spec(where)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise SpecError(f"model.name: no module '{where}' in the working directory ({cwd}) or on the Python path; "
                        "name a file instead: --model path/to/file.py:name")
    origin = Path(spec.origin).resolve()
    depth = where.count(".") + (origin.name == "__init__.py")
    return origin.parents[depth], origin, where


_FINGERPRINTS: dict[tuple[str, str], tuple[tuple[tuple[str, int, int], ...], CodeFingerprint]] = {}


def _stats(files: tuple[str, ...]) -> tuple[tuple[str, int, int], ...] | None:
    try:
        return tuple((f, (st := os.stat(f)).st_mtime_ns, st.st_size) for f in files)
    except OSError:
        return None


def code_fingerprint(name: str) -> CodeFingerprint:
    """Fingerprint of a user model's code, read from disk without importing it: the defining file plus, transitively,
    every module it imports that lives in the user's own folder (the file's folder, or the working directory — or the
    package's parent folder — for ``module:name``). Installed libraries are not the user's code.

    Asked for every model a pack builds and every run a sweep parses, so it is kept while none of its files changed
    (size and modification time): a new import can only come from an edit of a file it already covers."""
    from gaplab.models import instance

    if instance.is_instance_name(name):  # content-addressed: the digest is in the saved file's name
        digest, files = instance.fingerprint_files(name)
        return CodeFingerprint(digest, files, Path(files[0]).parent)
    where, _ = split_name(name)
    key = (where, os.getcwd())
    kept = _FINGERPRINTS.get(key)
    if kept is not None and _stats(kept[1].files) == kept[0]:
        return kept[1]
    fp = _read_fingerprint(where)
    stats = _stats(fp.files)
    if stats is not None:
        _FINGERPRINTS[key] = (stats, fp)
    return fp


def _read_fingerprint(where: str) -> CodeFingerprint:
    root, first, mod_name = _root_of(where)
    installed = installed_roots()
    seen: dict[Path, bytes] = {}
    todo: list[tuple[Path, str | None]] = [(first, mod_name)]
    if mod_name is not None:  # the packages above the model's module run when it is imported
        parts = mod_name.split(".")
        todo += [(p, ".".join(parts[:i])) for i in range(1, len(parts))
                 if (p := _in_root(".".join(parts[:i]), root)) is not None]
    while todo:
        path, mod = todo.pop()
        if path in seen:
            continue
        source = path.read_bytes()
        seen[path] = source
        package = None if mod is None else mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        try:
            tree = ast.parse(source, filename=str(path))
        except SyntaxError:
            continue
        for imported in _imported_names(tree, package):
            # importing a.b.c runs a/__init__.py and a/b/__init__.py first: they are the model's code too
            parts = imported.split(".")
            for name in (".".join(parts[:i]) for i in range(1, len(parts) + 1)):
                origin = _in_root(name, root)
                if origin is not None and origin not in seen and _is_users(origin, root, installed):
                    todo.append((origin, name))
    h = hashlib.sha256()
    files = sorted(seen)
    for p in files:
        h.update(os.path.relpath(p, root).encode() + b"\0" + hashlib.sha256(seen[p]).digest())
    return CodeFingerprint(h.hexdigest()[:16], tuple(str(p) for p in files), root)
