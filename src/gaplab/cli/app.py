"""The ``gaplab`` command line, assembled from its sub-command modules (none of which imports this one)."""

from __future__ import annotations

import atexit
import os
import sys
import threading

import typer

from gaplab.cli import advise, catalog, doctor, run, runs, serve, studies

app = typer.Typer(
    help="gaplab: see and measure what regularization does to generalization, on a laptop CPU.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(run.train)
app.command()(run.sweep)
app.add_typer(runs.app, name="runs")
app.add_typer(catalog.app, name="list")
app.command()(advise.advise)
app.command()(doctor.doctor)
app.command()(serve.serve)
app.add_typer(studies.study_app, name="study")
app.command()(studies.report)
app.command()(studies.tour)


def main() -> None:
    """The console script. Once the command is done it leaves without the interpreter's teardown, which costs
    ≈ 0.5 s of CPU with torch loaded (a tenth of a quick doctor run): the output is flushed, the atexit handlers
    run, the store's transactions are committed; a bug's traceback (not a SystemExit) still propagates as usual."""
    try:
        app()
        code: object = 0
    except SystemExit as e:
        code = e.code
    if isinstance(code, str):  # what the interpreter does with SystemExit("message")
        print(code, file=sys.stderr)
        code = 1
    status = 0 if code is None else int(code) if isinstance(code, int) else 1
    if threading.active_count() > 1:  # a worker thread still running: let the interpreter wait for it
        sys.exit(status)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    main()
