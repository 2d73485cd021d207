"""Checks of run specs before anything trains: registry names and arguments, device, data and model.

Each raises a ``SpecError``/``DataError`` naming the field or file, which the CLI prints as one line (exit 2).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gaplab.data import registry as data_registry
from gaplab.errors import GaplabError
from gaplab.models import registry as model_registry
from gaplab.regularize.catalog import AUGMENTATIONS
from gaplab.spec import RunSpec, SpecError, format_error


def check_registries(spec: RunSpec, lines: dict[str, int] | None) -> None:
    """Model and data-set names and arguments are checked against their registries."""
    def fail(path: str, msg: str) -> None:
        where = f" (line {lines[path]})" if lines and path in lines else ""
        raise SpecError(f"{path}{where}: {msg}")

    if ":" in spec.model.name:
        model_registry.get_factory(spec.model.name)  # the import path resolves to a callable
    else:
        known = model_registry.list_models()
        if spec.model.name not in known:
            fail("model.name", f"unknown model '{spec.model.name}'; choose from: {', '.join(sorted(known))}")
        allowed = model_registry.model_kwargs(spec.model.name)
        for k in spec.model.args:
            if k not in allowed or k == "dropout":
                hint = " (set dropout in reg.dropout)" if k == "dropout" else ""
                fail(f"model.args.{k}", f"unknown argument of model '{spec.model.name}'{hint}; "
                     f"choose from: {', '.join(sorted(a for a in allowed if a != 'dropout'))}")
    if spec.data.path is None:
        known = data_registry.list_datasets()
        if spec.data.name not in known:
            fail("data.name", f"unknown data set '{spec.data.name}'; choose from: {', '.join(sorted(known))}")
    try:
        data_registry.dataset_args_model(spec.data.name if spec.data.path is None else data_registry.FILE)(
            **spec.data.args)
    except ValidationError as e:
        raise SpecError(format_error(e, "data.args", lines)) from None


def check_device(device: str) -> None:
    """A CUDA or MPS device needs a torch build (and a machine) that has it; say which build to install."""
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        if torch.version.cuda is None:
            raise SpecError(f"device '{device}': this torch build ({torch.__version__}) has no CUDA support; "
                            "install a CUDA build of torch (https://pytorch.org/get-started/locally/) or use "
                            "--device cpu")
        raise SpecError(f"device '{device}': torch {torch.__version__} has CUDA {torch.version.cuda} but sees no "
                        "CUDA device on this machine; use --device cpu")
    if device == "mps" and not torch.backends.mps.is_available():
        raise SpecError("device 'mps': not available (it needs Apple silicon and a torch build with MPS); "
                        "use --device cpu")


def check_augment(spec: RunSpec, input_shape: tuple[int, ...]) -> None:
    """Image augmentations need (C, H, W) inputs; CutMix needs signals (L,) or images (C, H, W)."""
    for i, a in enumerate(spec.reg.augment):
        if AUGMENTATIONS[a.name].images_only and len(input_shape) != 3:
            raise SpecError(f"reg.augment.{i}: '{a.name}' needs image inputs (C, H, W) but data set "
                            f"'{spec.data.name}' has inputs of shape {input_shape}; use shift or noise")
    if spec.reg.cutmix > 0 and len(input_shape) not in (1, 3):
        raise SpecError(f"reg.cutmix: needs signals (L,) or images (C, H, W), got inputs of shape {input_shape}")


def check_data(spec: RunSpec) -> None:
    """Load the run's data, draw its view and build its model once, so a bad file, column, size or model
    argument fails with a message before anything trains."""
    from gaplab.engine.datacache import prepared_for
    from gaplab.models import create_model, has_dropout

    ds = prepared_for(spec).dataset  # DataError / SpecError naming the file, column or field
    check_augment(spec, ds.input_shape)
    try:
        model = create_model(spec.model.name, ds.input_shape, ds.output_dim, **spec.model.args)
    except GaplabError:
        raise
    except (ValueError, TypeError) as e:  # a factory rejecting a user's argument value (e.g. activation='foo')
        raise SpecError(f"model.args: model '{spec.model.name}' rejects its arguments: {e}") from None
    if ":" in spec.model.name:
        if spec.reg.dropout and not has_dropout(model):  # reg.dropout sets the rate of a user model's dropout layers
            raise SpecError(f"reg.dropout: model '{spec.model.name}' has no dropout layer (nn.Dropout, "
                            "Dropout1d/2d/3d, AlphaDropout) whose rate it could set; add one to the model or leave "
                            "reg.dropout out")
        check_user_model(model, spec.model.name, ds.x_train[:2], ds.output_dim)


def check_user_model(model: Any, name: str, x: Any, output_dim: int) -> None:
    """A user's model must train: trainable parameters, a forward that runs on a batch of the data in training and
    evaluation mode, outputs of shape (B, output_dim), finite at initialization. Each failure names the cause."""
    import torch

    if not any(p.requires_grad for p in model.parameters()):
        raise SpecError(f"model '{name}': it has no trainable parameters (every parameter has requires_grad=False "
                        "or the model holds none)")
    shape = f"({', '.join(map(str, x.shape))})"
    for mode in ("train", "eval"):
        model.train(mode == "train")
        try:
            with torch.no_grad():
                out = model(x)
        except Exception as e:
            raise SpecError(f"model '{name}': its forward in {mode} mode on a batch of shape {shape} raised "
                            f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}; the data's inputs are "
                            f"(B, {', '.join(map(str, x.shape[1:]))})") from None
        if not isinstance(out, torch.Tensor):
            raise SpecError(f"model '{name}': its forward returned a {type(out).__name__}; it must return one tensor "
                            f"of shape (B, {output_dim})")
        if tuple(out.shape) != (x.shape[0], output_dim):
            got = ", ".join(map(str, out.shape))
            raise SpecError(f"model '{name}': its forward returned shape ({got}) for a batch of {x.shape[0]}; "
                            f"expected ({x.shape[0]}, {output_dim}) (one output per class or target)")
        if not bool(torch.isfinite(out).all()):
            raise SpecError(f"model '{name}': its outputs at initialization are not finite (NaN or inf); check the "
                            "initialization and any division or log in forward")
    model.train()


def check_runs(specs: list[RunSpec], lines: dict[str, int] | None = None) -> None:
    """Every check above for each distinct (data, model, device) of ``specs``: a sweep fails up front, not per pack."""
    seen: set[str] = set()
    for s in specs:
        key = json.dumps([s.data.model_dump(mode="json"), s.model.model_dump(mode="json"), s.device],
                         sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        check_registries(s, lines)
        check_device(s.device)
        check_data(s)


def with_fingerprint(spec: RunSpec, seen: dict[str, Any] | None = None, base: Path | None = None) -> RunSpec:
    """Record the content fingerprints of a user data file and of a user model's code in the spec (so its run id
    follows the content), a model file's path made absolute (relative to ``base``, a spec file's folder, else the
    working directory).

    ``seen`` (path or model name → fingerprint) lets the runs of one sweep hash each file once instead of once per run.
    """
    from gaplab.data.readers import fingerprint
    from gaplab.models import user

    seen = {} if seen is None else seen
    changes: dict[str, Any] = {}
    path = spec.data.path
    if path is not None:
        try:
            if path not in seen:
                seen[path] = fingerprint(path)
        except OSError as e:
            raise SpecError(f"data.path: {e}") from None
        changes["data.fingerprint"] = seen[path]
    name = spec.model.name
    if user.is_user_name(name):
        name = user.resolve_name(name, base)
        key = f"model:{name}"
        if key not in seen:
            seen[key] = user.code_fingerprint(name)
        code = seen[key]
        changes.update({"model.name": name, "model.fingerprint": code.digest, "model.files": list(code.files)})
    return spec.replace(**changes) if changes else spec
