"""Topic rules as editors see them: which records belong to a topic, decided from their title
and excerpt.

An editor's rule is a list of phrases and a list of exclusions: a record matches when any phrase
occurs in its text and no exclusion does.  A rule from feeds/*.yaml may also carry `all` groups
and case-sensitive phrases.  The matching itself is ingestion's (`RuleMatcher` in
app/pipeline/classify.py), so the editors' preview and the classifier always agree: phrases match
whole words, case-insensitively; spaces and hyphens inside a phrase match each other; a trailing
`*` matches any word ending.  Pure: no IO.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from app.errors import EditError
from app.pipeline.classify import RuleMatcher
from app.sources import TopicRule as FeedRule

MAX_PHRASES = 200
MAX_PHRASE_LENGTH = 200
FIELDS = ("title", "excerpt")      # what the preview sees of a record; all an editor rule reads


@dataclass(frozen=True)
class TopicRule:
    topic: str
    phrases: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    all_of: tuple[tuple[str, ...], ...] = ()       # feeds/ rules only: one phrase of each group
    case_sensitive: tuple[str, ...] = ()           # feeds/ rules only

    def as_feed_rule(self) -> FeedRule:
        """The rule in ingestion's terms (what the classifier applies)."""
        return FeedRule(any=self.phrases, all=self.all_of, exclude=self.exclude,
                        case_sensitive=self.case_sensitive, fields=FIELDS)

    @classmethod
    def from_feed_rule(cls, topic: str, rule: FeedRule) -> TopicRule:
        return cls(topic, rule.any, rule.exclude, rule.all, rule.case_sensitive)

    @cached_property
    def _matcher(self) -> RuleMatcher:
        return RuleMatcher.of(self.as_feed_rule())

    def first_match(self, text: str) -> str | None:
        """The phrase text that made `text` match, or None when it does not match."""
        return self._matcher.first_match(text)

    def matches(self, text: str) -> bool:
        return self.first_match(text) is not None

    def as_mapping(self) -> dict[str, list[str]]:
        return {"phrases": list(self.phrases), "exclude": list(self.exclude)}


def _lines(text: str, field: str) -> tuple[str, ...]:
    out: list[str] = []
    for n, raw in enumerate(text.replace("\r", "").split("\n"), start=1):
        phrase = " ".join(raw.split())
        if not phrase:
            continue
        if len(phrase) > MAX_PHRASE_LENGTH:
            raise EditError(f"line {n} is longer than {MAX_PHRASE_LENGTH} characters",
                            field=field)
        if not phrase.strip("* -"):
            raise EditError(f"line {n} has no words", field=field)
        if phrase.lower() not in (p.lower() for p in out):
            out.append(phrase)
    if len(out) > MAX_PHRASES:
        raise EditError(f"{len(out)} lines; at most {MAX_PHRASES} are allowed", field=field)
    return tuple(out)


def rule_from_form(topic: str, phrases: str, exclude: str) -> TopicRule:
    """A rule from the editor's form (one phrase per line); EditError names the field."""
    topic = " ".join((topic or "").split())
    if not topic:
        raise EditError("a topic name is required", field="topic")
    if len(topic) > 100:
        raise EditError("a topic name has at most 100 characters", field="topic")
    rule = TopicRule(topic, _lines(phrases or "", "phrases"), _lines(exclude or "", "exclude"))
    if not rule.phrases:
        raise EditError("give at least one phrase", field="phrases")
    return rule


def rule_from_mapping(topic: str, data: object) -> TopicRule:
    """A rule from stored YAML ({phrases: [...], exclude: [...]}); bad data gives no phrases."""
    if not isinstance(data, dict):
        return TopicRule(topic, ())
    phrases = data.get("phrases") or []
    exclude = data.get("exclude") or []
    return TopicRule(topic,
                     tuple(str(p) for p in phrases if isinstance(p, (str, int))),
                     tuple(str(p) for p in exclude if isinstance(p, (str, int))))


def record_text(title: str, excerpt: str) -> str:
    return f"{title}\n{excerpt}"
