"""The judge run over the store (app/runs/judge.py): paraphrases of one story relate to each
other and share one heat, old records are cold, editors' decisions stand, topics and quality
are filled where empty, auto-publish follows the scored quality, and without the model the
lexical judgements stand in, said once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from app.clock import fixed
from app.config import Settings
from app.editors import RecordChanges
from app.keystore import forget_keyrings
from app.pipeline import embed
from app.pipeline.embed import Embedder, load_embedder
from app.record import Provider, Record
from app.runs import judge as judge_module
from app.runs.judge import LEXICAL, judge, judge_heat
from app.sources import load_feeds
from app.store.db import Database
from app.store.editorial import EditorialRepository
from app.store.repository import IngestRepository, RecordRepository
from app.store.vectors import VectorRepository
from tests.conftest import NOW, TEST_CONFIG

needs_model = pytest.mark.skipif(embed.installed_model_path() is None,
                                 reason="the model wheel is not installed (see README)")

SORA = [
    ("OpenAI introduces AI model that turns text into video",
     "The company says Sora can create minute-long clips from a written prompt, though it is "
     "not yet open to the public.", "theverge.com"),
    ("OpenAI Unleashes Realistic Text-to-Video 'Sora' AI",
     "The ChatGPT maker showed off a generator that produces lifelike footage from short "
     "descriptions.", "reuters.com"),
    ("OpenAI's Sora makes minute-long videos from text prompts",
     "OpenAI unveiled Sora, a model that turns written descriptions into realistic video "
     "footage, and gave it to a small group of testers.", "techcrunch.com"),
]
BIKES = ("City council approves twelve miles of protected bike lanes downtown",
         "Construction of the new lanes starts in the spring and should end by autumn.",
         "citynews.example")


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


def rec(title: str, excerpt: str, domain: str, *, hours_ago: float = 2, **changes: object
        ) -> Record:
    record = Record(title=title, excerpt=excerpt,
                    web_url=f"https://{domain}/{abs(hash(title)) % 10**8}",
                    published_at=NOW - timedelta(hours=hours_ago),
                    provider=Provider(name=domain, domain=domain), topics=("AI",), quality=55)
    return record.replace(**changes) if changes else record


def store(db: Database, *records: Record, source: str | None = None) -> list[str]:
    with db.session() as session:
        RecordRepository(session).save_many(list(records), now=NOW)
        if source is not None:
            IngestRepository(session).remember(source, {r.web_url: r.id for r in records}, {},
                                               new=[r.id for r in records])
        session.commit()
    return [r.id for r in records]


def load(db: Database, *ids: str) -> list[Record]:
    with db.session() as session:
        return RecordRepository(session).get_many(list(ids))


def story(db: Database) -> tuple[list[str], str]:
    sora = store(db, *(rec(t, e, d, hours_ago=3 - i) for i, (t, e, d) in enumerate(SORA)))
    (bikes,) = store(db, rec(*BIKES))
    return sora, bikes


@needs_model
def test_paraphrases_of_one_story_list_each_other_first_and_share_one_heat(
        db: Database, settings: Settings, embedder: Embedder) -> None:
    sora, bikes = story(db)
    report = judge(db, settings, NOW, embedder=embedder)
    assert report.judged == 4 and report.embedded == 4 and not report.lexical
    records = {r.id: r for r in load(db, *sora, bikes)}
    urls = {rid: records[rid].web_url for rid in records}
    for rid in sora:
        listed = [r.web_url for r in records[rid].related]
        others = {urls[o] for o in sora if o != rid}
        assert set(listed[:2]) == others, records[rid].title      # same story first
        assert urls[bikes] not in listed
    heats = {records[rid].heat for rid in sora}
    assert len(heats) == 1 and heats.pop() > 0                   # three providers, one story
    assert not records[bikes].related
    with db.session() as session:                                # vectors are kept
        assert VectorRepository(session).ids_without_vector([*sora, bikes],
                                                            embedder.model_id) == []
    again = judge(db, settings, NOW, embedder=embedder)          # nothing new: no write
    assert again.embedded == 0 and again.written == 0


@needs_model
def test_an_old_record_is_cold_and_the_heat_job_cools_what_left_the_week(
        db: Database, settings: Settings, embedder: Embedder) -> None:
    (old,) = store(db, rec(*SORA[0], hours_ago=30 * 24, heat=-1))
    judge(db, settings, NOW, embedder=embedder)
    assert load(db, old)[0].heat == 0
    sora, _ = story(db)
    judge(db, settings, NOW, ids=sora, embedder=embedder)
    warm = load(db, sora[0])[0].heat
    assert warm is not None and warm > 0
    report = judge_heat(db, settings, NOW + timedelta(days=8), embedder=embedder)
    assert report.cooled == 3 and load(db, sora[0])[0].heat == 0


@needs_model
def test_editors_decisions_and_hand_set_topics_survive_judge_all(
        db: Database, settings: Settings, embedder: Embedder) -> None:
    # fetched from a publisher source whose rule publishes AI in Healthcare from quality 60
    hospital = rec("Hospital deploys AI to read chest X-rays in its emergency room",
                   "Radiologists at the hospital use the machine learning tool to flag "
                   "collapsed lungs within minutes of a scan, the health system said.",
                   "statnews.com", topics=("AI", "AI in Healthcare"), quality=80,
                   published=True)
    hidden = hospital.replace(web_url="https://statnews.com/hidden", title="Hospital AI reads "
                              "scans overnight")
    unpublished = hospital.replace(web_url="https://statnews.com/unpublished",
                                   title="Hospital AI reads scans by day", published=False)
    store(db, hospital, hidden, unpublished, source="STAT")
    with db.session() as session:
        editorial = EditorialRepository(session)
        editorial.decide([hidden.id], "hide", actor="alice", now=NOW)
        editorial.decide([unpublished.id], "publish", actor="alice", now=NOW)
        editorial.edit(hospital.id, RecordChanges(topics=("AI Ethics",)), version=None,
                       actor="alice", now=NOW)
        editorial.decide([hospital.id], "unpublish", actor="alice", now=NOW)
        session.commit()
    judge(db, settings, NOW, redo=True, embedder=embedder)
    got = {r.id: r for r in load(db, hospital.id, hidden.id, unpublished.id)}
    assert got[hospital.id].topics == ("AI Ethics",) and got[hospital.id].published is False
    assert got[hidden.id].published is False
    assert got[unpublished.id].published is True


@needs_model
def test_auto_publish_follows_the_scored_quality_and_final_topics(
        db: Database, settings: Settings, embedder: Embedder) -> None:
    text = ("Machine learning in hospitals: AI flags sepsis hours early",
            "A hospital's artificial intelligence model warned nurses of sepsis in patients "
            "hours before the usual signs, a study found.", "statnews.com")
    good = rec(*text, quality=None, published=False, topics=())
    poor = rec("AI in healthcare: you won't believe what hospitals do", "", "blog.example",
               quality=None, published=True, topics=())
    imported = rec(*text[:2], "other.example", quality=None, published=None, topics=())
    store(db, good, poor, source="STAT")
    store(db, imported)
    report = judge(db, settings, NOW, embedder=embedder)
    got = {r.id: r for r in load(db, good.id, poor.id, imported.id)}
    assert "AI in Healthcare" in got[good.id].topics               # the rules filled topics
    assert got[good.id].quality is not None and got[good.id].quality >= 60
    assert got[good.id].published is True
    assert got[poor.id].quality is not None and got[poor.id].quality < 60
    assert got[poor.id].published is False
    assert got[imported.id].published is None                      # no source: no rule
    assert got[imported.id].quality is not None                    # but quality is filled
    assert report.published == 1 and report.unpublished == 1


@needs_model
def test_topics_of_meaning_fill_only_where_no_rule_spoke_and_imports_keep_theirs(
        db: Database, settings: Settings, embedder: Embedder, tmp_path: Path) -> None:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("""
sources:
  - {name: Wire, url: "https://wire.example/feed"}
topics:
  - name: AI
    match: {any: [AI, artificial intelligence]}
  - name: AI in Autos
    parent: AI
    description: self-driving cars, autonomous vehicles and robotaxis
    examples: [Waymo expands its driverless taxi service to a new city,
               Tesla recalls cars over its autopilot driver assistance]
    match: {any: [robotaxi]}
  - name: AI Hardware
    parent: AI
    description: chips, GPUs and the processors that run AI
    examples: [Nvidia unveils a faster GPU for training AI models]
    match: {any: [semiconductor]}
""", encoding="utf-8")
    config = load_feeds(feeds)
    car = ("AI startup tests autonomous cars on city streets",
           "Its self-driving vehicles carried passengers without a safety driver.",
           "wire.example")
    fetched = rec(*car, topics=("AI",))
    imported = rec(*car[:2], "file.example", topics=("AI",))
    store(db, fetched, source="Wire")
    store(db, imported)
    judge(db, settings, NOW, embedder=embedder, config=config)
    got = {r.id: r for r in load(db, fetched.id, imported.id)}
    assert got[fetched.id].topics == ("AI", "AI in Autos")
    assert got[imported.id].topics == ("AI",)                     # what the file says stands


def test_without_the_model_judge_relates_lexically_and_says_so_once(
        db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    monkeypatch.setattr(judge_module, "MODEL_PATH", tmp_path / "missing" / "model.zip")
    title = "Hospital network deploys Sepsis Watch algorithm across twelve emergency rooms"
    excerpt = ("The Sepsis Watch algorithm flags patients at risk of sepsis in emergency "
               "rooms across the twelve hospitals of the network.")
    a = rec(title, excerpt, "a.example", hours_ago=3)
    b = rec(title + " this winter", excerpt, "b.example", hours_ago=2)
    (bikes,) = store(db, rec(*BIKES))
    store(db, a, b)
    report = judge(db, settings, NOW)
    assert report.lexical and report.embedded == 0
    assert report.summary().count(LEXICAL) == 1
    got = {r.id: r for r in load(db, a.id, b.id, bikes)}
    assert [r.web_url for r in got[a.id].related] == [b.web_url]
    assert [r.web_url for r in got[b.id].related] == [a.web_url]
    assert got[a.id].heat == got[b.id].heat and (got[a.id].heat or 0) > 0
    assert not got[bikes].related


def test_judge_command_prints_one_summary_line(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from app.cli import main

    monkeypatch.setattr(judge_module, "MODEL_PATH", tmp_path / "missing" / "model.zip")
    env = {"NEWSDESK_DATA_DIR": str(tmp_path / "data"), "NEWSDESK_FEEDS": str(TEST_CONFIG),
           "NEWSDESK_NOW": NOW.isoformat(), "NEWSDESK_SECRET_KEY": "test-secret"}
    db = Database(f"sqlite:///{tmp_path / 'data' / 'newsdesk.db'}", create_folder=True)
    store(db, rec(*BIKES), rec(*SORA[0], hours_ago=24 * 30))
    db.dispose()
    since = (NOW - timedelta(days=1)).date().isoformat()
    result = CliRunner().invoke(main, ["judge", "--since", since], env=env)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("1 records judged") and LEXICAL in lines[0]
    result = CliRunner().invoke(main, ["judge", "--all"], env=env)
    assert result.exit_code == 0 and result.output.startswith("2 records judged")
