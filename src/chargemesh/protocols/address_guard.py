"""Which addresses the platform may call when a partner tells it where to go (SSRF guard).

An OCPI party names URLs over the wire: the versions URL in its credentials, and every module
endpoint in its version details. Without a guard, whoever holds a registration token could make
the platform call its own loopback services, the private network behind it, or a cloud's
metadata service (169.254.169.254). :class:`AddressPolicy` says what may be called; by default
loopback, private (RFC 1918, shared 100.64/10, IPv6 ULA), link-local, multicast, unspecified and
reserved addresses are refused, and only ``http``/``https`` is spoken.

The check is made where the connection is opened (:class:`GuardedBackend`, under httpx): the
host name is resolved once, *every* address it resolves to is checked, and the socket connects
to an address that was checked — so a name that resolves to a public address for the check and
to 127.0.0.1 for the connection (DNS rebinding) gains nothing. TLS still verifies and sends SNI
for the host name, and the Host header is the URL's.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

import httpcore
import httpx

__all__ = [
    "AddressPolicy",
    "AddressRefused",
    "GuardedBackend",
    "guarded_client",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Spoken with partners; anything else (file:, ftp:, gopher:) is refused before any connection.
SCHEMES: Final = frozenset({"http", "https"})
#: Shared address space (carrier-grade NAT): not "private" to Python, but not the internet either.
_SHARED: Final = ipaddress.ip_network("100.64.0.0/10")
#: NAT64 (RFC 6052): on a NAT64 network these reach the IPv4 address in their last 32 bits.
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")
#: The pool's size, as httpx's default transport has it.
POOL: Final = httpx.Limits(max_connections=100, max_keepalive_connections=20)


class AddressRefused(httpcore.ConnectError):
    """The address (or one the host name resolves to) is not one the policy lets us call.

    A :class:`httpcore.ConnectError`, so httpx reports it as :class:`httpx.ConnectError` like any
    other failure to connect: callers treat it the same way and reveal no more to a partner."""


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one reaches: IPv4-mapped (::ffff:a.b.c.d) or NAT64."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _networks(texts: Iterable[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(t.strip(), strict=False) for t in texts)


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """What may be called. ``deny`` wins over everything; then ``allow`` (ranges the operator
    vouches for, e.g. a partner on a private link ``10.20.0.0/16``); then loopback, allowed only
    with ``allow_loopback`` (the simulator's CPOs listen on 127.0.0.1); then the ranges that are
    never the internet are refused, and every other address is allowed."""

    allow: tuple[IPNetwork, ...] = ()
    deny: tuple[IPNetwork, ...] = ()
    allow_loopback: bool = False
    schemes: frozenset[str] = field(default=SCHEMES)

    @classmethod
    def of(
        cls, *, allow: Iterable[str] = (), deny: Iterable[str] = (), allow_loopback: bool = False
    ) -> AddressPolicy:
        """A policy from ranges in CIDR notation (as written in ``[ocpi]``)."""
        return cls(_networks(allow), _networks(deny), allow_loopback)

    def refusal(self, address: IPAddress) -> str | None:
        """Why ``address`` may not be called, or ``None`` when it may."""
        checked: IPAddress = _embedded_ipv4(address) or address
        if any(checked in net for net in self.deny):
            return f"{checked} is in a denied range"
        if any(checked in net for net in self.allow):
            return None
        if checked.is_loopback:
            return None if self.allow_loopback else f"{checked} is loopback"
        if checked.is_unspecified:
            return f"{checked} is unspecified"
        if checked.is_link_local:
            return f"{checked} is link-local"
        if checked.is_multicast:
            return f"{checked} is multicast"
        if checked.is_private or checked in _SHARED:
            return f"{checked} is private"
        if checked.is_reserved:
            return f"{checked} is reserved"
        return None

    def check_scheme(self, url: str) -> None:
        """Refuse a URL whose scheme is not one we speak (before anything is resolved)."""
        scheme = httpx.URL(url).scheme.lower()
        if scheme not in self.schemes:
            raise AddressRefused(f"the scheme {scheme or '(none)'!r} is not http(s)")

    async def resolve(self, host: str, port: int) -> list[str]:
        """Every address ``host`` resolves to, each allowed; else :class:`AddressRefused`."""
        try:
            literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            found = [literal]
        else:
            try:
                found = await lookup(host, port)
            except OSError as exc:
                raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        if not found:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        for address in found:
            reason = self.refusal(address)
            if reason is not None:
                raise AddressRefused(f"{host} refused: {reason}")
        return [str(a) for a in dict.fromkeys(found)]


async def lookup(host: str, port: int) -> list[IPAddress]:
    """Every address the system resolver gives for ``host`` (the one resolution a connection
    gets: what is checked is what is connected to)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the policy checked at connect: the host is resolved
    here and the socket opened to a checked address (TLS is started later by httpcore with the
    host name, so certificates and SNI are the name's)."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.policy.resolve(host, port)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None  # resolve() returns at least one address
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AddressRefused("unix sockets are never called for a partner")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a :class:`GuardedBackend`, no proxy from the environment (a proxy
    would connect for us, past the check), and the scheme checked first."""

    def __init__(self, policy: AddressPolicy) -> None:
        super().__init__(trust_env=False)
        self._policy = policy
        # httpx takes no network backend of its own: the pool it made is replaced by one with
        # the same TLS context over the guarded backend.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=POOL.max_connections,
            max_keepalive_connections=POOL.max_keepalive_connections,
            keepalive_expiry=POOL.keepalive_expiry,
            network_backend=GuardedBackend(policy),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            self._policy.check_scheme(str(request.url))
        except AddressRefused as exc:
            raise httpx.ConnectError(str(exc), request=request) from None
        return await super().handle_async_request(request)


def guarded_client(policy: AddressPolicy, timeout: httpx.Timeout) -> httpx.AsyncClient:
    """An HTTP client for URLs a partner gave us: every connection through ``policy``, no
    redirects followed (a redirect is a URL we were not given), no proxy from the environment."""
    return httpx.AsyncClient(
        transport=_GuardedTransport(policy),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )
