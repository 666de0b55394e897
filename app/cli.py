"""The `newsdesk` command: thin commands over the same functions the tests call."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from app.config import Settings
from app.errors import NewsdeskError
from app.store.db import Database


class Context:
    """Settings and a lazily opened database, shared by the commands of one invocation."""

    def __init__(self) -> None:
        self.settings = Settings.from_env()
        self._db: Database | None = None

    def db(self, *, migrate: bool = True) -> Database:
        if self._db is None:
            self._db = Database(self.settings.database_url, migrate=migrate)
        return self._db


pass_ctx = click.make_pass_decorator(Context, ensure=True)


def fail(message: str, code: int = 1) -> None:
    click.echo(f"newsdesk: {message}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
@click.pass_context
def main(click_ctx: click.Context, verbose: bool) -> None:
    """Newsdesk follows the news on AI in healthcare."""
    try:
        ctx = click_ctx.ensure_object(Context)
    except NewsdeskError as exc:
        fail(str(exc), 2)
        return
    level = logging.DEBUG if verbose else getattr(logging, ctx.settings.log_level.upper(),
                                                  logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:
        logging.getLogger("alembic").setLevel(logging.WARNING)


@main.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@pass_ctx
def import_cmd(ctx: Context, paths: tuple[Path, ...]) -> None:
    """Read record files (folders: *.md recursively) into the database."""
    from app.store.content import import_paths

    report = import_paths(ctx.db(), paths, on_error=lambda m: click.echo(m, err=True))
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

    click.echo(export_dir(ctx.db(), target, prune=prune).summary())


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

def _serve(ctx: Context, host: str | None, port: int | None, *, with_scheduler: bool) -> None:
    from app.web.serve import serve_site

    settings = ctx.settings
    serve_site(settings, ctx.db(), host=host or settings.host, port=port or settings.port,
               with_scheduler=with_scheduler, echo=click.echo)


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

    content = ctx.settings.content_dir
    if content.is_dir():
        report = import_paths(ctx.db(), [content], on_error=lambda m: click.echo(m, err=True))
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
    from datetime import UTC, datetime

    from app.pipeline.enrichment import enrich_due

    total = enrich_due(ctx.db(), ctx.settings, datetime.now(UTC), redo=redo, batch=batch,
                       on_error=lambda m: click.echo(m, err=True))
    click.echo(total.summary())


@main.command("heat")
@pass_ctx
def heat_cmd(ctx: Context) -> None:
    """Recompute the heat of every recent story (the scheduler does this regularly)."""
    from datetime import UTC, datetime

    from app.pipeline.stories import refresh_heat

    click.echo(refresh_heat(ctx.db(), ctx.settings, datetime.now(UTC)).summary())


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


def run() -> None:
    try:
        main(standalone_mode=True)
    except NewsdeskError as exc:
        fail(str(exc))


if __name__ == "__main__":
    run()
