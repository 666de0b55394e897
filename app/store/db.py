"""Engine and sessions.  Every command brings the database to the current schema first."""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings, default_database_url
from app.errors import ConfigError, StoreError
from app.store.schema import migration_head

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent.parent / "migrations"


BUSY_TIMEOUT_MS = 30000
# Pages of a new SQLite database (an existing one keeps its own).  Ingestion inserts each record
# into half a dozen indexes keyed by random record ids, so a commit of one source dirties a page
# per record and index, and SQLite writes (and checksums) every dirty page whole into its log:
# with 4,096-byte pages a 50-entry source wrote ~1.5 MB.  At 2,048 bytes the writer's CPU per
# source falls by a fifth (bench/ingest.py); scans cost a little more (smaller pages, more of
# them), point lookups the same.
SQLITE_PAGE_SIZE = 2048


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT; let SQLAlchemy emit BEGIN itself.
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    cur.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")   # before WAL: only a new file takes it
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.close()


WRITE = {"newsdesk_begin": "IMMEDIATE"}     # execution options of a write transaction


def _sqlite_begin(connection: Any) -> None:
    # SQLAlchemy's recipe for pysqlite (isolation_level=None above, BEGIN emitted here).  A
    # write transaction takes the write lock at BEGIN IMMEDIATE, waiting up to busy_timeout for
    # another writer: begun as a plain (deferred) BEGIN, it would read first and then fail at
    # once with "database is locked" when another writer committed since its read.
    mode = connection.get_execution_options().get("newsdesk_begin", "")
    connection.exec_driver_sql(f"BEGIN {mode}".strip())


SUPPORTED = ("sqlite", "postgresql")
EXAMPLES = "e.g. sqlite:///var/newsdesk.db or postgresql+psycopg://user@host/db"


def _shown(url: str) -> str:
    """`url` for a message: a password hidden, even in text that does not parse."""
    return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", url)


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"not a database URL: {_shown(url)!r} ({EXAMPLES})",
                          key="NEWSDESK_DATABASE_URL") from None
    if parsed.get_backend_name() not in SUPPORTED:
        raise ConfigError(f"{parsed.drivername}: not a database Newsdesk runs on ({EXAMPLES})",
                          key="NEWSDESK_DATABASE_URL")
    return parsed


def make_engine(url: str, *, create_folder: bool = False, **kwargs: Any) -> Engine:
    """An engine for `url` (SQLite or PostgreSQL); for SQLite sane pragmas are set.  The folder
    of a SQLite file must exist, unless `create_folder` (the default data dir)."""
    parsed = _parse(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            folder = Path(database).parent
            if create_folder:
                folder.mkdir(parents=True, exist_ok=True)
            elif not folder.is_dir():
                raise ConfigError(f"{_shown(url)}: the folder {folder} does not exist",
                                  key="NEWSDESK_DATABASE_URL")
        engine = _create(parsed, url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    statement_timeout = kwargs.pop("statement_timeout", 0)
    if parsed.get_driver_name() in ("psycopg", "psycopg2"):
        kwargs.setdefault("connect_args", _pg_connect_args(parsed, statement_timeout))
    return _create(parsed, url, **kwargs)


def _pg_connect_args(parsed: URL, statement_timeout: float) -> dict[str, Any]:
    """A connection that cannot hang for good (issue 16): a connect timeout, TCP keepalives
    that notice a silent peer within about 30 s, a user timeout for unacknowledged writes, and
    a statement timeout.  A URL's own parameters win."""
    args: dict[str, Any] = {"connect_timeout": 10, "keepalives": 1, "keepalives_idle": 10,
                            "keepalives_interval": 5, "keepalives_count": 3,
                            "tcp_user_timeout": 30000}
    for key in list(args):
        if key in parsed.query:
            del args[key]
    if statement_timeout and statement_timeout > 0:
        ms = int(statement_timeout * 1000)
        options = str(parsed.query.get("options", ""))
        if "statement_timeout" not in options:
            # added to the URL's own options (e.g. a search_path): psycopg joins them
            args["options"] = f"{options} -c statement_timeout={ms}".strip()
    return args


def _create(parsed: URL, url: str, **kwargs: Any) -> Engine:
    try:
        return create_engine(url, **kwargs)
    except (ImportError, ArgumentError) as exc:
        raise ConfigError(f"{parsed.drivername}: its driver is not installed ({exc}); "
                          f"{EXAMPLES}", key="NEWSDESK_DATABASE_URL") from None


def _one_line(exc: BaseException) -> str:
    """The first line of an error message; drivers add hints and background on more lines."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def alembic_config(engine: Engine | None = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False)
                            .replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the Alembic migrations up to `revision` (a no-op when already there)."""
    from alembic import command

    cfg = alembic_config(engine)
    try:
        with engine.execution_options(**WRITE).begin() as connection:
            if connection.dialect.name == "postgresql":
                # one migrating process at a time (issue 16): the others wait here, then find
                # the schema current (SQLite's BEGIN IMMEDIATE above does the same)
                connection.execute(text("SET LOCAL statement_timeout = 0"))
                connection.execute(text("SELECT pg_advisory_xact_lock(hashtextextended("
                                        "current_schema() || ':' || :key, 0))"),
                                   {"key": "migrate"})
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
    except Exception as exc:
        raise StoreError(f"could not migrate the database {engine.url!r}: "
                         f"{_one_line(exc)}") from exc


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _stamped(engine: Engine) -> list[str]:
    """The revisions stamped in the database (none before the first migration): one query,
    without importing Alembic."""
    try:
        with engine.connect() as connection:
            return [row[0] for row in connection.execute(
                text("SELECT version_num FROM alembic_version"))]
    except DBAPIError:            # no alembic_version table yet
        return []


def ensure_schema(engine: Engine) -> None:
    """Bring the database to the current schema unless it already is there.  At head, as it
    almost always is, that costs one query (app/store/schema.py); Alembic is imported only to
    migrate, or when the migration files cannot be read plainly."""
    head = migration_head()
    if head is not None and _stamped(engine) == [head]:
        return
    if current_revision(engine) != head_revision():
        log.info("migrating database schema to %s", head_revision())
        upgrade(engine)


def table_names(engine: Engine) -> list[str]:
    return sorted(inspect(engine).get_table_names())


SQLITE_AUTOCHECKPOINT = 1000     # pages: SQLite's default
CHECKPOINT_INTERVAL = 0.25       # seconds between background checkpoints


class _Checkpointer(threading.Thread):
    """Checkpoints a SQLite database's write-ahead log from a thread (and connection) of its
    own.  A checkpoint copies the log into the database file and waits for the disk; done by
    the committing writer, that stalls it.  PASSIVE: it never blocks readers or the writer."""

    def __init__(self, path: str) -> None:
        super().__init__(name="sqlite-checkpoint", daemon=True)
        self.path, self.stopping = path, threading.Event()

    def run(self) -> None:
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                     check_same_thread=False)
        try:
            while not self.stopping.wait(CHECKPOINT_INTERVAL):
                self.checkpoint(connection)
            self.checkpoint(connection)
        finally:
            connection.close()

    @staticmethod
    def checkpoint(connection: sqlite3.Connection) -> None:
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:     # busy or locked: the next round, or SQLite, does it
            log.debug("background checkpoint skipped: %s", exc)


class Database:
    """An engine and its session factory.  `url` is kept as given (password included), so that
    another process can open the same database."""

    def __init__(self, url: str, *, migrate: bool = True, create_folder: bool = False,
                 **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, create_folder=create_folder, **engine_kwargs)
        try:
            with self.engine.connect():
                pass
        except DBAPIError as exc:
            raise StoreError(f"cannot open the database {self.engine.url!r}: "
                             f"{_one_line(exc.orig or exc)}") from None
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.writers = sessionmaker(self.engine.execution_options(**WRITE),
                                    expire_on_commit=False)
        self._autocheckpoint = SQLITE_AUTOCHECKPOINT
        self._checkpointers = 0
        self._lock = threading.Lock()
        if self.is_sqlite:
            event.listen(self.engine, "checkout", self._set_autocheckpoint)
        if migrate:
            ensure_schema(self.engine)

    def _set_autocheckpoint(self, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        wanted = self._autocheckpoint
        if record.info.get("wal_autocheckpoint") != wanted:
            dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={int(wanted)}")
            record.info["wal_autocheckpoint"] = wanted

    @contextmanager
    def background_checkpoints(self) -> Iterator[None]:
        """For a long run of writes (an ingestion pass, an import): SQLite's log checkpoints
        move from the committing connections to a thread of their own.  A no-op for other
        databases and for SQLite in memory."""
        path = self.engine.url.database if self.is_sqlite else None
        if not path or path == ":memory:" or path.startswith("file:"):
            yield
            return
        checkpointer = _Checkpointer(path)
        with self._lock:
            self._checkpointers += 1
            self._autocheckpoint = 0
        checkpointer.start()
        try:
            yield
        finally:
            checkpointer.stopping.set()
            checkpointer.join()
            with self._lock:
                self._checkpointers -= 1
                if not self._checkpointers:
                    self._autocheckpoint = SQLITE_AUTOCHECKPOINT

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def is_shared(self) -> bool:
        """Whether another process opening `url` sees this database (an in-memory SQLite
        database lives only in this process)."""
        if not self.is_sqlite:
            return True
        parsed = make_url(self.url)
        return (parsed.database not in (None, "", ":memory:")
                and parsed.query.get("mode") != "memory")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a write transaction: committed on success, rolled back on error.  On
        SQLite it begins IMMEDIATE, so two writers wait for each other instead of failing (the
        public site reads through `sessions`, which begins deferred)."""
        with self.writers() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


EDITORIAL = "editorial"      # the lock of editors' read-then-write actions


def serialize(session: Session, key: str = EDITORIAL) -> None:
    """Holds the lock named `key` until the session's transaction ends, waiting for it first.

    A transaction that reads, decides, then writes (a sign-in counting failures, a publish
    that looks at the review first, an edit checking the version) must not run beside another
    of its kind, or both decide on the same old state: two audit entries for one publish, a
    unique-key error for the second review row, a sign-in limit that lets 13 of 20 through.
    On SQLite every session is already a write transaction begun IMMEDIATE, one at a time; on
    PostgreSQL (READ COMMITTED) this takes a transaction-level advisory lock, keyed by schema
    too, so that databases sharing a server do not wait for each other."""
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended("
                         "current_schema() || ':' || :key, 0))"), {"key": key})


def open_database(settings: Settings, *, migrate: bool = True) -> Database:
    """The database `settings` name.  Only the default one (SQLite under the data dir) has its
    folder created on demand: a named SQLite path whose folder is missing is a typo."""
    extra: dict[str, Any] = {}
    if not settings.database_url.startswith("sqlite"):
        extra["statement_timeout"] = settings.db_statement_timeout
    return Database(settings.database_url, migrate=migrate,
                    create_folder=settings.database_url == default_database_url(settings.data_dir),
                    **extra)
