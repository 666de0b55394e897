"""The one entry point of enrichment, called alike by the ingestion pipeline, the scheduler,
`newsdesk enrich` and the tests:

    enrich_new_records(db, settings, now, ids=None) -> EnrichReport

For each record (the given ids, or every record not yet enriched or due for a retry) it reads
the article page once, applies what the page says (page.py), caches the lead image and the
provider's logo (images.py), scores `quality`, keeps the main text and the enrichment time in
`secured`, and saves the record.  Then the new
records are judged (app/runs/judge.py: topics, quality, publishing, `related`, `heat`).

A page that fails to load leaves the record as it was; its state (`enrichment_state`) says when
to try again: after 15 min, 30 min, 1 h, ... up to a day, and never again after `MAX_ATTEMPTS`
or after a failure no retry can fix (404, a private address, robots.txt).  One record's failure
never stops the run.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from app.config import Settings
from app.keystore import load_keyring
from app.pipeline.enrich import Fetcher, PageFetchError
from app.pipeline.images import (
    ImageRefused,
    decode_image,
    logo_path,
    logo_url,
    make_logo,
    save_logo,
    store_image,
    url_key,
)
from app.pipeline.page import PageInfo, enrich_record, read_page
from app.pipeline.score import DEFAULT_PRIOR, NOT_SCORED, score_quality
from app.record import Image, Record, format_datetime
from app.secured import Keyring, write_private
from app.sources import load_feeds
from app.store.db import Database
from app.store.repository import EnrichmentRepository, RecordRepository, to_db_time

log = logging.getLogger(__name__)

__all__ = ["MAX_ATTEMPTS", "EnrichReport", "enrich_due", "enrich_new_records", "retry_at"]

MAX_ATTEMPTS = 6
FIRST_RETRY = timedelta(minutes=15)
LONGEST_RETRY = timedelta(hours=24)


def retry_at(now: datetime, attempts: int) -> datetime:
    """When to try again after `attempts` failures: 15 min doubling, at most a day."""
    return now + min(FIRST_RETRY * (2 ** max(0, attempts - 1)), LONGEST_RETRY)


@dataclass
class EnrichReport:
    enriched: int = 0
    retry_later: int = 0
    gave_up: int = 0
    duplicates: int = 0
    images_cached: int = 0
    images_refused: int = 0
    logos: int = 0
    related_changed: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.enriched} enriched, {self.retry_later} to retry later, {self.gave_up} "
                f"given up, {self.duplicates} duplicates merged; {self.images_cached} images "
                f"cached, {self.images_refused} refused, {self.logos} logos")


class _Run:
    def __init__(self, db: Database, settings: Settings, now: datetime, fetcher: Fetcher,
                 keyring: Keyring, priors: Mapping[str, int], report: EnrichReport,
                 redo: bool) -> None:
        self.db, self.settings, self.now, self.fetcher = db, settings, now, fetcher
        self.keyring, self.priors, self.report, self.redo = keyring, priors, report, redo

    def fail(self, rid: str, exc: PageFetchError) -> None:
        with self.db.session() as session:
            repo = EnrichmentRepository(session)
            state = repo.enrichment_state(rid)
            attempts = (state.attempts if state else 0) + 1
            if exc.permanent or attempts >= MAX_ATTEMPTS:
                repo.save_enrichment_state(rid, state="gave_up", attempts=attempts,
                                           now=self.now, next_attempt_at=None, error=str(exc))
                self.report.gave_up += 1
            else:
                repo.save_enrichment_state(rid, state="retry", attempts=attempts, now=self.now,
                                           next_attempt_at=retry_at(self.now, attempts),
                                           error=str(exc))
                self.report.retry_later += 1
        self.report.errors.append(str(exc))
        log.debug("enrichment of %s: %s", rid, exc)   # callers report errors and counts

    def image(self, image: Image) -> Image | None:
        """The image with our copy's size and isCached, or None when it is refused."""
        key = url_key(image.url)
        with self.db.session() as session:
            known = EnrichmentRepository(session).cached_image(key)
        if known is not None and known.sha256:
            return _cached(image, known.width, known.height)
        if known is not None and known.error:
            return None
        try:
            fetched = self.fetcher.get(image.url, self.settings.image_max_bytes,
                                       accept="image/webp,image/png,image/jpeg,image/gif")
            decoded = decode_image(fetched.body, self.settings.image_max_pixels)
        except ImageRefused as exc:
            self._remember(key, image.url, error=str(exc))
            self.report.images_refused += 1
            self.report.errors.append(f"{image.url}: {exc}")
            return None
        except PageFetchError as exc:
            if exc.permanent:
                self._remember(key, image.url, error=str(exc))
                self.report.images_refused += 1
                self.report.errors.append(str(exc))
                return None
            return dataclasses.replace(image, is_cached=False)   # kept, tried again later
        sha = store_image(self.settings.data_dir, fetched.body, decoded.ext)
        self._remember(key, image.url, sha256=sha, ext=decoded.ext, width=decoded.width,
                       height=decoded.height, size=len(fetched.body))
        self.report.images_cached += 1
        return _cached(image, decoded.width, decoded.height)

    def _remember(self, key: str, url: str, **values: object) -> None:
        with self.db.session() as session:
            EnrichmentRepository(session).save_cached_image(key, url, now=self.now,
                                                            **values)  # type: ignore[arg-type]

    def logo(self, record: Record, page: PageInfo) -> Record:
        domain = record.provider.domain
        try:
            path = logo_path(self.settings.data_dir, domain)
        except ImageRefused:
            return record
        logo = Image(url=logo_url(domain), width=50, height=50)
        if not path.exists():
            with self.db.session() as session:
                state = EnrichmentRepository(session).logo_state(domain)
            due = state is None or (state.state == "retry" and state.next_attempt_at is not None
                                    and state.next_attempt_at <= to_db_time(self.now))
            if not due or not self._fetch_logo(domain, page):
                return record
        if record.provider.images == (logo,):
            return record
        provider = record.provider.__class__(name=record.provider.name, domain=domain,
                                             images=(logo,), extra=record.provider.extra)
        return record.replace(provider=provider)

    def _fetch_logo(self, domain: str, page: PageInfo) -> bool:
        from urllib.parse import urlsplit
        parts = urlsplit(page.url)
        candidates = [*page.icon_urls, f"{parts.scheme}://{parts.netloc}/favicon.ico"]
        errors = []
        for url in dict.fromkeys(candidates):
            try:
                fetched = self.fetcher.get(url, 1_000_000, accept="image/*")
                jpeg = make_logo(fetched.body, self.settings.image_max_pixels)
            except (PageFetchError, ImageRefused) as exc:
                errors.append(str(exc))
                continue
            save_logo(self.settings.data_dir, domain, jpeg)
            with self.db.session() as session:
                EnrichmentRepository(session).save_logo_state(
                    domain, state="done", attempts=1, now=self.now, source_url=url,
                    next_attempt_at=None, error=None)
            self.report.logos += 1
            return True
        with self.db.session() as session:
            repo = EnrichmentRepository(session)
            state = repo.logo_state(domain)
            attempts = (state.attempts if state else 0) + 1
            repo.save_logo_state(domain, state="retry" if attempts < MAX_ATTEMPTS else "gave_up",
                                 attempts=attempts, now=self.now, source_url=None,
                                 next_attempt_at=retry_at(self.now, attempts),
                                 error="; ".join(errors)[:2000])
        return False

    def enrich(self, record: Record) -> str | None:
        """Enrich one record; returns its id after saving (None when it failed or merged)."""
        try:
            fetched = self.fetcher.page(record.web_url)
        except PageFetchError as exc:
            self.fail(record.id, exc)
            return None
        page = read_page(fetched.body, fetched.url)
        new = enrich_record(record, page)
        # `isCached` of an imported record speaks of another instance: our cache decides
        images = [self.image(img) for img in new.images]
        new = new.replace(images=tuple(img for img in images if img is not None))
        new = self.logo(new, page)
        if new.quality is None or self.redo:     # an editor's or an import's score stays
            prior = self.priors.get(new.provider.domain, DEFAULT_PRIOR)
            new = new.replace(quality=score_quality(new, prior, main_text=page.main_text))
        if new.heat is None:
            new = new.replace(heat=NOT_SCORED)
        new = write_private(new, {"mainText": page.main_text,
                                  "enrichedAt": format_datetime(self.now)}, self.keyring)
        return self._save(record, new)

    def _save(self, old: Record, new: Record) -> str | None:
        with self.db.session() as session:
            repo = RecordRepository(session)
            state = EnrichmentRepository(session)
            if new.id != old.id:
                if repo.existing_hashes([new.id]):     # the canonical record is already here
                    repo.delete([old.id])
                    self.report.duplicates += 1
                    state.save_enrichment_state(old.id, state="merged", attempts=1,
                                                now=self.now, next_attempt_at=None,
                                                error=f"duplicate of {new.web_url}")
                    return None
                repo.delete([old.id])
                state.move_enrichment_state(old.id, new.id)
            repo.save(new, now=self.now)
            state.save_enrichment_state(new.id, state="done", attempts=1, now=self.now,
                                        next_attempt_at=None, error=None)
        self.report.enriched += 1
        return new.id


def _cached(image: Image, width: int | None, height: int | None) -> Image:
    return Image(url=image.url, width=width, height=height, title=image.title, is_cached=True,
                 extra=image.extra)


def enrich_new_records(db: Database, settings: Settings, now: datetime,
                       ids: Sequence[str] | None = None, *, redo: bool = False,
                       limit: int = 1000, fetcher: Fetcher | None = None,
                       priors: Mapping[str, int] | None = None,
                       keyring: Keyring | None = None, stories: bool = True,
                       stop: threading.Event | None = None,
                       owner: str | None = None) -> EnrichReport:
    """Enrich records (see the module docstring).  `ids`: these records (e.g. the ones an
    ingestion pass just stored); otherwise those never enriched or due for a retry (`redo`:
    all).  `priors`: provider domain -> quality prior.

    With `owner` (a worker id), each page is leased first (issue 16): a record another worker
    reads, or has read since it was selected, is left to it.  `stop` set: no further page is
    started."""
    report = EnrichReport()
    given = ids
    keyring = keyring or load_keyring(db, settings, now=now)
    if priors is None:          # one place for the priors: feeds/providers.yaml (issue 14)
        priors = {p.domain: p.quality for p in load_feeds(settings.feeds).providers}
    with db.session() as session:
        if ids is None:
            ids = EnrichmentRepository(session).enrichment_due(now=now, limit=limit, redo=redo)
        records = RecordRepository(session).get_many(list(ids))
    own = fetcher is None
    fetcher = fetcher or Fetcher(settings)
    saved: list[str] = []
    try:
        run = _Run(db, settings, now, fetcher, keyring, priors or {}, report, redo)
        for record in records:
            if stop is not None and stop.is_set():
                break
            if owner is not None and not _lease(db, settings, record.id, owner,
                                                due_only=given is None and not redo):
                continue
            try:
                rid = run.enrich(record)
            except Exception as exc:
                log.exception("enrichment of %s failed", record.web_url)
                run.fail(record.id, PageFetchError(f"{exc.__class__.__name__}: {exc}",
                                                   url=record.web_url))
                continue
            finally:
                if owner is not None:
                    _release(db, record.id, owner)
            if rid:
                saved.append(rid)
    finally:
        if own:
            fetcher.close()
    if stories and saved:
        from app.runs.judge import judge

        report.related_changed = judge(db, settings, now, ids=saved).related
    return report


def _lease(db: Database, settings: Settings, rid: str, owner: str, *, due_only: bool) -> bool:
    from app.runs.leases import lease_until
    from app.store.workers import WorkerRepository

    now = settings.clock()
    with db.session() as session:
        return bool(WorkerRepository(session).lease_pages(
            [rid], owner, now=now, until=lease_until(settings, now), due_only=due_only))


def _release(db: Database, rid: str, owner: str) -> None:
    from app.store.workers import WorkerRepository

    with db.session() as session:
        WorkerRepository(session).release_page(rid, owner)


def enrich_due(db: Database, settings: Settings, now: datetime, *, redo: bool = False,
               batch: int = 200, on_error: Callable[[str], None] | None = None) -> EnrichReport:
    """Enrich, batch by batch, every record not yet enriched or due for a retry (`redo`: every
    record).  What `newsdesk enrich` and a scheduler job run."""
    total = EnrichReport()
    if redo:
        with db.session() as session:
            ids = RecordRepository(session).all_ids()
        chunks = [ids[i:i + batch] for i in range(0, len(ids), batch)]
    while True:
        if redo:
            if not chunks:
                break
            chunk = chunks.pop(0)
        else:
            with db.session() as session:
                chunk = EnrichmentRepository(session).enrichment_due(now=now, limit=batch)
            if not chunk:
                break
        report = enrich_new_records(db, settings, now, chunk, redo=redo)
        for error in report.errors:
            if on_error:
                on_error(error)
        for name in ("enriched", "retry_later", "gave_up", "duplicates", "images_cached",
                     "images_refused", "logos", "related_changed"):
            setattr(total, name, getattr(total, name) + getattr(report, name))
        total.errors.extend(report.errors)
        if not redo and not report.enriched and not report.retry_later and \
                not report.gave_up and not report.duplicates:
            break                               # nothing moved: never loop forever
    return total
