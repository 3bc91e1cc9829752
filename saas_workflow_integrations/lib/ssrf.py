"""Server-side request forgery guard.

Outbound webhook URLs are chosen by users; without a guard they can reach the
cloud metadata service, the database host or anything else on the private
network. The guard resolves the host name itself, drops every address that is
not publicly routable (unless an administrator allowlisted it) and makes the
connection to one of the vetted addresses, so a DNS answer cannot change between
the check and the connection. Host header, SNI and certificate checks still use
the host name of the URL.
"""

import ipaddress
import re
import socket
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter
from urllib3 import connection as u3_connection
from urllib3 import connectionpool as u3_pool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection as u3_util_connection

# Ranges ``ipaddress`` reports as global but that must never be webhook targets.
_EXTRA_BLOCKED = (
    ("nat64", ipaddress.ip_network("64:ff9b::/96")),
    ("nat64", ipaddress.ip_network("64:ff9b:1::/48")),
    ("shared", ipaddress.ip_network("100.64.0.0/10")),
    ("6to4", ipaddress.ip_network("2002::/16")),
    ("teredo", ipaddress.ip_network("2001::/32")),
    ("ula", ipaddress.ip_network("fc00::/7")),
    ("site_local", ipaddress.ip_network("fec0::/10")),
)


class BlockedAddressError(ValueError):
    """The target is not allowed. Raised before any connection is attempted."""

    def __init__(self, message, host=None, address=None, reason=None):
        super().__init__(message)
        self.host = host
        self.address = address
        self.reason = reason


def classify(address):
    """Return why an address is refused (``"loopback"``, ``"private"``, ...) or ``None``.

    ``None`` means publicly routable unicast.
    """
    ip = ipaddress.ip_address(address) if not isinstance(address, ipaddress._BaseAddress) else address
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped
        if mapped is not None:
            reason = classify(mapped)
            return f"ipv4_mapped_{reason}" if reason else None
        if ip.scope_id:
            return "link_local"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link_local"
    if ip.is_multicast:
        return "multicast"
    for name, net in _EXTRA_BLOCKED:
        if ip.version == net.version and ip in net:
            return name
    if ip.is_reserved:
        return "reserved"
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "reserved"
    return None


_HOST_RE = re.compile(r"^(\*\.)?[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?$")


class Allowlist:
    """Administrator exceptions: host names (``n8n.lan``, ``*.corp.example``) and CIDRs."""

    def __init__(self, hosts=(), networks=()):
        self.hosts = frozenset(h.lower().rstrip(".") for h in hosts)
        self.networks = tuple(networks)

    @classmethod
    def parse(cls, text):
        """Parse comma/space/newline separated entries; raise ValueError on junk."""
        hosts, networks = [], []
        for entry in re.split(r"[\s,;]+", text or ""):
            entry = entry.strip()
            if not entry:
                continue
            network = _parse_network(entry)
            if network is not None:
                networks.append(network)
                continue
            lowered = entry.lower().rstrip(".")
            if not _HOST_RE.match(lowered):
                raise ValueError(f"invalid allowlist entry: {entry!r}")
            hosts.append(lowered)
        return cls(hosts, networks)

    def __bool__(self):
        return bool(self.hosts or self.networks)

    def __repr__(self):
        return f"Allowlist(hosts={sorted(self.hosts)}, networks={[str(n) for n in self.networks]})"

    def allows_host(self, host):
        host = (host or "").lower().rstrip(".").strip("[]")
        if host in self.hosts:
            return True
        return any(
            pattern.startswith("*.") and host.endswith(pattern[1:]) for pattern in self.hosts
        )

    def allows_address(self, address):
        ip = ipaddress.ip_address(address)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == net.version and ip in net for net in self.networks)


class AddressGuard:
    """Resolve, vet and report the addresses a host may be connected to."""

    def __init__(self, allowlist=None, resolver=None):
        self.allowlist = allowlist if allowlist is not None else Allowlist()
        # ``None``: the system resolver, looked up at each call (a long-lived
        # session then follows changes of the resolver, as a fresh one would).
        self.resolver = resolver

    def vet_address(self, host, address):
        """Raise :class:`BlockedAddressError` if ``address`` (resolved from ``host``) is refused."""
        reason = classify(address)
        if reason and not (self.allowlist.allows_host(host) or self.allowlist.allows_address(address)):
            raise BlockedAddressError(
                f"refused {host} ({address}): {reason} address not in the allowlist",
                host=host,
                address=str(address),
                reason=reason,
            )

    def resolve(self, host, port, family=socket.AF_UNSPEC):
        """Return vetted ``(family, sockaddr)`` pairs; raise if none is allowed."""
        literal = _literal_ip(host)
        if literal is not None:
            self.vet_address(host, literal)
            fam = socket.AF_INET6 if literal.version == 6 else socket.AF_INET
            return [(fam, (str(literal), port))]
        try:
            infos = (self.resolver or socket.getaddrinfo)(host, port, family, socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise OSError(f"cannot resolve {host}: {exc}") from exc
        allowed, first_error = [], None
        for fam, _type, _proto, _canon, sockaddr in infos:
            address = sockaddr[0].split("%", 1)[0]
            try:
                self.vet_address(host, address)
            except BlockedAddressError as exc:
                first_error = first_error or exc
                continue
            if (fam, sockaddr[:2]) not in [(f, s[:2]) for f, s in allowed]:
                allowed.append((fam, (address, sockaddr[1])))
        if not allowed:
            raise first_error or OSError(f"no address for {host}")
        return allowed

    def check_url(self, url, resolve=False):
        """Validate scheme/host; vet literal IPs (and resolved names when ``resolve``)."""
        parts = urlsplit(url or "")
        if parts.scheme not in ("http", "https"):
            raise BlockedAddressError("only http and https URLs are allowed", reason="scheme")
        host = parts.hostname
        if not host:
            raise BlockedAddressError("URL has no host", reason="host")
        if parts.username or parts.password:
            raise BlockedAddressError("credentials in the URL are not allowed", reason="userinfo")
        literal = _literal_ip(host)
        if literal is not None:
            self.vet_address(host, literal)
        elif host.lower().rstrip(".") in ("localhost", "localhost.localdomain") or host.lower().endswith(
            ".localhost"
        ):
            self.resolve(host, parts.port or 80)
        elif resolve:
            self.resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
        return parts


def _parse_network(entry):
    try:
        return ipaddress.ip_network(entry.strip("[]"), strict=False)
    except ValueError:
        return None


def _literal_ip(host):
    try:
        return ipaddress.ip_address((host or "").strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def guarded_create_connection(guard, host, port, timeout, source_address=None, socket_options=None):
    """Connect to the first reachable vetted address of ``host``."""
    last_error = None
    for _family, sockaddr in guard.resolve(host, port):
        try:
            return u3_util_connection.create_connection(
                sockaddr, timeout, source_address=source_address, socket_options=socket_options
            )
        except OSError as exc:
            last_error = exc
    raise last_error or OSError(f"cannot connect to {host}")


class _GuardedConnectionMixin:
    ssrf_guard = None  # set on the dynamic subclasses built by GuardedHTTPAdapter

    def _new_conn(self):
        kw = {}
        if self.source_address:
            kw["source_address"] = self.source_address
        if self.socket_options:
            kw["socket_options"] = self.socket_options
        try:
            return guarded_create_connection(
                self.ssrf_guard, self._dns_host, self.port, self.timeout, **kw
            )
        except BlockedAddressError:
            raise
        except TimeoutError as exc:
            raise ConnectTimeoutError(
                self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
            ) from exc
        except OSError as exc:
            raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc


class GuardedHTTPAdapter(HTTPAdapter):
    """``requests`` adapter whose connections go only to vetted addresses.

    A refused target raises :class:`BlockedAddressError` (not a requests error)
    before any socket is opened. Proxies are refused: they would connect
    somewhere else than the vetted address.
    """

    def __init__(self, guard, default_timeout=(3.05, 10), **kwargs):
        self.guard = guard
        self.default_timeout = default_timeout
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        result = super().init_poolmanager(*args, **kwargs)
        guard = self.guard
        http_conn = type("GuardedHTTPConnection", (_GuardedConnectionMixin, u3_connection.HTTPConnection), {"ssrf_guard": guard})
        https_conn = type("GuardedHTTPSConnection", (_GuardedConnectionMixin, u3_connection.HTTPSConnection), {"ssrf_guard": guard})
        http_pool = type("GuardedHTTPConnectionPool", (u3_pool.HTTPConnectionPool,), {"ConnectionCls": http_conn})
        https_pool = type("GuardedHTTPSConnectionPool", (u3_pool.HTTPSConnectionPool,), {"ConnectionCls": https_conn})
        self.poolmanager.pool_classes_by_scheme = {"http": http_pool, "https": https_pool}
        return result

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        raise BlockedAddressError("proxies are not allowed for guarded requests", reason="proxy")

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        if timeout is None:
            timeout = getattr(request, "saas_timeout", None) or self.default_timeout
        self.guard.check_url(request.url)
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=None)
