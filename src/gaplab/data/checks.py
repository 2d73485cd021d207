"""Checks that user data can train and test a model, with messages naming the file, column, class and counts.

The readers call them, so an unusable file stops with a ``DataError`` before anything trains instead of a
traceback deep in the engine (an empty table) or a run that trains silently on nothing (one class, 3 rows).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from gaplab.errors import DataError

# Fewer examples than this cannot be split into a training set and a test set that measures anything
# (3 rows with a 20 % test fraction leave one test example: its accuracy is 0 or 1).
MIN_EXAMPLES = 10


def label_name(classes: Sequence[object] | None, c: int) -> str:
    """Class ``c`` as a message names it: its name in ``classes`` (repr) when there is one, else its index."""
    return repr(classes[c]) if classes is not None and c < len(classes) else str(c)


def check_examples(source: str, n: int, what: str = "examples") -> None:
    """At least ``MIN_EXAMPLES`` examples in the file (``what`` names them: rows, images, ...)."""
    if n == 0:
        raise DataError(f"{source}: no {what} (an empty file or a header without data rows)")
    if n < MIN_EXAMPLES:
        raise DataError(f"{source}: only {n} {what}; gaplab needs at least {MIN_EXAMPLES} to hold out a test set "
                        "and still train on the rest")


def check_finite(source: str, x: torch.Tensor, describe: Callable[[int], str] = lambda i: f"example {i + 1}") -> None:
    """Every input value finite; names the first example holding a NaN or infinity (``describe(index)``)."""
    bad = ~torch.isfinite(x.reshape(len(x), -1)).all(dim=1)
    if bool(bad.any()):
        raise DataError(f"{source}: non-finite input value (NaN or infinity) at {describe(int(torch.nonzero(bad)[0]))}")


def check_labels(source: str, y: torch.Tensor, classes: Sequence[object] | None = None,
                 where: str = "the labels", pooled: bool = True) -> None:
    """Classification labels: at least two classes, and (``pooled``) at least two examples of each class.

    One class means there is nothing to classify. In a pool that gaplab splits into training and test, a
    class with a single example either lands in the test set (nothing to learn it from) or in training
    (nothing to test it on).
    """
    counts = torch.bincount(y.reshape(-1))
    present = torch.nonzero(counts, as_tuple=True)[0].tolist()
    if len(present) < 2:
        only = label_name(classes, present[0]) if present else "none"
        raise DataError(f"{source}: only one class ({only}) in {where}, over all {len(y)} examples; "
                        "classification needs at least 2 classes")
    single = [c for c in present if int(counts[c]) == 1] if pooled else []
    if single:
        names = ", ".join(label_name(classes, c) for c in single[:5])
        more = f" and {len(single) - 5} more" if len(single) > 5 else ""
        raise DataError(f"{source}: class {names}{more} in {where} has a single example; every class needs at "
                        "least 2 (one to train on, one to test); merge or drop it")


def check_target_varies(source: str, y: torch.Tensor, where: str = "the target") -> None:
    """A regression target must not be the same number in every example (there would be nothing to learn)."""
    flat = y.reshape(len(y), -1)
    if len(flat) > 0 and bool((flat == flat[0]).all()):
        raise DataError(f"{source}: {where} has the same value ({flat[0].tolist()}) in all {len(y)} examples; "
                        "there is nothing to learn")


def check_split(source: str, y_train: torch.Tensor, y_test: torch.Tensor, classification: bool,
                classes: Sequence[object] | None = None, how: str = "the test split") -> None:
    """Both sides of a train/test split non-empty, and every class seen in training."""
    if len(y_train) == 0 or len(y_test) == 0:
        side = "training" if len(y_train) == 0 else "test"
        raise DataError(f"{source}: {how} leaves the {side} set empty "
                        f"({len(y_train)} training, {len(y_test)} test examples)")
    if classification:
        train_counts = torch.bincount(y_train, minlength=int(y_test.max()) + 1 if len(y_test) else 0)
        unseen = sorted(set(y_test.tolist()) - set(torch.nonzero(train_counts, as_tuple=True)[0].tolist()))
        if unseen:
            names = ", ".join(label_name(classes, c) for c in unseen[:5])
            raise DataError(f"{source}: {how} leaves class {names} without a training example "
                            f"({int((y_test == unseen[0]).sum())} in the test set)")
