"""``loss=`` and ``optimizer=`` as a PyTorch user writes them (``nn.CrossEntropyLoss(label_smoothing=0.1)``,
``torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)``) mapped onto the spec's fields, or refused with the
field named when gaplab's engine cannot train that exactly (it trains cross-entropy or MSE, chosen by the data, with
SGD, Adam or AdamW and one setting for every parameter)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gaplab.errors import SpecError

CROSS_ENTROPY, MSE = "cross-entropy", "mean squared error"
_LOSS_NAMES = {"cross_entropy": CROSS_ENTROPY, "crossentropy": CROSS_ENTROPY, "crossentropyloss": CROSS_ENTROPY,
               "ce": CROSS_ENTROPY, "mse": MSE, "mse_loss": MSE, "mseloss": MSE}
_OPTIMIZERS = {torch.optim.SGD: "sgd", torch.optim.Adam: "adam", torch.optim.AdamW: "adamw"}
# optimizer settings with a spec field; any other setting must be at its default (else the run would differ)
_DEFAULTS = {"dampening": 0, "amsgrad": False, "maximize": False, "capturable": False, "differentiable": False}
_IGNORED = {"params", "foreach", "fused", "initial_lr", "decoupled_weight_decay"}


def loss_kind(loss: Any) -> tuple[str | None, dict[str, Any]]:
    """(cross-entropy or MSE, spec overrides it implies) for a loss given as a name, a loss module, its class or
    ``F.cross_entropy``/``F.mse_loss``; None for no loss given."""
    if loss is None:
        return None, {}
    if isinstance(loss, str):
        kind = _LOSS_NAMES.get(loss.lower().replace("-", "_").replace(" ", "_"))
        if kind is None:
            raise SpecError(f"loss: unknown loss {loss!r}; gaplab trains with 'cross_entropy' (classification) or "
                            "'mse' (regression)")
        return kind, {}
    if loss in (F.cross_entropy, nn.CrossEntropyLoss):
        return CROSS_ENTROPY, {}
    if loss in (F.mse_loss, nn.MSELoss):
        return MSE, {}
    if isinstance(loss, nn.CrossEntropyLoss):
        if loss.weight is not None or loss.reduction != "mean":
            raise SpecError("loss: CrossEntropyLoss with class weights or reduction other than 'mean' is not what "
                            "gaplab trains (unweighted mean cross-entropy); resample the classes instead")
        return CROSS_ENTROPY, ({"reg.label_smoothing": loss.label_smoothing} if loss.label_smoothing else {})
    if isinstance(loss, nn.MSELoss):
        if loss.reduction != "mean":
            raise SpecError("loss: MSELoss(reduction=...) other than 'mean' is not what gaplab trains")
        return MSE, {}
    what = type(loss).__name__ if isinstance(loss, nn.Module) else getattr(loss, "__name__", type(loss).__name__)
    raise SpecError(f"loss: gaplab trains with cross-entropy (classification) or mean squared error (regression), "
                    f"chosen from the data; {what} is neither, so the diagnosis would not be of your training")


def check_loss(kind: str | None, task: str) -> None:
    """The loss given matches what the data's task trains with."""
    if kind is None:
        return
    want = CROSS_ENTROPY if task == "classification" else MSE
    if kind != want:
        raise SpecError(f"loss: {kind} given, but the data is {task} (its targets are "
                        f"{'class labels' if task == 'classification' else 'continuous'}); gaplab trains it with "
                        f"{want}")


def optimizer_overrides(opt: Any) -> dict[str, Any]:
    """Spec overrides for an optimizer given as a name, an optimizer class or an optimizer instance."""
    if isinstance(opt, str):
        return {"optim.name": opt}
    cls = opt if isinstance(opt, type) else type(opt)
    name = _OPTIMIZERS.get(cls)
    if name is None:
        raise SpecError(f"optimizer: gaplab trains with SGD, Adam or AdamW; got {cls.__name__}")
    if isinstance(opt, type):
        return {"optim.name": name}
    groups = [{k: v for k, v in g.items() if k not in _IGNORED} for g in opt.param_groups]
    if any(g != groups[0] for g in groups[1:]):
        diff = sorted(k for k in groups[0] if any(g.get(k) != groups[0][k] for g in groups[1:]))
        raise SpecError(f"optimizer: its {len(groups)} parameter groups differ in {', '.join(diff)}; gaplab trains "
                        "every parameter with one setting")
    g = groups[0]
    for k, default in _DEFAULTS.items():
        if k in g and g[k] != default:
            raise SpecError(f"optimizer: {cls.__name__}({k}={g[k]!r}) has no gaplab equivalent; leave it at "
                            f"{default!r}")
    out: dict[str, Any] = {"optim.name": name, "optim.lr": float(g["lr"]), "optim.eps": float(g.get("eps", 1e-8))}
    if name == "sgd":
        out.update({"optim.momentum": float(g.get("momentum", 0.0)), "optim.nesterov": bool(g.get("nesterov"))})
    else:
        out["optim.betas"] = [float(b) for b in g["betas"]]
    wd = float(g.get("weight_decay", 0.0))
    if wd and name == "adamw":
        out["reg.weight_decay"] = wd  # decoupled, w ← w − lr·wd·w: the engine's reg.weight_decay exactly
    elif wd:
        raise SpecError(f"optimizer: {cls.__name__}(weight_decay={wd:g}) adds wd·w to the gradient; gaplab's L2 is "
                        f"λ/(2m)·Σ‖W‖², so give l2=wd·m (m: the training examples) and weight_decay=0 "
                        "(or use AdamW, whose decoupled decay maps exactly)")
    return out


def expand(overrides: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """``overrides`` with ``loss`` taken out (its kind returned) and an optimizer object turned into spec keys."""
    rest = dict(overrides)
    kind, extra = loss_kind(rest.pop("loss", None))
    opt = rest.pop("optimizer", None)
    if opt is not None:
        extra = {**extra, **optimizer_overrides(opt)}
    lr = rest.pop("lr", None)
    if lr is not None:
        extra["optim.lr"] = lr  # an explicit lr= wins over the optimizer's
    return {**extra, **rest}, kind
