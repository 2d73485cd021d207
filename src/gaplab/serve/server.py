"""``http.server`` glue: a threading HTTP server that hands every request to a ``Dashboard``."""

from __future__ import annotations

import ipaddress
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from gaplab.serve.app import LOOPBACK_NAMES, SECURITY_HEADERS, Dashboard


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_server(store: str | Path, host: str = "127.0.0.1", port: int = 8765,
                quiet: bool = True) -> tuple[ThreadingHTTPServer, Dashboard]:
    """A server over ``store`` bound to ``host:port`` (port 0 picks a free one); call ``serve_forever``.

    Bound to loopback, it answers only requests whose Host header names loopback (no DNS rebinding from a
    web page); bound beyond it, any Host.
    """
    dash = Dashboard(store, LOOPBACK_NAMES | {host} if is_loopback(host) else None)

    class Handler(BaseHTTPRequestHandler):
        server_version = "gaplab"
        sys_version = ""

        def _answer(self, body: bool) -> None:
            resp = dash.handle("GET" if self.command == "HEAD" else self.command, self.path, dict(self.headers))
            self.send_response(resp.status)
            self.send_header("Content-Type", resp.content_type)
            self.send_header("Content-Length", str(len(resp.body)))
            for k, v in {**SECURITY_HEADERS, **resp.headers}.items():
                self.send_header(k, v)
            self.end_headers()
            if body:
                try:
                    self.wfile.write(resp.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the browser went away (a reload mid-poll); nothing to do

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self._answer(True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._answer(False)

        def do_POST(self) -> None:  # noqa: N802
            self._answer(True)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            if not quiet:
                sys.stderr.write(f"{self.address_string()} {format % args}\n")

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server, dash
