"""Editors' accounts: password hashing, API tokens, login throttling and safe redirects.

Pure decisions with the clock passed in; the tables are behind app.store.editorial and the
HTTP side is app.web.editor.  Passwords are hashed with Argon2id (argon2-cffi); API tokens are
random and only their SHA-256 is stored, so a leaked database gives no usable token.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.errors import AuthError

ROLES = ("editor", "admin")
NAME_RX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
TOKEN_PREFIX = "nd_"  # noqa: S105 - a visible prefix, not a secret

_hasher = PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Verified against when the account does not exist, so that a wrong name takes as long
    as a wrong password and does not reveal which names exist."""
    return _hasher.hash(secrets.token_hex(16))


@dataclass(frozen=True)
class Editor:
    """An editor account as the web side sees it (never with its password hash)."""

    id: int
    name: str
    role: str
    disabled: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def check_name(name: str) -> str:
    if not NAME_RX.match(name or ""):
        raise AuthError(f"user name {name!r} is not allowed: use 1-64 letters, digits, '.', "
                        "'_' or '-', starting with a letter or digit")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AuthError(f"role {role!r} is not one of {', '.join(ROLES)}")
    return role


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AuthError(f"the password is too short: use at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AuthError(f"the password is too long: use at most {MAX_PASSWORD} characters")
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when `password` matches; a missing account still costs one Argon2 verification."""
    if len(password) > MAX_PASSWORD:
        return False
    try:
        return _hasher.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    """A fresh API token: `nd_` and 43 URL-safe characters (256 bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def session_stamp(password_hash: str, generation: int) -> str:
    """A value kept in the session cookie and checked against the account on every request.
    It changes when the password changes, and when the account's session generation goes up
    (sign-out, disable, new password): the cookies made before then no longer sign anyone in,
    even replayed, and even after the account is enabled again."""
    material = f"session-stamp:{generation}:{password_hash}".encode()
    return hashlib.sha256(material).hexdigest()[:24]


def same_secret(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


# --------------------------------------------------------------------------- throttling

@dataclass(frozen=True)
class LoginThrottle:
    """Failed logins allowed in `window` per account and per client address."""

    per_account: int = 5
    per_address: int = 20
    window: timedelta = timedelta(minutes=15)

    def since(self, now: datetime) -> datetime:
        return now - self.window

    def blocked(self, account_failures: int, address_failures: int) -> bool:
        return account_failures >= self.per_account or address_failures >= self.per_address

    def retry_minutes(self) -> int:
        return max(1, int(self.window.total_seconds() // 60))


# --------------------------------------------------------------------------- redirects

def safe_next(target: str | None, default: str = "/editor/") -> str:
    """`target` when it is a path on this site, else `default`.  Refuses absolute URLs,
    scheme-relative `//host` (and `/\\host`, which browsers read the same way), and control
    characters."""
    if not target or len(target) > 2000:
        return default
    if any(ord(c) < 32 or c == "\\" for c in target):
        return default
    if not target.startswith("/") or target.startswith("//"):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
