"""Log lines of every command (issue 16): each names the worker id of its process, as text or,
with NEWSDESK_LOG_FORMAT=json, as one JSON object per line (a traceback stays inside it)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(worker)s]: %(message)s"


class WorkerField(logging.Filter):
    """Adds `worker` (this process's worker id) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        from app.runs.leases import worker_id

        record.worker = worker_id()
        return True


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(),
                "level": record.levelname, "logger": record.name,
                "worker": getattr(record, "worker", None), "message": record.getMessage()}
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class Demote(logging.Filter):
    """APScheduler's "maximum number of running instances reached" is routine here (a pass
    that takes longer than the tick): DEBUG, not a warning every tick."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "maximum number of running instances reached" in record.getMessage():
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


def configure(level: int, log_format: str = "text") -> None:
    if log_format.strip().lower() not in ("text", "json"):
        from app.errors import ConfigError

        raise ConfigError(f"expected text or json, got {log_format!r}",
                          key="NEWSDESK_LOG_FORMAT")
    handler = logging.StreamHandler()
    handler.addFilter(WorkerField())
    handler.setFormatter(JsonLines() if log_format.strip().lower() == "json"
                         else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
    logging.getLogger("apscheduler.scheduler").addFilter(Demote())
