"""Model factories by name: ``create_model("mlp", input_shape, output_dim, width=..., dropout=...)``.

All models are safe to stack and run under ``torch.vmap`` (buffers untouched in forward, vmap-safe dropout).
"""

from gaplab.models import bilinear, cnn, linear, mlp, polynomial, random_features, resnet  # noqa: F401
from gaplab.models.layers import Dropout, has_dropout, set_dropout_counter, set_dropout_keys, set_dropout_rate
from gaplab.models.registry import create_model, list_models, model_kwargs, register_model

__all__ = [
    "Dropout",
    "create_model",
    "has_dropout",
    "list_models",
    "model_kwargs",
    "register_model",
    "set_dropout_counter",
    "set_dropout_keys",
    "set_dropout_rate",
]
