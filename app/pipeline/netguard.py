"""The guarded network edge: URLs that come from untrusted content (feed links, article pages,
images, sources added by editors) must never reach loopback, private, link-local or otherwise
internal addresses, and no server may hold a fetch past its deadline.

Three things, all used by `GuardedTransport` (the httpx transport of every fetch):

- `check_host(url)` refuses, before any DNS, a URL whose host is an internal address however it
  is spelt (`127.000.000.001`, `0x7f.1`, full-width digits `１２７.０.０.１`) and one whose host
  httpx cannot parse: one clean `BlockedAddressError` ("private address") or `InvalidHostError`
  ("invalid host") instead of a traceback.
- `GuardedBackend` (httpcore's network backend) resolves a host *once*, checks every address
  it answers and connects to the checked address itself.  Checking a name and then letting the
  socket layer resolve it again is open to DNS rebinding (a name answering a public address to
  the check and 127.0.0.1 to the connection).  TLS still verifies the certificate against the
  name in the URL (httpcore passes the origin's host as the server name), and the Host header is
  the name, so nothing changes for the server.  Every redirect hop makes a new connection or
  reuses one that was checked when it was opened.
- `deadline(seconds)` bounds a whole exchange (resolution, connect, TLS, headers, body,
  redirects): every socket operation made by this thread inside the block gets at most the time
  left.  httpx's own read timeout restarts on every byte received, so a server dripping its
  headers one byte a second would otherwise keep a fetch going for minutes.

Tests whose servers live on 127.0.0.1 set NEWSDESK_ALLOW_PRIVATE_NETWORKS=1 (or pass
allow_private=True): the host is then connected as httpx would, unchecked.
"""

from __future__ import annotations

import contextvars
import ipaddress
import socket
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from app.errors import BlockedAddressError, FetchError

_BLOCKED_NETS = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "198.18.0.0/15", "::/128", "64:ff9b::/96",
)]
# dots that IDNA (UTS 46) maps to "." in a host name
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})

Resolver = Callable[[str, int], list[str]]


class InvalidHostError(FetchError):
    """A URL whose host cannot be fetched as written (not a name, not a standard address)."""


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
            or ip.is_reserved or ip.is_unspecified):
        return False
    return not any(ip in net for net in _BLOCKED_NETS)


def resolve(host: str, port: int) -> list[str]:
    """The addresses of `host`, in the order the system prefers them."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
        raise httpx.ConnectError(f"cannot resolve {host}: {reason}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


# --------------------------------------------------------------------------- host spellings

def _legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """`host` read as inet_aton reads it (1 to 4 parts, each decimal, 0-octal or 0x-hex), as
    resolvers and browsers still do; None when it is not such a number."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(parts):
        return None
    numbers = []
    for part in parts:
        lowered = part.lower()
        try:
            if lowered.startswith("0x"):
                numbers.append(int(lowered[2:] or "0", 16))
            elif len(part) > 1 and part.startswith("0"):
                numbers.append(int(part, 8))
            else:
                numbers.append(int(part, 10) if part.isascii() and part.isdigit() else -1)
        except ValueError:
            return None
        if numbers[-1] < 0:
            return None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        return None
    value = 0
    for n in head:
        value = value * 256 + n
    return ipaddress.IPv4Address(value * 256 ** (4 - len(head) - 1) + last)


def check_host(url: str, *, allow_private: bool = False) -> None:
    """Refuse `url` unless it is http(s) with a host httpx can fetch; refuse an internal address
    written in any spelling (unless private networks are allowed).  No DNS here: names are
    checked when they are connected (`GuardedBackend`)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise InvalidHostError(f"invalid host or port: {exc}", url=url) from None
    if parts.scheme not in ("http", "https"):
        raise BlockedAddressError(f"only http and https URLs are fetched, not {parts.scheme!r}",
                                  url=url)
    host = parts.hostname
    if not host:
        raise InvalidHostError("invalid host: the URL has no host", url=url)
    plain = unicodedata.normalize("NFKC", host).translate(_DOTS).lower().rstrip(".")
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    try:
        address = ipaddress.ip_address(plain.split("%", 1)[0])
    except ValueError:
        address = _legacy_ipv4(plain)
    if address is not None:
        if not allow_private and not is_public_address(str(address)):
            what = host if host == str(address) else f"{host} ({address})"
            raise BlockedAddressError(f"private address: {what} is a private or internal "
                                      "address", url=url)
        if host != str(address) and ":" not in host:
            raise InvalidHostError(f"invalid host: {host} is a non-standard spelling of "
                                   f"{address}", url=url)
    try:
        httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise InvalidHostError(f"invalid host: {exc}", url=url) from None


def check_url(url: str, *, allow_private: bool = False, resolver: Resolver | None = None) -> None:
    """Raise BlockedAddressError unless `url` is http(s) and every address of its host is
    public (or private networks are allowed); InvalidHostError when the host cannot be
    fetched.  For a check ahead of time (an editor adding a source); fetches are checked again,
    address by address, when they connect.  `resolver` (host, port) -> addresses replaces
    DNS."""
    check_host(url, allow_private=allow_private)
    if allow_private:
        return
    parts = httpx.URL(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    _check_addresses(parts.host, (resolver or resolve)(parts.host, port), url=url)


def _check_addresses(host: str, addresses: Iterable[str], *, url: str | None = None) -> None:
    for address in addresses:
        if not is_public_address(address):
            raise BlockedAddressError(
                f"private address: {host} resolves to {address}, a private or internal "
                "address", url=url)


# --------------------------------------------------------------------------- the deadline

_GIVE_UP_AT: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "newsdesk_give_up_at", default=None)


class DeadlineExceeded(httpcore.TimeoutException):
    """The deadline of the exchange passed (httpx turns it into a TimeoutException)."""


@contextmanager
def deadline(seconds: float) -> Iterator[float]:
    """Every network operation of this thread inside the block ends by `seconds` from now
    (an inner deadline never extends an outer one).  Yields the monotonic time it ends."""
    give_up_at = time.monotonic() + seconds
    outer = _GIVE_UP_AT.get()
    if outer is not None:
        give_up_at = min(give_up_at, outer)
    token = _GIVE_UP_AT.set(give_up_at)
    try:
        yield give_up_at
    finally:
        _GIVE_UP_AT.reset(token)


def deadline_passed() -> bool:
    give_up_at = _GIVE_UP_AT.get()
    return give_up_at is not None and time.monotonic() >= give_up_at


def _bounded(timeout: float | None) -> float | None:
    """`timeout`, shortened to what is left of the current deadline."""
    give_up_at = _GIVE_UP_AT.get()
    if give_up_at is None:
        return timeout
    left = give_up_at - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded("the deadline passed")
    return left if timeout is None else min(timeout, left)


class DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write ends by the deadline of the thread using it."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return DeadlineStream(self._inner.start_tls(ssl_context, server_hostname,
                                                    _bounded(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


# --------------------------------------------------------------------------- connecting

def _resolve_within(resolver: Resolver, host: str, port: int,
                    timeout: float | None) -> list[str]:
    """`resolver(host, port)`, given up after `timeout` (getaddrinfo itself has no timeout; the
    thread left behind ends when the system resolver does)."""
    if timeout is None:
        return resolver(host, port)
    answer: list[list[str]] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            answer.append(resolver(host, port))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            failure.append(exc)

    worker = threading.Thread(target=work, name=f"resolve {host}", daemon=True)
    worker.start()
    worker.join(timeout)
    if failure:
        raise failure[0]
    if not answer:
        raise httpcore.ConnectTimeout(f"resolving {host} took longer than {timeout:.3g} s")
    return answer[0]


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's network backend, connecting only to addresses that were checked."""

    def __init__(self, *, allow_private: bool = False, resolver: Resolver | None = None) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        if self.allow_private:
            stream = self._inner.connect_tcp(host, port, _bounded(timeout), local_address,
                                             socket_options)
            return DeadlineStream(stream)
        try:
            addresses = _resolve_within(self.resolver or resolve, host, port, _bounded(timeout))
        except httpx.ConnectError as exc:
            raise httpcore.ConnectError(str(exc)) from None
        if not addresses:
            raise httpcore.ConnectError(f"{host} has no address")
        _check_addresses(host, addresses)                  # every answer, before any connect
        failure: Exception | None = None
        for address in addresses:                           # the checked addresses only
            try:
                stream = self._inner.connect_tcp(address, port, _bounded(timeout),
                                                 local_address, socket_options)
            except httpcore.ConnectError as exc:
                failure = exc
                continue
            return DeadlineStream(stream)
        assert failure is not None
        raise failure

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None
                            ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not fetched")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """An httpx transport that refuses requests to non-public addresses (checked when the
    connection is made, on the address connected to) and keeps to the current `deadline`."""

    def __init__(self, *, allow_private: bool = False, resolver: Resolver | None = None,
                 verify: Any = True, limits: httpx.Limits | None = None) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        ssl_context = httpx.create_ssl_context(verify=verify)
        super().__init__(verify=ssl_context, limits=limits)
        self.allow_private = allow_private
        # httpx builds its pool without a way to pass a network backend: build it again with ours
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(allow_private=allow_private, resolver=resolver))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        check_host(url, allow_private=self.allow_private)
        try:
            return super().handle_request(request)
        except BlockedAddressError as exc:
            if exc.url is None:                             # raised by the backend: say where
                raise BlockedAddressError(str(exc), url=url) from None
            raise
