"""parse -> normalize -> classify for one fetched body: the CPU-bound part of a source's
pipeline, as one picklable function, so that a pass can spread it over processes (feedparser
holds the GIL; threads alone would use one core).  Pure: no network, no database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.errors import FetchError
from app.pipeline.classify import Classifier
from app.pipeline.normalize import Normalized, normalize_feed
from app.pipeline.parse import parse_feed
from app.sources import FeedConfig, FeedSource


@dataclass(frozen=True)
class Parsed:
    items: tuple[Normalized, ...] = ()
    error: str | None = None
    warnings: tuple[str, ...] = ()


_process_state: dict[str, object] = {}


def init_process(config: FeedConfig) -> None:
    """Initializer of a parsing process: the configuration and its compiled classifier."""
    _process_state["config"] = config
    _process_state["classifier"] = Classifier(config.topics)


def parse_in_process(source: FeedSource, body: bytes, url: str, content_type: str,
                     now: datetime) -> Parsed:
    config = _process_state["config"]
    classifier = _process_state["classifier"]
    assert isinstance(config, FeedConfig) and isinstance(classifier, Classifier)
    return parse_body(source, body, url, content_type, now, config=config,
                      classifier=classifier)


def parse_body(source: FeedSource, body: bytes, url: str, content_type: str, now: datetime,
               *, config: FeedConfig, classifier: Classifier) -> Parsed:
    try:
        feed = parse_feed(body, url=url, content_type=content_type)
    except FetchError as exc:
        return Parsed(error=str(exc))
    except Exception as exc:  # noqa: BLE001 - a feed that breaks the parser fails alone
        return Parsed(error=f"{url}: could not parse: {exc!r}")
    items, warnings = normalize_feed(feed, source=source, feed_url=url, config=config,
                                     classifier=classifier, now=now)
    return Parsed(tuple(items), None, tuple(feed.warnings) + tuple(warnings))
