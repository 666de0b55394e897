"""Who this process is to the other workers, and the thread that keeps its leases (issue 16).

`worker_id()` is `host:pid:random`, the same for the whole life of the process (every pass,
every log line), so a pass that failed finds its own leases again.  `Heartbeat` beats from a
thread of its own every third of NEWSDESK_LEASE_TIMEOUT: it writes the worker's row (for a
worker) and renews every lease the process holds.  A lost database connection is one warning
line, then quiet retries, then one line when it is back.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import datetime, timedelta

from app.config import Settings
from app.store.db import Database

log = logging.getLogger(__name__)
_ID: tuple[int, str] | None = None


def worker_id() -> str:
    """This process's worker id, `host:pid:random`: one per process, kept across passes."""
    global _ID
    pid = os.getpid()
    if _ID is None or _ID[0] != pid:     # a forked child is another worker
        _ID = (pid, f"{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:8]}")
    return _ID[1]


def gone_here(owner: str) -> bool:
    """True when `owner` is a worker id of this host whose process no longer exists (killed
    with -9, crashed): a pass run again at once need not wait NEWSDESK_LEASE_TIMEOUT for the
    leases it left.  Another host's worker, or a pid that answers, is never judged gone."""
    try:
        host, pid_text, _ = owner.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return False
    if host != socket.gethostname() or pid == os.getpid() or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:            # it exists, as another user's process
        return False
    return False


def lease_until(settings: Settings, now: datetime) -> datetime:
    return now + timedelta(seconds=max(1, settings.lease_timeout))


def beat_every(settings: Settings) -> float:
    return max(0.2, settings.lease_timeout / 3)


def is_connection_error(exc: BaseException) -> bool:
    """True for a database that cannot be reached (refused, reset, timed out), not a bug."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        text = str(exc.orig or exc).lower()
        return any(word in text for word in (
            "connection", "server closed", "timeout expired", "could not connect",
            "terminating", "canceling statement due to statement timeout", "ssl syscall",
            "consuming input failed", "the database system is"))
    return isinstance(exc, (ConnectionError, TimeoutError))


class Outage:
    """Says once that the database is unreachable, and once that it is back."""

    def __init__(self) -> None:
        self.down = False
        self._lock = threading.Lock()

    def failed(self, what: str, exc: BaseException) -> None:
        with self._lock:
            first, self.down = not self.down, True
        if first:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            log.warning("the database is unreachable (%s): %s; retrying", what,
                        reason[0] if reason else type(exc).__name__)
        else:
            log.debug("the database is still unreachable (%s): %s", what, exc)

    def ok(self) -> None:
        with self._lock:
            was, self.down = self.down, False
        if was:
            log.warning("the database is reachable again")


class Heartbeat(threading.Thread):
    """Renews this process's leases every `every` seconds; with `beat`, also writes its
    worker_heartbeats row.  `stop()` ends it at once."""

    def __init__(self, db: Database, settings: Settings, *, beat: bool = False,
                 outage: Outage | None = None, config_hash: str | None = None) -> None:
        super().__init__(name="heartbeat", daemon=True)
        self.db, self.settings, self.beat = db, settings, beat
        self.outage = outage or Outage()
        self.config_hash = config_hash
        self.stopping = threading.Event()

    def once(self) -> None:
        from app.store.workers import WorkerRepository

        now = self.settings.clock()
        until = lease_until(self.settings, now)
        me = worker_id()
        with self.db.session() as session:
            repo = WorkerRepository(session)
            if self.beat:
                repo.beat(me, host=socket.gethostname(), pid=os.getpid(), now=now,
                          until=until, config_hash=self.config_hash)
            else:
                repo.renew(me, until)

    def once_quietly(self) -> None:
        try:
            self.once()
        except Exception as exc:  # noqa: BLE001 - the thread says it, and retries
            log.debug("first heartbeat failed: %s", exc)

    def run(self) -> None:
        while True:
            try:
                self.once()
                self.outage.ok()
            except Exception as exc:  # noqa: BLE001 - a heartbeat never kills the worker
                if is_connection_error(exc):
                    self.outage.failed("heartbeat", exc)
                else:
                    log.warning("heartbeat failed: %s", exc)
            if self.stopping.wait(beat_every(self.settings)):
                return

    def stop(self) -> None:
        self.stopping.set()
