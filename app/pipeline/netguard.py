"""The private-address guard: URLs that come from untrusted content (feed links, article
pages, images, sources added by editors) must never reach loopback, private, link-local or
otherwise internal addresses.

`GuardedTransport` checks every request it sends, so with `follow_redirects=True` every redirect
hop is checked too, against every address its host resolves to.  Tests whose servers live on
127.0.0.1 set NEWSDESK_ALLOW_PRIVATE_NETWORKS=1 (or pass allow_private=True).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.errors import BlockedAddressError

_BLOCKED_NETS = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "198.18.0.0/15", "::/128", "64:ff9b::/96",
)]


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
            or ip.is_reserved or ip.is_unspecified):
        return False
    return not any(ip in net for net in _BLOCKED_NETS)


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise httpx.ConnectError(f"cannot resolve {host}: {exc.strerror}") from None
    return sorted({str(info[4][0]) for info in infos})


Resolver = Callable[[str, int], list[str]]


def check_url(url: str, *, allow_private: bool = False, resolver: Resolver | None = None) -> None:
    """Raise BlockedAddressError unless `url` is http(s) and every address of its host is
    public (or private networks are allowed).  `resolver` (host, port) -> addresses replaces
    DNS, e.g. in tests that make a loopback server look public."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise BlockedAddressError(f"only http and https URLs are fetched, not {parts.scheme!r}",
                                  url=url)
    host = parts.hostname
    if not host:
        raise BlockedAddressError("the URL has no host", url=url)
    if allow_private:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for address in (resolver or resolve)(host, port):
        if not is_public_address(address):
            raise BlockedAddressError(
                f"{host} resolves to {address}, a private or internal address", url=url)


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport that refuses requests to non-public addresses."""

    def __init__(self, *, allow_private: bool = False, resolver: Resolver | None = None,
                 **kwargs: Any) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self._inner = httpx.HTTPTransport(**kwargs)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        check_url(str(request.url), allow_private=self.allow_private, resolver=self.resolver)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


class AsyncGuardedTransport(httpx.AsyncBaseTransport):
    """The same guard for httpx.AsyncClient."""

    def __init__(self, *, allow_private: bool = False, **kwargs: Any) -> None:
        self.allow_private = allow_private
        self._inner = httpx.AsyncHTTPTransport(**kwargs)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        check_url(str(request.url), allow_private=self.allow_private)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
