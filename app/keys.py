"""The service's secret: NEWSDESK_SECRET_KEY, or a random key kept in a file under the data
folder, created on first use with mode 0600.  Sessions and the `secured` field derive their
keys from it; the secret itself is never logged."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from app.config import Settings

KEY_FILE = "secret.key"


def secret_key_path(settings: Settings) -> Path:
    return settings.data_dir / KEY_FILE


def load_secret(settings: Settings) -> bytes:
    """The master secret (bytes).  Created on first run when no NEWSDESK_SECRET_KEY is set."""
    if settings.secret_key:
        return settings.secret_key.encode("utf-8")
    path = secret_key_path(settings)
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32).encode("ascii")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:        # another process created it first
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(value + b"\n")
    return value


def derive_key(settings: Settings, purpose: str, length: int = 32) -> bytes:
    """A key for one purpose (e.g. "flask-session"), derived from the master secret."""
    digest = hmac.new(load_secret(settings), purpose.encode("utf-8"), hashlib.sha256).digest()
    return digest[:length]
