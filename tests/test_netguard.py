"""The private-address guard refuses internal addresses unless told otherwise."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.errors import BlockedAddressError
from app.pipeline import netguard
from app.pipeline.enrich import Fetcher, HostThrottle, PageFetchError
from app.pipeline.fetch import FetchLimits, fetch_feed
from app.pipeline.fetch import make_client as make_feed_client
from app.pipeline.netguard import check_url, is_public_address
from tests.feedserver import FeedServer


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1",
                                     "169.254.169.254", "::1", "fe80::1", "0.0.0.0",
                                     "::ffff:127.0.0.1", "100.64.0.1"])
def test_internal_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
def test_public_addresses_are_public(address: str) -> None:
    assert is_public_address(address)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/feed", "http://localhost/",
                                 "http://[::1]/x", "http://169.254.169.254/latest/meta-data",
                                 "file:///etc/passwd", "ftp://example.org/x"])
def test_internal_and_non_http_urls_are_blocked(url: str) -> None:
    with pytest.raises(BlockedAddressError) as caught:
        check_url(url)
    assert url.split("/")[0] in str(caught.value) or url in str(caught.value)


def test_private_networks_can_be_allowed_for_tests() -> None:
    check_url("http://127.0.0.1:8080/feed", allow_private=True)


# --------------------------------------------------------------------------- DNS rebinding

@pytest.fixture
def rebinding(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FeedServer, FeedServer]]:
    """rebind.example answers 127.0.0.2 (a server the guard takes for a public one) the first
    time it is resolved and 127.0.0.1 (an internal server) every time after."""
    real_getaddrinfo, real_is_public = socket.getaddrinfo, netguard.is_public_address
    with FeedServer(host="127.0.0.2") as public, FeedServer() as internal:
        calls: list[str] = []

        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            if host != "rebind.example":
                return real_getaddrinfo(host, port, *args, **kwargs)
            calls.append(host)
            address = ("127.0.0.2", public.port) if len(calls) == 1 else \
                ("127.0.0.1", internal.port)
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address)]

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        monkeypatch.setattr(netguard, "is_public_address",
                            lambda address: address == "127.0.0.2" or real_is_public(address))
        yield public, internal


def test_a_feed_fetch_connects_to_the_address_that_was_checked(
        rebinding: tuple[FeedServer, FeedServer]) -> None:
    public, internal = rebinding
    public.serve("/feed", "<rss version='2.0'><channel><title>public</title></channel></rss>")
    internal.serve("/feed", "<rss version='2.0'><channel><title>secret</title></channel></rss>")
    limits = FetchLimits(timeout=2, deadline=4)
    with make_feed_client(limits, allow_private=False) as client:
        result = fetch_feed(client, f"http://rebind.example:{public.port}/feed", limits=limits,
                            now=datetime(2026, 11, 21, tzinfo=UTC))
    assert internal.hits == []                                   # never loopback
    assert result.kind == "ok" and b"public" in result.body      # the checked answer
    assert public.hits == ["/feed"]


@pytest.mark.parametrize("kind", ["page", "image"])
def test_a_page_or_image_fetch_connects_to_the_address_that_was_checked(
        rebinding: tuple[FeedServer, FeedServer], tmp_path: Path, kind: str) -> None:
    public, internal = rebinding
    for server in rebinding:
        server.serve("/robots.txt", "User-agent: *\nAllow: /\n", "text/plain")
        server.serve("/a", f"<html><body>{server.host}</body></html>", "text/html")
    settings = Settings.from_env({}, data_dir=tmp_path, allow_private_networks=False,
                                 enrich_timeout_ms=4000, host_delay_ms=0)
    url = f"http://rebind.example:{public.port}/a"
    with Fetcher(settings, throttle=HostThrottle(0)) as fetcher:
        try:
            fetched = fetcher.page(url) if kind == "page" else fetcher.get(url, 100_000)
            outcome = fetched.body.decode()
        except PageFetchError as exc:        # refusing a later answer is fine too
            outcome = str(exc)
    assert internal.hits == []                                   # never loopback
    assert "127.0.0.2" in outcome or ("private address" in outcome and "127.0.0.1" in outcome)


def test_every_answer_is_checked_before_connecting(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name answering a public and a private address is refused, whichever comes first."""
    backend = netguard.GuardedBackend(resolver=lambda host, port: ["93.184.216.34",
                                                                    "127.0.0.1"])
    monkeypatch.setattr(backend._inner, "connect_tcp", _no_connection)
    with pytest.raises(BlockedAddressError, match=r"127\.0\.0\.1"):
        backend.connect_tcp("mixed.example", 80, timeout=1)


def _no_connection(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("nothing may be connected")


# --------------------------------------------------------------------------- host spellings

@pytest.mark.parametrize("host", ["127.000.000.001", "\uff11\uff12\uff17.\uff10.\uff10.\uff11",
                                  "0177.0.0.1", "0x7f.1", "2130706433", "127.0.0.1.",
                                  "[::ffff:7f00:1]", "256.1.1.1", "xn--", "\u24dbocalhost"])
def test_a_page_on_an_oddly_spelt_internal_host_is_one_clean_refusal(host: str,
                                                                     tmp_path: Path) -> None:
    settings = Settings.from_env({}, data_dir=tmp_path, allow_private_networks=False,
                                 enrich_timeout_ms=2000, host_delay_ms=0)
    with Fetcher(settings, throttle=HostThrottle(0)) as fetcher, \
            pytest.raises(PageFetchError) as caught:
        fetcher.page(f"http://{host}/article")
    message = str(caught.value)
    assert "\n" not in message and caught.value.permanent
    assert "refused" in message and ("private address" in message or "invalid host" in message)
