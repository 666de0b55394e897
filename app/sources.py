"""Load and validate feeds/*.yaml into typed objects (no network).

`NEWSDESK_FEEDS` names a folder (every `*.yaml`/`*.yml` in it, merged in name order) or one file.
A file may hold any of these top-level lists:

    sources:      name, url; optional provider, topics, interval, enabled, kind, type
    topics:       name; optional slug, parent, match {any, all, exclude, case_sensitive, fields},
                  description, examples (headlines), threshold (0-1, of the classifier of meaning),
                  keep_threshold (0-1: a rule's match scored below it is dropped)
    providers:    domain, name; optional quality (the provider's prior), aliases
    auto-publish: rules; each may name source(s) (by name, or by feed URL for a source an
                  editor added), topic, kind and min_quality

Every error is a ConfigError naming the file, the line and the key at fault.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from app.errors import ConfigError
from app.record import slugify

DEFAULT_PRIOR = 50
SEARCH_HOSTS = ("news.google.com", "www.bing.com", "bing.com")
KINDS = ("publisher", "search")
FIELDS = ("title", "excerpt", "text")


@dataclass(frozen=True)
class FeedSource:
    name: str
    url: str
    provider: str | None = None          # a provider domain (or display name) for its entries
    topics: tuple[str, ...] = ()         # default topics of every entry
    interval: int | None = None          # seconds; None means the NEWSDESK_FETCH_INTERVAL
    enabled: bool = True
    kind: str = "publisher"              # publisher | search
    type: str = "article"                # the record type of its entries (article, paper, ...)
    added: bool = False                  # added by an editor (not in feeds/)


@dataclass(frozen=True)
class TopicRule:
    """Phrases are matched case-insensitively at word boundaries; `*` at the end of a phrase
    matches any word ending.  A topic matches when one of `any` matches (or `any` is empty), one
    phrase of every group in `all` matches, and none of `exclude` does."""

    any: tuple[str, ...] = ()
    all: tuple[tuple[str, ...], ...] = ()
    exclude: tuple[str, ...] = ()
    case_sensitive: tuple[str, ...] = ()
    fields: tuple[str, ...] = FIELDS

    @property
    def empty(self) -> bool:
        return not (self.any or self.all or self.case_sensitive)


@dataclass(frozen=True)
class Topic:
    name: str
    slug: str
    parent: str | None = None
    rule: TopicRule = field(default_factory=TopicRule)
    # what the topic follows, in a line, and example headlines: with the records that carry the
    # topic they are the examples of the classifier of meaning (app/pipeline/topicmodel.py)
    description: str = ""
    examples: tuple[str, ...] = ()
    threshold: float | None = None       # the classifier's score needed; None: its default
    # issue 14: the classifier's score below which a match of this topic's rule is dropped
    keep_threshold: float | None = None


@dataclass(frozen=True)
class ProviderInfo:
    domain: str
    name: str
    quality: int = DEFAULT_PRIOR
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class AutoPublishRule:
    """A source added by an editor is published by a rule that names it (by name or URL) and
    by no other: editors vet what they add before its records go public."""

    sources: tuple[str, ...] = ()        # names (or feed URLs); empty: any source of feeds/
    topic: str | None = None             # the record must carry this topic
    kind: str | None = None              # the source must be of this kind
    min_quality: int | None = None

    def matches(self, source: FeedSource, topics: tuple[str, ...], quality: int | None) -> bool:
        named = source.name in self.sources or source.url in self.sources
        if (self.sources or source.added) and not named:
            return False
        if self.kind and source.kind != self.kind:
            return False
        if self.topic and self.topic not in topics:
            return False
        return not (self.min_quality is not None and (quality or 0) < self.min_quality)


@dataclass(frozen=True)
class FeedConfig:
    sources: tuple[FeedSource, ...] = ()
    topics: tuple[Topic, ...] = ()
    providers: tuple[ProviderInfo, ...] = ()
    auto_publish: tuple[AutoPublishRule, ...] = ()

    def source(self, name: str) -> FeedSource | None:
        return next((s for s in self.sources if s.name == name), None)

    def provider_for(self, host: str) -> ProviderInfo | None:
        """The provider whose domain is `host` or a parent domain of it."""
        host = host.lower().removeprefix("www.")
        by_domain = {p.domain: p for p in self.providers}
        parts = host.split(".")
        for i in range(len(parts) - 1):
            found = by_domain.get(".".join(parts[i:]))
            if found:
                return found
        return None

    def provider_named(self, name: str) -> ProviderInfo | None:
        wanted = name.strip().lower()
        for p in self.providers:
            if p.name.lower() == wanted or wanted in (a.lower() for a in p.aliases):
                return p
        return None


# --------------------------------------------------------------------------- YAML with lines

class _LineDict(dict):
    line: int = 0
    key_lines: dict[str, int]


# libyaml's parser where PyYAML was built with it: a feeds/ of 600 sources took the pure-Python
# one a quarter of a second, the whole budget of an idle `newsdesk fetch` (issue 19)
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LineLoader(_SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _LineDict:
    loader.flatten_mapping(node)
    out = _LineDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[str(key)] = key_node.start_mark.line + 1
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                            _construct_mapping)


class _File:
    """Errors against one file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, message: str, node: Any = None, key: str | None = None,
              where: str | None = None) -> ConfigError:
        line = None
        if isinstance(node, _LineDict):
            line = node.key_lines.get(key, node.line) if key else node.line
        return ConfigError(message, path=str(self.path), line=line,
                           key=where or key)

    def text(self, node: _LineDict, key: str, where: str, *, required: bool = False,
             default: str | None = None) -> str | None:
        value = node.get(key)
        if value is None:
            if required:
                raise self.error("required key is missing", node, None, f"{where}.{key}")
            return default
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.error(f"expected text, got {type(value).__name__}", node, key,
                             f"{where}.{key}")
        text = str(value).strip()
        if required and not text:
            raise self.error("must not be empty", node, key, f"{where}.{key}")
        return text

    def strings(self, node: _LineDict, key: str, where: str) -> tuple[str, ...]:
        value = node.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(
                isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
            raise self.error("expected a list of text", node, key, f"{where}.{key}")
        return tuple(str(v).strip() for v in value if str(v).strip())

    def integer(self, node: _LineDict, key: str, where: str, *, minimum: int = 0) -> int | None:
        value = node.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.error(f"expected a whole number of at least {minimum}, got {value!r}",
                             node, key, f"{where}.{key}")
        return value

    def flag(self, node: _LineDict, key: str, where: str, default: bool) -> bool:
        value = node.get(key, default)
        if not isinstance(value, bool):
            raise self.error(f"expected true or false, got {value!r}", node, key,
                             f"{where}.{key}")
        return value


_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: Any) -> int:
    """Seconds from 900, "15m", "2h" or "1d"."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"expected a duration such as 900, 15m, 2h or 1d, got {value!r}")
    return int(m.group(1)) * _UNITS[m.group(2)]


def _entries(f: _File, data: _LineDict, key: str) -> list[_LineDict]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise f.error("expected a list", data, key)
    for i, item in enumerate(value):
        if not isinstance(item, _LineDict):
            raise f.error(f"expected a mapping, got {type(item).__name__}", data, key,
                          f"{key}[{i}]")
    return value


def _load_source(f: _File, node: _LineDict, where: str) -> FeedSource:
    name = f.text(node, "name", where, required=True) or ""
    url = f.text(node, "url", where, required=True) or ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise f.error(f"expected an http(s) URL, got {url!r}", node, "url", f"{where}.url")
    interval = None
    if node.get("interval") is not None:
        try:
            interval = parse_duration(node["interval"])
        except ValueError as exc:
            raise f.error(str(exc), node, "interval", f"{where}.interval") from None
        if interval < 60:
            raise f.error("must be at least 60 seconds", node, "interval", f"{where}.interval")
    host = parts.hostname.lower()
    kind = f.text(node, "kind", where,
                  default="search" if host in SEARCH_HOSTS else "publisher") or "publisher"
    if kind not in KINDS:
        raise f.error(f"expected one of {', '.join(KINDS)}, got {kind!r}", node, "kind",
                      f"{where}.kind")
    known = {"name", "url", "provider", "topics", "interval", "enabled", "kind", "type"}
    for key in node:
        if key not in known:
            raise f.error(f"unknown key (known: {', '.join(sorted(known))})", node, str(key),
                          f"{where}.{key}")
    return FeedSource(name=name, url=url, provider=f.text(node, "provider", where),
                      topics=f.strings(node, "topics", where), interval=interval,
                      enabled=f.flag(node, "enabled", where, True), kind=kind,
                      type=f.text(node, "type", where, default="article") or "article")


def _load_rule(f: _File, node: Any, where: str) -> TopicRule:
    if node is None:
        return TopicRule()
    if not isinstance(node, _LineDict):
        raise f.error("expected a mapping of any/all/exclude", None, None, where)
    groups = node.get("all") or []
    if not isinstance(groups, list):
        raise f.error("expected a list of lists of phrases", node, "all", f"{where}.all")
    all_groups = []
    for i, group in enumerate(groups):
        if isinstance(group, str):
            group = [group]
        if not isinstance(group, list) or not all(isinstance(p, str) for p in group):
            raise f.error("expected a list of phrases", node, "all", f"{where}.all[{i}]")
        all_groups.append(tuple(group))
    fields = f.strings(node, "fields", where) or FIELDS
    for name in fields:
        if name not in FIELDS:
            raise f.error(f"unknown field {name!r} (known: {', '.join(FIELDS)})", node,
                          "fields", f"{where}.fields")
    return TopicRule(any=f.strings(node, "any", where), all=tuple(all_groups),
                     exclude=f.strings(node, "exclude", where),
                     case_sensitive=f.strings(node, "case_sensitive", where),
                     fields=tuple(fields))


def _load_topic(f: _File, node: _LineDict, where: str) -> Topic:
    name = f.text(node, "name", where, required=True) or ""
    slug = f.text(node, "slug", where) or slugify(name)
    if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", slug):
        raise f.error(f"a slug is lower-case letters, digits and dashes, got {slug!r}", node,
                      "slug", f"{where}.slug")
    threshold, keep = (_unit(f, node, key, where) for key in ("threshold", "keep_threshold"))
    return Topic(name=name, slug=slug, parent=f.text(node, "parent", where),
                 rule=_load_rule(f, node.get("match"), f"{where}.match"),
                 description=f.text(node, "description", where) or "",
                 examples=f.strings(node, "examples", where),
                 threshold=threshold, keep_threshold=keep)


def _unit(f: _File, node: _LineDict, key: str, where: str) -> float | None:
    """An optional number from 0 to 1 (a score of the classifier of meaning)."""
    value = node.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                              or not 0 <= value <= 1):
        raise f.error(f"expected a number from 0 to 1, got {value!r}", node, key,
                      f"{where}.{key}")
    return None if value is None else float(value)


def _load_provider(f: _File, node: _LineDict, where: str) -> ProviderInfo:
    domain = (f.text(node, "domain", where, required=True) or "").lower().removeprefix("www.")
    if "/" in domain or " " in domain or "." not in domain:
        raise f.error(f"expected a domain such as statnews.com, got {domain!r}", node, "domain",
                      f"{where}.domain")
    quality = f.integer(node, "quality", where)
    return ProviderInfo(domain=domain, name=f.text(node, "name", where, required=True) or "",
                        quality=DEFAULT_PRIOR if quality is None else quality,
                        aliases=f.strings(node, "aliases", where))


def _load_auto(f: _File, node: _LineDict, where: str) -> AutoPublishRule:
    sources = f.strings(node, "sources", where) + f.strings(node, "source", where)
    kind = f.text(node, "kind", where)
    if kind is not None and kind not in KINDS:
        raise f.error(f"expected one of {', '.join(KINDS)}, got {kind!r}", node, "kind",
                      f"{where}.kind")
    return AutoPublishRule(sources=sources, topic=f.text(node, "topic", where), kind=kind,
                           min_quality=f.integer(node, "min_quality", where))


def load_file(path: Path) -> FeedConfig:
    f = _File(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", path=str(path)) from None
    try:
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError(f"broken YAML: {exc.problem or exc}", path=str(path),
                          line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"broken YAML: {exc}", path=str(path)) from None
    if data is None:
        return FeedConfig()
    if not isinstance(data, _LineDict):
        raise ConfigError("expected a mapping with sources, topics, providers or auto-publish",
                          path=str(path), line=1)
    known = ("sources", "topics", "providers", "auto-publish")
    for key in data:
        if key not in known:
            raise f.error(f"unknown top-level key (known: {', '.join(known)})", data, str(key))
    return FeedConfig(
        sources=tuple(_load_source(f, n, f"sources[{i}]")
                      for i, n in enumerate(_entries(f, data, "sources"))),
        topics=tuple(_load_topic(f, n, f"topics[{i}]")
                     for i, n in enumerate(_entries(f, data, "topics"))),
        providers=tuple(_load_provider(f, n, f"providers[{i}]")
                        for i, n in enumerate(_entries(f, data, "providers"))),
        auto_publish=tuple(_load_auto(f, n, f"auto-publish[{i}]")
                           for i, n in enumerate(_entries(f, data, "auto-publish"))))


def feed_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir()
                      if p.suffix in (".yaml", ".yml") and p.is_file())
    if path.is_file():
        return [path]
    raise ConfigError("no such file or folder (set NEWSDESK_FEEDS)", path=str(path))


def load_feeds(path: Path) -> FeedConfig:
    """Every feeds file under `path`, merged and checked as a whole."""
    parts = [(p, load_file(p)) for p in feed_files(path)]
    merged = FeedConfig(
        sources=tuple(s for _, c in parts for s in c.sources),
        topics=tuple(t for _, c in parts for t in c.topics),
        providers=tuple(p for _, c in parts for p in c.providers),
        auto_publish=tuple(a for _, c in parts for a in c.auto_publish))
    _check_whole(merged, parts)
    return merged


def _origin(parts: list[tuple[Path, FeedConfig]], kind: str, name: str) -> str:
    for path, config in parts:
        if any(getattr(item, "name", getattr(item, "domain", None)) == name
               for item in getattr(config, kind)):
            return str(path)
    return str(parts[0][0]) if parts else ""


def _check_whole(config: FeedConfig, parts: list[tuple[Path, FeedConfig]]) -> None:
    seen: set[str] = set()
    for s in config.sources:
        if s.name in seen:
            raise ConfigError(f"source {s.name!r} is defined twice",
                              path=_origin(parts, "sources", s.name), key="sources")
        seen.add(s.name)
    names = {t.name for t in config.topics}
    slugs: set[str] = set()
    for t in config.topics:
        if t.slug in slugs:
            raise ConfigError(f"topic slug {t.slug!r} is used twice",
                              path=_origin(parts, "topics", t.name), key="topics")
        slugs.add(t.slug)
        if t.parent and t.parent not in names:
            raise ConfigError(f"topic {t.name!r} has an unknown parent {t.parent!r}",
                              path=_origin(parts, "topics", t.name), key="topics")
    for t in config.topics:
        chain, at = [t.name], t
        while at.parent:
            if at.parent in chain:
                raise ConfigError(f"topic parents form a loop: {' -> '.join([*chain, at.parent])}",
                                  path=_origin(parts, "topics", t.name), key="topics")
            chain.append(at.parent)
            at = next(x for x in config.topics if x.name == at.parent)
    for s in config.sources:
        for name in s.topics:
            if name not in names:
                raise ConfigError(f"source {s.name!r} names an unknown topic {name!r}",
                                  path=_origin(parts, "sources", s.name), key="sources")
    for rule in config.auto_publish:
        for name in rule.sources:
            if name not in seen and not name.startswith(("http://", "https://")):
                raise ConfigError(f"auto-publish names an unknown source {name!r}",
                                  path=str(parts[0][0]) if parts else None, key="auto-publish")
        if rule.topic and rule.topic not in names:
            raise ConfigError(f"auto-publish names an unknown topic {rule.topic!r}",
                              path=str(parts[0][0]) if parts else None, key="auto-publish")
