"""Helpers for the worker processes that parse feeds and record files."""

from __future__ import annotations

import contextlib
import os
import threading
import time


def exit_with_parent(parent: int | None = None, interval: float = 1.0) -> None:
    """In a worker process: exit when the process that started it, `parent` (its pid, as the
    parent passed it), is gone (killed with SIGKILL, say), rather than linger as an orphan for
    ever.  Pass `parent`: a parent killed while this process was still starting is already
    gone when this runs, and os.getppid() then names the process that adopted it."""
    parent = os.getppid() if parent is None else parent

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


def init_worker(parent: int | None = None) -> None:
    """Initializer of a parsing worker process; `parent` is the pid of the process that
    started it (see exit_with_parent)."""
    exit_with_parent(parent)
    lower_priority()
