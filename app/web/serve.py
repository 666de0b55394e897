"""Serving the site: waitress (a production WSGI server, pure Python) for `newsdesk serve` and
`newsdesk run`; `gunicorn 'app:create_app()'` for several worker processes.

The scheduler runs in this process beside the server threads, never inside `create_app()`
(gunicorn workers fork; STYLE.md)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable

from app.config import Settings
from app.errors import ConfigError
from app.store.db import Database

log = logging.getLogger(__name__)


def _cannot_listen(host: str, port: int, exc: BaseException) -> ConfigError:
    reason = getattr(exc, "strerror", None) or str(exc)
    return ConfigError(f"cannot listen on {host}:{port}: {reason} (choose another address with "
                       "--host/--port or NEWSDESK_HOST/NEWSDESK_PORT)")


def check_address(host: str, port: int) -> None:
    """Fail at once, before any work, when the site could not listen on host:port (a port in
    use, an address not on this machine).  The server binds again when it starts."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        with socket.socket(family, kind, proto) as probe:
            if os.name != "nt":     # as the server does: a port in TIME_WAIT is free
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except (OSError, OverflowError) as exc:
        raise _cannot_listen(host, port, exc) from None


def serve_site(settings: Settings, db: Database, *, host: str, port: int,
               with_scheduler: bool, echo: Callable[[str], None] = print) -> bool:
    """Serve until SIGINT/SIGTERM.  False when the scheduler's jobs were still running a few
    seconds after (the caller then ends the process: see Worker.run_until_stopped)."""
    from waitress import create_server

    from app import create_app

    app = create_app(settings, db)
    try:
        server = create_server(app, host=host, port=port, threads=settings.web_threads,
                               ident="Newsdesk", clear_untrusted_proxy_headers=True)
    except (OSError, OverflowError) as exc:
        raise _cannot_listen(host, port, exc) from None
    worker = None
    if with_scheduler:
        from app.scheduler import start_background

        worker = start_background(settings, db)
    shown_host = f"[{host}]" if ":" in host else host
    echo(f"Newsdesk is serving on http://{shown_host}:{server.effective_port}/"
         f"{' with the scheduler' if worker else ''} (Ctrl-C to stop)")
    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt     # SIGTERM (systemd, docker stop) shuts down like Ctrl-C

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        stopped = worker.stop() if worker is not None else True
        db.dispose()
    return stopped
