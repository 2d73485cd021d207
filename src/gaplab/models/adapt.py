"""Make a user's ``nn.Module`` exact in a pack: its random and stateful layers swapped for gaplab's own.

``nn.Dropout``/``Dropout1d/2d/3d``/``AlphaDropout``/``FeatureAlphaDropout`` become ``layers.Dropout`` (counter-based
masks keyed per model, so a model's masks do not depend on its pack-mates) and ``nn.BatchNorm1d/2d/3d`` become
``layers.BatchNorm`` (running statistics updated on stacked buffers, padding rows excluded). Parameters, buffers and
rates are carried over, so the swapped model computes what the user's computes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from gaplab.errors import SpecError
from gaplab.models.layers import BatchNorm, Dropout

_DROPOUT_KINDS: dict[type[nn.Module], str] = {
    nn.Dropout: "element", nn.Dropout1d: "channel", nn.Dropout2d: "channel", nn.Dropout3d: "channel",
    nn.AlphaDropout: "alpha", nn.FeatureAlphaDropout: "feature_alpha",
}
_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
# layers whose forward keeps state or draws random numbers in a way a stacked pack cannot reproduce
_UNSUPPORTED: dict[type[nn.Module], str] = {
    nn.SyncBatchNorm: "use nn.BatchNorm*d (one process trains the whole pack)",
    nn.RReLU: "RReLU draws random slopes in training; use nn.LeakyReLU",
}


@dataclass
class Adapted:
    """What ``adapt`` swapped: module names by kind (for the plan, ``--dry-run`` and error messages)."""

    dropouts: list[str] = field(default_factory=list)
    batch_norms: list[str] = field(default_factory=list)
    attention_dropouts: list[str] = field(default_factory=list)


def _set_child(root: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, leaf = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, leaf, new)


def adapt(model: nn.Module, where: str = "model") -> Adapted:
    """Swap, in place, the dropout and batch-norm modules of ``model`` for pack-safe equivalents (see module doc).

    A layer that cannot be made exact in a pack raises a SpecError naming it and ``where`` it comes from.
    """
    out = Adapted()
    for name, m in list(model.named_modules()):
        if type(m) in _UNSUPPORTED:
            raise SpecError(f"{where}: layer '{name}' ({type(m).__name__}) is not supported: {_UNSUPPORTED[type(m)]}")
        kind = _DROPOUT_KINDS.get(type(m))
        if kind is not None:
            d = Dropout(float(m.p), kind=kind)  # type: ignore[arg-type]
            _set_child(model, name, d.train(m.training))
            out.dropouts.append(name)
        elif type(m) in _BATCH_NORMS:
            _set_child(model, name, BatchNorm.like(m))  # type: ignore[arg-type]
            out.batch_norms.append(name)
        elif isinstance(m, nn.MultiheadAttention) and m.dropout > 0:
            out.attention_dropouts.append(name)
    return out
