"""Sources and topics pages of the editor side: source health, pause / resume / fetch now,
adding a source by URL (checked like any untrusted URL), interval and default topics; topic
rules shown and tried against recent records before they are saved."""

from __future__ import annotations

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
from app.errors import BlockedAddressError, ConfigError
from app.pipeline.netguard import check_url
from app.store.editor_settings import EditorSettingsRepository
from app.store.editorial import EditorialRepository
from app.topicrules import TopicRule, record_text, rule_from_form
from app.web import get_db, get_settings
from app.web.editor_base import current_editor, editor_blueprint, login_required, now

bp = editor_blueprint("editor_feeds", __name__)
PREVIEW_RECORDS = 500
PREVIEW_SHOWN = 20


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


# --------------------------------------------------------------------------- sources

@bp.route("/sources", methods=["GET"])
@login_required
def sources() -> Any:
    views, problem = source_views()
    return render_template("editor/sources.html", sources=views, form={},
                           feeds_error=problem)


def _known_source(url: str) -> bool:
    if any(c.url == url for c in configured_sources()[0]):
        return True
    with get_db().session() as s:
        found = EditorSettingsRepository(s).source(url)
    return found is not None and found.added


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
        except BlockedAddressError as exc:
            raise EditError(f"refused: {exc}", field="url") from None
        except httpx.HTTPError as exc:
            raise EditError(f"cannot check the address: {exc}", field="url") from None
        if _known_source(url):
            raise EditError("this source is already followed", field="url", status=409)
    except EditError as exc:
        views, problem = source_views()
        return render_template("editor/sources.html", error=exc, form=form, sources=views,
                               feeds_error=problem), exc.status
    with get_db().session() as s:
        EditorSettingsRepository(s).change_source(
            url, by=editor.name, now=now(), added=True, paused=False, name=name,
            interval_minutes=interval, topics=topics or None, fetch_requested_at=now())
        EditorialRepository(s).audit(editor.name, "source_add", "source", url, now=now(),
                                     name=name or "", interval=interval, topics=list(topics))
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


def _preview(rule: TopicRule) -> tuple[int, int, list[tuple[Any, str, bool]]]:
    """(records tried, matches, first matches as (record, matched text, already tagged))."""
    with get_db().session() as s:
        recent = EditorialRepository(s).recent_records(PREVIEW_RECORDS)
    matches = []
    for record in recent:
        found = rule.first_match(record_text(record.title, record.excerpt))
        if found is not None:
            matches.append((record, found, rule.topic in record.topics))
    return len(recent), len(matches), matches[:PREVIEW_SHOWN]


@bp.route("/topics/rule", methods=["GET"])
@login_required
def topic_rule() -> Any:
    """The rule of one topic; with `phrases` in the query, tries that rule (changes nothing)."""
    topic = request.args.get("topic", "")
    _names, saved, configured, _problem = _rules()
    current = saved.get(topic) or configured.get(topic)
    trying = "phrases" in request.args
    phrases = request.args.get("phrases", "\n".join(current.phrases) if current else "")
    exclude = request.args.get("exclude", "\n".join(current.exclude) if current else "")
    error, preview, rule = None, None, None
    try:
        # the rule in force is tried as it is (a rule of feeds/ may have `all` groups)
        rule = current if current and not trying else rule_from_form(topic, phrases, exclude)
        if trying or current is not None:
            preview = _preview(rule)
    except EditError as exc:
        if trying:
            error = exc
    return render_template("editor/topic_rule.html", topic=topic, phrases=phrases,
                           exclude=exclude, error=error, preview=preview, trying=trying,
                           current=None if trying else current,
                           source="editor" if topic in saved else
                           "feeds" if topic in configured else "none",
                           shown=PREVIEW_SHOWN), 400 if error else 200


@bp.route("/topics/rule", methods=["POST"])
@login_required
def save_topic_rule() -> Any:
    editor = current_editor()
    topic = request.form.get("topic", "")
    phrases, exclude = request.form.get("phrases", ""), request.form.get("exclude", "")
    try:
        rule = rule_from_form(topic, phrases, exclude)
    except EditError as exc:
        return render_template("editor/topic_rule.html", topic=topic, phrases=phrases,
                               exclude=exclude, error=exc, preview=None, trying=True,
                               source="none", shown=PREVIEW_SHOWN), exc.status
    with get_db().session() as s:
        EditorSettingsRepository(s).save_topic_rule(rule, by=editor.name, now=now())
        EditorialRepository(s).audit(editor.name, "topic_rule", "topic", rule.topic,
                                     now=now(), **rule.as_mapping())
    flash(f"Saved the rule of {rule.topic}.", "success")
    return redirect(url_for("editor_feeds.topic_rule", topic=rule.topic))
