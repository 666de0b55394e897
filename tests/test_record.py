"""The record format: reading, canonical writing, and the round trip between them."""

from __future__ import annotations

import string
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import RecordError
from app.record import (
    Image,
    Provider,
    Record,
    Related,
    dump_record,
    parse_datetime,
    parse_record,
    record_id,
)
from tests.conftest import DATA, shared_path

CORPUS = sorted((DATA / "records").glob("*.md"))


def seeds() -> list[Path]:
    return sorted(shared_path("format", "seeds").glob("00[0-3]_*.txt"))


def test_seeds_come_back_byte_for_byte() -> None:
    files = seeds()
    assert len(files) == 4
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert dump_record(parse_record(text)) == text, path.name


def test_seed_fields_are_read() -> None:
    record = parse_record(seeds()[0].read_text(encoding="utf-8"))
    assert record.title == "Can AI Identify Race From Medical X-Rays?"
    assert record.published_at == datetime(2022, 5, 15, 23, 9, tzinfo=UTC)
    assert record.provider == Provider(name="Psychology Today", domain="psychologytoday.com")
    assert record.topics == ("AI",)
    assert record.quality == 57 and record.heat == -1 and record.published is False
    assert record.images[0].width == 1528 and record.images[0].is_cached is True
    assert len(record.related) == 2
    assert record.related[1].provider == Provider(name="The Boston Globe",
                                                  domain="bostonglobe.com")
    assert record.secured and record.secured.endswith("4A00GbaaqwY6jCAJzfb2kA==")
    assert record.id == record_id(record.web_url) and len(record.id) == 16


def test_examples_round_trip_and_quote_urls() -> None:
    files = sorted(shared_path("format", "examples").glob("*.md"))
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        record = parse_record(text)
        out = dump_record(record)
        assert parse_record(out) == record, path.name
        if "\nwebUrl: h" not in text:   # canonical files come back as they were
            assert out == text, path.name
        else:
            assert f'webUrl: "{record.web_url}"' in out


def test_corpus_has_enough_variety() -> None:
    assert len(CORPUS) >= 25
    texts = [p.read_bytes().decode("utf-8-sig") for p in CORPUS]
    joined = "\n".join(texts)
    for needle in ("related:", "  images:", "title:", '\\"', "isCached: false", "\nwebUrl: h"):
        assert needle in joined, needle
    assert any("\r\n" in p.read_bytes().decode("utf-8-sig") for p in CORPUS)
    records = [parse_record(p.read_bytes()) for p in CORPUS]
    assert any(r.extra for r in records)
    assert any(r.body.strip() for r in records)
    assert any(r.quality is None for r in records)
    assert len({r.id for r in records}) == len(records)


@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_corpus_round_trip(path: Path) -> None:
    record = parse_record(path.read_bytes())
    text = dump_record(record)
    again = parse_record(text)
    assert again == record
    assert dump_record(again) == text  # the canonical layout is a fixed point


def test_unknown_keys_are_kept_in_order() -> None:
    text = (
        '---\ntitle: "T"\nwebUrl: https://e.org/a b\npublishedDateTime: 2020-01-02T03:04:05Z\n'
        "provider:\n  name: E\n  domain: e.org\n  rank: 3\nzeta: [1, 2]\nalpha:\n  k: v\n---\n")
    record = parse_record(text)
    assert record.web_url == "https://e.org/a b"
    assert list(record.extra) == ["zeta", "alpha"]
    assert record.provider.extra == {"rank": 3}
    assert parse_record(dump_record(record)) == record


def test_offsets_are_converted_to_utc() -> None:
    assert parse_datetime("2023-10-26T22:54:00+02:00") == datetime(2023, 10, 26, 20, 54,
                                                                   tzinfo=UTC)


@pytest.mark.parametrize(("text", "field", "words"), [
    ('---\ntitle: "T\nwebUrl: x\n---\n', None, "broken YAML"),
    ("---\nwebUrl: u\npublishedDateTime: 2020-01-01T00:00:00Z\nprovider: {name: a, domain: b}\n"
     "---\n", "title", "required field is missing"),
    ("---\ntitle: t\npublishedDateTime: 2020-01-01T00:00:00Z\nprovider: {name: a, domain: b}\n"
     "---\n", "webUrl", "required field is missing"),
    ("---\ntitle: t\nwebUrl: u\nprovider: {name: a, domain: b}\n---\n", "publishedDateTime",
     "required field is missing"),
    ("---\ntitle: t\nwebUrl: u\npublishedDateTime: 2020-01-01T00:00:00Z\n---\n", "provider",
     "required field is missing"),
    ("---\ntitle: t\nwebUrl: u\npublishedDateTime: 2020-01-01T00:00:00Z\nquality: high\n"
     "provider: {name: a, domain: b}\n---\n", "quality", "expected an integer"),
    ("---\ntitle: t\nwebUrl: u\npublishedDateTime: 2023-02-30T10:00:00Z\n"
     "provider: {name: a, domain: b}\n---\n", "publishedDateTime", "impossible date"),
    ("# Just a heading\n\nSome text.\n", None, "not a record"),
])
def test_bad_records_name_the_field(text: str, field: str | None, words: str) -> None:
    with pytest.raises(RecordError) as caught:
        parse_record(text)
    assert caught.value.field == field
    assert words in str(caught.value)
    if field:
        assert f"field '{field}'" in str(caught.value)


def test_broken_yaml_names_the_line() -> None:
    text = '---\ncategory: news\ntitle: "ok"\nexcerpt: [unclosed\nwebUrl: u\n---\n'
    with pytest.raises(RecordError) as caught:
        parse_record(text)
    assert caught.value.line is not None and 4 <= caught.value.line <= 6


# ---------------------------------------------------------------- property test

_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
_word = st.text(alphabet=string.ascii_letters + string.digits + " -.&'’·£é😀\"\\:#", min_size=1,
                max_size=20).filter(lambda s: s.strip() != "")
_url = st.builds(lambda host, path: f"https://{host}.org/{path}",
                 st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=10),
                 st.text(alphabet=string.ascii_letters + "/?=&%é ", max_size=30))
_when = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1),
                     timezones=st.just(UTC)).map(lambda d: d.replace(microsecond=0))
_KNOWN = {"category", "title", "excerpt", "publishedDateTime", "originalUrl", "webUrl",
          "ampWebUrl", "cdnAmpWebUrl", "type", "quality", "heat", "published", "provider",
          "topics", "images", "related", "secured", "name", "domain", "url", "width", "height",
          "isCached"}
_scalar = st.one_of(st.integers(-5, 10**6), st.booleans(), _text, st.none())
_extra = st.dictionaries(st.text(alphabet=string.ascii_letters, min_size=1, max_size=8)
                         .filter(lambda k: k not in _KNOWN),
                         st.one_of(_scalar, st.lists(_scalar, max_size=3)), max_size=2)
_image = st.builds(Image, url=_url, width=st.none() | st.integers(0, 5000),
                   height=st.none() | st.integers(0, 5000), title=st.none() | _text,
                   is_cached=st.none() | st.booleans(), extra=_extra)
_provider = st.builds(Provider, name=_word, domain=_word,
                      images=st.lists(_image, max_size=1).map(tuple), extra=_extra)
_related = st.builds(Related, title=st.none() | _text, excerpt=st.none() | _text,
                     published_at=st.none() | _when, web_url=st.none() | _url,
                     type=st.none() | _word, provider=st.none() | _provider,
                     quality=st.none() | st.integers(0, 500),
                     images=st.lists(_image, max_size=2).map(tuple), extra=_extra)
records = st.builds(
    Record, title=_text.filter(lambda s: s.strip() != ""), web_url=_url, published_at=_when,
    provider=_provider, category=_word, excerpt=_text, original_url=st.none() | _url,
    amp_web_url=st.none() | _url, cdn_amp_web_url=st.none() | _url, type=_word,
    quality=st.none() | st.integers(0, 1000), heat=st.none() | st.integers(-1, 1000),
    published=st.none() | st.booleans(),
    topics=st.lists(_word, max_size=4, unique=True).map(tuple),
    images=st.lists(_image, max_size=3).map(tuple),
    related=st.lists(_related, max_size=3).map(tuple), secured=st.none() | _text,
    body=st.one_of(st.just(""), _text.map(lambda s: s.replace("\r", "")), st.just("# H\n\n- a\n")),
    extra=_extra)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records)
def test_writer_and_reader_round_trip(record: Record) -> None:
    text = dump_record(record)
    assert parse_record(text) == record
    assert dump_record(parse_record(text)) == text


@pytest.mark.parametrize("text", [
    "a: &x [1, 2]\nb: *x\n",            # an alias: PyYAML shares the list
    "a: &x [1, *x]\n",                  # a cycle
    "<<: {a: 1}\nb: 2\n",               # a merge key
    "a: yes\nb: 0x1f\nc: 1.5\nd: ~\ne: 2020-01-01\n1: x\n",
    "x: 012\ny: -5\nz: 1_000\nw: 0\nv: 10\n",   # 012 is octal in YAML 1.1
    "a: !!binary aGVsbG8=\n",
    "a: {b: [1, {c: d}]}\nnull: 1\n",
    "title: \"caf\\u00e9 \\\"quoted\\\"\"\nexcerpt: |\n  two\n  lines\n",
    "", "just text\n",
])
def test_fast_yaml_reader_reads_as_pyyaml_does(text: str) -> None:
    # The record reader builds Python data from PyYAML's composed nodes itself (faster);
    # whatever a document holds, the result must be PyYAML's own.
    import yaml

    from app.record import _RecordLoader, load_yaml

    expected = yaml.load(text, Loader=_RecordLoader)
    got = load_yaml(text)
    assert repr(got) == repr(expected)   # repr: a cycle cannot be compared with ==
    assert type(got) is type(expected)
