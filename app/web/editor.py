"""The editors' pages under /editor/: sign in and out, the queue, publish / unpublish / hide
(one record or many), record edits with their original values, and the audit log.

Nothing changes on GET; every POST carries a CSRF token (editor_base.check_csrf).  Errors an
editor can cause (an unknown record, a stale form, an oversized field) come back as the page
with a message naming the field, and change nothing.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import (
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

from app.auth import new_token, safe_next, token_hash, verify_password
from app.editors import (
    EditError,
    changes_from,
    clean_action,
    clean_ids,
    queue_filter,
)
from app.errors import UnknownRecordError
from app.store.editor_settings import EditorSettingsRepository
from app.store.editorial import EditorialRepository
from app.web import get_db
from app.web.editor_base import (
    admin_required,
    client_address,
    current_editor,
    editor_blueprint,
    keyring,
    login_required,
    now,
    throttle,
)

bp = editor_blueprint("editor", __name__)

PAST_TENSE = {"publish": "Published", "unpublish": "Unpublished", "hide": "Hid"}


# --------------------------------------------------------------------------- sign in / out

@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    target = safe_next(request.values.get("next"))
    if request.method != "POST":           # GET and HEAD only show the form
        if g.editor is not None:
            return redirect(target)
        return render_template("editor/login.html", next=target, username="")
    username = request.form.get("username", "").strip()[:100]
    password = request.form.get("password", "")
    address, when, rules = client_address(), now(), throttle()
    db = get_db()
    with db.session() as s:
        repo = EditorialRepository(s)
        account_failures, address_failures = repo.login_failures(
            username, address, rules.since(when))
        if rules.blocked(account_failures, address_failures):
            message = (f"Too many failed sign-ins for this account or from your address. "
                       f"Wait {rules.retry_minutes()} minutes and try again.")
            return render_template("editor/login.html", next=target, username=username,
                                   error=message), 429
        found = repo.credentials(username) if username else None
        editor, stored = found if found else (None, None)
        ok = verify_password(stored, password) and editor is not None and not editor.disabled
        if not ok or editor is None:
            repo.add_login_failure(username or "-", address, when)
            repo.audit(username or "-", "login_failed", "account", username or "-", now=when,
                       address=address)
            return render_template("editor/login.html", next=target, username=username,
                                   error="Wrong user name or password."), 401
        repo.clear_login_failures(username, older_than=rules.since(when))
        repo.logged_in(editor.id, when)
        repo.audit(editor.name, "login", "account", editor.name, now=when, address=address)
        stamp = repo.new_session_stamp(editor.id)
    session.clear()                          # a fresh session: no fixation
    session["uid"] = editor.id
    session["stamp"] = stamp
    session.permanent = True
    return redirect(target)


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    """Ends the session on the server too: the account's session generation goes up, so this
    cookie (and any copy of it, or of the account's other sessions) no longer signs anyone in."""
    editor = g.get("editor")
    if editor is not None:
        with get_db().session() as s:
            repo = EditorialRepository(s)
            repo.end_sessions(editor.id)
            repo.audit(editor.name, "logout", "account", editor.name, now=now(),
                       address=client_address())
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("editor.login"))


# --------------------------------------------------------------------------- the queue

@bp.route("/", methods=["GET"])
@login_required
def queue() -> Any:
    from app.web.editor_feeds import source_hosts

    f = queue_filter(request.args)
    keys = keyring()
    with get_db().session() as s:
        items, total = EditorialRepository(s, keys).queue(f,
                                                          source_hosts=source_hosts(f.source))
        topics = EditorSettingsRepository(s).topic_names()
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    pages = max(1, -(-total // f.per_page))
    return render_template("editor/queue.html", items=items, total=total, f=f, pages=pages,
                           topics=topics,
                           page_url=lambda n: url_for("editor.queue") + "?" + urlencode(
                               {**args, "page": n}),
                           back=request.full_path.rstrip("?"))


@bp.route("/records/decide", methods=["POST"])
@login_required
def decide() -> Response:
    editor = current_editor()
    one = request.form.get("one", "")
    if one:
        action_text, _, rid = one.partition(":")
        action, ids = clean_action(action_text), clean_ids([rid])
    else:
        action, ids = clean_action(request.form.get("action")), clean_ids(
            request.form.getlist("ids"))
    with get_db().session() as s:
        result = EditorialRepository(s).decide(ids, action, actor=editor.name, now=now())
    count = len(result.changed)
    noun = "record" if count == 1 else "records"
    message = f"{PAST_TENSE[action]} {count} {noun}."
    if result.unchanged:
        message += f" {len(result.unchanged)} already were."
    flash(message, "success")
    return redirect(safe_next(request.form.get("back"), url_for("editor.queue")))


# --------------------------------------------------------------------------- one record

def _record_page(rid: str, *, status: int = 200, error: EditError | None = None,
                 form: dict[str, str] | None = None) -> tuple[str, int]:
    keys = keyring()
    with get_db().session() as s:
        repo = EditorialRepository(s, keys)
        found = repo.records.get(rid)
        if found is None:
            raise UnknownRecordError([rid])
        review = repo.review(rid)
        notes = repo.notes(found, review)
        edits = repo.edits(rid)
        originals = repo.originals(rid)
        version = repo.version(found)
    values = form or {"title": found.title, "excerpt": found.excerpt,
                      "topics": "\n".join(found.topics), "notes": notes}
    return render_template("editor/record.html", record=found, review=review, edits=edits,
                           originals=originals, version=version, values=values,
                           error=error), status


@bp.route("/records/<rid>", methods=["GET"])
@login_required
def record(rid: str) -> Any:
    return _record_page(rid)


@bp.route("/records/<rid>", methods=["POST"])
@login_required
def edit_record(rid: str) -> Any:
    editor = current_editor()
    form = {k: request.form.get(k, "") for k in ("title", "excerpt", "topics", "notes")}
    try:
        changes = changes_from(form)
        keys = keyring()
        with get_db().session() as s:
            changed = EditorialRepository(s, keys).edit(
                rid, changes, version=request.form.get("version", ""), actor=editor.name,
                now=now())
    except UnknownRecordError:
        raise
    except EditError as exc:
        return _record_page(rid, status=exc.status, error=exc, form=form)
    if changed:
        flash(f"Saved: {', '.join(changed)}.", "success")
    else:
        flash("Nothing changed.", "info")
    return redirect(url_for("editor.record", rid=rid))


# --------------------------------------------------------------------------- audit log

@bp.route("/audit", methods=["GET"])
@admin_required
def audit() -> Any:
    page = request.args.get("page", "1")
    page_no = int(page) if page.isdigit() and 0 < int(page) < 100_000 else 1
    actor = request.args.get("actor", "")[:100]
    target = request.args.get("target", "")[:2000]
    with get_db().session() as s:
        entries, total = EditorialRepository(s).audit_entries(
            limit=100, offset=(page_no - 1) * 100, actor=actor, target=target)
    return render_template("editor/audit.html", entries=entries, total=total, page=page_no,
                           pages=max(1, -(-total // 100)), actor=actor, target=target)



# --------------------------------------------------------------------------- API tokens

@bp.route("/tokens", methods=["GET"])
@login_required
def tokens() -> Any:
    editor = current_editor()
    with get_db().session() as s:
        mine = [t for t in EditorialRepository(s).tokens() if t.user == editor.name]
    return render_template("editor/tokens.html", tokens=mine, created=None)


@bp.route("/tokens", methods=["POST"])
@login_required
def create_token() -> Any:
    """A new API token for the signed-in editor, shown once on this response (never
    stored in clear, never in a redirect URL)."""
    editor = current_editor()
    label = " ".join(request.form.get("label", "").split())
    if len(label) > 200:
        raise EditError("the label has at most 200 characters", field="label")
    token = new_token()
    with get_db().session() as s:
        repo = EditorialRepository(s)
        tid = repo.add_token(editor.name, label, token_hash(token), token[:8], now=now())
        repo.audit(editor.name, "token_create", "account", editor.name, now=now(),
                   token_id=tid, label=label)
        mine = [t for t in repo.tokens() if t.user == editor.name]
    return render_template("editor/tokens.html", tokens=mine, created=token)


@bp.route("/tokens/revoke", methods=["POST"])
@login_required
def revoke_token() -> Response:
    editor = current_editor()
    raw = request.form.get("id", "")
    with get_db().session() as s:
        repo = EditorialRepository(s)
        repo.exclusive()                 # two revokes of one token: one revokes, one is told
        owned = {t.id for t in repo.tokens() if t.user == editor.name and not t.revoked}
        if not raw.isdigit() or int(raw) not in owned:
            raise EditError(f"you have no active token with id {raw[:20]!r}", field="id",
                            status=404)
        repo.revoke_token(int(raw), now())
        repo.audit(editor.name, "token_revoke", "token", raw, now=now())
    flash(f"Revoked token {raw}.", "success")
    return redirect(url_for("editor.tokens"))
