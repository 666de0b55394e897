"""Placeholder for the scheduler (the ingestion branch replaces this file).

Contract used by `newsdesk run`: `sched = start_background(settings, db)` starts an APScheduler
BackgroundScheduler and returns it; `sched.shutdown(wait=False)` stops it.
"""

from __future__ import annotations

from apscheduler.schedulers.background import BackgroundScheduler

from app.config import Settings
from app.store.db import Database


def start_background(settings: Settings, db: Database) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.start()
    return scheduler
