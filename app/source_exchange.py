"""OPML of sources in and out of the store (issue 20): the run that the command
`newsdesk sources import|export` and the editors' Sources page both call.

Imported feeds become sources an editor added (the `editor_sources` table), exactly as if
each had been typed into "Add a source": checked like any untrusted URL, fetched on the next
pass, and published only by a rule that names them.  The export writes every source, those of
feeds/ and those editors added, with editors' changes applied.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import httpx

from app.editors import SourceCatalog, merge_sources
from app.errors import BlockedAddressError
from app.opml import ImportPlan, plan_import, read_opml, write_opml
from app.pipeline.netguard import InvalidHostError, check_url
from app.store.db import Database
from app.store.editor_settings import EditorSettingsRepository
from app.store.editorial import EditorialRepository

AUDIT_URLS = 500            # the added URLs named in the audit entry of one import


def url_checker(*, allow_private: bool) -> Callable[[str], str | None]:
    """The reason a URL is refused (a private address, a host that cannot be resolved), or
    None; like the "Add a source" form.  Hosts are resolved once per import."""
    by_host: dict[str, str | None] = {}

    def check(url: str) -> str | None:
        host = httpx.URL(url).host
        if host not in by_host:
            try:
                check_url(url, allow_private=allow_private)
                by_host[host] = None
            except (BlockedAddressError, InvalidHostError) as exc:
                by_host[host] = str(exc)
            except httpx.HTTPError as exc:
                by_host[host] = f"cannot check the address: {exc}"
        return by_host[host]
    return check


def _topic_names(db: Database, catalog: SourceCatalog) -> list[str]:
    names: list[str] = getattr(catalog, "topic_names", list)()
    with db.session() as s:
        return [*names, *EditorSettingsRepository(s).topic_names()]


def import_opml(db: Database, catalog: SourceCatalog, data: bytes, *, path: str, by: str,
                now: datetime, check: Callable[[str], str | None],
                max_bytes: int | None = None) -> ImportPlan:
    """Adds the feeds of an OPML file as sources; returns what became of every outline.
    Raises OpmlError when the file cannot be read at all (nothing is added then), and
    ConfigError when feeds/ does not load (its sources could not be told apart)."""
    doc = read_opml(data, path=path, **({"max_bytes": max_bytes} if max_bytes else {}))
    configured = [c.url for c in catalog.configured()]
    topics = _topic_names(db, catalog)
    with db.session() as s:
        settings = EditorSettingsRepository(s)
        audit = EditorialRepository(s)
        audit.exclusive()            # two imports at once: one after the other, each URL once
        followed = [*configured, *(x.url for x in settings.sources() if x.added)]
        plan = plan_import(doc, followed=followed, topics=topics, check=check)
        for feed in plan.to_add:
            settings.change_source(
                feed.url, by=by, now=now, added=True, paused=feed.paused, name=feed.name,
                interval_minutes=feed.interval_minutes,
                topics=plan.topics.get(feed.url) or None, fetch_requested_at=now)
        if plan.to_add:
            audit.audit(by, "source_import", "source", path[:200], now=now,
                        added=len(plan.to_add), summary=plan.summary(),
                        urls=[f.url for f in plan.to_add[:AUDIT_URLS]])
    return plan


def export_opml(db: Database, catalog: SourceCatalog, *, now: datetime) -> bytes:
    """Every source as OPML 2.0 (raises ConfigError when feeds/ does not load: an export
    without its sources would look complete and be wrong)."""
    configured = catalog.configured()
    with db.session() as s:
        settings = EditorSettingsRepository(s).sources()
    return write_opml(merge_sources(configured, settings, {}), title="Newsdesk sources",
                      created=now)
