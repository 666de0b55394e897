"""Topics calibrated on real records (issue 14): a rule's match the classifier of meaning scores
below the topic's `keep_threshold` is dropped; healthcare's subtopics need a health word; the
thresholds are read from feeds/ with a clear error when they are not scores."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import ConfigError
from app.pipeline.classify import Classifier
from app.pipeline.topicmodel import decide
from app.sources import load_feeds
from tests.conftest import ROOT

FEEDS = ROOT / "feeds"


def test_a_rule_match_the_model_finds_unlikely_is_dropped() -> None:
    scores = {"AI in Marketing": 0.01, "AI in Robotics": 0.7, "Google AI": 0.2}
    ruled = ("AI", "AI in Marketing", "AI in Robotics")
    assert decide(ruled, scores, keep={"AI in Marketing": 0.05}) == ("AI", "AI in Robotics")
    # without calibration the rules' topics the model ranks first and close seconds stand
    assert "AI in Marketing" not in decide(ruled, scores)
    assert decide(("AI", "AI in Marketing"), scores) == ("AI", "AI in Marketing")
    # when every rule match is dropped, the model may give its best topic
    assert decide(("AI", "AI in Marketing"), scores, {"AI in Robotics": 0.6},
                  keep={"AI in Marketing": 0.05}) == ("AI", "AI in Robotics")


@pytest.mark.parametrize("title", [
    "How AI regulation is developing in the insurance industry",        # real records of the
    "Commentary: A decent, if slightly half-baked, start to regulating AI",  # development set
    "Generative AI isn't quite cleared for takeoff at NASA",
])
def test_healthcare_subtopics_need_a_health_word(title: str) -> None:
    classifier = Classifier(load_feeds(FEEDS).topics)
    assert "AI in Healthcare" not in classifier.classify(title=title, excerpt="")


def test_a_healthcare_story_keeps_its_subtopic() -> None:
    classifier = Classifier(load_feeds(FEEDS).topics)
    topics = classifier.classify(
        title="FDA clears AI software that flags strokes on CT scans for hospital radiologists",
        excerpt="")
    assert {"AI in Healthcare", "Regulation", "Medical Imaging"} <= set(topics)


def test_shipped_topics_carry_calibrated_thresholds() -> None:
    topics = {t.name: t for t in load_feeds(FEEDS).topics}
    kept = {n for n, t in topics.items() if t.keep_threshold is not None}
    assert {"AI in Healthcare", "Natural Language Processing"} <= kept
    assert all(0 <= (t.keep_threshold or 0) <= 1 for t in topics.values())


def test_a_keep_threshold_that_is_no_score_names_file_and_field(tmp_path: Path) -> None:
    (tmp_path / "topics.yaml").write_text(
        "topics:\n  - name: AI\n    keep_threshold: 2\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_feeds(tmp_path)
    assert "topics.yaml" in str(caught.value)
    assert "topics[0].keep_threshold" in str(caught.value)
