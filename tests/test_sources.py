"""feeds/: the shipped configuration, and errors that name the file, line and key at fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import ConfigError
from app.sources import load_feeds
from tests.conftest import ROOT


def test_the_shipped_feeds_are_a_real_starting_set() -> None:
    config = load_feeds(ROOT / "feeds")
    publishers = [s for s in config.sources if s.kind == "publisher"]
    searches = [s for s in config.sources if s.kind == "search"]
    assert len(config.sources) >= 15 and len(publishers) >= 10 and len(searches) >= 3
    assert {s.type for s in publishers} >= {"article", "paper"}
    names = {t.name for t in config.topics}
    assert {"AI", "AI in Healthcare", "AI Ethics", "Medical Imaging", "Drug Discovery",
            "Mental Health", "Clinical Documentation", "Regulation"} <= names
    assert next(t for t in config.topics if t.name == "AI in Healthcare").parent == "AI"
    # curated publishers go live when on topic; search results wait for an editor
    rule = config.auto_publish[0]
    assert rule.kind == "publisher" and rule.topic == "AI in Healthcare"
    assert all(s.url.startswith("https://") for s in config.sources)
    assert config.provider_for("www.statnews.com") is not None


def test_a_single_file_may_be_named(tmp_path: Path) -> None:
    path = tmp_path / "one.yaml"
    path.write_text("sources:\n  - name: A\n    url: https://a.example/feed\n", encoding="utf-8")
    config = load_feeds(path)
    assert [s.name for s in config.sources] == ["A"] and config.sources[0].enabled


@pytest.mark.parametrize(("text", "message"), [
    ("sources:\n  - name: A\n", "sources[0].url: required key is missing"),
    ("sources:\n  - name: A\n    url: ftp://a.example/\n", ":3: sources[0].url: expected an http"),
    ("sources:\n  - {name: A, url: 'https://a.example/', interval: soon}\n",
     ":2: sources[0].interval: expected a duration"),
    ("sources:\n  - name: A\n    url: https://a.example/\n    colour: red\n",
     ":4: sources[0].colour: unknown key"),
    ("sources:\n  - name: A\n    url: https://a.example/\n    enabled: maybe\n",
     ":4: sources[0].enabled: expected true or false"),
    ("topics:\n  - name: Child\n    parent: Nobody\n", "unknown parent 'Nobody'"),
    ("providers:\n  - {domain: 'not a domain', name: X}\n", "providers[0].domain"),
    ("providers:\n  - {domain: a.example, name: X, quality: -3}\n", "providers[0].quality"),
    ("auto-publish:\n  - {topic: Nowhere}\n", "unknown topic 'Nowhere'"),
    ("sources: [\n", "broken YAML"),
    ("feeds:\n  - x\n", ":1: feeds: unknown top-level key"),
    ("sources:\n  - {name: A, url: 'https://a.example/'}\n"
     "  - {name: A, url: 'https://b.example/'}\n", "source 'A' is defined twice"),
])
def test_errors_name_the_file_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    folder = tmp_path / "feeds"
    folder.mkdir()
    (folder / "bad.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_feeds(folder)
    assert str(folder / "bad.yaml") in str(caught.value)
    assert message in str(caught.value)


def test_files_in_a_folder_are_merged(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("topics:\n  - name: AI\n", encoding="utf-8")
    (tmp_path / "b.yml").write_text(
        "sources:\n  - {name: B, url: 'https://b.example/', topics: [AI], interval: 2h}\n",
        encoding="utf-8")
    (tmp_path / "notes.txt").write_text("ignored", encoding="utf-8")
    config = load_feeds(tmp_path)
    assert config.sources[0].topics == ("AI",) and config.sources[0].interval == 7200


def test_a_missing_feeds_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file or folder"):
        load_feeds(tmp_path / "nope")
