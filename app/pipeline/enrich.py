"""Fetching for enrichment: article pages, images and icons, under the same rules as feeds.

Every request goes through netguard's GuardedTransport (each connection, so each redirect hop,
is checked against private addresses), with its own time limit for the whole exchange (redirects
included: netguard.deadline) and size cap, the service's User-Agent, robots.txt
respected (RFC 9309: a missing robots.txt allows everything; one that cannot be read now
disallows the host for this run) and a pause between two requests to the same host.
Failures are `FetchError`s naming the URL; `permanent` says whether retrying can help.
"""

from __future__ import annotations

import threading
import time
import urllib.robotparser
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from app.config import Settings
from app.errors import BlockedAddressError, FetchError
from app.pipeline.netguard import GuardedTransport, InvalidHostError, check_host, deadline

__all__ = ["Fetched", "Fetcher", "PageFetchError", "make_client"]

HTML_TYPES = ("text/html", "application/xhtml+xml")


class PageFetchError(FetchError):
    """A page, image or icon could not be fetched; `permanent` when a retry cannot help."""

    def __init__(self, message: str, *, url: str, permanent: bool = False) -> None:
        self.permanent = permanent
        super().__init__(message, url=url)


@dataclass(frozen=True)
class Fetched:
    url: str                      # final URL after redirects
    status: int
    content_type: str
    body: bytes


def make_client(settings: Settings, *, allow_private: bool | None = None,
                transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """An httpx client whose every request (and redirect hop) passes the private-address
    guard."""
    guard = transport or GuardedTransport(
        allow_private=settings.allow_private_networks if allow_private is None else allow_private)
    return httpx.Client(transport=guard, follow_redirects=True, max_redirects=5,
                        timeout=httpx.Timeout(settings.enrich_timeout_ms / 1000),
                        headers={"User-Agent": settings.user_agent,
                                 "Accept-Encoding": "gzip, deflate"})


class HostThrottle:
    """At least `interval` seconds between two requests to one host (thread-safe)."""

    def __init__(self, interval: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval, self.clock, self.sleep = interval, clock, sleep
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, host: str) -> None:
        with self._lock:
            now = self.clock()
            at = max(now, self._next.get(host, now))
            self._next[host] = at + self.interval
        if at > now:
            self.sleep(at - now)


class Fetcher:
    """Fetches for one enrichment run: a client, robots.txt per host, a per-host throttle."""

    def __init__(self, settings: Settings, client: httpx.Client | None = None, *,
                 throttle: HostThrottle | None = None) -> None:
        self.settings = settings
        self.client = client or make_client(settings)
        self.throttle = throttle or HostThrottle(settings.host_delay_ms / 1000)
        self._robots: dict[str, urllib.robotparser.RobotFileParser | None] = {}

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ robots.txt

    def allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._robots:
            self._robots[origin] = self._read_robots(origin)
        robots = self._robots[origin]
        if robots is None:
            raise PageFetchError("robots.txt of the site cannot be read now; trying later",
                                 url=url)
        return robots.can_fetch(self.settings.user_agent, url)

    def _read_robots(self, origin: str) -> urllib.robotparser.RobotFileParser | None:
        parser = urllib.robotparser.RobotFileParser(origin + "/robots.txt")
        try:
            fetched = self._get(origin + "/robots.txt", 500_000, check_robots=False)
        except PageFetchError as exc:
            if isinstance(exc.__cause__, BlockedAddressError):
                raise                            # say why: the address, not robots.txt
            if exc.permanent:
                parser.parse([])                 # 4xx: no robots.txt, everything allowed
                return parser
            return None                          # unreachable now: the host is off limits
        parser.parse(fetched.body.decode("utf-8", "replace").splitlines())
        return parser

    # ------------------------------------------------------------------ fetching

    def get(self, url: str, max_bytes: int, *, accept: str = "*/*") -> Fetched:
        return self._get(url, max_bytes, accept=accept, check_robots=True)

    def _get(self, url: str, max_bytes: int, *, accept: str = "*/*",
             check_robots: bool) -> Fetched:
        if check_robots and not self.allowed(url):
            raise PageFetchError("robots.txt of the site disallows fetching it", url=url,
                                 permanent=True)
        self.throttle.wait(urlsplit(url).netloc)
        limit = self.settings.enrich_timeout_ms
        with deadline(limit / 1000) as give_up_at:
            try:
                return self._fetch(url, max_bytes, accept)
            except httpx.TimeoutException as exc:
                if time.monotonic() >= give_up_at:
                    raise PageFetchError(f"timed out: the deadline of {limit} ms for the whole "
                                         "fetch passed (NEWSDESK_ENRICH_TIMEOUT_MS)",
                                         url=url) from exc
                raise PageFetchError(f"timed out after {limit} ms", url=url) from exc

    def _fetch(self, url: str, max_bytes: int, accept: str) -> Fetched:
        try:
            check_host(url, allow_private=True)        # a host that httpx cannot even parse
            with self.client.stream("GET", url, headers={"Accept": accept}) as response:
                if response.status_code >= 400:
                    permanent = response.status_code < 500 and response.status_code not in (
                        408, 425, 429)
                    raise PageFetchError(f"HTTP {response.status_code}", url=url,
                                         permanent=permanent)
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise PageFetchError(f"larger than {max_bytes} bytes", url=url,
                                         permanent=True)
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():     # each read ends by the deadline
                    size += len(chunk)
                    if size > max_bytes:
                        raise PageFetchError(f"larger than {max_bytes} bytes", url=url,
                                             permanent=True)
                    chunks.append(chunk)
                return Fetched(str(response.url), response.status_code,
                               response.headers.get("content-type", "").split(";")[0].strip()
                               .lower(), b"".join(chunks))
        except (BlockedAddressError, InvalidHostError) as exc:
            raise PageFetchError(f"refused: {exc}", url=url, permanent=True) from exc
        except httpx.TimeoutException:
            raise                                       # _get says which limit
        except httpx.TooManyRedirects as exc:
            raise PageFetchError("too many redirects", url=url, permanent=True) from exc
        except httpx.HTTPError as exc:
            raise PageFetchError(f"{exc.__class__.__name__}: {exc}", url=url) from exc
        except (httpx.InvalidURL, ValueError) as exc:   # what the host check let through
            raise PageFetchError(f"refused: invalid host or URL: {exc}", url=url,
                                 permanent=True) from exc

    def page(self, url: str) -> Fetched:
        """An article page (HTML only)."""
        fetched = self.get(url, self.settings.enrich_max_bytes,
                           accept="text/html,application/xhtml+xml;q=0.9,*/*;q=0.1")
        if fetched.content_type and fetched.content_type not in HTML_TYPES:
            raise PageFetchError(f"not an HTML page ({fetched.content_type})", url=url,
                                 permanent=True)
        return fetched
