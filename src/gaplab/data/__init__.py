"""gaplab.data: datasets (built-in and user files), per-run preparation and regularization transforms."""

from . import builtin as _builtin  # noqa: F401  (registers the built-in datasets)
from .dataset import Dataset
from .prepare import Prepared, prepare, shared_view
from .readers import FileArgs, read_file, read_idx
from .registry import dataset_args_model, list_datasets, load_dataset, register_dataset
from .transforms import (
    Standardizer,
    gaussian_inputs,
    label_noise,
    permutation,
    permute_inputs,
    random_labels,
    stratified_subset,
    validation_split,
)

__all__ = [
    "Dataset",
    "FileArgs",
    "Prepared",
    "Standardizer",
    "dataset_args_model",
    "gaussian_inputs",
    "label_noise",
    "list_datasets",
    "load_dataset",
    "permutation",
    "permute_inputs",
    "prepare",
    "random_labels",
    "read_file",
    "read_idx",
    "register_dataset",
    "shared_view",
    "stratified_subset",
    "validation_split",
]
