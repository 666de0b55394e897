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


@main.command("fetch")
@click.option("--all", "every", is_flag=True, help="Fetch every enabled source, due or not.")
@click.option("--source", "names", multiple=True, metavar="NAME",
              help="Fetch this source (even if disabled); may be repeated.")
@pass_ctx
def fetch_cmd(ctx: Context, every: bool, names: tuple[str, ...]) -> None:
    """One pass over the due sources of feeds/, then a summary."""
    from app.ingest import run_pass
    from app.sources import load_feeds

    config = load_feeds(ctx.settings.feeds)
    summary = run_pass(ctx.db(), ctx.settings, config, names=names or None, every=every)
    for failure in summary.failures:
        click.echo(f"failed: {failure}", err=True)
    click.echo(summary.line())


@main.command("worker")
@click.option("--tick", default=30.0, show_default=True,
              help="Seconds between looks for due sources.")
@pass_ctx
def worker_cmd(ctx: Context, tick: float) -> None:
    """Fetch due sources on a schedule until SIGINT or SIGTERM."""
    from app.scheduler import Worker

    Worker(ctx.db(), ctx.settings, tick=tick).run_until_stopped()


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


def run() -> None:
    try:
        main(standalone_mode=True)
    except NewsdeskError as exc:
        fail(str(exc))


if __name__ == "__main__":
    run()
