"""Helpers for the worker processes that parse feeds and record files."""

from __future__ import annotations

import os
import threading
import time


def exit_with_parent(interval: float = 1.0) -> None:
    """In a worker process: exit when the process that started it is gone (killed with
    SIGKILL, say), rather than linger as an orphan for ever."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
