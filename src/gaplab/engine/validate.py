"""Checks of a run spec against the model and data-set registries (names and their arguments)."""

from __future__ import annotations

from pydantic import ValidationError

from gaplab.data import registry as data_registry
from gaplab.models import registry as model_registry
from gaplab.spec import RunSpec, SpecError, format_error


def check_registries(spec: RunSpec, lines: dict[str, int] | None) -> None:
    """Model and data-set names and arguments are checked against their registries."""
    def fail(path: str, msg: str) -> None:
        where = f" (line {lines[path]})" if lines and path in lines else ""
        raise SpecError(f"{path}{where}: {msg}")

    if ":" not in spec.model.name:
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
        model = data_registry.dataset_args_model(spec.data.name)
        if model is not None:
            try:
                model(**spec.data.args)
            except ValidationError as e:
                raise SpecError(format_error(e, "data.args", lines)) from None




def check_data(spec: RunSpec) -> None:
    """Load the run's data and draw its view once, so a bad file, column or size fails before anything runs."""
    from gaplab.engine.datacache import prepared_for

    try:
        prepared_for(spec)
    except (ValueError, KeyError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SpecError(f"data: {first}") from None


def with_fingerprint(spec: RunSpec) -> RunSpec:
    """Record the content fingerprint of a user data file in the spec (so its run id follows the content)."""
    from gaplab.data.readers import fingerprint

    if spec.data.path is None:
        return spec
    try:
        return spec.replace(**{"data.fingerprint": fingerprint(spec.data.path)})
    except OSError as e:
        raise SpecError(f"data.path: {e}") from None
