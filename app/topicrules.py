"""Topic rules: which records belong to a topic, decided from their title and excerpt.

A rule is a list of phrases and a list of exclusions.  A record matches when any phrase occurs
in its text and no exclusion does.  Phrases match whole words, case-insensitively; inside a
phrase any run of spaces or hyphens matches any other ("machine learning" finds
"machine-learning"); a trailing `*` matches any word ending ("radiolog*" finds "radiology" and
"radiologists").  Pure: no IO; the editor pages and ingestion's classifier share it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from app.errors import EditError

MAX_PHRASES = 200
MAX_PHRASE_LENGTH = 200


@dataclass(frozen=True)
class TopicRule:
    topic: str
    phrases: tuple[str, ...]
    exclude: tuple[str, ...] = ()

    @cached_property
    def _phrase_rx(self) -> re.Pattern[str] | None:
        return _compile(self.phrases)

    @cached_property
    def _exclude_rx(self) -> re.Pattern[str] | None:
        return _compile(self.exclude)

    def first_match(self, text: str) -> str | None:
        """The phrase text that made `text` match, or None when it does not match."""
        if self._phrase_rx is None:
            return None
        found = self._phrase_rx.search(text)
        if found is None:
            return None
        if self._exclude_rx is not None and self._exclude_rx.search(text):
            return None
        return found.group(0)

    def matches(self, text: str) -> bool:
        return self.first_match(text) is not None

    def as_mapping(self) -> dict[str, list[str]]:
        return {"phrases": list(self.phrases), "exclude": list(self.exclude)}


def _phrase_pattern(phrase: str) -> str:
    wildcard = phrase.endswith("*")
    words = [w for w in re.split(r"[\s\-]+", phrase.rstrip("*")) if w]
    body = r"[\s\-]+".join(re.escape(w) for w in words)
    start = r"(?<!\w)" if words and re.match(r"\w", words[0]) else ""
    if wildcard:
        return start + body + r"\w*"
    end = r"(?!\w)" if words and re.search(r"\w$", words[-1]) else ""
    return start + body + end


def _compile(phrases: Iterable[str]) -> re.Pattern[str] | None:
    patterns = [_phrase_pattern(p) for p in phrases if p.strip("* \t-")]
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


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
