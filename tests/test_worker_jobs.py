"""The worker runs the whole pipeline: after ingestion, the enrichment job reads new records'
pages (then related and heat), and the heat job recomputes heat as stories age."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from app.config import Settings
from app.scheduler import Worker
from app.store.db import Database
from tests.test_enrichment import page, server, settings, store, stored, thin  # noqa: F401

FEEDS = """
sources:
  - name: Example
    url: http://127.0.0.1:9/feed.xml
providers:
  - domain: 127.0.0.1
    name: Loopback News
    quality: 70
"""


def test_the_worker_schedules_enrichment_and_heat(db: Database, settings: Settings,  # noqa: F811
                                                  server, tmp_path: Path) -> None:  # noqa: F811
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(FEEDS)
    settings = dataclasses.replace(settings, feeds=feeds, enrich_interval=60, heat_interval=900)
    server.routes["/story"] = (200, "text/html", page(amp=server.base + "/story.amp"))
    store(db, thin(server.base + "/story"))

    worker = Worker(db, settings)
    jobs = {job.id for job in worker.scheduler.get_jobs()}
    assert {"ingest", "enrich", "heat"} <= jobs
    worker.enrich_pass()
    record = stored(db)[server.base + "/story"]
    assert record.amp_web_url == server.base + "/story.amp"      # the page was read
    assert record.quality is not None and record.heat is not None and record.heat >= 0
    worker.heat_pass()                                            # and heat can be refreshed


def test_enrichment_can_be_turned_off(db: Database, settings: Settings,  # noqa: F811
                                      tmp_path: Path) -> None:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(FEEDS)
    settings = dataclasses.replace(settings, feeds=feeds, enrich_interval=0, heat_interval=0)
    jobs = {job.id for job in Worker(db, settings).scheduler.get_jobs()}
    assert jobs == {"ingest"}
