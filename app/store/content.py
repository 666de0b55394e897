"""The content/ folder: records as files, imported into and exported from the database.

Export is deterministic and incremental: every record goes to `YYYY/YYYY-MM-DD-<slug>.md` in the
canonical layout, and a file whose bytes would not change is not touched; a large export is
shared out between processes.  Import takes files or
folders; each file is saved in a savepoint of its own, so a bad file is reported (one line naming
the file and the field or line) and leaves nothing half-written, while every other file imports.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable, Iterable, Iterator, Set
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing import get_context
from pathlib import Path
from typing import cast

from sqlalchemy import Table, select

from app.errors import NewsdeskError, RecordError
from app.processes import exit_with_parent, init_worker
from app.record import Record, dump_record, parse_record, slugify
from app.store.db import Database
from app.store.models import RecordRow
from app.store.repository import RecordRepository, content_hash, from_db_time
from app.store.search import index_pending

_BATCH = 500
PARALLEL_FROM = 2000   # files; fewer do not pay for starting the parsing processes
# records; fewer do not pay for starting export processes (on 2 CPUs, 6,000 records take as
# long in one process as in two)
EXPORT_PARALLEL_FROM = 8000
_EXPORT_PART = 500   # records a process exports at a time in a parallel export
_BINARY = getattr(os, "O_BINARY", 0)   # Windows opens files in text mode without it
SKIP_NAMES = {"readme.md"}


@dataclass
class ImportReport:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.new} new, {self.updated} updated, {self.unchanged} unchanged, "
                f"{self.failed} failed")


@dataclass
class ExportReport:
    written: int = 0
    unchanged: int = 0
    pruned: int = 0

    def merge(self, other: ExportReport) -> None:
        self.written += other.written
        self.unchanged += other.unchanged
        self.pruned += other.pruned

    def summary(self) -> str:
        text = f"{self.written} written, {self.unchanged} unchanged"
        return text + (f", {self.pruned} pruned" if self.pruned else "")


def record_files(paths: Iterable[str | Path], errors: list[str]) -> Iterator[Path]:
    """Files to import: folders give their `*.md` files recursively (READMEs excepted); a file
    named on its own is taken whatever its extension."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for found in sorted(path.rglob("*.md")):
                if found.is_file() and found.name.lower() not in SKIP_NAMES:
                    yield found
        elif path.is_file():
            yield path
        else:
            errors.append(f"{path}: no such file or folder")


def _read(path: Path) -> Record:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RecordError(f"cannot read: {exc.strerror}") from None
    if not data.strip():
        raise RecordError("not a record: the file is empty")
    return parse_record(data)


Parsed = tuple[Path, Record | None, str]   # (file, record, content hash) or (file, None, error)


def _read_one(path: Path) -> Parsed:
    try:
        record = _read(path)
    except RecordError as exc:
        return path, None, exc.with_path(str(path)).describe()
    return path, record, content_hash(record)


def _read_all(files: list[Path], processes: int) -> Iterator[Parsed]:
    """Parse (and hash) files, in order.  This is pure CPU work: given `processes` > 1 CPUs
    and enough files to pay for starting them, `processes` worker processes parse while this
    process writes to the database.  The workers run at a lower priority, so the writer, the
    serial stage, always has a core when it needs one and the parsers use the rest (measured
    on 2 cores: 2,700-2,800 records/s, against 2,200-2,550 with one parser at equal
    priority)."""
    if processes < 2 or len(files) < PARALLEL_FROM:
        yield from map(_read_one, files)
        return
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn"),
                             initializer=init_worker, initargs=(os.getpid(),)) as pool:
        yield from pool.map(_read_one, files, chunksize=64)


def import_paths(db: Database, paths: Iterable[str | Path], *, now: datetime,
                 on_error: Callable[[str], None] | None = None,
                 processes: int = 1) -> ImportReport:
    report = ImportReport()

    def fail(message: str) -> None:
        report.failed += 1
        report.errors.append(message)
        if on_error:
            on_error(message)

    missing: list[str] = []
    batch: list[tuple[Path, Record, str]] = []
    for path, record, text in _read_all(list(record_files(paths, missing)), processes):
        if record is None:
            fail(text)
            continue
        batch.append((path, record, text))
        if len(batch) >= _BATCH:
            _save_batch(db, batch, now, report, fail)
            batch = []
    if batch:
        _save_batch(db, batch, now, report, fail)
    with db.session() as session:     # new records into the search index, all at once
        index_pending(session)
    for message in missing:
        fail(message)
    return report


def _save_batch(db: Database, batch: list[tuple[Path, Record, str]], now: datetime,
                report: ImportReport, fail: Callable[[str], None]) -> None:
    """Save a batch in one savepoint; if the database refuses any of it, save each file in a
    savepoint of its own so that only the files at fault fail."""
    with db.session() as session:
        repo = RecordRepository(session)
        hashes = repo.existing_hashes([record.id for _, record, _ in batch])
        try:
            with session.begin_nested():
                results = repo.save_many([record for _, record, _ in batch], now=now,
                                         known=dict(hashes),
                                         digests=[digest for _, _, digest in batch])
        except Exception:  # noqa: BLE001 - retried one by one below, to name the file
            repo.forget()
        else:
            for result in results:
                setattr(report, result.outcome, getattr(report, result.outcome) + 1)
            return
        for path, record, digest in batch:
            try:
                with session.begin_nested():
                    result = repo.save_many([record], now=now, known=hashes,
                                            digests=[digest])[0]
            except (NewsdeskError, ValueError, LookupError) as exc:
                repo.forget()
                fail(f"{path}: {exc}")
                continue
            except Exception as exc:  # noqa: BLE001 - the database refused this one record
                repo.forget()
                first = str(exc).splitlines()[0] if str(exc) else ""
                fail(f"{path}: the database refused the record: {type(exc).__name__}: {first}")
                continue
            hashes[record.id] = result.content_hash
            setattr(report, result.outcome, getattr(report, result.outcome) + 1)


# --------------------------------------------------------------------------- export

def export_names(db: Database) -> dict[str, str]:
    """Record id -> path relative to the export folder, in the database's order of ids.  Two
    records that would share a name are told apart by their id; the earliest id keeps the
    plain name."""
    names: dict[str, str] = {}
    used: set[str] = set()
    columns = cast(Table, RecordRow.__table__).c   # Core: no ORM loading of 3-column rows
    with db.session() as session:
        rows = session.execute(select(columns.id, columns.published_at, columns.title)
                               .order_by(columns.id))
        for rid, published_at, title in rows:
            when = from_db_time(published_at)
            assert when is not None
            day = f"{when:%Y-%m-%d}"
            stem = f"{day}-{slugify(title) or rid}"
            if stem in used:
                stem = f"{stem}-{rid[:8]}"
            used.add(stem)
            names[rid] = f"{day.partition('-')[0]}/{stem}.md"
    return names


def _prepare_folders(root: Path, names: Iterable[str]) -> set[str]:
    """Create the year folders that `names` (paths relative to `root`) go to, each once, and
    return the names of the files already in them: a file that was not there is written
    without first trying to read it."""
    existing: set[str] = set()
    for year in sorted({name.split("/", 1)[0] for name in names}):
        folder = root / year
        try:
            existing.update(f"{year}/{entry}" for entry in os.listdir(folder))
        except FileNotFoundError:
            folder.mkdir(parents=True, exist_ok=True)
    return existing


def _holds(path: str, data: bytes) -> bool:
    """Whether the file at `path` holds exactly `data` (False when there is no such file)."""
    try:
        fd = os.open(path, os.O_RDONLY | _BINARY)
    except FileNotFoundError:
        return False
    try:
        return os.fstat(fd).st_size == len(data) and os.read(fd, len(data)) == data
    finally:
        os.close(fd)


def _write(path: str, data: bytes) -> None:
    """Create or truncate the file at `path` and write `data` to it: three system calls (a
    Python file object adds a stat and an ioctl)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _BINARY, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _write_if_changed(path: str, data: bytes, *, exists: bool = True) -> bool:
    """Write `data` to `path` unless the file already holds exactly these bytes; `exists`
    False (the file was not in its folder when the export began) skips the comparison.
    Written in place: an interrupted write leaves a file whose bytes differ, which the next
    export rewrites."""
    if exists and _holds(path, data):
        return False
    _write(path, data)
    return True


@dataclass(frozen=True)
class _ExportPart:
    """Records to export: those whose id is in (`after`, `upto`] (None: no bound), to the
    paths under `root` that `names` gives their ids; `existing` holds the paths that were
    already there when the export began."""
    root: str
    after: str | None
    upto: str | None
    names: dict[str, str]
    existing: Set[str]


def _export_part(db: Database, part: _ExportPart) -> ExportReport:
    report = ExportReport()
    with db.session() as session:
        for record in RecordRepository(session).iter_range(part.after, part.upto):
            name = part.names.get(record.id)
            if name is None:   # saved since the names were given out: the next export has it
                continue
            if _write_if_changed(os.path.join(part.root, name),
                                 dump_record(record).encode("utf-8"),
                                 exists=name in part.existing):
                report.written += 1
            else:
                report.unchanged += 1
    return report


def _split(root: str, names: dict[str, str], existing: Set[str],
           size: int) -> list[_ExportPart]:
    """Parts of `size` records in contiguous ranges of ids.  The bounds are ids in the order
    the database sorts them (`names` is in that order), so that the parts' range queries
    share the records out exactly; the first and last parts are open, so that together they
    cover every id, as a serial export does."""
    ids = list(names)
    chunks = [ids[i:i + size] for i in range(0, len(ids), size)]
    parts = []
    for k, chunk in enumerate(chunks):
        mine = {rid: names[rid] for rid in chunk}
        parts.append(_ExportPart(
            root=root, after=chunks[k - 1][-1] if k else None,
            upto=chunk[-1] if k < len(chunks) - 1 else None, names=mine,
            existing=frozenset(name for name in mine.values() if name in existing)))
    return parts


_worker_db: Database | None = None


def _open_worker_database(url: str, parent: int) -> None:
    """Start an export worker process: it exits with its parent, pid `parent` (as the parsing
    processes do), and opens its own connection to the database, once."""
    global _worker_db
    exit_with_parent(parent)
    _worker_db = Database(url, migrate=False)   # the parent brought the schema up to date
    atexit.register(_worker_db.dispose)


def _export_part_in_worker(part: _ExportPart) -> ExportReport:
    assert _worker_db is not None, "the worker's database is opened when it starts"
    return _export_part(_worker_db, part)


def _export_parallel(db: Database, parts: list[_ExportPart], processes: int) -> ExportReport:
    """Export `parts` in this process and `processes - 1` worker processes.  The workers take
    parts from the front while this process, running already (a new one takes a while to
    import the app), takes them from the back until it meets the parts they took: the work
    is shared out evenly however fast each process turns out to be."""
    report = ExportReport()
    with ProcessPoolExecutor(min(processes - 1, len(parts)), mp_context=get_context("spawn"),
                             initializer=_open_worker_database,
                             initargs=(db.url, os.getpid())) as pool:
        futures = [pool.submit(_export_part_in_worker, part) for part in parts]
        try:
            for part, future in zip(reversed(parts), reversed(futures), strict=True):
                if not future.cancel():   # a worker has it (its queue holds a part ahead)
                    break
                report.merge(_export_part(db, part))
            for future in futures:
                if not future.cancelled():
                    report.merge(future.result())
        except BaseException:   # a failure anywhere stops the export without the rest
            for future in futures:
                future.cancel()
            raise
    return report


def export_dir(db: Database, target: str | Path, *, prune: bool = False,
               processes: int = 1) -> ExportReport:
    """Write every record to `target`; only files whose bytes change are written.  Reading,
    rendering and writing records is CPU work in Python: given `processes` > 1 and enough
    records to pay for starting worker processes, that many processes share it out in parts
    of contiguous ids.  Names are given out here, once: two records that would share a name
    are told apart across the whole set."""
    root = Path(target)
    names = export_names(db)
    existing = _prepare_folders(root, names.values())
    if processes < 2 or len(names) < EXPORT_PARALLEL_FROM or not db.is_shared:
        report = _export_part(db, _ExportPart(str(root), None, None, names, existing))
    else:
        report = _export_parallel(db, _split(str(root), names, existing, _EXPORT_PART),
                                  processes)
    if prune:
        report.pruned = _prune(root, set(names.values()))
    return report


def _prune(root: Path, names: Set[str]) -> int:
    """Remove the record files under `root`'s year folders that are not in `names`, and year
    folders left empty; return how many files were removed."""
    expected = {root / name for name in names}
    pruned = 0
    for year in sorted(root.glob("[0-9][0-9][0-9][0-9]")):
        if not year.is_dir():
            continue
        for found in sorted(year.glob("*.md")):
            if found not in expected:
                found.unlink()
                pruned += 1
        if not any(year.iterdir()):
            year.rmdir()
    return pruned
