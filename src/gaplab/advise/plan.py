"""The advise plan: training-set sizes, configurations (plain, regularizers, widths), seeds, epochs and its time.

Every size trains with the same recipe (optimizer, batch) until it converges: a patience rule on its training loss
(stop once it has not fallen by ``CONVERGE_MIN_DELTA`` for about ``CONVERGE_STEPS`` optimizer steps; the weights of
the lowest loss are kept), capped at the recipe's epochs (at least ``min_steps`` steps at small sizes). The
early-stopping configurations stop on their validation loss instead. Convergence is judged on the training loss,
not a validation split: a validation rule would make every configuration an early-stopped one (and spend a fifth
of the user's examples). Every run is evaluated on the data set's one fixed test set. The budget gives up seeds,
configurations and sizes before it lowers the cap; the estimate (from two tiny timed packs, ``estimate.py``)
counts every run at its cap, so it bounds the time from above.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

from gaplab.engine import with_fingerprint
from gaplab.errors import DataError, SpecError
from gaplab.models import create_model, has_dropout, user
from gaplab.spec import DataSpec, RegSpec, RunSpec, parse_run

# L2 strengths λ (penalty λ/(2m)·Σ‖W‖², m = training-set size), dropout rate, early-stopping hold-out and patience
L2_STRENGTHS = (1.0, 10.0, 100.0)
DROPOUT = 0.3
ES_FRACTION = 0.2
ES_PATIENCE = 10
# configurations given up first when the budget is short (the plain model is never dropped)
DROP_ORDER = ("width-x2", "l2-1", "l2-100", "width-x0.5", "combined", "dropout")
MIN_SIZES = 5
SIZES = 7  # sizes measured when the budget allows: 4-parameter curves fitted without the 2 largest keep 5 points
MIN_SEEDS = 3
# the convergence rule of runs without early stopping: patience ≈ CONVERGE_STEPS optimizer steps (at least
# CONVERGE_MIN_EPOCHS epochs), an improvement counts when the training loss falls by more than CONVERGE_MIN_DELTA
CONVERGE_STEPS = 100
CONVERGE_MIN_EPOCHS = 2
CONVERGE_MIN_DELTA = 1e-3


@dataclass(frozen=True)
class Config:
    """One configuration of the sweep: a name, what it is in words, and the spec keys it changes."""

    name: str
    label: str
    overrides: dict[str, Any] = field(default_factory=dict)
    early_stopping: bool = False  # carves a validation split out of the n examples


@dataclass
class Plan:
    """What advise will train: every (configuration, size, seed) run and the recipe they share."""

    data: dict[str, Any]  # DataSpec fields without train_size / val_fraction
    kind: str  # tabular, signal or image
    model: str
    model_args: dict[str, Any]
    n_user: int
    pool: int
    sizes: list[int]
    configs: list[Config]
    seeds: int
    epochs: int
    min_steps: int
    batch_size: int
    lr: float
    notes: list[str] = field(default_factory=list)
    estimate_seconds: float | None = None
    budget_seconds: float | None = None
    optimizer: str = "adam"
    recipe_source: str = "advise's default"
    converge: bool = True  # the patience rule on the training loss (False: every run trains the full cap)
    weight_decay: float = 0.0  # the user's decoupled weight decay (AdamW's), part of the recipe of every run
    hashed: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # fingerprints, once per plan

    @property
    def group(self) -> str:
        """Store group of this plan's runs: data + model (+ a hash of everything else the runs depend on)."""
        d = self.data
        label = d.get("path") or d.get("name", "data")
        label = str(label).rstrip("/").split("/")[-1]
        h = hashlib.sha256(json.dumps([d, self.model, self.model_args, self.n_user], sort_keys=True,
                                      default=str).encode()).hexdigest()[:8]
        return f"advise/{label}-n{self.n_user}-{self.model.rsplit('/', 1)[-1]}-{h}"

    def epochs_for(self, train_size: int) -> int:
        """Epochs at one size: the plan's epochs, or more so the run takes at least ``min_steps`` steps."""
        steps = -(-train_size // self.batch_size)
        return max(self.epochs, -(-self.min_steps // steps))

    def patience_for(self, train_size: int) -> int:
        """Epochs without a training-loss improvement before a run counts as converged: ≈ ``CONVERGE_STEPS``."""
        steps = -(-train_size // self.batch_size)
        return max(CONVERGE_MIN_EPOCHS, -(-CONVERGE_STEPS // steps))

    def spec(self, config: Config, size: int, seed: int) -> RunSpec:
        """The run of ``config`` with ``size`` examples in total (early stopping: 80 % train, 20 % validation)."""
        train, val_fraction = size, 0.0
        if config.early_stopping:
            n_val = max(2, round(ES_FRACTION * size))
            train, val_fraction = size - n_val, n_val / self.pool
        epochs = self.epochs_for(train)
        raw: dict[str, Any] = {
            "data": {**self.data, "train_size": train, "val_fraction": val_fraction},
            "model": {"name": self.model, "args": dict(self.model_args)},
            "optim": {"name": self.optimizer, "lr": self.lr, "batch_size": self.batch_size, "epochs": epochs},
            "seed": seed,
            "eval_every": max(1, epochs // 10),
        }
        if config.early_stopping:
            raw["reg"] = {"early_stopping": {"monitor": "val_loss", "patience": ES_PATIENCE}}
        elif self.converge:
            raw["reg"] = {"early_stopping": {"monitor": "train_loss", "patience": self.patience_for(train),
                                             "min_delta": CONVERGE_MIN_DELTA}}
        if self.weight_decay:
            raw.setdefault("reg", {})["weight_decay"] = self.weight_decay
        spec = parse_run(raw)
        spec = spec.replace(**config.overrides) if config.overrides else spec
        # a user model's code fingerprint enters its run ids (hashed once per plan)
        return with_fingerprint(spec, self.hashed) if user.is_user_name(self.model) else spec

    def runs(self) -> list[tuple[Config, int, int, RunSpec]]:
        """Every run: (configuration, size, seed, spec)."""
        return [(c, n, s, self.spec(c, n, s)) for c in self.configs for n in self.sizes for s in range(self.seeds)]

    def to_json(self) -> dict[str, Any]:
        return {"group": self.group, "data": self.data, "kind": self.kind, "model": self.model,
                "model_args": self.model_args, "n_user": self.n_user, "pool": self.pool, "sizes": self.sizes,
                "configs": [{"name": c.name, "label": c.label} for c in self.configs], "seeds": self.seeds,
                "epochs": self.epochs, "min_steps": self.min_steps, "batch_size": self.batch_size, "lr": self.lr,
                "optimizer": self.optimizer, "weight_decay": self.weight_decay, "recipe_source": self.recipe_source,
                "converge": self.converge,
                "models": len(self.configs) * len(self.sizes) * self.seeds, "notes": self.notes,
                "estimate_seconds": self.estimate_seconds, "budget_seconds": self.budget_seconds}

    def describe(self) -> str:
        """The plan in a few lines, printed before training."""
        est = "" if self.estimate_seconds is None else f", estimated {format_seconds(self.estimate_seconds)}"
        bud = "" if self.budget_seconds is None else f" (budget {format_seconds(self.budget_seconds)})"
        args = ", ".join(f"{k}={v}" for k, v in self.model_args.items())
        lines = [
            f"plan: {len(self.configs) * len(self.sizes) * self.seeds} models = {len(self.configs)} configurations × "
            f"{len(self.sizes)} sizes × {self.seeds} seeds{est}{bud}",
            f"  data: {self.group.split('/', 1)[1].rsplit('-', 2)[0]} ({self.kind}), your n = {self.n_user}; "
            f"sizes {', '.join(map(str, self.sizes))}; one fixed test set for all",
            f"  model: {self.model}({args}); recipe ({self.recipe_source}): {self.optimizer} lr {self.lr:g}, batch "
            f"{self.batch_size}"
            + (f", weight decay {self.weight_decay:g} (decoupled) in every configuration" if self.weight_decay else "")
            + "; " + (f"every size trained until its training loss stops falling (patience ≈ "
                                      f"{CONVERGE_STEPS} steps, min. improvement {CONVERGE_MIN_DELTA:g}), capped at "
                                      if self.converge else "")
            + f"{self.epochs} epochs (at least {self.min_steps} steps at small sizes); early-stopping "
              f"configurations stop on their validation loss",
            "  configurations: " + "; ".join(f"{c.name} ({c.label})" for c in self.configs),
        ]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def format_seconds(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


def parse_budget(text: str | float | int | None) -> float:
    """A time budget: '90s', '5m', '1.5h' or a number of seconds."""
    if text is None:
        return 300.0
    if isinstance(text, int | float):
        value = float(text)
    else:
        t = text.strip().lower()
        unit = {"s": 1.0, "m": 60.0, "h": 3600.0}.get(t[-1:], None)
        try:
            value = float(t[:-1]) * unit if unit else float(t)
        except ValueError:
            raise SpecError(f"budget: cannot read {text!r}; use e.g. 90s, 5m or 1h") from None
    if not value > 0:
        raise SpecError(f"budget must be positive, got {text!r}")
    return value


def data_kind(input_shape: tuple[int, ...], name: str, path: str | None) -> str:
    """image for (C, H, W) inputs, signal for MNIST-1D and (C, L) inputs, else tabular."""
    if len(input_shape) == 3:
        return "image"
    if (path is None and name == "mnist1d") or len(input_shape) == 2:
        return "signal"
    return "tabular"


DEFAULT_MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "image": ("cnn2d", {"channels": 16, "pool": "flatten"}), "signal": ("mlp", {"width": 128}),
                  "tabular": ("mlp", {"width": 128})}
WIDTH_ARG = {"mlp": "width", "cnn2d": "channels", "cnn1d": "channels", "random-features": "width"}


def augmentations(kind: str, input_shape: tuple[int, ...], flip: bool, tabular_noise: float | None) -> list[dict]:
    """The augmentation that fits the data: shift + noise for 1-D signals, crop (+ flip when asked) for images,
    input noise for tabular data only when asked."""
    if kind == "signal":
        return [{"name": "shift", "amount": 3}, {"name": "noise", "amount": 0.1}]
    if kind == "image":
        aug = [{"name": "crop", "amount": max(1, min(input_shape[1:]) // 8)}]
        return aug + ([{"name": "flip"}] if flip else [])
    if tabular_noise:
        return [{"name": "noise", "amount": float(tabular_noise)}]
    return []


def configurations(model: str, model_args: dict[str, Any], aug: list[dict], dropout: bool = True) -> list[Config]:
    """Plain; L2 at three strengths; dropout (where the model has dropout layers); early stopping; augmentation;
    a combination; two more widths. Plain sets every dropout rate to 0 (a user model's layers included)."""
    cs = [Config("plain", "no regularization", {"reg.dropout": 0.0} if dropout else {})]
    cs += [Config(f"l2-{lam:g}", f"L2 λ={lam:g}", {**cs[0].overrides, "reg.l2": lam}) for lam in L2_STRENGTHS]
    if dropout:
        cs.append(Config("dropout", f"dropout {DROPOUT}", {"reg.dropout": DROPOUT}))
    cs.append(Config("early-stop", f"early stopping on a {ES_FRACTION:.0%} validation split", cs[0].overrides,
                     early_stopping=True))
    aug_text = " + ".join(a["name"] for a in aug)
    if aug:
        cs.append(Config("augment", f"augmentation: {aug_text}", {**cs[0].overrides, "reg.augment": aug}))
    combo = {"reg.l2": L2_STRENGTHS[1], "reg.dropout": DROPOUT if dropout else None,
             **({"reg.augment": aug} if aug else {})}
    drop_text = f" + dropout {DROPOUT}" if dropout else ""
    cs.append(Config("combined", f"L2 λ={L2_STRENGTHS[1]:g}{drop_text}" + (f" + {aug_text}" if aug else "")
                     + " + early stopping", {k: v for k, v in combo.items() if v is not None}, early_stopping=True))
    arg = WIDTH_ARG.get(model)
    if arg is not None:
        from gaplab.models import model_kwargs

        w = int(model_args.get(arg, model_kwargs(model)[arg].default))
        for f, name in ((0.5, "width-x0.5"), (2.0, "width-x2")):
            cs.append(Config(name, f"{arg} {max(1, int(w * f))} (plain)", {f"model.args.{arg}": max(1, int(w * f))}))
    return cs


def training_sizes(n_user: int, n_classes: int, count: int = SIZES) -> list[int]:
    """``count`` sizes spaced by a constant factor from n/16 (or max(50, 5 per class) when that is larger) up to
    ``n_user``; sizes that round to the same number are kept once."""
    n_min = max(50, 5 * n_classes)
    if n_user < 2 * n_min:
        raise DataError(f"data: {n_user} training examples are too few for a learning curve "
                        f"(advise needs at least {2 * n_min})")
    low = max(n_user / 16, n_min)
    sizes = [int(round(low * (n_user / low) ** (i / (count - 1)))) for i in range(count)]
    return sorted(set(sizes))


def base_plan(data: DataSpec, model: str | None, model_args: dict[str, Any] | None, n_user: int | None,
              flip: bool = False, tabular_noise: float | None = None, epochs: int = 40, seeds: int = MIN_SEEDS,
              min_steps: int = 400, width: int | None = None, recipe: dict[str, Any] | None = None) -> Plan:
    """The full plan before budgeting: loads the data once to learn its shape, pool size and classes.

    ``recipe`` holds the user's own training recipe (``optimizer``, ``lr``, ``batch_size``, ``weight_decay``); what
    it does not give is advise's default (adam, lr 0.005, batch from the smallest size, no weight decay), and the
    plan says which is which."""
    from gaplab.engine import prepared_for

    d = data.model_dump(mode="json", exclude_none=True)
    d.pop("train_size", None)
    d.pop("val_fraction", None)
    probe = parse_run({"data": d})
    try:
        prep = prepared_for(probe)
    except (ValueError, KeyError, OSError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"data: {msg}") from None
    ds = prep.dataset
    pool = len(prep.train_idx)
    if n_user is None:
        n_user = pool
    if not 1 <= n_user <= pool:
        raise SpecError(f"n: must be between 1 and the {pool} training examples of the data, got {n_user}")
    kind = data_kind(ds.input_shape, data.name, data.path)
    if model is None:
        model, default_args = DEFAULT_MODELS[kind]
        model_args = {**default_args, **(model_args or {})}
    model_args = dict(model_args or {})
    if width is not None:
        if model not in WIDTH_ARG:
            raise SpecError(f"width: model {model!r} has no width to set")
        model_args[WIDTH_ARG[model]] = int(width)
    sizes = training_sizes(n_user, ds.num_classes or 1)
    aug = augmentations(kind, ds.input_shape, flip, tabular_noise)
    notes = []
    dropout = True
    if user.is_user_name(model):
        model = user.resolve_name(model)
        dropout = has_dropout(create_model(model, ds.input_shape, ds.output_dim, **model_args))
        if not dropout:
            notes.append(f"no dropout configuration: {model.rsplit('/', 1)[-1]} has no dropout layer")
    notes += _augmentation_notes(kind, flip, aug)
    mine, source = _recipe(recipe)
    batch = int(min(100, max(32, sizes[0] // 2)))
    return Plan(d, kind, model, model_args, n_user, pool, sizes, configurations(model, model_args, aug, dropout),
                seeds, epochs, min_steps, int(mine.get("batch_size", batch)), float(mine.get("lr", 5e-3)), notes,
                optimizer=str(mine.get("optimizer", "adam")), recipe_source=source,
                weight_decay=float(mine.get("weight_decay", 0.0)))


def _augmentation_notes(kind: str, flip: bool, aug: list[dict]) -> list[str]:
    """What the plan leaves out of augmentation, and the flag that adds it."""
    if kind == "image" and not flip:
        return ["no flip augmentation (mirroring can change an image's meaning); add --flip if it does not"]
    if kind == "tabular" and not aug:
        return ["no augmentation for tabular data (add --noise STD for input-noise augmentation)"]
    return []


def _recipe(recipe: dict[str, Any] | None) -> tuple[dict[str, Any], str]:
    """The keys of the user's recipe that are set (checked), and a line saying whose recipe the plan uses."""
    mine = {k: v for k, v in (recipe or {}).items() if v is not None}
    unknown = set(mine) - {"optimizer", "lr", "batch_size", "weight_decay"}
    if unknown:
        raise SpecError(f"recipe: unknown keys {sorted(unknown)}; use optimizer, lr, batch_size, weight_decay")
    if not float(mine.get("weight_decay", 0.0)) >= 0:
        raise SpecError(f"recipe.weight_decay: must be >= 0, got {mine['weight_decay']!r}")
    if mine.get("optimizer", "adam") not in ("adam", "adamw", "sgd"):
        raise SpecError(f"recipe.optimizer: one of adam, adamw, sgd, got {mine['optimizer']!r}")
    source = ("yours: " + ", ".join(sorted(mine)) + "; the rest advise's default") if mine else "advise's default"
    return mine, source


def recipe_from_reg(reg: RegSpec) -> dict[str, Any]:
    """The part of a run's ``reg`` section advise takes as the user's recipe: decoupled weight decay (AdamW's),
    applied to every configuration. Any other regularizer set is an error naming it: advise compares its own
    regularizers against an unregularized model, so it would silently not be the model the user asked about."""
    for name in RegSpec.model_fields:  # 0 / None / off mean "not set" (a built spec may carry dropout 0.0)
        if name not in ("weight_decay", "early_stopping") and getattr(reg, name) not in (None, 0, 0.0, False, ()):
            raise SpecError(f"reg.{name}: advise compares its own regularizers (L2, dropout, early stopping, "
                            f"augmentation) against an unregularized model and takes none of yours; leave it out "
                            f"(gaplab.sweep trains your own)")
    if reg.early_stopping is not None:
        raise SpecError("reg.early_stopping: advise stops every size by its own rule (and early stopping is one of "
                        "its configurations); leave it out")
    return {"weight_decay": reg.weight_decay} if reg.weight_decay else {}


def shrink_steps(plan: Plan, more_seeds: bool = True) -> list[Plan]:
    """Candidate plans, most complete first: more seeds (if ``more_seeds``), the full plan, then fewer
    configurations (in ``DROP_ORDER``), then fewer sizes (down to ``MIN_SIZES``, same range), and only then
    fewer epochs: the budget gives up breadth before it gives up training each size to the end."""
    out = [replace(plan, seeds=s) for s in (5, 4) if more_seeds and s > plan.seeds] + [plan]
    kept = list(plan.configs)
    for name in DROP_ORDER:
        kept = [c for c in kept if c.name != name]
        out.append(replace(plan, configs=list(kept)))
    narrow = out[-1]
    for count in range(len(plan.sizes) - 1, MIN_SIZES - 1, -1):
        lo, hi = plan.sizes[0], plan.sizes[-1]
        sizes = sorted({int(round(lo * (hi / lo) ** (i / (count - 1)))) for i in range(count)})
        narrow = replace(narrow, sizes=sizes)
        out.append(narrow)
    for f in (0.75, 0.5, 0.25):
        out.append(replace(narrow, epochs=max(5, int(plan.epochs * f)), min_steps=int(plan.min_steps * f)))
    return out


def fit_budget(plan: Plan, budget: float, estimate: Any, more_seeds: bool = True) -> Plan:
    """The first candidate of ``shrink_steps`` whose ``estimate(plan)`` (seconds) fits the budget, or the
    smallest one with a note that it does not fit."""
    last = plan
    for cand in shrink_steps(plan, more_seeds):
        secs = float(estimate(cand))
        last = replace(cand, estimate_seconds=secs, budget_seconds=budget, notes=list(cand.notes))
        if secs <= budget:
            if cand is not plan and (cand.epochs < plan.epochs or len(cand.configs) < len(plan.configs)
                                     or len(cand.sizes) < len(plan.sizes)):
                dropped = [c.name for c in plan.configs if c not in cand.configs]
                last.notes.append(f"shrunk to fit the budget: {len(cand.sizes)} sizes, {cand.epochs} epochs"
                                  + (f", dropped {', '.join(dropped)}" if dropped else "")
                                  + (" (the epoch cap is below the recipe's: runs that reach it may not have converged)"
                                     if cand.epochs < plan.epochs else ""))
            return last
    last.notes.append(f"even the smallest plan is estimated at {format_seconds(last.estimate_seconds or 0)}, "
                      f"over the budget of {format_seconds(budget)}")
    return last

