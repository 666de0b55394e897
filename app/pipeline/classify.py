"""classify: topics of an entry from the rules of feeds/ (pure).

A topic's rule is compiled once into a few regular expressions.  An entry gets the topics whose
rule matches its title, excerpt or text, plus its source's default topics, plus every parent of
each (`AI in Healthcare` implies `AI`), in the order the topics are declared.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from app.sources import Topic, TopicRule


def _pattern(phrases: Iterable[str], *, ignore_case: bool) -> re.Pattern[str] | None:
    """One regular expression for a list of phrases.  Case-insensitive patterns are matched
    against lower-cased text (much faster than re.IGNORECASE); a phrase that starts and ends
    with a word character is bounded by \\b, others by look-arounds."""
    parts = []
    for phrase in phrases:
        words = (phrase.lower() if ignore_case else phrase).strip().split()
        if not words:
            continue
        text = r"\s+".join(re.escape(w) for w in words)
        wild = text.endswith(r"\*")
        if wild:
            text = text[:-2] + r"\w*"
        head = r"\b" if re.match(r"\w", words[0]) else r"(?<!\w)"
        tail = "" if wild else (r"\b" if re.search(r"\w$", words[-1]) else r"(?!\w)")
        parts.append(head + text + tail)
    if not parts:
        return None
    return re.compile("|".join(sorted(parts, key=len, reverse=True)))


@dataclass(frozen=True)
class _Compiled:
    name: str
    fields: tuple[str, ...]
    any_lower: re.Pattern[str] | None      # over lower-cased text
    any_exact: re.Pattern[str] | None      # case-sensitive phrases, over the text as written
    all: tuple[re.Pattern[str], ...]       # over lower-cased text
    exclude: re.Pattern[str] | None        # over lower-cased text
    empty: bool

    def matches(self, text: str, lower: str) -> bool:
        if self.empty:
            return False
        if (self.any_lower or self.any_exact) and not (
                (self.any_lower and self.any_lower.search(lower))
                or (self.any_exact and self.any_exact.search(text))):
            return False
        if not all(p.search(lower) for p in self.all):
            return False
        return not (self.exclude and self.exclude.search(lower))


def _compile(topic: Topic) -> _Compiled:
    rule: TopicRule = topic.rule
    all_patterns = [p for p in (_pattern(g, ignore_case=True) for g in rule.all) if p]
    return _Compiled(topic.name, rule.fields, _pattern(rule.any, ignore_case=True),
                     _pattern(rule.case_sensitive, ignore_case=False), tuple(all_patterns),
                     _pattern(rule.exclude, ignore_case=True), rule.empty)


class Classifier:
    """Topics for entries, from one configuration's topics."""

    def __init__(self, topics: Iterable[Topic]) -> None:
        self.topics = tuple(topics)
        self._rules = [_compile(t) for t in self.topics]
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
        for rule in self._rules:
            pair = joined.get(rule.fields)
            if pair is None:
                whole = "\n".join(texts[f] for f in rule.fields)
                pair = joined[rule.fields] = (whole, whole.lower())
            if rule.matches(*pair):
                matched.append(rule.name)
        return self.with_parents([*matched, *defaults])
