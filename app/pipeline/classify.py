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
    parts = []
    for phrase in phrases:
        words = phrase.strip().split()
        if not words:
            continue
        text = r"\s+".join(re.escape(w) for w in words)
        if text.endswith(r"\*"):
            text = text[:-2] + r"\w*"
        parts.append(text)
    if not parts:
        return None
    flags = re.IGNORECASE if ignore_case else 0
    return re.compile(r"(?<!\w)(?:" + "|".join(sorted(parts, key=len, reverse=True)) + r")(?!\w)",
                      flags)


@dataclass(frozen=True)
class _Compiled:
    name: str
    fields: tuple[str, ...]
    any: tuple[re.Pattern[str], ...]
    all: tuple[re.Pattern[str], ...]
    exclude: re.Pattern[str] | None
    empty: bool

    def matches(self, texts: dict[str, str]) -> bool:
        if self.empty:
            return False
        text = "\n".join(texts.get(f, "") for f in self.fields)
        if self.any and not any(p.search(text) for p in self.any):
            return False
        if not all(p.search(text) for p in self.all):
            return False
        return not (self.exclude and self.exclude.search(text))


def _compile(topic: Topic) -> _Compiled:
    rule: TopicRule = topic.rule
    any_patterns = [p for p in (_pattern(rule.any, ignore_case=True),
                                _pattern(rule.case_sensitive, ignore_case=False)) if p]
    all_patterns = [p for p in (_pattern(g, ignore_case=True) for g in rule.all) if p]
    return _Compiled(topic.name, rule.fields, tuple(any_patterns), tuple(all_patterns),
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
        matched = [r.name for r in self._rules if r.matches(texts)]
        return self.with_parents([*matched, *defaults])
