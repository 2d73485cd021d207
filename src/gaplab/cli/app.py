"""The ``gaplab`` command line, assembled from its sub-command modules (none of which imports this one)."""

from __future__ import annotations

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
    app()


if __name__ == "__main__":
    main()
