"""``gaplab study``, ``gaplab report`` and ``gaplab tour``: run the claim studies and publish them."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from gaplab.cli.common import (
    JsonOpt,
    StoreOpt,
    ThreadsOpt,
    console,
    parse_assignments,
    print_json,
    progress_bar,
    set_threads,
    user_errors,
)
from gaplab.errors import SpecError
from gaplab.store.db import DEFAULT_PATH, Store

if TYPE_CHECKING:
    from gaplab.studies import Verdict

study_app = typer.Typer(help="Run a study of one claim: `gaplab study list`, `gaplab study NAME`.",
                        no_args_is_help=True)
DEFAULT_OUT = Path("gaplab-results") / "studies"
DEFAULT_REPORT = Path("gaplab-report")


@study_app.command("list")
def study_list(as_json: JsonOpt = False) -> None:
    """Every study, the claim it tests and its presets."""
    from gaplab.studies import all_studies

    studies = all_studies()
    if as_json:
        print_json({n: {"claim_id": s.claim_id, "claim": s.claim} for n, s in studies.items()})
        return
    t = Table(title="studies (gaplab study NAME --preset quick|full)")
    for c in ("name", "claim", "what it tests"):
        t.add_column(c)
    for n, s in studies.items():
        t.add_row(n, s.claim_id, s.claim)
    console.print(t)


def _print_verdict(v: Verdict) -> None:
    mark = {True: "[green]held[/]", False: "[red]did not hold[/]", None: "[yellow]undecided at this size[/]"}[v.held]
    reason = f" [yellow]({v.undecided_reason})[/]" if v.held is None and v.undecided_reason else ""
    console.print(f"[bold]{v.study}[/] ({v.claim_id}): {mark}{reason} — {v.summary}", highlight=False)


@study_app.command("run")
@user_errors
def study_run(
    name: Annotated[str, typer.Argument(help="Study name (see `gaplab study list`).")],
    preset: Annotated[str, typer.Option(help="quick (seconds to a minute) or full (publication scale).")] = "quick",
    seed: Annotated[int, typer.Option(help="Seed of every run in the study.")] = 0,
    out: Annotated[Path, typer.Option(help="Folder for figures and verdict.json.")] = DEFAULT_OUT,
    set_: Annotated[list[str], typer.Option("--set", help="Override a preset parameter: --set epochs=5")] = [],
    store: StoreOpt = DEFAULT_PATH,
    as_json: JsonOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Run one study: train (or reuse) its runs, draw its figures, decide its verdict.

    `gaplab study NAME ...` is short for `gaplab study run NAME ...`.
    """
    from gaplab.studies import get, run_study

    get(name)
    set_threads(threads)
    with progress_bar(not as_json) as update:
        v = run_study(name, preset, seed, out, Store(store), parse_assignments(set_, "epochs=5"), progress=update)
    if as_json:
        print_json(v.to_json())
    else:
        _print_verdict(v)
        console.print(f"figures and verdict.json in {out / name}")


class _StudyGroup(typer.core.TyperGroup):
    """Lets `gaplab study NAME ...` mean `gaplab study run NAME ...`."""

    def resolve_command(self, ctx, args):  # type: ignore[no-untyped-def]
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().resolve_command(ctx, args)


study_app.info.cls = _StudyGroup


@user_errors
def report(
    out: Annotated[Path, typer.Option(help="Folder for the static HTML report.")] = DEFAULT_REPORT,
    store: StoreOpt = DEFAULT_PATH,
) -> None:
    """Write a static HTML report of every stored study: index of verdicts, a page per study."""
    from gaplab.report.html import write_report

    index = write_report(Store(store), out)
    console.print(f"report: {index}")


@user_errors
def tour(
    preset: Annotated[str, typer.Option(help="quick (the default, a few minutes) or full.")] = "quick",
    seed: Annotated[int, typer.Option(help="Seed of every study.")] = 0,
    out: Annotated[Path, typer.Option(help="Folder for the HTML report.")] = DEFAULT_REPORT,
    studies_out: Annotated[Path, typer.Option(help="Folder for study figures.")] = DEFAULT_OUT,
    only: Annotated[list[str], typer.Option(help="Run only these studies (repeatable).")] = [],
    store: StoreOpt = DEFAULT_PATH,
    as_json: JsonOpt = False,
    threads: ThreadsOpt = None,
    jobs: Annotated[int | None, typer.Option(
        help="Studies run at once, each in its own process (default: one per CPU core; 1: in this process).")] = None,
) -> None:
    """Run every study's preset, then write the HTML report: the quick tour of gaplab.

    Studies run side by side in worker processes (most packs are too small to use two cores by themselves);
    every run goes to the same store, so a re-run skips what is stored."""
    from gaplab.report.html import write_report
    from gaplab.studies import all_studies, run_study

    known = all_studies()
    unknown = [n for n in only if n not in known]
    if unknown:  # before any study runs: a typo must not cost the studies named before it
        raise SpecError(f"--only: unknown stud{'ies' if len(unknown) > 1 else 'y'} {', '.join(map(repr, unknown))}; "
                        f"choose from: {', '.join(known)}")
    names = list(only) or list(known)
    jobs = max(1, min(jobs or (os.cpu_count() or 1), len(names)))
    set_threads(threads or (max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else None))
    db = Store(store)
    t0 = time.perf_counter()
    with progress_bar(not as_json, unit="epochs" if jobs == 1 else "studies") as update:
        if jobs == 1:
            verdicts = []
            for n in names:
                verdicts.append(run_study(n, preset, seed, studies_out, db, progress=update))
                if not as_json:
                    _print_verdict(verdicts[-1])
        else:
            verdicts = _tour_parallel(names, jobs, preset, seed, studies_out, db.path, torch_threads(),
                                      update, None if as_json else _print_verdict)
    index = write_report(db, out)
    summary = {"studies": len(verdicts), "held": sum(v.held is True for v in verdicts),
               "did_not_hold": sum(v.held is False for v in verdicts),
               "undecided": sum(v.held is None for v in verdicts), "report": str(index),
               "seconds": round(time.perf_counter() - t0, 1)}
    if as_json:
        print_json({**summary, "verdicts": {v.study: v.held for v in verdicts},
                    "undecided_reasons": {v.study: v.undecided_reason for v in verdicts if v.held is None}})
    else:
        undecided = [v.study for v in verdicts if v.held is None]
        console.print(f"{summary['held']} of {summary['studies']} claims held, {summary['did_not_hold']} did not, "
                      f"{summary['undecided']} undecided at this size"
                      + (f" ({', '.join(undecided)}: a larger preset can decide)" if undecided else "")
                      + f" ({summary['seconds']} s). Report: {index}")


def torch_threads() -> int:
    """The torch thread count set for this process."""
    import torch

    return torch.get_num_threads()


def _study_in_worker(name: str, preset: str, seed: int, out: Path, store_path: Path, threads: int) -> Any:
    """One study in a tour worker process: its own torch threads and store connection."""
    import torch

    from gaplab.studies import run_study

    torch.set_num_threads(threads)
    return run_study(name, preset, seed, out, Store(store_path))


def _tour_parallel(names: list[str], jobs: int, preset: str, seed: int, out: Path, store_path: Path, threads: int,
                   update: Callable[[str, int, int], None], on_verdict: Callable[[Any], None] | None) -> list[Any]:
    """Run studies in ``jobs`` spawned processes; verdicts in ``names`` order, each reported as it finishes."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    done: dict[str, Any] = {}
    with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as pool:
        futures = {pool.submit(_study_in_worker, n, preset, seed, out, store_path, threads): n for n in names}
        pending = set(futures)
        update(f"{len(names)} studies, {jobs} at a time", 0, len(names))
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in finished:
                    v = f.result()  # a study's error is raised here, as it would be in this process
                    done[futures[f]] = v
                    update(f"{v.study} done", len(done), len(names))
                    if on_verdict is not None:
                        on_verdict(v)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)  # the studies not started yet are not run
            raise
    return [done[n] for n in names]
