r"""Weight penalties on stacked packs of K models, in the seeds' (Andrew Ng's course) convention.

The convention: J = (1/m) Σ_i L_i + λ/(2m) Σ_l ‖W^[l]‖²_F, whose gradient adds (λ/m)·W, so one gradient step
is W ← W(1 − αλ/m) − α·backprop ("weight decay"). Here m is the number of training examples, λ the
regularization strength, α the learning rate. The L1 analogue is λ/(2m)·Σ|W| (the course's λ/(2m)‖w‖₁).

How λ maps to other libraries (derivations in ``convention_table()``; every mapping is tested numerically):

* scikit-learn ``Ridge(alpha)`` minimizes ‖y − Xw‖² + α‖w‖² (a *sum*, not a mean). With the per-example loss
  L = (y − ŷ)² (no ½), m·J = ‖y − Xw‖² + (λ/2)‖w‖², so α = λ/2. If L = ½(y − ŷ)² (the course's linear
  regression cost), 2m·J = ‖y − Xw‖² + λ‖w‖², so α = λ.
* scikit-learn ``Lasso(alpha)`` minimizes (1/(2m))‖y − Xw‖² + α‖w‖₁; with L = (y − ŷ)², J/2 has that form
  with α = λ/(4m).
* scikit-learn ``LogisticRegression(C)`` (L2) minimizes ½‖w‖² + C Σ_i CE_i; (m/λ)·J has that form, so
  C = 1/λ. For the L1 penalty (‖w‖₁ + C Σ CE_i): C = 2/λ.
* Keras ``regularizers.l2(l)`` adds l·Σw² to the (batch-mean) loss, so l = λ/(2m); ``l1(l)`` likewise.
* PyTorch ``SGD(weight_decay=wd)`` adds wd·w to the gradient, so wd = λ/m (same for ``Adam``, which couples
  it into the adaptive step). ``AdamW``'s decoupled decay w ← w − lr·wd·w is *not* an L2 penalty under
  adaptive steps (Loshchilov & Hutter 2019); it matches λ/m only for plain SGD.

All the mappings assume the data loss is the mean over the m training examples (full batch; with
mini-batches of mean loss the gradient is an unbiased estimate of the same J).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _NormBase

_NORM_TYPES: tuple[type[nn.Module], ...] = (_NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm)
if hasattr(nn, "RMSNorm"):
    _NORM_TYPES = (*_NORM_TYPES, nn.RMSNorm)


def penalized(module: nn.Module, include_bias: bool = False, include_norm: bool = False) -> list[str]:
    """Names (as in ``named_parameters()``) of the parameters a weight penalty applies to.

    Biases (last name component starting with 'bias', which also covers RNN 'bias_ih_l0') and parameters of
    normalization layers (BatchNorm*/InstanceNorm*/LayerNorm/GroupNorm/RMSNorm) are left out unless asked.
    """
    out: list[str] = []
    for name, _ in module.named_parameters():
        owner_name, _, leaf = name.rpartition(".")
        owner = module.get_submodule(owner_name) if owner_name else module
        if isinstance(owner, _NORM_TYPES):
            if include_norm:
                out.append(name)
            continue
        if leaf.startswith("bias") and not include_bias:
            continue
        out.append(name)
    return out


def _per_model(v: Tensor | float, ref: Tensor) -> Tensor:
    """A (K,) tensor (or scalar) as float on ``ref``'s device/dtype."""
    return torch.as_tensor(v, dtype=ref.dtype, device=ref.device)


def _sum_per_model(params: dict[str, Tensor], names: Iterable[str], fn) -> Tensor:
    total: Tensor | None = None
    for n in names:
        p = params[n]
        s = fn(p).reshape(p.shape[0], -1).sum(dim=1)
        total = s if total is None else total + s
    if total is None:
        raise ValueError("names is empty: nothing to penalize")
    return total


def l2_grad_scale(lam: Tensor, m: Tensor) -> Tensor:
    """λ/m: the gradient of λ/(2m)·‖W‖²_F is (λ/m)·W."""
    return lam / m


def l1_grad_scale(lam: Tensor, m: Tensor) -> Tensor:
    """λ/(2m): the (sub)gradient of λ/(2m)·Σ|W| is λ/(2m)·sign(W)."""
    return lam / (2 * m)


def add_penalty_grads_(g: Tensor, w: Tensor, c_l2: Tensor | None, c_l1: Tensor | None) -> None:
    """Add the penalties' gradients to ``g`` in place: ``c_l2``·W + ``c_l1``·sign(W), where the coefficients are
    the grad scales above times a 0/1 mask of penalized entries (None: penalty off). The engine's step on its
    flat (K, P) weights, called under ``torch.no_grad``; ``l2_penalty``/``l1_penalty`` are the same penalties as
    values (tests compare them)."""
    if c_l2 is not None:
        g.addcmul_(w, c_l2)
    if c_l1 is not None:
        g.addcmul_(w.sign(), c_l1)


def l2_penalty(params: dict[str, Tensor], names: Iterable[str], lam: Tensor, m: Tensor) -> Tensor:
    """Per-model λ/(2m)·Σ‖W‖²_F over ``names``; params stacked (K, ...), lam and m (K,). Returns (K,)."""
    sq = _sum_per_model(params, names, lambda p: p * p)
    return _per_model(lam, sq) / (2.0 * _per_model(m, sq)) * sq


def l1_penalty(params: dict[str, Tensor], names: Iterable[str], lam: Tensor, m: Tensor) -> Tensor:
    """Per-model λ/(2m)·Σ|W| over ``names`` (the course's λ/(2m)‖w‖₁). Returns (K,)."""
    ab = _sum_per_model(params, names, torch.abs)
    return _per_model(lam, ab) / (2.0 * _per_model(m, ab)) * ab


@torch.no_grad()
def l1_prox_(params: dict[str, Tensor], names: Iterable[str], thresh: Tensor) -> None:
    """In-place soft-threshold w ← sign(w)·max(|w| − t_k, 0): the proximal step of t·‖w‖₁ (ISTA).

    After a gradient step with learning rate α on the data loss, t = α·λ/(2m) applies the L1 penalty exactly.
    """
    for n in names:
        p = params[n]
        t = _per_model(thresh, p).reshape(-1, *([1] * (p.dim() - 1)))
        p.copy_(torch.sign(p) * torch.clamp(p.abs() - t, min=0.0))


def convention_table() -> str:
    """How the seeds' λ maps to other libraries' knobs, with one-line derivations."""
    rows = [
        ("library knob", "objective it scales", "equals (seeds' λ, m)", "derivation"),
        ("seeds (Ng)", "J=(1/m)ΣL + λ/(2m)Σ‖W‖²_F", "λ", "grad adds (λ/m)W"),
        ("sklearn Ridge alpha", "‖y−Xw‖² + α‖w‖²", "α = λ/2", "m·J with L=(y−ŷ)²; α=λ if L=½(y−ŷ)²"),
        ("sklearn Lasso alpha", "(1/2m)‖y−Xw‖² + α‖w‖₁", "α = λ/(4m)", "J/2, L=(y−ŷ)², L1 term λ/(2m)‖w‖₁"),
        ("sklearn LogisticRegression C (l2)", "½‖w‖² + CΣCE", "C = 1/λ", "(m/λ)·J"),
        ("sklearn LogisticRegression C (l1)", "‖w‖₁ + CΣCE", "C = 2/λ", "(2m/λ)·J with L1 term λ/(2m)‖w‖₁"),
        ("Keras regularizers.l2(l)", "mean L + l·Σw²", "l = λ/(2m)", "term by term"),
        ("Keras regularizers.l1(l)", "mean L + l·Σ|w|", "l = λ/(2m)", "term by term"),
        ("torch SGD/Adam weight_decay", "grad + wd·w", "wd = λ/m", "∇[λ/(2m)‖w‖²] = (λ/m)w"),
        ("torch AdamW weight_decay", "w ← w − lr·wd·w (decoupled)", "≈ λ/m (SGD only)", "not L2 under Adam"),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    lines.append("Assumes the data loss is a mean over m examples; sklearn objectives are sums (not Lasso).")
    return "\n".join(lines)
