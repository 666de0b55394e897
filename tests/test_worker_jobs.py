"""The worker runs the whole pipeline: after ingestion, the enrichment job reads new records'
pages (then related and heat), and the heat job recomputes heat as stories age."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from app.config import Settings
from app.ingest import PassSummary
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
    feeds.write_text(FEEDS, encoding="utf-8")
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
    feeds.write_text(FEEDS, encoding="utf-8")
    settings = dataclasses.replace(settings, feeds=feeds, enrich_interval=0, heat_interval=0)
    jobs = {job.id for job in Worker(db, settings).scheduler.get_jobs()}
    assert jobs == {"ingest"}


def test_an_idle_worker_is_quiet_at_info_and_a_failing_source_says_so_once(
        db: Database, settings: Settings, tmp_path: Path,  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:
    from app.cli import quiet_libraries
    from tests.feedserver import FeedServer, farm_route

    passes: list[PassSummary] = []
    with FeedServer() as feeds_server:
        feeds_server.prefixes["/farm/"] = farm_route(3)
        feeds = tmp_path / "feeds.yaml"
        feeds.write_text("sources:\n"
                         f"  - {{name: Farm, url: '{feeds_server.url('/farm/0.xml')}'}}\n"
                         f"  - {{name: Missing, url: '{feeds_server.url('/missing.xml')}'}}\n",
                         encoding="utf-8")
        settings = dataclasses.replace(settings, feeds=feeds, enrich_interval=0,
                                       heat_interval=0)
        quiet_libraries(logging.INFO)            # as `newsdesk worker` sets up its log
        caplog.set_level(logging.INFO)
        worker: Worker

        def on_pass(summary: PassSummary) -> None:
            passes.append(summary)
            if len(passes) == 4:                 # one pass that works, three idle ones
                worker.request_stop()

        try:
            worker = Worker(db, settings, tick=0.2, on_pass=on_pass)
            worker.run_until_stopped(install_signals=False)
        finally:
            quiet_libraries(logging.DEBUG)
    assert passes[0].fetched == 1 and passes[0].failed == 1
    assert all(not (p.fetched or p.failed) for p in passes[1:])
    lines = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    assert not [line for line in lines if line[0].startswith(("apscheduler.executors", "httpx"))]
    summaries = [line for line in lines if line[2].startswith("sources: ")]
    assert len(summaries) == 1 and "1 fetched" in summaries[0][2]   # only the pass that worked
    failures = [line for line in lines if "Missing" in line[2]]
    assert len(failures) == 1, failures                              # said once ...
    assert failures[0][1] == logging.WARNING
    assert feeds_server.url("/missing.xml") in failures[0][2]
    assert "HTTP 404" in failures[0][2] and "next try at" in failures[0][2]   # ... with when
    assert all(p.not_due == 2 for p in passes[1:])


def test_a_worker_refuses_a_tick_that_is_not_positive(db: Database, settings: Settings,  # noqa: F811
                                                      tmp_path: Path) -> None:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(FEEDS, encoding="utf-8")
    settings = dataclasses.replace(settings, feeds=feeds)
    for tick in (0.0, -5.0, float("nan")):
        with pytest.raises(ValueError, match="positive number of seconds"):
            Worker(db, settings, tick=tick)


def test_a_heat_pass_that_changes_nothing_is_quiet_at_info(db: Database, settings: Settings,  # noqa: F811
                                                           tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture
                                                           ) -> None:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(FEEDS, encoding="utf-8")
    worker = Worker(db, dataclasses.replace(settings, feeds=feeds))
    caplog.set_level(logging.INFO)
    worker.heat_pass()                            # nothing stored: nothing to heat or cool
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO] == []


def test_an_enrichment_pass_logs_one_summary_line_at_info(db: Database, settings: Settings,  # noqa: F811
                                                          server, tmp_path: Path,  # noqa: F811
                                                          caplog: pytest.LogCaptureFixture
                                                          ) -> None:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(FEEDS, encoding="utf-8")
    store(db, thin(server.base + "/gone-1"), thin(server.base + "/gone-2"))   # pages 404
    from app.cli import quiet_libraries

    worker = Worker(db, dataclasses.replace(settings, feeds=feeds))
    quiet_libraries(logging.INFO)            # as `newsdesk worker` and `newsdesk run` set it up
    caplog.set_level(logging.INFO)
    try:
        worker.enrich_pass()
    finally:
        quiet_libraries(logging.DEBUG)
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert len(said) == 1 and said[0].startswith("enrichment: ") and "2 given up" in said[0]
