"""The content/ folder: records as files, imported into and exported from the database.

Export is deterministic and incremental: every record goes to `YYYY/YYYY-MM-DD-<slug>.md` in the
canonical layout, and a file whose bytes would not change is not touched.  Import takes files or
folders; each file is saved in a savepoint of its own, so a bad file is reported (one line naming
the file and the field or line) and leaves nothing half-written, while every other file imports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path

from sqlalchemy import select

from app.errors import NewsdeskError, RecordError
from app.processes import exit_with_parent
from app.record import Record, parse_record, slugify
from app.store.db import Database
from app.store.models import RecordRow
from app.store.repository import RecordRepository, content_hash, from_db_time
from app.store.search import index_pending

_BATCH = 500
_WRITERS = 8
PARALLEL_FROM = 2000   # files; fewer do not pay for starting the parsing processes
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

    def add(self, outcomes: Iterable[bool]) -> None:
        for written in outcomes:
            if written:
                self.written += 1
            else:
                self.unchanged += 1

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
    and enough files to pay for starting them, `processes - 1` worker processes parse while
    this process, the last CPU, writes to the database (the writer needs a core of its own:
    more parsers than that only take CPU from it)."""
    if processes < 2 or len(files) < PARALLEL_FROM:
        yield from map(_read_one, files)
        return
    with ProcessPoolExecutor(processes - 1, mp_context=get_context("spawn"),
                             initializer=exit_with_parent) as pool:
        yield from pool.map(_read_one, files, chunksize=64)


def import_paths(db: Database, paths: Iterable[str | Path], *, now: datetime | None = None,
                 on_error: Callable[[str], None] | None = None,
                 processes: int = 1) -> ImportReport:
    report = ImportReport()
    now = now or datetime.now(UTC)

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
    """Record id -> path relative to the export folder.  Two records that would share a name
    are told apart by their id; the earliest id keeps the plain name."""
    names: dict[str, str] = {}
    used: set[str] = set()
    with db.session() as session:
        rows = session.execute(select(RecordRow.id, RecordRow.published_at, RecordRow.title)
                               .order_by(RecordRow.id))
        for rid, published_at, title in rows:
            when = from_db_time(published_at)
            assert when is not None
            stem = f"{when:%Y-%m-%d}-{slugify(title) or rid}"
            if stem in used:
                stem = f"{stem}-{rid[:8]}"
            used.add(stem)
            names[rid] = f"{when:%Y}/{stem}.md"
    return names


def _write_if_changed(path: Path, data: bytes) -> bool:
    """Write `data` to `path` unless the file already holds exactly these bytes.  Written in
    place: an interrupted write leaves a file whose bytes differ, which the next export
    rewrites."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
    return True


def export_dir(db: Database, target: str | Path, *, prune: bool = False) -> ExportReport:
    """Write every record to `target`; only files whose bytes change are written.  Creating a
    file costs more than rendering it, so files are written by a small pool of threads."""
    from app.record import dump_record

    root = Path(target)
    report = ExportReport()
    names = export_names(db)
    with db.session() as session, ThreadPoolExecutor(_WRITERS) as pool:
        pending = []
        for record in RecordRepository(session).iter_all():
            pending.append(pool.submit(_write_if_changed, root / names[record.id],
                                       dump_record(record).encode("utf-8")))
            if len(pending) >= 4 * _BATCH:
                report.add(f.result() for f in pending)
                pending = []
        report.add(f.result() for f in pending)
    if prune:
        expected = {root / name for name in names.values()}
        for year in sorted(root.glob("[0-9][0-9][0-9][0-9]")):
            if not year.is_dir():
                continue
            for found in sorted(year.glob("*.md")):
                if found not in expected:
                    found.unlink()
                    report.pruned += 1
            if not any(year.iterdir()):
                year.rmdir()
    return report
