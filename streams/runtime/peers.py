"""Which advertised URLs a worker may call (docs/security.md, "Peers").

A worker routes a request about a user to the worker that owns the user's partition, at the
URL that worker advertised in the consumer group's metadata. Anyone who can join the group
advertises what it likes, so a URL is called only when its address lies inside the peer
networks (`STREAMS_PEER_NETWORKS`: CIDRs, default loopback and the private ranges). A host
name is resolved first and every address it resolves to must be inside; the caller then
connects to the address checked here, so a second DNS answer cannot change it.

Pure: the addresses are the caller's (it resolves them); no socket here.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from yarl import URL

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PEER_NETWORKS = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"
SCHEMES = ("http", "https")


class PeerNotAllowed(Exception):
    """An advertised URL this worker will not call, with why."""

    def __init__(self, url: str, reason: str):
        self.url, self.reason = url, reason
        super().__init__(f"{url}: {reason}")


def parse_networks(text: str) -> tuple[Network, ...]:
    """The networks of a comma-separated CIDR list; ValueError naming the entry that fails.

    Host bits must be zero ("10.0.0.1/8" is refused): a typo there would widen or narrow
    the range without anyone noticing. A bare address is a network of one.
    """
    networks = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=True))
        except ValueError as error:
            raise ValueError(f"{entry!r} is not a network in CIDR form ({error})") from None
    if not networks:
        raise ValueError("no network given: every peer would be refused")
    return tuple(networks)


def _plain(address: Address) -> Address:
    # ::ffff:10.0.0.1 is 10.0.0.1 on the wire: judge it as that, not as an IPv6 address.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def address_allowed(address: str | Address, networks: tuple[Network, ...]) -> bool:
    """Whether an IP address (text or parsed; an IPv6 zone is ignored) lies in `networks`."""
    try:
        parsed = address if not isinstance(address, str) else ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    parsed = _plain(parsed)
    return any(parsed.version == network.version and parsed in network for network in networks)


@dataclass(frozen=True)
class Target:
    """Where an advertised URL points: what to resolve and what to connect to."""

    url: str  # as advertised, for logs and messages
    scheme: str
    host: str  # a name or an IP literal (no brackets)
    port: int

    @property
    def literal(self) -> Address | None:
        """The host as an IP address when the URL names one, else None (a name)."""
        try:
            return ipaddress.ip_address(self.host.split("%", 1)[0])
        except ValueError:
            return None

    @property
    def host_header(self) -> str:
        """The Host header the URL would have sent (the peer may sit behind a virtual host)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def target(url) -> Target:
    """The target of an advertised URL, or PeerNotAllowed for one that is no http(s) origin."""
    text = str(url)
    try:
        parsed = url if isinstance(url, URL) else URL(text)
        scheme, host, port = parsed.scheme, parsed.host, parsed.port
    except (ValueError, TypeError) as error:
        raise PeerNotAllowed(text, f"not a URL ({error})") from None
    if scheme not in SCHEMES:
        raise PeerNotAllowed(text, f"scheme {scheme!r} is not http or https")
    if not host:
        raise PeerNotAllowed(text, "no host")
    if parsed.user is not None or parsed.password is not None:
        raise PeerNotAllowed(text, "credentials in the URL")
    if port is None or not 0 < port < 65536:
        raise PeerNotAllowed(text, f"port {port!r} is not a TCP port")
    return Target(text, scheme, host, port)


def check_addresses(peer: Target, addresses, networks: tuple[Network, ...]) -> str:
    """The address to connect to (the first), once every address `peer`'s host resolved to
    is inside `networks`; PeerNotAllowed naming the first one outside, or none resolved."""
    addresses = list(addresses)
    if not addresses:
        raise PeerNotAllowed(peer.url, f"{peer.host} resolves to no address")
    for address in addresses:
        if not address_allowed(address, networks):
            where = address if str(address) == peer.host else f"{peer.host} resolves to {address}, which"
            raise PeerNotAllowed(peer.url, f"{where} is outside STREAMS_PEER_NETWORKS")
    return str(addresses[0])
