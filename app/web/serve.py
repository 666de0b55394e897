"""Serving the site: waitress (a production WSGI server, pure Python) for `newsdesk serve` and
`newsdesk run`; `gunicorn 'app:create_app()'` for several worker processes.

The scheduler runs in this process beside the server threads, never inside `create_app()`
(gunicorn workers fork; STYLE.md)."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

from app.config import Settings
from app.store.db import Database

log = logging.getLogger(__name__)


def serve_site(settings: Settings, db: Database, *, host: str, port: int,
               with_scheduler: bool, echo: Callable[[str], None] = print) -> None:
    from waitress import create_server

    from app import create_app

    app = create_app(settings, db)
    server = create_server(app, host=host, port=port, threads=settings.web_threads,
                           ident="Newsdesk", clear_untrusted_proxy_headers=True)
    scheduler = None
    if with_scheduler:
        from app.scheduler import start_background

        scheduler = start_background(settings, db)
    shown_host = f"[{host}]" if ":" in host else host
    echo(f"Newsdesk is serving on http://{shown_host}:{server.effective_port}/"
         f"{' with the scheduler' if scheduler else ''} (Ctrl-C to stop)")
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
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        db.dispose()
