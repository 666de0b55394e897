"""Quality and auto-publish as one judgement after enrichment (issue 14): ingestion does not
publish on the provider's prior where a rule asks for a quality, and the judge run scores a
normally ingested record with its item signals before it decides publishing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from app.clock import fixed
from app.config import Settings
from app.keystore import forget_keyrings
from app.pipeline import embed
from app.pipeline.classify import Classifier
from app.pipeline.embed import Embedder, load_embedder
from app.pipeline.normalize import normalize_entry
from app.pipeline.parse import ParsedEntry, ParsedFeed
from app.record import Provider, Record
from app.runs.judge import judge
from app.sources import load_feeds
from app.store.db import Database
from app.store.repository import IngestRepository, RecordRepository
from tests.conftest import NOW, TEST_CONFIG

HEADLINE = "Machine learning in hospitals: AI flags sepsis hours early"
EXCERPT = ("A hospital's artificial intelligence model warned nurses of sepsis in patients hours "
           "before the usual signs, a study found.")


@pytest.fixture(scope="module")
def embedder() -> Iterator[Embedder]:
    if embed.installed_model_path() is None:
        pytest.skip("the model wheel is not installed (see README)")
    loaded = load_embedder(threads=1)
    assert loaded is not None
    yield loaded


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    forget_keyrings()
    return Settings.from_env({}, data_dir=tmp_path / "data", secret_key="test-secret",
                             feeds=TEST_CONFIG, clock=fixed(NOW))


def test_ingestion_leaves_a_quality_rule_to_the_judge() -> None:
    config = load_feeds(TEST_CONFIG)
    stat = config.source("STAT")
    assert stat is not None and stat.kind == "publisher"
    entry = ParsedEntry(guid=None, link="https://www.statnews.com/2026/sepsis-ai",
                        title=HEADLINE, summary=EXCERPT, published=NOW - timedelta(hours=1))
    feed = ParsedFeed(format="rss20", title="STAT", link="https://www.statnews.com/",
                      entries=(entry,))
    item = normalize_entry(entry, feed=feed, source=stat, feed_url=stat.url, config=config,
                           classifier=Classifier(config.topics), now=NOW)
    assert "AI in Healthcare" in item.record.topics
    # STAT's prior (85) is above the rule's 60, but a prior is not this item's score
    assert item.record.published is False


def _fetched(db: Database, *records: Record) -> None:
    with db.session() as session:
        RecordRepository(session).save_many(list(records), now=NOW)
        IngestRepository(session).remember("STAT", {r.web_url: r.id for r in records}, {},
                                           new=[r.id for r in records])
        session.commit()


def test_judge_scores_an_ingested_record_before_it_publishes(
        db: Database, settings: Settings, embedder: Embedder) -> None:
    stat = Provider(name="STAT", domain="statnews.com")
    base = Record(title=HEADLINE, excerpt=EXCERPT, web_url="https://www.statnews.com/good",
                  published_at=NOW - timedelta(hours=2), provider=stat,
                  topics=("AI", "AI in Healthcare"), quality=85, published=False)
    # as ingestion stores them: quality is STAT's prior, whatever the item looks like
    poor = base.replace(web_url="https://www.statnews.com/poor",
                        title="You won't believe what hospital AI does now",
                        excerpt="(AP) - Acme today announced an AI tool for hospitals.",
                        published=True)
    _fetched(db, base, poor)
    judge(db, settings, NOW, embedder=embedder)
    with db.session() as session:
        got = {r.web_url: r for r in RecordRepository(session).get_many([base.id, poor.id])}
    good, bad = got[base.web_url], got[poor.web_url]
    assert good.quality is not None and bad.quality is not None
    assert bad.quality < 60 <= good.quality       # item signals reached the stored quality
    assert good.published is True and bad.published is False
