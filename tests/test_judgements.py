"""The pure judgements: quality, heat and related (no IO, fixed clock)."""

from __future__ import annotations

from datetime import timedelta

from app.pipeline.relate import StoryIndex, record_terms, relate, terms
from app.pipeline.score import StoryMember, compute_heat, quality_signals, score_quality
from app.record import Image, Provider, Record
from tests.conftest import NOW

EXCERPT = ("Researchers trained a deep learning model on 40,000 chest X-rays and found it "
           "flagged early lung cancer months before radiologists did.")


def item(title: str = "AI model spots lung cancer on X-rays months earlier", *,
         domain: str = "example.com", excerpt: str = EXCERPT, hours_ago: float = 1,
         images: tuple[Image, ...] = (), quality: int | None = None,
         url: str | None = None) -> Record:
    return Record(title=title, excerpt=excerpt,
                  web_url=url or f"https://{domain}/{abs(hash((title, domain))) % 10**8}",
                  published_at=NOW - timedelta(hours=hours_ago),
                  provider=Provider(name=domain, domain=domain), images=images,
                  quality=quality, topics=("AI in Healthcare",))


# --------------------------------------------------------------------------- quality

def test_quality_rewards_a_real_excerpt_and_an_image_and_is_deterministic() -> None:
    bare = item(excerpt="")
    rich = item(images=(Image("https://example.com/a.jpg", 1200, 630),))
    assert score_quality(rich, 40) > score_quality(item(), 40) > score_quality(bare, 40)
    assert score_quality(rich, 40) == score_quality(rich, 40)
    assert score_quality(rich, 60) - score_quality(rich, 40) == 20     # the provider prior


def test_quality_penalises_press_releases_clickbait_and_syndicated_copies() -> None:
    plain = score_quality(item())
    release = item(title="Acme today announced its AI platform for hospitals",
                   domain="prnewswire.com")
    bait = item(title="You won't believe what this AI found in X-rays")
    copy = item(domain="msn.com")
    for worse in (release, bait, copy):
        assert score_quality(worse) < plain
    assert ("press release", -15) in quality_signals(release)


def test_quality_counts_the_length_of_the_main_text_and_never_goes_negative() -> None:
    long_text = "word " * 900
    assert score_quality(item(), main_text=long_text) > score_quality(item(), main_text="short")
    worst = item(title="SHOCKING!! DOCTORS HATE THIS TRICK", excerpt="", domain="msn.com")
    assert score_quality(worst, 0) == 0


# --------------------------------------------------------------------------- heat

def cluster(providers: int, hours_ago: float = 2, quality: int = 50) -> list[StoryMember]:
    return [StoryMember(f"r{i}", f"p{i}.com", NOW - timedelta(hours=hours_ago + i / 10),
                        quality) for i in range(providers)]


def test_a_story_five_providers_covered_is_hotter_than_one_covered_once() -> None:
    five, one = compute_heat(cluster(5), NOW), compute_heat(cluster(1), NOW)
    assert five > one > 0


def test_heat_decays_with_time_and_cools_to_zero_after_the_window() -> None:
    story = cluster(5)
    now, later, much_later = (compute_heat(story, NOW + timedelta(hours=h))
                              for h in (0, 24, 72))
    assert now > later > much_later == 0
    # the same provider twice is one provider
    same = [StoryMember(f"r{i}", "p.com", NOW - timedelta(hours=1), 50) for i in range(5)]
    assert compute_heat(same, NOW) == compute_heat(cluster(1, hours_ago=1), NOW)


def test_heat_uses_quality_and_the_editor_boost_and_is_minus_one_unscored() -> None:
    assert compute_heat(cluster(3, quality=90), NOW) > compute_heat(cluster(3, quality=10), NOW)
    boosted = [*cluster(2)[:1], StoryMember("r9", "p9.com", NOW - timedelta(hours=3), 50, 25)]
    assert compute_heat(boosted, NOW) == compute_heat(cluster(2), NOW) + 25
    assert compute_heat([], NOW) == -1


# --------------------------------------------------------------------------- related

STORY = [
    ("Mayo Clinic AI model spots lung cancer on X-rays months earlier", "a.com"),
    ("Lung cancer: Mayo Clinic's new AI flags tumours on chest X-rays early", "b.com"),
    ("Mayo Clinic deep learning model detects lung cancer earlier than radiologists", "c.com"),
]
OTHER = [
    ("Kenya hospitals deploy malaria chatbot from Nairobi startup", "d.com"),
    ("FDA clears Philips imaging software for stroke triage", "e.com"),
    ("Stanford study: ChatGPT answers patient questions with empathy", "f.com"),
]


def test_related_finds_the_same_story_first_and_not_unrelated_ones() -> None:
    records = {}
    for title, domain in STORY + OTHER:
        excerpt = EXCERPT if domain in "a.com b.com c.com" else f"{title}. More details."
        r = item(title, domain=domain, excerpt=excerpt)
        records[r.id] = r
    index = StoryIndex()
    for r in records.values():
        index.index_record(r)
    first = next(r for r in records.values() if r.provider.domain == "a.com")
    related = relate(first, index, records)
    assert {rel.provider.domain for rel in related if rel.provider} == {"b.com", "c.com"}
    assert related[0].title and related[0].web_url and related[0].published_at
    assert all(rel.web_url != first.web_url for rel in related)


def test_related_respects_the_time_window() -> None:
    index = StoryIndex(window_days=3)
    old = item(STORY[1][0], domain="b.com", hours_ago=24 * 30)
    new = item(STORY[0][0], domain="a.com")
    index.index_record(old)
    assert index.query(record_terms(new.title, new.excerpt), new.published_at,
                       title_words=terms(new.title)) == []


def test_terms_normalise_case_plurals_and_common_phrases() -> None:
    assert terms("Artificial Intelligence spots Tumours") == ["ai", "spot", "tumour"]


# --------------------------------------------------------------------------- over the database

def test_related_and_heat_are_written_to_the_stored_records(db) -> None:
    from app.pipeline.stories import recompute_heat, relate_records
    from app.store.repository import RecordRepository

    story = [item(t, domain=d, excerpt=EXCERPT) for t, d in STORY]
    single = [item(t, domain=d, excerpt=f"{t}. More details.") for t, d in OTHER]
    stale = item("Old news about hospital robots", domain="g.com", hours_ago=24 * 20)
    with db.session() as session:
        repo = RecordRepository(session)
        for r in [*story, *single, stale.replace(heat=80)]:
            repo.save(r, now=NOW)
    assert relate_records(db, [r.id for r in story + single], NOW) >= 3
    report = recompute_heat(db, NOW)
    assert report.cooled == 1
    with db.session() as session:
        stored = {r.id: r for r in RecordRepository(session).iter_all()}
    first = stored[story[0].id]
    assert {x.provider.domain for x in first.related if x.provider} == {"b.com", "c.com"}
    heats = {stored[r.id].heat for r in story}
    assert len(heats) == 1                              # a story shares its heat
    assert heats.pop() > max(stored[r.id].heat or 0 for r in single) > 0
    assert stored[stale.id].heat == 0
    # unchanged inputs: nothing to write the second time
    assert recompute_heat(db, NOW).changed == 0
    assert relate_records(db, [story[0].id], NOW) == 0


def test_an_editor_boost_kept_in_secured_raises_the_story_heat(db, tmp_path) -> None:
    from app.clock import fixed
    from app.config import Settings
    from app.keystore import forget_keyrings, load_keyring
    from app.pipeline.stories import refresh_heat
    from app.secured import heat_boost, with_heat_boost
    from app.store.repository import RecordRepository

    forget_keyrings()
    settings = Settings.from_env({}, data_dir=tmp_path, secret_key="s", clock=fixed(NOW))
    plain, boosted = item("Kenya malaria chatbot", domain="d.com"), item(
        "Philips stroke triage software", domain="e.com")
    boosted = with_heat_boost(boosted, 30, load_keyring(db, settings))
    assert heat_boost(boosted, load_keyring(db, settings)) == 30
    with db.session() as session:
        for r in (plain, boosted):
            RecordRepository(session).save(r, now=NOW)
    refresh_heat(db, settings, NOW)
    with db.session() as session:
        heat = {r.id: r.heat for r in RecordRepository(session).iter_all()}
    assert heat[boosted.id] == heat[plain.id] + 30


def test_related_on_a_small_generated_corpus_of_paraphrases() -> None:
    """A quality guard (not a benchmark): bench/relate_eval.py's generator, 200 stories."""
    import importlib.util

    from tests.conftest import ROOT
    spec = importlib.util.spec_from_file_location("relate_eval", ROOT / "bench" / "relate_eval.py")
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    items = bench.make_corpus(200, seed=3)
    index = StoryIndex()
    for it in items:
        index.add(it["id"], record_terms(it["title"], it["excerpt"]), it["published_at"],
                  terms(it["title"]))
    found = {tuple(sorted((it["id"], m.record_id)))
             for it in items
             for m in index.query(record_terms(it["title"], it["excerpt"]), it["published_at"],
                                  title_words=terms(it["title"]), exclude=it["id"])
             if m.same_story}
    gold = bench.pairs_of({s: [it["id"] for it in items if it["story"] == s]
                           for s in {it["story"] for it in items}})
    hits = len(found & gold)
    assert hits / len(found) >= 0.9 and hits / len(gold) >= 0.85     # precision, recall
