"""Fetch a URL that a user gave us without letting it reach inside the platform (SSRF guard).

Only http and https. Every host is resolved here and every address checked before connecting: private,
loopback, link-local (cloud metadata included), multicast, reserved, every IANA special-purpose range and
the IPv6 ranges that embed an IPv4 address are refused (an explicit list, plus anything not ``is_global``),
and the connection goes to the checked address (so a second DNS answer cannot swap it: no DNS rebinding).
Redirects are followed by hand and each hop is checked the same way. Size and time are capped. A policy can
allow private addresses (local demos) or a few networks (tests).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urljoin

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_REDIRECTS = frozenset({301, 302, 303, 307, 308})

# Refused whatever ``ipaddress.is_global`` says: the IANA IPv4 and IPv6 special-purpose address registries,
# plus the ranges that embed an IPv4 address a gateway would route to (NAT64, 6to4, Teredo, IPv4-compatible),
# since the IPv4 inside may be private, and the deprecated site-local range. Python's own table has missed
# some of these in some versions; this list does not depend on it.
DENIED_NETWORKS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(network)
    for network in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, cloud metadata
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.31.196.0/24",  # AS112
        "192.52.193.0/24",  # AMT
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",
        "192.175.48.0/24",  # AS112 direct delegation
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, broadcast
        "::/96",  # unspecified, loopback and IPv4-compatible (deprecated)
        "::ffff:0:0/96",  # IPv4-mapped (checked as IPv4 first; refused if anything slips)
        "::ffff:0:0:0/96",  # IPv4-translated
        "64:ff9b::/96",  # NAT64
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments (Teredo 2001::/32 included)
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4
        "3fff::/20",  # documentation
        "5f00::/16",  # SRv6 SIDs
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
# Resolving goes through its own small pool: a slow resolver cannot starve the default executor, which the
# object store and other blocking work share.
_DNS_EXECUTOR = ThreadPoolExecutor(max_workers=8, thread_name_prefix="ssrf-dns")


def is_denied(address: IPAddress) -> bool:
    """True for any address a fetch on a tenant's behalf must not reach (see ``DENIED_NETWORKS``)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in DENIED_NETWORKS if network.version == address.version):
        return True
    return not address.is_global or address.is_multicast


class FetchError(Exception):
    """Why a URL could not be fetched. ``code`` is stable (for row statuses), ``detail`` is for people."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class UrlPolicy:
    allow_private: bool = False
    allowed_networks: Sequence[IPNetwork] = field(default_factory=tuple)

    def check(self, address: IPAddress) -> None:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self.allowed_networks):
            return
        if not is_denied(address):
            return
        # The demo setting opens private networks and loopback, never link-local: cloud metadata services
        # (169.254.169.254, fd00:ec2::254's link-local peers) answer there with credentials.
        if self.allow_private and not (address.is_unspecified or address.is_multicast or address.is_link_local):
            return
        raise FetchError(
            "blocked_address", f"address {address} is not allowed (private, loopback, link-local or reserved)"
        )


@dataclass(frozen=True)
class Fetched:
    url: str
    status: int
    content_type: str | None
    body: bytes


async def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().run_in_executor(
            _DNS_EXECUTOR, functools.partial(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
        )
    except socket.gaierror as error:
        raise FetchError("dns_failed", f"cannot resolve {host!r}") from error
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address not in addresses:
            addresses.append(address)
    return addresses


class GuardedFetcher:
    def __init__(
        self,
        policy: UrlPolicy,
        *,
        timeout_s: float,
        max_bytes: int,
        max_redirects: int = 5,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str = "automl-fetcher/1",
    ) -> None:
        self.policy = policy
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.client = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,  # never through an environment proxy: the guard must see the real target
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
            headers={"User-Agent": user_agent},
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def fetch(self, url: str) -> Fetched:
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self._fetch(url)
        except TimeoutError as error:
            raise FetchError("timeout", f"no complete answer within {self.timeout_s:g} s") from error
        except httpx.TimeoutException as error:
            raise FetchError("timeout", f"no complete answer within {self.timeout_s:g} s") from error
        except httpx.HTTPError as error:
            raise FetchError("connection_failed", f"{type(error).__name__}: {error}"[:300]) from error

    async def _fetch(self, url: str) -> Fetched:
        current = url
        for _ in range(self.max_redirects + 1):
            target, request = await self._pinned_request(current)
            response = await self.client.send(request, stream=True)
            try:
                if response.status_code in _REDIRECTS:
                    location = response.headers.get("location")
                    if not location:
                        raise FetchError("bad_redirect", f"HTTP {response.status_code} without a Location")
                    current = urljoin(str(target), location)
                    continue
                if response.status_code == 404:
                    raise FetchError("not_found", "HTTP 404 not found")
                if response.status_code != 200:
                    raise FetchError("http_error", f"HTTP {response.status_code}")
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
                    raise FetchError("too_large", f"{declared} bytes is over the limit of {self.max_bytes}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise FetchError("too_large", f"more than the limit of {self.max_bytes} bytes")
                return Fetched(str(target), response.status_code, response.headers.get("content-type"), bytes(body))
            finally:
                await response.aclose()
        raise FetchError("too_many_redirects", f"more than {self.max_redirects} redirects")

    async def check_url(self, url: str) -> None:
        """Raise ``FetchError`` unless ``url`` is well formed and every address it resolves to is allowed."""
        await self._pinned_request(url)

    async def post_json(self, url: str, payload: bytes) -> int:
        """POST a JSON body to ``url`` (a callback) with the same guard; redirects are not followed, so a
        3xx counts as a failed delivery. Returns the status; raises ``FetchError`` on refusal or failure."""
        try:
            async with asyncio.timeout(self.timeout_s):
                _, request = await self._pinned_request(url, method="POST", content=payload)
                response = await self.client.send(request)
                await response.aclose()
                return response.status_code
        except (TimeoutError, httpx.TimeoutException) as error:
            raise FetchError("timeout", f"no answer within {self.timeout_s:g} s") from error
        except httpx.HTTPError as error:
            raise FetchError("connection_failed", f"{type(error).__name__}: {error}"[:300]) from error

    async def _pinned_request(
        self, url: str, *, method: str = "GET", content: bytes | None = None
    ) -> tuple[httpx.URL, httpx.Request]:
        try:
            target = httpx.URL(url)
        except httpx.InvalidURL as error:
            raise FetchError("bad_url", f"invalid URL: {error}") from error
        if target.scheme not in ("http", "https"):
            raise FetchError("bad_url", f"scheme {target.scheme!r} is not allowed; use http or https")
        if not target.host:
            raise FetchError("bad_url", "URL has no host")
        if target.userinfo:
            raise FetchError("bad_url", "URLs with credentials are not allowed")
        host = target.host
        port = target.port or (443 if target.scheme == "https" else 80)
        addresses = await resolve(host, port)
        if not addresses:
            raise FetchError("dns_failed", f"no address for {host!r}")
        for address in addresses:  # every answer must pass, not just the first
            self.policy.check(address)
        pinned = target.copy_with(host=str(addresses[0]))
        host_header = host if target.port is None else f"{host}:{target.port}"
        extensions = {"sni_hostname": host} if target.scheme == "https" else {}
        headers = {"Host": host_header}
        if content is not None:
            headers["Content-Type"] = "application/json"
        request = self.client.build_request(method, pinned, headers=headers, content=content, extensions=extensions)
        return target, request
