"""fetch: one feed over HTTP (the IO edge of the pipeline).

A conditional GET (If-None-Match / If-Modified-Since) with gzip, connect/read timeouts and an
overall deadline that bounds every socket operation (netguard.deadline), a cap on the decoded
body, at most MAX_REDIRECTS redirects followed by hand (so that a chain of permanent redirects
can move the source), and every hop checked by the private-address guard.  The answer is a
FetchResult; what it means for the source (back off, disable, move) is decided by
`app.pipeline.state`, which is pure.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from urllib.parse import urljoin

import httpx

from app.errors import BlockedAddressError, FetchError
from app.pipeline.netguard import GuardedTransport, InvalidHostError, check_host, deadline

MAX_REDIRECTS = 5
PERMANENT = (301, 308)
TEMPORARY = (302, 303, 307)
ACCEPT = ("application/rss+xml, application/atom+xml, application/feed+json, "
          "application/rdf+xml, application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, "
          "*/*;q=0.5")


@dataclass(frozen=True)
class FetchLimits:
    timeout: float = 10.0         # connect, and each read
    deadline: float = 60.0        # the whole fetch, redirects included
    max_bytes: int = 10 * 1024 * 1024
    user_agent: str = "Newsdesk/0.1"


_TOO_LONG = "deadline: the fetch took longer than {:g} s in all (NEWSDESK_FETCH_DEADLINE)"


@dataclass(frozen=True)
class FetchResult:
    """What one fetch saw.  `kind` is ok, not_modified, gone, retry_later or error."""

    kind: str
    url: str                          # the URL asked for
    final_url: str                    # after redirects
    status: int | None = None         # the last HTTP status, None when none came
    body: bytes = b""
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None
    moved_to: str | None = None       # set when every redirect was permanent
    retry_after: float | None = None  # seconds, from Retry-After
    error: str | None = None


@lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    """httpx's default TLS context (certifi's CAs), built once: building it reads the CA file,
    ~17 ms that every pass paid again."""
    return httpx.create_ssl_context()


def make_client(limits: FetchLimits, *, allow_private: bool, workers: int = 8) -> httpx.Client:
    transport = GuardedTransport(allow_private=allow_private, verify=_tls(),
                                 limits=httpx.Limits(max_connections=max(workers * 2, 10),
                                                     max_keepalive_connections=workers * 2))
    return httpx.Client(transport=transport, follow_redirects=False,
                        timeout=httpx.Timeout(limits.timeout),
                        headers={"User-Agent": limits.user_agent, "Accept": ACCEPT,
                                 "Accept-Encoding": "gzip, deflate"})


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Seconds from a Retry-After header (a number or an HTTP date); None when unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _read_capped(response: httpx.Response, limits: FetchLimits, give_up_at: float,
                 url: str) -> bytes:
    declared = response.headers.get("content-length", "")
    encoded = response.headers.get("content-encoding", "").strip().lower()
    if declared.isdigit() and not encoded and int(declared) > limits.max_bytes:
        raise FetchError(f"the body is {int(declared)} bytes, over the cap of "
                         f"{limits.max_bytes}", url=url)
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limits.max_bytes:
            raise FetchError(f"the body is over the cap of {limits.max_bytes} bytes"
                             + (" once decoded" if encoded else ""), url=url)
        if time.monotonic() > give_up_at:
            raise FetchError(_TOO_LONG.format(limits.deadline), url=url)
        chunks.append(chunk)
    return b"".join(chunks)


def fetch_feed(client: httpx.Client, url: str, *, etag: str | None = None,
               last_modified: str | None = None, limits: FetchLimits,
               now: datetime) -> FetchResult:
    """Fetch `url` once.  Never raises for a failure a feed can cause: errors are results.
    The deadline bounds every socket operation of the fetch (not only the time between two
    bytes, which is all that httpx's read timeout bounds)."""
    with deadline(limits.deadline) as give_up_at:
        return _fetch_by(give_up_at, client, url, etag=etag, last_modified=last_modified,
                         limits=limits, now=now)


def _fetch_by(give_up_at: float, client: httpx.Client, url: str, *, etag: str | None,
              last_modified: str | None, limits: FetchLimits, now: datetime) -> FetchResult:
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    current, permanent = url, True
    try:
        for _hop in range(MAX_REDIRECTS + 1):
            remaining = give_up_at - time.monotonic()
            if remaining <= 0:
                raise FetchError(_TOO_LONG.format(limits.deadline), url=url)
            check_host(current, allow_private=True)    # a host that httpx cannot even parse
            timeout = httpx.Timeout(min(limits.timeout, remaining))
            with client.stream("GET", current, headers=headers, timeout=timeout) as response:
                status = response.status_code
                if status in PERMANENT or status in TEMPORARY:
                    location = response.headers.get("location")
                    if not location:
                        return FetchResult("error", url, current, status,
                                           error=f"HTTP {status} without a Location header")
                    permanent = permanent and status in PERMANENT
                    current = urljoin(current, location)
                    continue
                moved = current if permanent and current != url else None
                common = dict(url=url, final_url=current, status=status, moved_to=moved)
                if status == 304:
                    response.read()   # no body; reading its end keeps the connection alive
                    return FetchResult("not_modified", etag=etag, last_modified=last_modified,
                                       **common)  # type: ignore[arg-type]
                if status == 410:
                    return FetchResult("gone", error="HTTP 410 Gone: the feed was removed",
                                       **common)  # type: ignore[arg-type]
                if status in (429, 503):
                    wait = retry_after_seconds(response.headers.get("retry-after"), now)
                    return FetchResult("retry_later", retry_after=wait,
                                       error=f"HTTP {status} {response.reason_phrase}".strip(),
                                       **common)  # type: ignore[arg-type]
                if status >= 400 or status < 200:
                    return FetchResult("error", error=f"HTTP {status} {response.reason_phrase}"
                                       .strip(), **common)  # type: ignore[arg-type]
                body = _read_capped(response, limits, give_up_at, current)
                return FetchResult("ok", body=body,
                                   content_type=response.headers.get("content-type", ""),
                                   etag=response.headers.get("etag"),
                                   last_modified=response.headers.get("last-modified"),
                                   **common)  # type: ignore[arg-type]
        return FetchResult("error", url, current,
                           error=f"more than {MAX_REDIRECTS} redirects")
    except (BlockedAddressError, InvalidHostError) as exc:
        return FetchResult("error", url, current, error=f"refused: {exc}")
    except FetchError as exc:
        return FetchResult("error", url, current, error=str(exc))
    except httpx.TimeoutException as exc:
        if time.monotonic() >= give_up_at:
            return FetchResult("error", url, current,
                               error=f"{current}: " + _TOO_LONG.format(limits.deadline))
        return FetchResult("error", url, current,
                           error=f"{current}: timed out ({type(exc).__name__})")
    except httpx.HTTPError as exc:
        return FetchResult("error", url, current,
                           error=f"{current}: {type(exc).__name__}: {exc}")
    except (httpx.InvalidURL, ValueError) as exc:    # what the host check let through
        return FetchResult("error", url, current,
                           error=f"refused: {current}: invalid host or URL: {exc}")
