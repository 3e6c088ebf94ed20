"""Who is on the other end of a request: the peer's address, or, when the peer is a proxy the gateway is told
to trust (the Ingress controller, a load balancer: ``trusted_proxies``), the client address that proxy put in
``X-Forwarded-For``. A peer that is not trusted may write any ``X-Forwarded-For`` it likes, so then the header
is ignored: limits keyed on the address cannot be dodged by writing one."""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

from starlette.types import Scope

Networks = tuple[IPv4Network | IPv6Network, ...]
UNKNOWN = "unknown"


def networks(cidrs: Iterable[str]) -> Networks:
    """``ValueError`` naming the entry that is not an address or a CIDR block."""
    return tuple(ip_network(cidr.strip(), strict=False) for cidr in cidrs)


def _within(address: str, trusted: Networks) -> bool:
    try:
        parsed = ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in trusted)


def _forwarded(scope: Scope) -> list[str]:
    hops: list[str] = []
    for name, value in scope.get("headers", ()):
        if name == b"x-forwarded-for":
            hops += [hop.strip() for hop in value.decode("latin-1").split(",") if hop.strip()]
    return hops


def client_address(scope: Scope, trusted: Networks) -> str:
    """The address to hold a request's client to. Each trusted proxy appends the address it was reached from,
    so the header is read from the right: the first hop that is not one of ours is the client (anything to its
    left was written by the client itself)."""
    peer = scope.get("client")
    address = str(peer[0]) if peer else UNKNOWN
    if not trusted or not _within(address, trusted):
        return address
    for hop in reversed(_forwarded(scope)):
        if not _within(hop, trusted):
            try:
                return str(ip_address(hop))
            except ValueError:  # a proxy we trust forwarded garbage: hold the proxy itself to the limits
                return address
    return address
