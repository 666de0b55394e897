"""Helpers for the worker processes that parse feeds and record files."""

from __future__ import annotations

import contextlib
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


WORKER_NICENESS = 10


def lower_priority(niceness: int = WORKER_NICENESS) -> None:
    """In a worker process: yield the CPU to the process that started it.  Parsing processes
    feed one writer, the serial stage of a pass or an import; on a busy machine the writer
    then never waits for a core while the parsers run ahead."""
    with contextlib.suppress(AttributeError, OSError):   # not on this platform, or not allowed
        os.nice(niceness)


def init_worker() -> None:
    """Initializer of a parsing worker process."""
    exit_with_parent()
    lower_priority()
