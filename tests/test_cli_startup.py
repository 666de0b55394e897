"""The command starts in a blink (issue 19): what `newsdesk --help` and an idle `newsdesk fetch`
import, seen in the process itself (its sys.modules at exit), and the idle look never hiding
work the pass would do.  No timing here: bench/startup.py measures."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.config import Settings
from app.ingest import run_pass
from app.sources import load_feeds
from app.store.db import Database, head_revision
from app.store.editor_settings import EditorSettingsRepository
from app.store.schema import migration_head
from tests.feedserver import FeedServer, farm_route
from tests.test_farm import ROOT, env_for, write_feeds

# the command, with the names of every module it imported written to a file when it exits
DUMPING = [sys.executable, "-c",
           "import atexit, json, sys; out = sys.argv.pop(1); atexit.register(lambda: open("
           "out, 'w', encoding='utf-8').write(json.dumps(sorted(sys.modules)))); "
           "sys.argv[0] = 'newsdesk'; from app.cli import run; run()"]

# what a command that neither serves, fetches nor touches the database has no use for
HEAVY = ("sqlalchemy", "alembic", "psycopg", "feedparser", "httpx", "httpcore", "flask",
         "werkzeug", "jinja2", "apscheduler", "onnxruntime", "numpy", "tokenizers", "lxml",
         "trafilatura", "PIL", "cryptography", "app.ingest", "app.store.db", "app.web",
         "app.pipeline")

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def run(env: dict[str, str], tmp_path: Path, *args: str
        ) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    dump = tmp_path / "modules.json"
    dump.unlink(missing_ok=True)
    done = subprocess.run([*DUMPING, str(dump), *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)
    modules = set(json.loads(dump.read_text(encoding="utf-8"))) if dump.exists() else set()
    return done, modules


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY))


def at(env: dict[str, str], when: datetime) -> dict[str, str]:
    return {**env, "NEWSDESK_NOW": when.strftime("%Y-%m-%dT%H:%M:%SZ")}


def pass_line(env: dict[str, str]) -> str:
    """The line of the pass itself (app/ingest.py), in this process, on the same database."""
    settings = Settings.from_env(env)
    db = Database(settings.database_url)
    try:
        return run_pass(db, settings, load_feeds(settings.feeds)).line()
    finally:
        db.dispose()


def test_help_imports_neither_the_store_nor_the_pipeline(tmp_path: Path) -> None:
    done, modules = run(env_for(tmp_path, "", tmp_path / "feeds"), tmp_path, "--help")
    assert done.returncode == 0, done.stderr
    assert "fetch" in done.stdout and "serve" in done.stdout
    assert "click" in modules                       # the dump is of the command itself
    assert heavy(modules) == [] and "yaml" not in modules


def test_idle_fetch_is_told_without_the_database_library(tmp_path: Path) -> None:
    with FeedServer() as server:
        server.prefixes["/farm/"] = farm_route(3)
        feeds = write_feeds(tmp_path / "feeds", [server.url(f"/farm/{i}.xml") for i in range(3)])
        env = at(env_for(tmp_path, f"sqlite:///{tmp_path / 'nd.db'}", feeds), NOW)
        first, modules = run(env, tmp_path, "fetch")
        assert first.returncode == 0, first.stderr
        assert "sources: 3 fetched" in first.stdout
        assert "sqlalchemy" in modules and "feedparser" in modules     # a pass that works

        idle, modules = run(at(env, NOW + timedelta(minutes=5)), tmp_path, "fetch")
        assert idle.returncode == 0, idle.stderr
        assert "sources: 0 fetched" in idle.stdout and "3 not due yet" in idle.stdout
        assert heavy(modules) == []
        assert idle.stdout.strip() == pass_line(at(env, NOW + timedelta(minutes=5)))
        assert server.hits.count("/farm/0.xml") == 1


def test_the_idle_look_leaves_to_the_pass_whatever_it_would_do(tmp_path: Path) -> None:
    """A new source, an editor's "fetch now", a source an editor added, sources come due: the
    pass runs and fetches them; a source an editor paused is not counted as waiting."""
    with FeedServer() as server:
        server.prefixes["/farm/"] = farm_route(2)
        urls = [server.url(f"/farm/{i}.xml") for i in range(4)]
        feeds = write_feeds(tmp_path / "feeds", urls[:2])
        db_url = f"sqlite:///{tmp_path / 'nd.db'}"
        env = at(env_for(tmp_path, db_url, feeds), NOW)
        assert run(env, tmp_path, "fetch")[0].returncode == 0

        write_feeds(tmp_path / "feeds2", urls[:3])          # a third source in feeds/
        (feeds / "sources.yaml").write_text((tmp_path / "feeds2" / "sources.yaml").read_text(
            encoding="utf-8"), encoding="utf-8")
        done, modules = run(env, tmp_path, "fetch")
        assert "sources: 1 fetched" in done.stdout and "2 not due yet" in done.stdout
        assert "sqlalchemy" in modules

        db = Database(db_url)
        with db.session() as session:
            editors = EditorSettingsRepository(session)
            editors.change_source(urls[0], by="alice", now=NOW, fetch_requested_at=NOW)
            editors.change_source(urls[1], by="alice", now=NOW, paused=True)
        done, _ = run(env, tmp_path, "fetch")
        assert "sources: 0 fetched, 1 not modified" in done.stdout, done.stdout
        assert "1 not due yet" in done.stdout       # farm-1 paused, farm-2 waiting

        with db.session() as session:
            EditorSettingsRepository(session).change_source(
                urls[3], by="alice", now=NOW, added=True, name="added by alice")
        db.dispose()
        done, _ = run(env, tmp_path, "fetch")
        assert "sources: 1 fetched" in done.stdout and "2 not due yet" in done.stdout
        idle, modules = run(env, tmp_path, "fetch")
        assert "sources: 0 fetched" in idle.stdout and "3 not due yet" in idle.stdout
        assert heavy(modules) == [] and idle.stdout.strip() == pass_line(env)

        later = at(env, NOW + timedelta(hours=3))          # past every interval
        done, _ = run(later, tmp_path, "fetch")
        assert "sources: 0 fetched, 3 not modified" in done.stdout, done.stdout
    assert server.hits.count("/farm/1.xml") == 1            # paused since its first fetch


def test_the_migration_head_read_plainly_is_alembics() -> None:
    assert migration_head() is not None and migration_head() == head_revision()
