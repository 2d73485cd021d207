"""``gaplab serve``: the local dashboard over the results store (read-only)."""

from __future__ import annotations

from typing import Annotated

import typer

from gaplab.cli.common import StoreOpt, console, fail, user_errors
from gaplab.store.db import DEFAULT_PATH


@user_errors
def serve(
    store: StoreOpt = DEFAULT_PATH,
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).")] = 8765,
    host: Annotated[str, typer.Option(help="Address to bind. The default, 127.0.0.1, is reachable from this "
                                           "machine only; any other address lets the network read the store.")]
    = "127.0.0.1",
    log: Annotated[bool, typer.Option("--log", help="Print one line per request.")] = False,
) -> None:
    """A local web dashboard over the results store: sweeps (sortable, filterable table; metric against the
    swept keys, mean ± spread over seeds), runs (curves, log axes, several overlaid), studies, doctor and advice.

    It only reads the store, so it can run beside a sweep that is writing; new runs appear without a reload.
    Stop it with Ctrl-C.
    """
    from gaplab.serve.server import is_loopback, make_server

    try:
        server, dash = make_server(store, host, port, quiet=not log)
    except OSError as e:
        fail(f"cannot listen on {host}:{port}: {e.strerror or e} (try another --port)")
    h, p = str(server.server_address[0]), int(server.server_address[1])
    url = f"http://{'[' + h + ']' if ':' in h else h}:{p}/"
    if not is_loopback(host):
        console.print(f"[bold yellow]warning:[/] listening on {host}: anyone who can reach this machine on port "
                      f"{p} can read every run, spec and study in {store} (no password). Use the default "
                      f"--host 127.0.0.1 unless you mean that.", highlight=False)
    console.print(f"gaplab dashboard on [bold]{url}[/] over {store} (read-only). Ctrl-C stops it.", highlight=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        console.print("stopped")
    finally:
        server.server_close()
        dash.close()
