"""The editors' pure logic: what editors ask for is checked before anything is touched."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.auth import LoginThrottle, check_name, hash_password, safe_next, verify_password
from app.editors import (
    ConfiguredSource,
    SourceHealth,
    SourceSettings,
    changes_from,
    clean_ids,
    clean_topics,
    merge_sources,
    queue_filter,
)
from app.errors import AuthError, EditError


def test_passwords_are_argon2id_and_verified_in_constant_shape() -> None:
    stored = hash_password("a long enough password")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "a long enough password")
    assert not verify_password(stored, "a long enough passworD")
    assert not verify_password(None, "a long enough password")       # unknown account
    assert not verify_password("not a hash", "whatever")
    with pytest.raises(AuthError, match="too short"):
        hash_password("short")


def test_user_names_are_plain() -> None:
    assert check_name("ada.l-1") == "ada.l-1"
    for bad in ("", " ada", "ada lovelace", "../x", "a" * 65, "<b>"):
        with pytest.raises(AuthError):
            check_name(bad)


def test_throttle_counts_per_account_and_per_address() -> None:
    rules = LoginThrottle(per_account=5, per_address=20)
    assert not rules.blocked(4, 19)
    assert rules.blocked(5, 0) and rules.blocked(0, 20)
    assert safe_next("/editor/records/x?y=1") == "/editor/records/x?y=1"


def test_topics_are_cleaned_and_deduplicated() -> None:
    assert clean_topics("AI, ai\n  AI   Ethics ,,\n") == ("AI", "AI Ethics")
    assert clean_topics(["Regulation", " Regulation "]) == ("Regulation",)
    with pytest.raises(EditError, match="at most 20") as info:
        clean_topics([f"t{i}" for i in range(21)])
    assert info.value.field == "topics"


def test_changes_name_the_field_at_fault() -> None:
    assert changes_from({"title": "  A\n title  "}).title == "A title"
    for data, field in (({"title": 3}, "title"), ({"excerpt": "x\x00"}, "excerpt"),
                        ({"published": True}, "published")):
        with pytest.raises(EditError) as info:
            changes_from(data)
        assert info.value.field == field


def test_ids_are_checked_before_anything_happens() -> None:
    assert clean_ids(["0123456789abcdef", "0123456789abcdef"]) == ["0123456789abcdef"]
    for bad in ([], ["x"], [1], "DROP TABLE", ["0123456789ABCDEF"]):
        with pytest.raises(EditError):
            clean_ids(bad)
    with pytest.raises(EditError, match="at most 500"):
        clean_ids([f"{i:016x}" for i in range(501)])


def test_queue_filter_defaults_and_refusals() -> None:
    f = queue_filter({"state": "", "q": "  sepsis   AI "})
    assert (f.state, f.sort, f.text, f.page) == ("queue", "newest", "sepsis AI", 1)
    assert queue_filter({"page": "999999999", "per_page": "0"}).per_page == 1
    for args, field in (({"quality": "-3"}, "quality"), ({"state": "weird"}, "state"),
                        ({"sort": "random"}, "sort")):
        with pytest.raises(EditError) as refused:
            queue_filter(args)
        assert refused.value.field == field


def test_sources_merge_configuration_editors_changes_and_health() -> None:
    when = datetime(2026, 11, 25, tzinfo=UTC)
    configured = [ConfiguredSource("https://a.example/feed", "A", 60, ("AI",)),
                  ConfiguredSource("https://b.example/feed", "B", 30)]
    settings = [SourceSettings("https://a.example/feed", paused=True, interval_minutes=15,
                               topics=("AI", "Sepsis")),
                SourceSettings("https://c.example/rss", name="C", added=True),
                SourceSettings("https://gone.example/rss")]       # not configured, not added
    views = merge_sources(configured, settings,
                          {"https://b.example/feed": SourceHealth(when, "200", 0)})
    assert [(v.name, v.paused, v.interval_minutes, v.topics, v.added) for v in views] == [
        ("A", True, 15, ("AI", "Sepsis"), False), ("B", False, 30, (), False),
        ("C", False, None, (), True)]
    assert views[1].health == SourceHealth(when, "200", 0)
