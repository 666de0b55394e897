"""Sources and topics pages of the editor side: source health, pause / resume / fetch now,
adding a source by URL (checked like any untrusted URL), interval and default topics; topic
rules shown and tried against recent records before they are saved, and applied to the
records already stored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from flask import current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from app.editors import (
    ConfiguredSource,
    EditError,
    EmptyCatalog,
    SourceCatalog,
    SourceView,
    clean_interval,
    clean_source_url,
    clean_topics,
    merge_sources,
)
from app.errors import BlockedAddressError, ConfigError, OpmlError
from app.pipeline.netguard import InvalidHostError, check_url
from app.record import Record
from app.store.editor_settings import EditorSettingsRepository
from app.store.editorial import EditorialRepository
from app.topicrules import TopicChange, TopicRule, record_text, rule_from_form, topic_changes
from app.web import get_db, get_settings
from app.web.editor_base import (
    admin_required,
    current_editor,
    editor_blueprint,
    login_required,
    now,
)

bp = editor_blueprint("editor_feeds", __name__)
PREVIEW_RECORDS = 500
PREVIEW_SHOWN = 20
APPLY_BATCH = 500          # records read and written at a time when a rule is applied
APPLY_AUDIT_IDS = 500      # changed records named in the audit entry of an apply


def catalog() -> SourceCatalog:
    found: SourceCatalog | None = current_app.config.get("NEWSDESK_SOURCE_CATALOG")
    return found or EmptyCatalog()


def source_hosts(source: str) -> tuple[str, ...]:
    """The host names whose records count as coming from a source (its feed URL's host)."""
    if not source:
        return ()
    host = (urlsplit(source if "//" in source else "//" + source).hostname or "").lower()
    return (host,) if host else ()


def configured_sources() -> tuple[list[ConfiguredSource], str]:
    """The sources of feeds/, and what is wrong with feeds/ when it does not load."""
    try:
        return catalog().configured(), ""
    except ConfigError as exc:
        return [], str(exc)


def source_views() -> tuple[list[SourceView], str]:
    configured, problem = configured_sources()
    with get_db().session() as s:
        settings = EditorSettingsRepository(s).sources()
    return merge_sources(configured, settings, catalog().health()), problem


def sources_page(**extra: Any) -> str:
    """The Sources page as it stands now (with `error`, `form` or an import's outcome)."""
    views, problem = source_views()
    return render_template("editor/sources.html", **{
        "form": {}, **extra, "sources": views, "feeds_error": problem, "now": now()})


# --------------------------------------------------------------------------- sources

@bp.route("/sources", methods=["GET"])
@login_required
def sources() -> Any:
    return sources_page()


def _known_source(url: str) -> bool:
    if any(c.url == url for c in configured_sources()[0]):
        return True
    with get_db().session() as s:
        found = EditorSettingsRepository(s).source(url)
    return found is not None and found.added


def _add_source(url: str, name: str | None, interval: int | None, topics: tuple[str, ...], *,
                by: str) -> None:
    """Adds the source, or EditError 409 when it is followed already; the check and the
    insert are one transaction, so twenty identical forms sent at once add it once."""
    if any(c.url == url for c in configured_sources()[0]):
        raise EditError("this source is already followed", field="url", status=409)
    with get_db().session() as s:
        settings = EditorSettingsRepository(s)
        EditorialRepository(s).exclusive()
        found = settings.source(url)
        if found is not None and found.added:
            raise EditError("this source is already followed", field="url", status=409)
        settings.change_source(
            url, by=by, now=now(), added=True, paused=False, name=name,
            interval_minutes=interval, topics=topics or None, fetch_requested_at=now())
        EditorialRepository(s).audit(by, "source_add", "source", url, now=now(),
                                     name=name or "", interval=interval, topics=list(topics))


@bp.route("/sources/add", methods=["POST"])
@login_required
def add_source() -> Any:
    editor = current_editor()
    form = {k: request.form.get(k, "") for k in ("url", "name", "interval", "topics")}
    try:
        url = clean_source_url(form["url"])
        name = " ".join(form["name"].split())[:500] or None
        interval = clean_interval(form["interval"])
        topics = clean_topics(form["topics"])
        try:
            check_url(url, allow_private=get_settings().allow_private_networks)
        except (BlockedAddressError, InvalidHostError) as exc:
            raise EditError(f"refused: {exc}", field="url") from None
        except httpx.HTTPError as exc:
            raise EditError(f"cannot check the address: {exc}", field="url") from None
        _add_source(url, name, interval, topics, by=editor.name)
    except EditError as exc:
        return sources_page(error=exc, form=form), exc.status
    flash(f"Added {url}; it will be fetched on the next pass.", "success")
    return redirect(url_for("editor_feeds.sources"))


@bp.route("/sources/change", methods=["POST"])
@login_required
def change_source() -> Response:
    editor = current_editor()
    url = request.form.get("url", "")
    op = request.form.get("op", "")
    if not _known_source(url):
        raise EditError(f"no source with the URL {url[:200]!r}", field="url", status=404)
    when = now()
    changes: dict[str, Any]
    if op == "pause":
        changes, message = {"paused": True}, "Paused"
    elif op == "resume":
        changes, message = {"paused": False}, "Resumed"
    elif op == "fetch":
        changes, message = {"fetch_requested_at": when}, "Asked for a fetch now of"
    elif op == "update":
        topics = clean_topics(request.form.get("topics", ""))
        changes = {"interval_minutes": clean_interval(request.form.get("interval")),
                   "topics": topics or None}
        message = "Saved"
    else:
        raise EditError(f"unknown operation {op[:40]!r}", field="op")
    with get_db().session() as s:
        changed = EditorSettingsRepository(s).change_source(url, by=editor.name, now=when,
                                                            **changes)
        if changed:
            details = {k: (list(v) if isinstance(v, tuple) else v) for k, v in changes.items()}
            EditorialRepository(s).audit(editor.name, f"source_{op}", "source", url, now=when,
                                         **details)
    flash(f"{message} {url}." if changed else f"Nothing changed for {url}.",
          "success" if changed else "info")
    return redirect(url_for("editor_feeds.sources"))


# --------------------------------------------------------------------------- OPML (issue 20)

@bp.route("/sources/import", methods=["POST"])
@admin_required
def import_sources() -> Any:
    """Adds the feeds of an uploaded OPML file, like `newsdesk sources import`; the page
    then lists what became of every outline.  The upload is capped by MAX_CONTENT_LENGTH
    (413 with a page that says so)."""
    from app.source_exchange import import_opml, url_checker

    editor = current_editor()
    upload = request.files.get("opml")
    name = (upload.filename or "upload.opml") if upload else ""
    try:
        if upload is None or not name:
            raise EditError("choose an OPML file to import", field="opml")
        plan = import_opml(get_db(), catalog(), upload.read(), path=name[:200], by=editor.name,
                           now=now(),
                           check=url_checker(allow_private=get_settings().allow_private_networks))
    except (EditError, OpmlError, ConfigError) as exc:
        error = exc if isinstance(exc, EditError) else EditError(str(exc), field="opml")
        return sources_page(error=error), error.status
    return sources_page(imported=plan, imported_name=name)


@bp.route("/sources/export.opml", methods=["GET"])
@login_required
def export_sources() -> Response:
    from app.source_exchange import export_opml

    try:
        data = export_opml(get_db(), catalog(), now=now())
    except ConfigError as exc:
        raise EditError(f"feeds/ could not be read, so no export was made: {exc}",
                        status=500) from None
    return Response(data, content_type="text/x-opml; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="newsdesk-sources.opml"',
        "Cache-Control": "no-store"})


# --------------------------------------------------------------------------- topics

def _rules() -> tuple[list[str], dict[str, TopicRule], dict[str, TopicRule], str]:
    """(topic names, editors' rules, rules of feeds/, what is wrong with feeds/)."""
    problem = ""
    try:
        configured = dict(catalog().topic_rules())
    except ConfigError as exc:
        configured, problem = {}, str(exc)
    with get_db().session() as s:
        repo = EditorSettingsRepository(s)
        saved = repo.topic_rules()
        names = sorted(set(repo.topic_names()) | set(configured), key=str.lower)
    return names, saved, configured, problem


@bp.route("/topics", methods=["GET"])
@login_required
def topics() -> Any:
    names, saved, configured, problem = _rules()
    return render_template("editor/topics.html", names=names, saved=saved,
                           configured=configured, feeds_error=problem)


@dataclass(frozen=True)
class Preview:
    """A rule tried on the most recent records: what it matches, and what applying it would
    change (records that would get the topic, and records that would lose it)."""

    tried: int
    count: int                                    # records the rule matches
    matches: list[tuple[Record, str, bool]]       # the first: (record, matched text, tagged)
    added: int                                    # matching records without the topic
    dropped: int                                  # records with the topic it does not match
    drops: list[TopicChange]                      # the first of those


def _preview(rule: TopicRule) -> Preview:
    with get_db().session() as s:
        repo = EditorialRepository(s)
        recent = repo.recent_records(PREVIEW_RECORDS)
        by_hand = repo.topics_set_by_hand([r.id for r in recent])
    matches = []
    for record in recent:
        found = rule.first_match(record_text(record.title, record.excerpt))
        if found is not None:
            matches.append((record, found, rule.topic in record.topics))
    changes = topic_changes(rule, recent, by_hand=by_hand)
    drops = [c for c in changes if not c.add]
    return Preview(len(recent), len(matches), matches[:PREVIEW_SHOWN],
                   len(changes) - len(drops), len(drops), drops[:PREVIEW_SHOWN])


def _rule_page(topic: str, phrases: str | None, exclude: str | None, *, trying: bool,
               error: EditError | None = None) -> tuple[str, int]:
    """The rule page: the rule in force, or the one typed (`trying`), tried on recent
    records.  A rule typed keeps the conditions of the rule in force that the form does not
    show (`all` groups, case-sensitive phrases).  Phrases or exclusions not given are the
    rule in force's."""
    _names, saved, configured, _problem = _rules()
    current = saved.get(topic) or configured.get(topic)
    if phrases is None:
        phrases = "\n".join(current.phrases) if current else ""
    if exclude is None:
        exclude = "\n".join(current.exclude) if current else ""
    preview = None
    if error is None:
        try:
            rule = rule_from_form(topic, phrases, exclude, keep=current) if trying else current
            if rule is not None:
                preview = _preview(rule)
        except EditError as exc:
            if trying:
                error = exc
    return render_template("editor/topic_rule.html", topic=topic, phrases=phrases,
                           exclude=exclude, error=error, preview=preview, trying=trying,
                           current=current,
                           source="editor" if topic in saved else
                           "feeds" if topic in configured else "none",
                           shown=PREVIEW_SHOWN), error.status if error else 200


@bp.route("/topics/rule", methods=["GET"])
@login_required
def topic_rule() -> Any:
    """The rule of one topic; with `phrases` in the query, tries that rule (changes nothing)."""
    return _rule_page(request.args.get("topic", ""), request.args.get("phrases"),
                      request.args.get("exclude"), trying="phrases" in request.args)


def _rule_in_force(topic: str) -> TopicRule | None:
    _names, saved, configured, _problem = _rules()
    return saved.get(topic) or configured.get(topic)


@bp.route("/topics/rule", methods=["POST"])
@login_required
def save_topic_rule() -> Any:
    """Saves the phrases and exclusions on the form (`op=test` only tries them).  The
    conditions of the rule in force that the form does not show are kept."""
    editor = current_editor()
    topic = request.form.get("topic", "")
    phrases, exclude = request.form.get("phrases", ""), request.form.get("exclude", "")
    if request.form.get("op") == "test":
        return _rule_page(topic, phrases, exclude, trying=True)
    try:
        rule = rule_from_form(topic, phrases, exclude, keep=_rule_in_force(topic))
    except EditError as exc:
        return _rule_page(topic, phrases, exclude, trying=True, error=exc)
    with get_db().session() as s:
        EditorSettingsRepository(s).save_topic_rule(rule, by=editor.name, now=now())
        EditorialRepository(s).audit(editor.name, "topic_rule", "topic", rule.topic,
                                     now=now(), **rule.as_mapping())
    flash(f"Saved the rule of {rule.topic}. Records already stored keep their topics until "
          "you apply it to them.", "success")
    return redirect(url_for("editor_feeds.topic_rule", topic=rule.topic))


@bp.route("/topics/apply", methods=["POST"])
@login_required
def apply_topic_rule() -> Response:
    """Classify every stored record again with the topic's rule in force: the topic is added
    where the rule matches and removed where it does not; records whose topics an editor set
    are left as they are."""
    editor = current_editor()
    topic = request.form.get("topic", "")
    rule = _rule_in_force(topic)
    if rule is None:
        raise EditError(f"the topic {topic[:100]!r} has no rule to apply", field="topic",
                        status=404)
    when = now()
    added: list[str] = []
    removed: list[str] = []
    by_hand = 0
    with get_db().session() as s:
        repo = EditorialRepository(s)
        repo.exclusive()                 # a rule applied twice at once: one after the other
        ids = repo.record_ids()
        for start in range(0, len(ids), APPLY_BATCH):
            chunk = ids[start:start + APPLY_BATCH]
            changes = topic_changes(rule, repo.records.get_many(chunk),
                                    by_hand=repo.topics_set_by_hand(chunk))
            by_hand += sum(1 for c in changes if c.by_hand)
            todo = {c.record.id: c for c in changes if not c.by_hand}
            for rid in repo.set_topics({rid: c.topics for rid, c in todo.items()}, now=when):
                (added if todo[rid].add else removed).append(rid)
        repo.audit(editor.name, "topic_rule_apply", "topic", rule.topic, now=when,
                   records=len(ids), added=len(added), removed=len(removed),
                   kept_by_hand=by_hand, ids=(added + removed)[:APPLY_AUDIT_IDS],
                   **rule.as_mapping())
    changed = len(added) + len(removed)
    message = (f"Applied the rule of {rule.topic} to {len(ids)} stored records: "
               f"{changed} record{'' if changed == 1 else 's'} changed "
               f"({len(added)} added to the topic, {len(removed)} removed from it).")
    if by_hand:
        message += (f" Left {by_hand} record{'' if by_hand == 1 else 's'} alone: an editor "
                    f"set {'its' if by_hand == 1 else 'their'} topics.")
    flash(message, "success" if changed else "info")
    return redirect(url_for("editor_feeds.topic_rule", topic=rule.topic))
