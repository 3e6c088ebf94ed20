"""The SSRF guard, against real addresses and a real local server."""

from __future__ import annotations

import ipaddress

import pytest

from automl_common.ssrf import FetchError, GuardedFetcher, UrlPolicy
from tests.support.image_server import Route, image_server, png_bytes


async def fetch(url: str, policy: UrlPolicy | None = None, **kwargs) -> bytes:
    fetcher = GuardedFetcher(
        policy or UrlPolicy(), timeout_s=kwargs.pop("timeout_s", 5), max_bytes=kwargs.pop("max_bytes", 1_000_000)
    )
    try:
        return (await fetcher.fetch(url)).body
    finally:
        await fetcher.aclose()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x.png",
        "http://10.0.0.1/x.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/x.png",
        "http://localhost/x.png",  # a name that resolves to loopback
        "http://0.0.0.0/x.png",
        "http://[::ffff:127.0.0.1]/x.png",
        "http://192.168.1.1/x.png",
        "http://100.64.0.1/x.png",
        "http://224.0.0.1/x.png",
        # Ranges that is_global has let through, or that embed an IPv4 address a gateway would reach:
        "http://[64:ff9b::a00:1]/x.png",  # NAT64 of 10.0.0.1
        "http://[64:ff9b::7f00:1]/x.png",  # NAT64 of 127.0.0.1
        "http://[2002:a00:1::1]/x.png",  # 6to4 of 10.0.0.1
        "http://[::7f00:1]/x.png",  # IPv4-compatible ::127.0.0.1
        "http://[::a9fe:a9fe]/x.png",  # IPv4-compatible ::169.254.169.254
        "http://[fec0::1]/x.png",  # site-local
        "http://[2001::1]/x.png",  # Teredo
        "http://[fd00::1]/x.png",  # unique local
        "http://[fe80::1]/x.png",  # link-local
        "http://198.18.0.1/x.png",  # benchmarking
        "http://192.0.0.170/x.png",  # IETF protocol assignments (NAT64 discovery)
        "http://255.255.255.255/x.png",
    ],
)
async def test_private_loopback_link_local_and_metadata_addresses_are_refused(url):
    with pytest.raises(FetchError) as caught:
        await fetch(url)
    assert caught.value.code == "blocked_address"


@pytest.mark.parametrize(
    ("address", "denied"),
    [
        ("8.8.8.8", False),
        ("1.1.1.1", False),
        ("2606:4700:4700::1111", False),  # a public IPv6 resolver
        ("2a00:1450:4001:80b::200e", False),
        ("64:ff9b::808:808", True),  # NAT64 even of a public address: the translator is inside
        ("2002:808:808::1", True),
        ("::808:808", True),
        ("::ffff:8.8.8.8", False),  # IPv4-mapped public: checked as 8.8.8.8
        ("::ffff:10.1.2.3", True),
    ],
)
def test_deny_list_is_explicit_and_keeps_public_addresses(address, denied):
    from automl_common.ssrf import is_denied

    assert is_denied(ipaddress.ip_address(address)) is denied


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://x", "http://user:pw@example.com/x", "not a url"]
)
async def test_only_plain_http_and_https_urls(url):
    with pytest.raises(FetchError) as caught:
        await fetch(url)
    assert caught.value.code == "bad_url"


async def test_local_server_is_reachable_only_with_the_demo_setting():
    body = png_bytes()
    with image_server({"/a.png": (200, "image/png", body, {})}) as base:
        with pytest.raises(FetchError) as caught:
            await fetch(f"{base}/a.png")
        assert caught.value.code == "blocked_address"
        assert await fetch(f"{base}/a.png", UrlPolicy(allow_private=True)) == body


@pytest.mark.parametrize("address", ["169.254.169.254", "fe80::1", "::ffff:169.254.169.254"])
def test_the_demo_setting_never_opens_link_local_metadata_addresses(address):
    with pytest.raises(FetchError) as caught:
        UrlPolicy(allow_private=True).check(ipaddress.ip_address(address))
    assert caught.value.code == "blocked_address"
    UrlPolicy(allow_private=True).check(ipaddress.ip_address("10.1.2.3"))  # private networks it does open


async def test_every_redirect_hop_is_checked():
    # The first hop is allowed (loopback is let through for this test only); the redirect target is private.
    loopback_only = UrlPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),))
    routes = {
        "/to-private": (302, "text/plain", b"", {"Location": "http://10.0.0.1/secret"}),
        "/to-metadata": (301, "text/plain", b"", {"Location": "http://169.254.169.254/latest/"}),
        "/to-other-loopback": (307, "text/plain", b"", {"Location": "http://127.0.0.2:9/x"}),
        "/to-self": (302, "text/plain", b"", {"Location": "/final.png"}),
        "/final.png": (200, "image/png", png_bytes(), {}),
        "/loop": (302, "text/plain", b"", {"Location": "/loop"}),
    }
    with image_server(routes) as base:
        for path in ("/to-private", "/to-metadata", "/to-other-loopback"):
            with pytest.raises(FetchError) as caught:
                await fetch(base + path, loopback_only)
            assert caught.value.code == "blocked_address", path
        assert await fetch(base + "/to-self", loopback_only) == png_bytes()
        with pytest.raises(FetchError) as caught:
            await fetch(base + "/loop", loopback_only)
        assert caught.value.code == "too_many_redirects"


async def test_size_status_and_time_limits():
    routes: dict[str, Route] = {
        "/big": (200, "image/png", b"x" * 5000, {}),
        "/gone": (404, "text/plain", b"", {}),
        "/err": (500, "text/plain", b"", {}),
    }
    allow = UrlPolicy(allow_private=True)
    with image_server(routes) as base:
        for path, code in (("/big", "too_large"), ("/gone", "not_found"), ("/err", "http_error")):
            with pytest.raises(FetchError) as caught:
                await fetch(base + path, allow, max_bytes=1000)
            assert caught.value.code == code
        with pytest.raises(FetchError) as caught:
            await fetch(base + "/slow", allow, timeout_s=0.5)
        assert caught.value.code == "timeout"
