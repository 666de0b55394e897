"""The stages of meaning, on vectors made by hand (no model needed): related lists and stories
(app/pipeline/neighbours.py), topics no rule decided (app/pipeline/topicmodel.py), and provider
priors learned from stored qualities (app/pipeline/score.py)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from app.pipeline.neighbours import VectorWindow, evidence
from app.pipeline.score import DEFAULT_PRIOR, learned_priors
from app.pipeline.topicmodel import TopicModel, decide
from tests.conftest import NOW

DIM = 8


def unit(*values: float) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[: len(values)] = values
    return v / np.linalg.norm(v)


def test_paraphrases_of_one_story_are_one_story_and_list_each_other_first() -> None:
    window = VectorWindow(DIM)
    sora = [("a", "OpenAI introduces AI model Sora that turns text into video", unit(1, 0.1)),
            ("b", "OpenAI Unleashes Realistic Text-to-Video 'Sora' AI", unit(1, 0.2)),
            ("c", "Sora: OpenAI's video generator stuns artists", unit(1, 0.25, 0.1))]
    for rid, title, vector in sora:
        window.add(rid, vector, NOW, topics=("AI", "Natural Language Processing"),
                   evidence_terms=evidence(title))
    window.add("near", unit(0.5, 1, 0.3), NOW, topics=("Natural Language Processing",),
               evidence_terms=evidence("Google shows a chatbot for doctors"))
    window.add("far", unit(0, 0, 1), NOW, evidence_terms=evidence("Tesla recalls cars"))
    window.add("late", unit(1, 0.1), NOW + timedelta(days=9),
               evidence_terms=evidence("OpenAI Sora, a month on"))
    related = window.related("a")
    assert [n.record_id for n in related[:2]] == ["b", "c"]
    assert all(n.same_story for n in related[:2])
    assert "far" not in {n.record_id for n in related}           # another subject
    assert "late" not in {n.record_id for n in related}          # outside the window of days
    near = next(n for n in related if n.record_id == "near")
    assert not near.same_story                                   # related, not the same story
    groups = {frozenset(g) for g in window.stories()}
    assert frozenset({"a", "b", "c"}) in groups


def test_close_vectors_without_shared_names_are_related_but_not_one_story() -> None:
    window = VectorWindow(DIM)
    window.add("x", unit(1, 0.3), NOW, evidence_terms=evidence("Hospital uses AI for sepsis"))
    window.add("y", unit(0.6, 1), NOW, evidence_terms=evidence("Clinic tries a triage model"))
    (match,) = window.related("x")
    assert match.record_id == "y" and not match.same_story


def test_the_model_decides_where_no_rule_did_and_arbitrates_where_several_did() -> None:
    model = TopicModel(dim=DIM, topics=("AI", "Computer Vision", "Microsoft AI",
                                        "Machine Learning"))
    for i in range(4):
        model.add_example(unit(1, 0, 0.05 * i), ("AI", "Computer Vision"))
        model.add_example(unit(0, 1, 0.05 * i), ("AI", "Microsoft AI"))
        model.add_example(unit(0, 0, 1, 0.05 * i), ("AI", "Machine Learning"))
    known = model.known()
    assert known == {"AI", "Computer Vision", "Microsoft AI", "Machine Learning"}
    face = model.scores(unit(1, 0.1))
    assert decide(("AI",), face, known=known) == ("AI", "Computer Vision")
    assert decide(("AI",), model.scores(unit(1, 1, 1, 1)), known=known) == ("AI",)   # unsure
    azure = model.scores(unit(0.1, 1, 0.2))
    assert decide(("AI", "Microsoft AI", "Machine Learning"), azure, known=known) == (
        "AI", "Microsoft AI")
    # a matched topic the model has no examples of is the rule's alone: kept
    assert decide(("AI", "Medical Imaging", "Microsoft AI"), azure, known=known) == (
        "AI", "Medical Imaging", "Microsoft AI")


def test_provider_priors_move_towards_the_stored_qualities() -> None:
    priors = learned_priors([("forbes.com", 90)] * 30 + [("new.example", 20)],
                            {"statnews.com": 85, "forbes.com": 60})
    assert priors["statnews.com"] == 85                          # no records: configured
    assert 86 <= priors["forbes.com"] <= 90                      # thirty records: theirs
    assert priors["new.example"] == round((20 + DEFAULT_PRIOR * 3) / 4)
