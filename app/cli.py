"""The `newsdesk` command: thin commands over the same functions the tests call."""

from __future__ import annotations

import math
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from app.errors import NewsdeskError

if TYPE_CHECKING:      # imported by the commands that use them, so that --help starts at once
    from app.config import Settings
    from app.store.db import Database


class Context:
    """Settings and a lazily opened database, shared by the commands of one invocation."""

    def __init__(self, settings: Settings | None = None) -> None:
        from app.config import Settings

        self.settings = settings if settings is not None else Settings.from_env()
        self._db: Database | None = None

    def db(self, *, migrate: bool = True) -> Database:
        if self._db is None:
            from app.store.db import open_database

            self._db = open_database(self.settings, migrate=migrate)
        return self._db


pass_ctx = click.make_pass_decorator(Context, ensure=True)


def fail(message: str, code: int = 1) -> None:
    click.echo(f"newsdesk: {message}", err=True)
    sys.exit(code)


class Commands(click.Group):
    """A wrong setting, an unreachable database, a port in use: errors Newsdesk raises on
    purpose end the command with one line on stderr and a non-zero exit, never a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except NewsdeskError as exc:
            fail(str(exc))
            return None


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
@click.pass_context
def main(click_ctx: click.Context, verbose: bool) -> None:
    """Newsdesk follows the news on AI in healthcare."""
    import logging

    try:
        ctx = click_ctx.ensure_object(Context)
    except NewsdeskError as exc:
        fail(str(exc), 2)
        return
    level = logging.DEBUG if verbose else getattr(logging, ctx.settings.log_level.upper(),
                                                  logging.INFO)
    from app.logs import configure

    try:
        configure(level, ctx.settings.log_format)
    except NewsdeskError as exc:
        fail(str(exc), 2)
    quiet_libraries(level)


def quiet_libraries(level: int) -> None:
    """Libraries' routine lines (a migration's steps, APScheduler's "Running job" twice per job
    and tick, httpx's line per request) only when debugging."""
    import logging

    for name in ("alembic", "apscheduler.executors", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING if level > logging.DEBUG
                                         else logging.NOTSET)


@main.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@pass_ctx
def import_cmd(ctx: Context, paths: tuple[Path, ...]) -> None:
    """Read record files (folders: *.md recursively) into the database."""
    from app.store.content import import_paths

    processes = ctx.settings.parse_processes or (os.cpu_count() or 1)
    report = import_paths(ctx.db(), paths, now=ctx.settings.clock(),
                          on_error=lambda m: click.echo(m, err=True),
                          processes=processes)
    click.echo(report.summary())
    if report.failed:
        sys.exit(1)


@main.command("export")
@click.argument("target", type=click.Path(file_okay=False, path_type=Path))
@click.option("--prune", is_flag=True, help="Remove files of records that are gone.")
@pass_ctx
def export_cmd(ctx: Context, target: Path, prune: bool) -> None:
    """Write every record to TARGET/YYYY/YYYY-MM-DD-<slug>.md (only files that change)."""
    from app.store.content import export_dir

    processes = ctx.settings.parse_processes or (os.cpu_count() or 1)
    click.echo(export_dir(ctx.db(), target, prune=prune, processes=processes).summary())


@main.command("fetch")
@click.option("--all", "every", is_flag=True, help="Fetch every enabled source, due or not.")
@click.option("--source", "names", multiple=True, metavar="NAME",
              help="Fetch this source (even if disabled); may be repeated.")
@pass_ctx
def fetch_cmd(ctx: Context, every: bool, names: tuple[str, ...]) -> None:
    """One pass over the due sources of feeds/, then a summary."""
    from app.sources import load_feeds

    config = load_feeds(ctx.settings.feeds)
    if not every and not names:       # nothing due, as most runs from cron: told in a blink
        from app.store.due import idle_summary

        idle = idle_summary(ctx.settings.database_url, config.sources, ctx.settings.clock())
        if idle is not None:
            click.echo(idle.line())
            return
    from app.ingest import run_pass

    summary = run_pass(ctx.db(), ctx.settings, config, names=names or None, every=every)
    for failure in summary.failures:
        click.echo(f"failed: {failure}", err=True)
    click.echo(summary.line())
    if summary.storage_error or (summary.failed and not (summary.fetched
                                                         or summary.not_modified)):
        sys.exit(1)          # every source it tried failed, or the database is full


def _not_nan(_ctx: click.Context, _param: click.Parameter, value: float) -> float:
    if math.isnan(value):      # FloatRange lets NaN through: it compares false with anything
        raise click.BadParameter("nan is not a number of seconds")
    return value


@main.command("worker")
@click.option("--tick", default=30.0, show_default=True, callback=_not_nan,
              type=click.FloatRange(min=0, min_open=True, max=86400),
              help="Seconds between looks for due sources (more than 0, at most a day).")
@pass_ctx
def worker_cmd(ctx: Context, tick: float) -> None:
    """Fetch due sources on a schedule until SIGINT or SIGTERM."""
    from app.scheduler import Worker

    if not Worker(ctx.db(), ctx.settings, tick=tick).run_until_stopped():
        _end_now()


def _end_now() -> None:
    """Jobs still in flight after SIGTERM's grace: end now, as a crash would (their sources are
    fetched again; Python would otherwise wait for their threads)."""
    import logging

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@main.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@pass_ctx
def db_upgrade(ctx: Context, revision: str) -> None:
    """Apply the Alembic migrations in migrations/."""
    from app.store.db import current_revision, upgrade

    db = ctx.db(migrate=False)
    upgrade(db.engine, revision)
    click.echo(f"database at revision {current_revision(db.engine)}")


@db_group.command("current")
@pass_ctx
def db_current(ctx: Context) -> None:
    """Print the schema revision of the database."""
    from app.store.db import current_revision, head_revision

    rev = current_revision(ctx.db(migrate=False).engine)
    click.echo(f"{rev or 'empty'} (head: {head_revision()})")


# --------------------------------------------------------------------------- the site (issue 6)

def _port(settings: Settings, port: int | None) -> int:
    """--port, else NEWSDESK_PORT; 0 asks for any free port (the server prints the one it got)."""
    return settings.port if port is None else port


def _serve(ctx: Context, host: str | None, port: int | None, *, with_scheduler: bool) -> None:
    from app.web.serve import check_address, serve_site

    settings = ctx.settings
    port = _port(settings, port)
    check_address(host or settings.host, port)    # before the database
    if not serve_site(settings, ctx.db(), host=host or settings.host, port=port,
                      with_scheduler=with_scheduler, echo=click.echo):
        _end_now()


@main.command("serve")
@click.option("--host", default=None, help="Address to listen on [default: NEWSDESK_HOST].")
@click.option("--port", default=None, type=int, help="Port [default: NEWSDESK_PORT].")
@pass_ctx
def serve_cmd(ctx: Context, host: str | None, port: int | None) -> None:
    """Run the reader site alone (waitress, a production WSGI server)."""
    _serve(ctx, host, port, with_scheduler=False)


@main.command("run")
@click.option("--host", default=None, help="Address to listen on [default: NEWSDESK_HOST].")
@click.option("--port", default=None, type=int, help="Port [default: NEWSDESK_PORT].")
@pass_ctx
def run_cmd(ctx: Context, host: str | None, port: int | None) -> None:
    """Import NEWSDESK_CONTENT_DIR, then run the site and the scheduler together."""
    from app.store.content import import_paths
    from app.web.serve import check_address

    check_address(host or ctx.settings.host, _port(ctx.settings, port))   # before the import
    ctx.db()
    content = ctx.settings.content_dir
    if content.is_dir():
        report = import_paths(ctx.db(), [content], now=ctx.settings.clock(),
                              on_error=lambda m: click.echo(m, err=True))
        click.echo(f"imported {content}: {report.summary()}")
    else:
        click.echo(f"no content folder at {content}; starting with the database as it is")
    _serve(ctx, host, port, with_scheduler=True)

# --------------------------------------------------------------------------- enrichment (issue 5)

@main.command("enrich")
@click.option("--all", "redo", is_flag=True,
              help="Read every record's page again, not only new records and due retries.")
@click.option("--batch", default=200, show_default=True, help="Records per batch.")
@pass_ctx
def enrich_cmd(ctx: Context, redo: bool, batch: int) -> None:
    """Read the article pages of records not yet enriched (and retries that are due)."""
    from app.pipeline.enrichment import enrich_due

    total = enrich_due(ctx.db(), ctx.settings, ctx.settings.clock(), redo=redo, batch=batch,
                       on_error=lambda m: click.echo(m, err=True))
    click.echo(total.summary())


@main.command("heat")
@pass_ctx
def heat_cmd(ctx: Context) -> None:
    """Recompute the heat of every recent story (the scheduler does this regularly)."""
    from app.runs.judge import judge_heat

    click.echo(judge_heat(ctx.db(), ctx.settings, ctx.settings.clock()).heat_summary())


@main.command("judge")
@click.option("--all", "every", is_flag=True, help="Judge every record.")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Judge the records published on or after this day (UTC).")
@click.option("--redo", is_flag=True,
              help="Score quality and topics again where they are set (editors' topics stand).")
@pass_ctx
def judge_cmd(ctx: Context, every: bool, since: datetime | None, redo: bool) -> None:
    """Embed, classify, score, publish, relate and heat records (default: the last 7 days)."""
    from app.runs.judge import HEAT_SCOPE, judge

    now = ctx.settings.clock()
    if every and since is not None:
        fail("give --all or --since, not both", 2)
    start = (None if every else since.replace(tzinfo=UTC) if since is not None
             else now - HEAT_SCOPE)
    click.echo(judge(ctx.db(), ctx.settings, now, since=start, redo=redo).summary())


@main.group("keys")
def keys_group() -> None:
    """Keys of the `secured` field."""


@keys_group.command("rotate")
@click.option("--grace", default=11.0, show_default=True,
              help="Seconds to wait after adding the new key, so that every running process "
                   "encrypts with it before the old one is retired.")
@pass_ctx
def keys_rotate(ctx: Context, grace: float) -> None:
    """Re-encrypt every record's `secured` value under a new key, without downtime."""
    from app.keystore import rotate_keys

    report = rotate_keys(ctx.db(), ctx.settings, grace=grace)
    click.echo(report.summary())

# --------------------------------------------------------------------------- editors' accounts

def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@main.group("user")
def user_group() -> None:
    """Editor accounts (there is no default account)."""


@user_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["editor", "admin"]), default="editor",
              show_default=True, help="admins also see the audit log")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_ctx
def user_add(ctx: Context, name: str, role: str, password_stdin: bool) -> None:
    """Create the editor account NAME (asks for its password)."""
    from app.auth import check_name, check_role, hash_password
    from app.store.editorial import EditorialRepository

    check_name(name)
    check_role(role)
    password_hash = hash_password(_read_password(password_stdin))
    with ctx.db().session() as session:
        repo = EditorialRepository(session)
        repo.create_user(name, password_hash, role, now=ctx.settings.clock())
        repo.audit("cli", "user_add", "account", name, now=ctx.settings.clock(), role=role)
    click.echo(f"created {role} {name}")


@user_group.command("list")
@pass_ctx
def user_list(ctx: Context) -> None:
    """List editor accounts: name, role, state, last sign-in."""
    from app.store.editorial import EditorialRepository

    with ctx.db().session() as session:
        users = EditorialRepository(session).users()
    if not users:
        click.echo("no users; create one with: newsdesk user add NAME --role admin")
    for editor, _created, last in users:
        state = "disabled" if editor.disabled else "active"
        seen = last.strftime("%Y-%m-%d %H:%M") if last else "never signed in"
        click.echo(f"{editor.name}\t{editor.role}\t{state}\t{seen}")


def _set_disabled(ctx: Context, name: str, disabled: bool) -> None:
    from app.store.editorial import EditorialRepository

    with ctx.db().session() as session:
        repo = EditorialRepository(session)
        repo.set_disabled(name, disabled, now=ctx.settings.clock())
        repo.audit("cli", "user_disable" if disabled else "user_enable", "account", name,
                   now=ctx.settings.clock())


@user_group.command("disable")
@click.argument("name")
@pass_ctx
def user_disable(ctx: Context, name: str) -> None:
    """Disable NAME: signed out at once, its API tokens revoked."""
    _set_disabled(ctx, name, True)
    click.echo(f"disabled {name}")


@user_group.command("enable")
@click.argument("name")
@pass_ctx
def user_enable(ctx: Context, name: str) -> None:
    """Enable NAME again (its old API tokens stay revoked)."""
    _set_disabled(ctx, name, False)
    click.echo(f"enabled {name}")


@user_group.command("password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_ctx
def user_password(ctx: Context, name: str, password_stdin: bool) -> None:
    """Set a new password for NAME."""
    from app.auth import hash_password
    from app.store.editorial import EditorialRepository

    password_hash = hash_password(_read_password(password_stdin))
    with ctx.db().session() as session:
        repo = EditorialRepository(session)
        repo.set_password(name, password_hash)
        repo.audit("cli", "user_password", "account", name, now=ctx.settings.clock())
    click.echo(f"password of {name} changed")


@main.group("token")
def token_group() -> None:
    """API tokens of editors (for /editor/api/)."""


@token_group.command("create")
@click.argument("name")
@click.option("--label", default="", help="What the token is for.")
@pass_ctx
def token_create(ctx: Context, name: str, label: str) -> None:
    """Create an API token for user NAME and print it once (only its hash is kept)."""
    from app.auth import new_token, token_hash
    from app.store.editorial import EditorialRepository

    token = new_token()
    with ctx.db().session() as session:
        repo = EditorialRepository(session)
        now = ctx.settings.clock()
        tid = repo.add_token(name, label[:200], token_hash(token), token[:8], now=now)
        repo.audit("cli", "token_create", "account", name, now=now, token_id=tid,
                   label=label[:200])
    click.echo(token)
    click.echo(f"token {tid} for {name}: store it now, it is not shown again", err=True)


@token_group.command("list")
@pass_ctx
def token_list(ctx: Context) -> None:
    """List API tokens (id, user, label, first characters, last use); never the tokens."""
    from app.store.editorial import EditorialRepository

    with ctx.db().session() as session:
        tokens = EditorialRepository(session).tokens()
    for t in tokens:
        used = t.last_used_at.strftime("%Y-%m-%d %H:%M") if t.last_used_at else "never used"
        state = "revoked" if t.revoked else "active"
        click.echo(f"{t.id}\t{t.user}\t{t.label or '-'}\t{t.prefix}…\t{state}\t{used}")


@token_group.command("revoke")
@click.argument("token_id", type=int)
@pass_ctx
def token_revoke(ctx: Context, token_id: int) -> None:
    """Revoke the API token TOKEN_ID (from `newsdesk token list`)."""
    from app.store.editorial import EditorialRepository

    with ctx.db().session() as session:
        repo = EditorialRepository(session)
        if not repo.revoke_token(token_id, ctx.settings.clock()):
            fail(f"no active token with id {token_id}")
        repo.audit("cli", "token_revoke", "token", str(token_id), now=ctx.settings.clock())
    click.echo(f"revoked token {token_id}")

# --------------------------------------------------------------------------- OPML of sources

@main.group("sources")
def sources_group() -> None:
    """Sources in and out as OPML (Feedly, Inoreader, Miniflux, FreshRSS...)."""


@sources_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_ctx
def sources_import(ctx: Context, path: Path) -> None:
    """Add the feeds of an OPML file as sources; one line per outline, then a summary."""
    from app.catalog import IngestCatalog
    from app.errors import OpmlError
    from app.opml import MAX_OPML_BYTES
    from app.source_exchange import import_opml, url_checker

    size = path.stat().st_size
    if size > MAX_OPML_BYTES:
        raise OpmlError(f"the file is {size:,} bytes; at most {MAX_OPML_BYTES:,} are read",
                        path=str(path))
    db = ctx.db()
    plan = import_opml(db, IngestCatalog(db, ctx.settings), path.read_bytes(), path=str(path),
                       by="cli", now=ctx.settings.clock(),
                       check=url_checker(allow_private=ctx.settings.allow_private_networks))
    for line in plan.lines:
        click.echo(line.text())
    click.echo(plan.summary())


@sources_group.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of standard output.")
@pass_ctx
def sources_export(ctx: Context, output: Path | None) -> None:
    """Write every source (feeds/ and editors' additions) as OPML 2.0, by default topic."""
    from app.catalog import IngestCatalog
    from app.source_exchange import export_opml

    db = ctx.db()
    data = export_opml(db, IngestCatalog(db, ctx.settings), now=ctx.settings.clock())
    if output is None:
        click.echo(data, nl=False)
    else:
        output.write_bytes(data)


def _tolerant_streams() -> None:
    """Under an ASCII locale (LANG unset or naming a locale the machine lacks), a title with
    an accent must not end a command with UnicodeEncodeError: print it escaped instead."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and (stream.encoding or "").lower().replace("-", "") != "utf8":
            reconfigure(errors="backslashreplace")


def run() -> None:
    _tolerant_streams()
    try:
        main(standalone_mode=True)
    except NewsdeskError as exc:
        fail(str(exc))


if __name__ == "__main__":
    run()
