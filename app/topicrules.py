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

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from app.errors import EditError
from app.pipeline.classify import RuleMatcher
from app.record import Record
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

    def as_mapping(self) -> dict[str, list[Any]]:
        """The rule as stored: the conditions the editor's form does not show (`all` groups,
        case-sensitive phrases, kept from the rule it replaced) only when it has them."""
        out: dict[str, list[Any]] = {"phrases": list(self.phrases),
                                     "exclude": list(self.exclude)}
        if self.all_of:
            out["all"] = [list(group) for group in self.all_of]
        if self.case_sensitive:
            out["case_sensitive"] = list(self.case_sensitive)
        return out

    def with_phrases(self, phrases: tuple[str, ...], exclude: tuple[str, ...]) -> TopicRule:
        """This rule with the phrases and exclusions an editor typed; the conditions the form
        does not show (`all` groups, case-sensitive phrases) stay as they are."""
        return replace(self, phrases=phrases, exclude=exclude)


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


def rule_from_form(topic: str, phrases: str, exclude: str,
                   keep: TopicRule | None = None) -> TopicRule:
    """A rule from the editor's form (one phrase per line); EditError names the field.  The
    conditions of `keep` (the rule in force) that the form does not show are kept."""
    topic = " ".join((topic or "").split())
    if not topic:
        raise EditError("a topic name is required", field="topic")
    if len(topic) > 100:
        raise EditError("a topic name has at most 100 characters", field="topic")
    base = replace(keep, topic=topic) if keep is not None else TopicRule(topic, ())
    rule = base.with_phrases(_lines(phrases or "", "phrases"), _lines(exclude or "", "exclude"))
    if not rule.phrases:
        raise EditError("give at least one phrase", field="phrases")
    return rule


def _strings(value: object) -> tuple[str, ...]:
    if isinstance(value, (str, int)):
        value = [value]
    if not isinstance(value, list):
        return ()
    return tuple(str(p) for p in value if isinstance(p, (str, int)))


def rule_from_mapping(topic: str, data: object) -> TopicRule:
    """A rule from stored YAML ({phrases: [...], exclude: [...]}, and `all` groups and
    `case_sensitive` phrases when it has them); bad data gives no phrases."""
    if not isinstance(data, dict):
        return TopicRule(topic, ())
    groups = data.get("all")
    all_of = tuple(g for g in (_strings(group) for group in groups) if g) \
        if isinstance(groups, list) else ()
    return TopicRule(topic, _strings(data.get("phrases")), _strings(data.get("exclude")),
                     all_of, _strings(data.get("case_sensitive")))


def record_text(title: str, excerpt: str) -> str:
    return f"{title}\n{excerpt}"


@dataclass(frozen=True)
class TopicChange:
    """What applying a topic rule to a stored record would do: add the topic (the rule matches
    now; `found` is the text it matched) or drop it (the record has it, the rule no longer
    matches).  `by_hand`: an editor set the record's topics, so applying leaves it alone."""

    record: Record
    topic: str
    add: bool
    found: str = ""
    by_hand: bool = False

    @property
    def topics(self) -> tuple[str, ...]:
        """The record's topics after the change."""
        if self.add:
            return (self.record.topics if self.topic in self.record.topics
                    else (*self.record.topics, self.topic))
        return tuple(t for t in self.record.topics if t != self.topic)


def topic_changes(rule: TopicRule, records: Iterable[Record], *,
                  by_hand: Collection[str] = ()) -> list[TopicChange]:
    """What applying `rule` to `records` would change, in their order: the topic added where
    the rule matches a record without it, dropped where the record has it and the rule does
    not match.  Records in `by_hand` (ids whose topics an editor set) are listed with
    `by_hand=True`: they are shown, never changed."""
    out = []
    for record in records:
        found = rule.first_match(record_text(record.title, record.excerpt))
        if (found is not None) == (rule.topic in record.topics):
            continue
        out.append(TopicChange(record, rule.topic, found is not None, found or "",
                               record.id in by_hand))
    return out
