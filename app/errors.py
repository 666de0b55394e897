"""Errors a user of Newsdesk can cause or meet, under one root.

    NewsdeskError                 root: catch this to handle anything Newsdesk raises on purpose
     +-- ConfigError              a NEWSDESK_* setting or a feeds/*.yaml file is wrong
     +-- OpmlError                an OPML file cannot be read at all (names the file, the line)
     +-- RecordError              a record file or value is wrong (names file, field, line)
     +-- StoreError               the database refused or is not at the expected schema
     +-- FetchError               a source could not be fetched or parsed (names the feed URL)
     |    +-- BlockedAddressError a URL resolves to a private, loopback or link-local address
     +-- AuthError                an editor could not be authenticated or authorized
     +-- EditError                an editor's change was refused (names the field)
          +-- UnknownRecordError  no record has that id
          +-- StaleEditError      the record changed since the form was opened

Every error carries the resource at fault (a path, a field, a URL) so that the one line a
command prints tells the user where to look.
"""

from __future__ import annotations


class NewsdeskError(Exception):
    """Root of every error Newsdesk raises on purpose."""


class ConfigError(NewsdeskError):
    """A setting or configuration file is wrong."""

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None,
                 line: int | None = None) -> None:
        self.path, self.key, self.line = path, key, line
        where = ""
        if path:
            where = path + (f":{line}" if line else "")
        if key:
            where = f"{where}: {key}" if where else key
        super().__init__(f"{where}: {message}" if where else message)


class OpmlError(NewsdeskError):
    """An OPML file that cannot be read at all (not XML, not OPML, too big, a DTD); problems
    of single outlines are reported per line instead (app/opml.py)."""

    def __init__(self, message: str, *, path: str = "", line: int | None = None) -> None:
        self.message, self.path, self.line = message, path, line
        where = (path or "OPML") + (f":{line}" if line else "")
        super().__init__(f"{where}: {message}")


class RecordError(NewsdeskError):
    """A record (a file or a mapping) does not follow the record format."""

    def __init__(self, message: str, *, field: str | None = None, line: int | None = None,
                 path: str | None = None) -> None:
        self.message, self.field, self.line, self.path = message, field, line, path
        super().__init__(self.describe())

    def describe(self) -> str:
        parts = []
        if self.path:
            parts.append(self.path + (f":{self.line}" if self.line else ""))
        elif self.line:
            parts.append(f"line {self.line}")
        if self.field:
            parts.append(f"field '{self.field}'")
        parts.append(self.message)
        return ": ".join(parts)

    def with_path(self, path: str) -> RecordError:
        return RecordError(self.message, field=self.field, line=self.line, path=path)


class StoreError(NewsdeskError):
    """The database could not do what was asked."""


class FetchError(NewsdeskError):
    """A source could not be fetched or parsed."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        self.url = url
        super().__init__(f"{url}: {message}" if url else message)


class BlockedAddressError(FetchError):
    """A URL resolves to an address that Newsdesk must not contact."""


class AuthError(NewsdeskError):
    """Authentication or authorization failed."""


class EditError(NewsdeskError):
    """An editor's change was refused (names the field at fault); nothing was changed."""

    def __init__(self, message: str, *, field: str | None = None, status: int = 400) -> None:
        self.message, self.field, self.status = message, field, status
        super().__init__(f"{field}: {message}" if field else message)


class UnknownRecordError(EditError):
    """No record has the id given."""

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids
        shown = ", ".join(repr(i) for i in ids[:5]) + (" …" if len(ids) > 5 else "")
        super().__init__(f"no record with id {shown}", field="id", status=404)


class StaleEditError(EditError):
    """The record changed since the editor's form was opened."""

    def __init__(self) -> None:
        super().__init__("this record was changed by someone else since you opened it; "
                         "reload it and make your edit again", field="version", status=409)
