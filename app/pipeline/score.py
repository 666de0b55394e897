"""The judgements `quality` and `heat`: pure, deterministic given their inputs and the clock.

quality (integer >= 0): the provider's prior plus signals of the item - a real excerpt, an
image, an original source rather than a syndicated copy, press-release and clickbait patterns, and
the length of the article's main text when the page was read.  `quality_signals` lists every
signal with its points, so an editor can see why an item scored what it did.

heat (integer; -1 means not scored): how hot a story is now.  A story is a cluster of records
telling the same story (see relate.py); every record of a cluster gets the cluster's heat.
It grows with the number of distinct providers that covered the story in the last 48 hours,
decays with the age of the newest coverage (half-life `HEAT_HALF_LIFE_HOURS`), is scaled by the
best quality in the cluster, and an editor's boost is added.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from app.record import Record
from app.sources import DEFAULT_PRIOR  # one place: a provider nobody has rated yet

__all__ = [
    "DEFAULT_PRIOR",
    "StoryMember",
    "compute_heat",
    "learned_priors",
    "quality_signals",
    "score_quality",
]

PRIOR_WEIGHT = 3                   # records a learned prior is worth against the configured one
COVERAGE_WINDOW = timedelta(hours=48)
HEAT_HALF_LIFE_HOURS = 18.0
NOT_SCORED = -1

PRESS_RELEASE_DOMAINS = frozenset({
    "prnewswire.com", "businesswire.com", "globenewswire.com", "einpresswire.com",
    "accesswire.com", "newswire.com", "prweb.com", "openpr.com", "newsfilecorp.com"})
AGGREGATOR_DOMAINS = frozenset({
    "news.google.com", "msn.com", "yahoo.com", "news.yahoo.com", "finance.yahoo.com",
    "flipboard.com", "newsbreak.com", "ground.news", "headtopics.com", "dailyhunt.in"})
_PRESS_RX = re.compile(
    r"\b(?:today announced|announced today|is pleased to announce|proud to announce|"
    r"press release|/prnewswire/|/globe newswire/|business wire\)|forward-looking statements)\b",
    re.IGNORECASE)
_SYNDICATED_RX = re.compile(
    r"(?:\boriginally (?:published|appeared)\b|\brepublished (?:with permission|from)\b|"
    r"\bthis (?:article|story) (?:first )?appeared\b|\(AP\)\s*[—–-]|\(Reuters\)\s*[—–-]|"
    r"\bsyndicated\b)", re.IGNORECASE)
_CLICKBAIT_RX = re.compile(
    r"(?:you won'?t believe|will blow your mind|shocking|this one (?:simple )?trick|"
    r"what happens next|doctors hate|here'?s why|here'?s what|everything you need to know|"
    r"\bgoes viral\b|\bmust[- ]see\b|\bjaw[- ]dropping\b|^\d+ (?:ways|reasons|things)\b)",
    re.IGNORECASE)


def _domain(url: str | None) -> str:
    host = (urlsplit(url).hostname or "") if url else ""
    return host[4:] if host.startswith("www.") else host


def _matches_domain(host: str, domains: frozenset[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


def _shouting(title: str) -> bool:
    words = re.findall(r"[A-Za-z]{4,}", title)
    caps = [w for w in words if w.isupper()]
    return len(caps) >= 3 or title.count("!") >= 2


def quality_signals(record: Record, prior: int = DEFAULT_PRIOR, *,
                    main_text: str | None = None) -> list[tuple[str, int]]:
    """Every signal of the item with its points (the quality is their sum, at least 0)."""
    signals: list[tuple[str, int]] = [("provider prior", prior)]
    excerpt = record.excerpt.strip()
    if len(excerpt) >= 80 and excerpt.lower() != record.title.strip().lower():
        signals.append(("real excerpt", 10))
    elif not excerpt:
        signals.append(("no excerpt", -10))
    if record.images:
        signals.append(("image", 8))
        if any((img.width or 0) >= 600 for img in record.images):
            signals.append(("large image", 4))
    host = _domain(record.web_url) or record.provider.domain
    text = " ".join(filter(None, (record.title, excerpt, (main_text or "")[:3000])))
    if _matches_domain(host, PRESS_RELEASE_DOMAINS) or _PRESS_RX.search(text):
        signals.append(("press release", -15))
    if _matches_domain(host, AGGREGATOR_DOMAINS) or _SYNDICATED_RX.search(text):
        signals.append(("syndicated copy", -10))
    elif record.original_url and _domain(record.original_url) == host:
        signals.append(("original source", 5))
    if _CLICKBAIT_RX.search(record.title) or _shouting(record.title):
        signals.append(("clickbait", -10))
    if record.type in ("paper", "briefing"):
        signals.append((f"{record.type}", 5))
    if main_text is not None:
        words = len(main_text.split())
        if words >= 800:
            signals.append(("long article", 12))
        elif words >= 350:
            signals.append(("full article", 6))
        elif words < 120:
            signals.append(("thin article", -8))
    return signals


def learned_priors(samples: Iterable[tuple[str, int]],
                   configured: Mapping[str, int] | None = None) -> dict[str, int]:
    """Provider priors on the scale of the records the store holds: for each provider domain,
    the mean quality of its records (`samples`: domain, quality), shrunk towards its configured
    prior (feeds/providers.yaml) or `DEFAULT_PRIOR` as if that were worth `PRIOR_WEIGHT`
    records.  A provider with one record moves a quarter of the way towards it; with thirty,
    nine tenths.  Configured providers without records keep their configured prior."""
    configured = dict(configured or {})
    totals: dict[str, list[int]] = {}
    for domain, quality in samples:
        totals.setdefault(domain.lower(), []).append(quality)
    out = dict(configured)
    for domain, values in totals.items():
        base = configured.get(domain, DEFAULT_PRIOR)
        out[domain] = round((sum(values) + base * PRIOR_WEIGHT) / (len(values) + PRIOR_WEIGHT))
    return out


def score_quality(record: Record, prior: int = DEFAULT_PRIOR, *,
                  main_text: str | None = None) -> int:
    """The record's quality: provider prior plus item signals, never below 0."""
    return max(0, sum(points for _, points in quality_signals(record, prior,
                                                              main_text=main_text)))


# --------------------------------------------------------------------------- heat

@dataclass(frozen=True)
class StoryMember:
    """What heat needs of one record of a story cluster."""

    record_id: str
    provider_domain: str
    published_at: datetime
    quality: int | None = None
    boost: int = 0

    @classmethod
    def of(cls, record: Record, boost: int = 0) -> StoryMember:
        return cls(record.id, record.provider.domain, record.published_at, record.quality,
                   boost)


def compute_heat(cluster: Sequence[StoryMember], now: datetime) -> int:
    """The heat of a story cluster at `now` (shared by all its records)."""
    if not cluster:
        return NOT_SCORED
    seen = [m for m in cluster if m.published_at <= now + timedelta(minutes=5)]
    boost = max((m.boost for m in cluster), default=0)
    recent = [m for m in seen if now - m.published_at <= COVERAGE_WINDOW]
    if not recent:
        return max(0, boost)
    providers = len({m.provider_domain.lower() for m in recent})
    coverage = 40.0 * math.log2(1 + providers)          # 1 -> 40, 2 -> 63, 5 -> 103
    newest = max(m.published_at for m in recent)
    age_hours = max(0.0, (now - newest).total_seconds() / 3600)
    decay = 0.5 ** (age_hours / HEAT_HALF_LIFE_HOURS)
    best = max((m.quality or 0 for m in cluster), default=0)
    quality_factor = 0.75 + 0.5 * min(best, 100) / 100  # 0.75 .. 1.25
    return max(0, round(coverage * decay * quality_factor) + boost)
