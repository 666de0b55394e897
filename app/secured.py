"""The `secured` field: a record's private data as JSON, encrypted with AES-256-GCM.

A value is written ``base64(ciphertext);base64(iv)`` (the ciphertext carries GCM's 16-byte tag at
its end), like the records of the format.  Data keys live in a `Keyring`: the first key encrypts,
every key decrypts, so a key rotation can run while the service keeps reading and writing
(app/keystore.py keeps the keyring in the database, wrapped under the master secret).

A value that does not decrypt with any of our keys - imported from elsewhere, or tampered with -
is never rewritten behind the user's back: readers get ``None`` (or `SecuredError` from
`Keyring.decrypt`) and the value is kept as it is.  Writing private data into a record whose
value is foreign keeps the foreign value inside the new payload (`importedSecured`), so nothing
is lost.

The private data is a JSON object; the keys Newsdesk writes are listed in `PRIVATE_FIELDS`;
unknown keys are kept.  Nothing here logs, and `repr` of a `Keyring` hides the keys.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.errors import NewsdeskError
from app.record import Record

__all__ = [
    "PRIVATE_FIELDS",
    "Keyring",
    "SecuredError",
    "editor_notes",
    "heat_boost",
    "read_private",
    "with_editor_notes",
    "with_heat_boost",
    "write_private",
]

IV_BYTES = 16          # the format's records use 16-byte IVs; GCM accepts them
KEY_BYTES = 32         # AES-256
_AAD = b"newsdesk.secured.v1"

PRIVATE_FIELDS = {
    "sourceFeed": "URL of the feed the record came from",
    "entryId": "the entry's id in that feed",
    "fetchedAt": "when the entry was first fetched (ISO 8601)",
    "enrichedAt": "when the article page was last read (ISO 8601)",
    "mainText": "the article's main text, as extracted from its page",
    "notes": "editor notes",
    "heatBoost": "editor boost added to the story's heat",
    "importedSecured": "a foreign secured value this payload replaced",
}


class SecuredError(NewsdeskError):
    """A secured value is malformed, or does not decrypt with any key (foreign or tampered)."""


@dataclass(frozen=True)
class Keyring:
    """Data keys, newest first: the first encrypts, all decrypt."""

    keys: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a keyring needs at least one key")
        for key in self.keys:
            if len(key) != KEY_BYTES:
                raise ValueError(f"a secured key has {KEY_BYTES} bytes, not {len(key)}")

    def __repr__(self) -> str:          # never show key material
        return f"Keyring(<{len(self.keys)} keys>)"

    def encrypt(self, plaintext: bytes, *,
                random: Callable[[int], bytes] = os.urandom) -> str:
        iv = random(IV_BYTES)
        sealed = AESGCM(self.keys[0]).encrypt(iv, plaintext, _AAD)
        return f"{base64.b64encode(sealed).decode()};{base64.b64encode(iv).decode()}"

    def decrypt_with_index(self, value: str) -> tuple[bytes, int]:
        """(plaintext, index of the key that opened it); SecuredError otherwise."""
        sealed, iv = _split(value)
        for index, key in enumerate(self.keys):
            try:
                return AESGCM(key).decrypt(iv, sealed, _AAD), index
            except InvalidTag:
                continue
        raise SecuredError("the secured value does not decrypt with any of our keys "
                           "(tampered with, or encrypted elsewhere)")

    def decrypt(self, value: str) -> bytes:
        return self.decrypt_with_index(value)[0]

    def opens(self, value: str) -> bool:
        try:
            self.decrypt_with_index(value)
        except SecuredError:
            return False
        return True


def _split(value: str) -> tuple[bytes, bytes]:
    parts = value.strip().split(";")
    if len(parts) != 2:
        raise SecuredError("a secured value is 'base64(ciphertext);base64(iv)'")
    try:
        sealed = base64.b64decode(parts[0], validate=True)
        iv = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise SecuredError("a secured value is 'base64(ciphertext);base64(iv)'") from None
    if not 8 <= len(iv) <= 128 or len(sealed) < 16:
        raise SecuredError("a secured value has an impossible IV or ciphertext length")
    return sealed, iv


# --------------------------------------------------------------------------- payloads

def seal(data: Mapping[str, Any], keyring: Keyring, *,
         random: Callable[[int], bytes] = os.urandom) -> str:
    text = json.dumps(dict(data), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return keyring.encrypt(text.encode("utf-8"), random=random)


def unseal(value: str, keyring: Keyring) -> dict[str, Any]:
    """The payload of a value of ours; SecuredError if it is not ours or not a JSON object."""
    plaintext = keyring.decrypt(value)
    try:
        data = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SecuredError("the secured value decrypts but is not a JSON object") from None
    if not isinstance(data, dict):
        raise SecuredError("the secured value decrypts but is not a JSON object")
    return data


def read_private(record: Record, keyring: Keyring) -> dict[str, Any] | None:
    """The record's private data: {} when it has none, None when its value is foreign."""
    if record.secured is None or not record.secured.strip():
        return {}
    try:
        return unseal(record.secured, keyring)
    except SecuredError:
        return None


def write_private(record: Record, updates: Mapping[str, Any], keyring: Keyring, *,
                  random: Callable[[int], bytes] = os.urandom) -> Record:
    """The record with `updates` merged into its private data (a value of None removes a key).
    A foreign value is kept inside the new payload as `importedSecured`."""
    data = read_private(record, keyring)
    if data is None:
        data = {"importedSecured": record.secured}
    for key, value in updates.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return record.replace(secured=seal(data, keyring, random=random))


def editor_notes(record: Record, keyring: Keyring) -> str:
    """The editor notes kept in `secured` ("" when none, or when the value is foreign)."""
    data = read_private(record, keyring) or {}
    notes = data.get("notes")
    return notes if isinstance(notes, str) else ""


def with_editor_notes(record: Record, notes: str, keyring: Keyring) -> Record:
    return write_private(record, {"notes": notes or None}, keyring)


def heat_boost(record: Record, keyring: Keyring) -> int:
    """The editor's heat boost kept in `secured` (0 when none)."""
    data = read_private(record, keyring) or {}
    boost = data.get("heatBoost")
    return boost if isinstance(boost, int) and not isinstance(boost, bool) else 0


def with_heat_boost(record: Record, boost: int, keyring: Keyring) -> Record:
    """The record with an editor's heat boost (0 removes it); applied at the next heat pass."""
    return write_private(record, {"heatBoost": int(boost) or None}, keyring)
