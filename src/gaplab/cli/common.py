"""Shared CLI plumbing: consoles, common options, clean one-line errors with exit code 2, progress bars, threads."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from gaplab.errors import GaplabError, SpecError

console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

# Options every command that touches the store, prints JSON or trains takes.
StoreOpt = Annotated[Path, typer.Option("--store", help="Results database (SQLite).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as one JSON object on stdout.")]
ThreadsOpt = Annotated[int | None, typer.Option("--threads", help="Torch threads (default: all cores).")]


def fail(msg: str) -> NoReturn:
    """Print one clear line on stderr and exit with code 2 (bad input), no traceback."""
    err_console.print(f"[bold red]error:[/] {escape(msg)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def user_errors(fn: F) -> F:
    """Turn bad input (``GaplabError``, pydantic ``ValidationError``) into one line and exit code 2.

    Any other exception is a bug: it keeps its traceback and exits 1, so it cannot pass for bad input.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            err_console.print("interrupted: finished runs are stored; run the same command again to resume")
            raise typer.Exit(130) from None
        except ValidationError as e:
            first = e.errors()[0]
            fail(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
        except GaplabError as e:
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            fail(msg)

    return wrapper  # type: ignore[return-value]


def set_threads(threads: int | None) -> None:
    """Set torch's thread count explicitly (docs/performance.md: implicit OpenMP spinning hurts on shared boxes)."""
    import torch

    env = os.environ.get("GAPLAB_THREADS", "0").strip() or "0"
    if not env.isdigit():
        raise SpecError(f"GAPLAB_THREADS must be a whole number of threads, got {env!r}")
    n = threads or int(env) or (os.cpu_count() or 1)
    torch.set_num_threads(max(1, n))


@contextmanager
def progress_bar(enabled: bool = True, unit: str = "epochs") -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress bar on stderr counting ``unit``; yields ``update(label, done, total)``."""
    if not enabled or not sys.stderr.isatty() and os.environ.get("GAPLAB_PROGRESS") != "1":
        yield lambda label, done, total: None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=err_console, transient=False) as prog:
        task = prog.add_task("starting", total=None)

        def update(label: str, done: int, total: int) -> None:
            prog.update(task, description=label, completed=done, total=total)

        yield update


def print_json(obj: Any) -> None:
    """One JSON object on stdout (NaN/inf as null)."""
    from gaplab.store.db import json_safe

    sys.stdout.write(json.dumps(json_safe(obj), sort_keys=True) + "\n")


def parse_assignments(items: list[str], example: str) -> dict[str, Any]:
    """``--set KEY=VALUE`` options as a dict, each value read as YAML (so 3, 0.1, true, [1, 2] keep their types)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise SpecError(f"--set {item!r}: expected KEY=VALUE, e.g. --set {example}")
        k, v = item.split("=", 1)
        out[k.strip()] = yaml.safe_load(v)
    return out
