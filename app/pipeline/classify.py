"""classify: topics of an entry from topic rules (pure).  This module holds Newsdesk's one
topic-rule matcher: ingestion's classifier and the editors' "try this rule" preview
(app/topicrules.py) both use `RuleMatcher`.

Phrases match whole words, case-insensitively (except a rule's `case_sensitive` phrases); inside
a phrase any run of spaces or hyphens matches any other ("machine learning" finds
"machine-learning"); a trailing `*` matches any word ending ("radiolog*" finds "radiologists").
A rule matches when one phrase of `any` (or of `case_sensitive`) matches (or both are empty), one
phrase of every group in `all` matches, and none of `exclude` does.

A topic's rule is compiled once into a few regular expressions.  An entry gets the topics whose
rule matches its title, excerpt or text, plus its source's default topics, plus every parent of
each (`AI in Healthcare` implies `AI`), in the order the topics are declared.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from app.sources import Topic, TopicRule

_GAP = r"[\s\-]+"


def _phrase_pattern(phrase: str, *, ignore_case: bool) -> str | None:
    """A phrase as a regular expression; a phrase that starts and ends with a word character is
    bounded by \\b, others by look-arounds.  None for a phrase without words."""
    text = phrase.strip()
    wild = text.endswith("*")
    text = text.rstrip("*")
    words = [w for w in re.split(_GAP, text.lower() if ignore_case else text) if w]
    if not words:
        return None
    body = _GAP.join(re.escape(w) for w in words)
    head = r"\b" if re.match(r"\w", words[0]) else r"(?<!\w)"
    if wild:
        return head + body + r"\w*"
    return head + body + (r"\b" if re.search(r"\w$", words[-1]) else r"(?!\w)")


def _pattern(phrases: Iterable[str], *, ignore_case: bool) -> re.Pattern[str] | None:
    """One regular expression for a list of phrases, longest first.  Case-insensitive patterns
    are matched against lower-cased text (much faster than re.IGNORECASE)."""
    parts = [p for p in (_phrase_pattern(x, ignore_case=ignore_case) for x in phrases) if p]
    if not parts:
        return None
    return re.compile("|".join(sorted(parts, key=len, reverse=True)))


def _found(pattern: re.Pattern[str] | None, text: str, searched: str) -> str | None:
    """The text (as written) that `pattern` finds in `searched` (`text` or its lower case)."""
    if pattern is None:
        return None
    m = pattern.search(searched)
    if m is None:
        return None
    return text[m.start():m.end()] if len(text) == len(searched) else m.group(0)


@dataclass(frozen=True)
class RuleMatcher:
    """A compiled topic rule."""

    fields: tuple[str, ...]
    any_lower: re.Pattern[str] | None      # over lower-cased text
    any_exact: re.Pattern[str] | None      # case-sensitive phrases, over the text as written
    all: tuple[re.Pattern[str], ...]       # over lower-cased text
    exclude: re.Pattern[str] | None        # over lower-cased text
    empty: bool

    @classmethod
    def of(cls, rule: TopicRule) -> RuleMatcher:
        all_patterns = [p for p in (_pattern(g, ignore_case=True) for g in rule.all) if p]
        return cls(rule.fields, _pattern(rule.any, ignore_case=True),
                   _pattern(rule.case_sensitive, ignore_case=False), tuple(all_patterns),
                   _pattern(rule.exclude, ignore_case=True), rule.empty)

    def first_match(self, text: str, lower: str | None = None) -> str | None:
        """The text that made `text` match (the `any` phrase, else the first `all` group's),
        or None when the rule does not match."""
        if self.empty:
            return None
        lower = text.lower() if lower is None else lower
        found = None
        if self.any_lower or self.any_exact:
            found = (_found(self.any_lower, text, lower)
                     or _found(self.any_exact, text, text))
            if found is None:
                return None
        for pattern in self.all:
            group = _found(pattern, text, lower)
            if group is None:
                return None
            found = found or group
        if self.exclude and self.exclude.search(lower):
            return None
        return found

    def matches(self, text: str, lower: str | None = None) -> bool:
        return self.first_match(text, lower) is not None


class Classifier:
    """Topics for entries, from one configuration's topics."""

    def __init__(self, topics: Iterable[Topic]) -> None:
        self.topics = tuple(topics)
        self._rules = [(t.name, RuleMatcher.of(t.rule)) for t in self.topics]
        self._parents = {t.name: t.parent for t in self.topics}
        self._order = {t.name: i for i, t in enumerate(self.topics)}

    def with_parents(self, names: Iterable[str]) -> tuple[str, ...]:
        found: set[str] = set()
        for name in names:
            while name and name not in found:
                found.add(name)
                name = self._parents.get(name) or ""
        return tuple(sorted(found, key=lambda n: (self._order.get(n, len(self._order)), n)))

    def classify(self, *, title: str, excerpt: str = "", text: str = "",
                 defaults: Iterable[str] = ()) -> tuple[str, ...]:
        texts = {"title": title, "excerpt": excerpt, "text": text}
        joined: dict[tuple[str, ...], tuple[str, str]] = {}
        matched = []
        for name, rule in self._rules:
            pair = joined.get(rule.fields)
            if pair is None:
                whole = "\n".join(texts[f] for f in rule.fields)
                pair = joined[rule.fields] = (whole, whole.lower())
            if rule.matches(*pair):
                matched.append(name)
        return self.with_parents([*matched, *defaults])
