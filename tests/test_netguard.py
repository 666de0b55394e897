"""The private-address guard refuses internal addresses unless told otherwise."""

from __future__ import annotations

import pytest

from app.errors import BlockedAddressError
from app.pipeline.netguard import check_url, is_public_address


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
