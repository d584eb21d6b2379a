"""Where callbacks may go: to public addresses only, unless the operator allows more.

A callback URL is the customer's, but the request comes from inside herald's network: without
a rule, `http://169.254.169.254/...` reads the cloud metadata service and `http://127.0.0.1:...`
reaches whatever listens beside herald. So a destination is refused when its address is
loopback, private, link-local, multicast, reserved, unspecified or otherwise not globally
routable, including such IPv4 addresses inside IPv6 (IPv4-mapped `::ffff:a.b.c.d`, 6to4,
Teredo, NAT64), unless it lies in a network of `callbacks.allow_private`.

The check is made when a callback is delivered, against every address the host resolves to
at that moment (a name may point anywhere, and may change), and the request then goes to an
address that passed, keeping the URL's name in the Host header and TLS SNI: a DNS answer
that changes between the check and the connection (rebinding) cannot redirect it. When a
campaign is created or edited, a URL whose host is itself an internal address is refused at
once (`literal_refusal`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from urllib.parse import urlsplit

IPAddress = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

_NAT64 = (IPv6Network("64:ff9b::/96"), IPv6Network("64:ff9b:1::/48"))
LOCAL_NAMES = ("localhost", "localhost.", "localhost.localdomain")


class DestinationRefused(Exception):
    """The destination's address is internal and not allowed; retrying will not help."""


class ResolutionFailed(Exception):
    """The host name does not resolve (now); a later attempt may succeed."""


def embedded_ipv4(ip: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address carries to an IPv4 host, if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client's address
    if any(ip in net for net in _NAT64):
        return IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def kind_of(ip: IPAddress) -> str | None:
    """What makes `ip` internal ("loopback", "private", ...), or None for a public unicast
    address. An IPv6 address carrying an IPv4 one is what that IPv4 address is."""
    if isinstance(ip, IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None:
            return kind_of(inner)
    for kind, flag in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
    ):
        if flag:
            return kind
    return None if ip.is_global else "non-public"


class DestinationPolicy:
    def __init__(self, allow_private: Iterable[Network] = ()) -> None:
        self.allowed = tuple(allow_private)

    def refusal(self, ip: IPAddress) -> str | None:
        """Why `ip` may not be called back ("a loopback address", ...), or None if it may."""
        kind = kind_of(ip)
        if kind is None:
            return None
        inner = embedded_ipv4(ip) if isinstance(ip, IPv6Address) else None
        if any(
            candidate in net
            for candidate in (ip, inner)
            if candidate is not None
            for net in self.allowed
            if candidate.version == net.version
        ):
            return None
        if inner is not None:
            return f"an IPv6 address carrying the {kind} IPv4 address {inner}"
        return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} address"

    def literal_refusal(self, url: str) -> str | None:
        """For a URL whose host is an address (or a name that is always local): why it is
        refused, or None. Other names are checked when the callback is delivered."""
        host = (urlsplit(url).hostname or "").lower()
        if host in LOCAL_NAMES or host.endswith(".localhost"):
            loopback = self.refusal(IPv4Address("127.0.0.1"))
            return f"{host} is a loopback name" + _EXCEPTIONS if loopback else None
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return None
        why = self.refusal(ip)
        return f"{ip} is {why}" + _EXCEPTIONS if why else None

    async def vet(self, host: str, port: int, resolve: Resolver) -> list[IPAddress]:
        """The addresses of `host` to connect to, in resolver order; DestinationRefused if
        any of them is refused (a name with one internal address is not a public name),
        ResolutionFailed if it has none."""
        addresses = await resolve(host, port)
        if not addresses:
            raise ResolutionFailed(f"{host} has no address")
        for ip in addresses:
            why = self.refusal(ip)
            if why:
                literal = _as_address(host) == ip
                subject = f"{host} is" if literal else f"{host} resolves to {ip}, which is"
                raise DestinationRefused(f"{subject} {why}{_EXCEPTIONS}")
        return addresses


_EXCEPTIONS = "; callbacks go to public addresses only (callbacks.allow_private lists exceptions)"


def _as_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The host's addresses from the system resolver (getaddrinfo, in a worker thread)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except socket.gaierror as exc:
        raise ResolutionFailed(f"cannot resolve {host}: {exc.strerror}") from None
    return _unique(ipaddress.ip_address(info[4][0]) for info in infos)


def _unique(addresses: Iterable[IPAddress]) -> list[IPAddress]:
    seen: dict[IPAddress, None] = {}
    for ip in addresses:
        seen.setdefault(ip, None)
    return list(seen)
