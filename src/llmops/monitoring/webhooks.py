"""Alert targets: ``webhook:URL``, checked against the allowed hosts, and delivery.

With ``LLMOPS_WEBHOOK_ALLOWED_HOSTS`` unset any http(s) URL is accepted (one machine, one
user). Once it is set, the server is in a shared setting and a webhook is a way to make
it send requests inside its network, so:

- the host must be loopback or be listed (``hooks.example.com``, ``*.example.com``);
- every address the host resolves to must be loopback, public, or inside a listed IP or
  network (``10.0.0.0/8``): a private (10/8, 172.16/12, 192.168/16, fc00::/7),
  link-local (169.254/16, the cloud metadata address) or otherwise non-public address is
  refused.

Both are checked when a monitor is created and again before every delivery (DNS can
change in between); redirects are never followed. Delivery POSTs the alert as JSON and
retries connection errors, timeouts, 408, 429 and 5xx with exponential backoff.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from llmops.config import Settings
from llmops.errors import InvalidInput

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
SETTING = "LLMOPS_WEBHOOK_ALLOWED_HOSTS"
RETRIED_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class WebhookRefused(InvalidInput):
    """A webhook URL the allowed-hosts policy refuses (400)."""


def webhook_url(target: str) -> str:
    """The URL of an alert target ``webhook:URL``."""
    kind, _, url = target.partition(":")
    if kind != "webhook" or not url:
        raise InvalidInput(f"invalid alert target {target!r}: use webhook:https://HOST/PATH",
                           errors=[{"field": "alert", "message": "webhook:URL"}])
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"invalid webhook URL {url!r}: it needs http:// or https:// and a "
                           "host", errors=[{"field": "alert", "message": "http(s) URL"}])
    if parts.username or parts.password:
        raise InvalidInput(f"invalid webhook URL {url!r}: credentials in a URL are stored in "
                           "clear; put a token in the path or query instead",
                           errors=[{"field": "alert", "message": "no user:password@"}])
    return url


def mask_url(url: str) -> str:
    """`url` without its path and query, which often carry the receiver's secret token
    (``https://hooks.example.com/services/T0/B0/XXXX`` -> ``https://hooks.example.com/***``);
    what the API shows to readers."""
    parts = urlsplit(url)
    if not parts.netloc:
        return "***"
    rest = "/***" if parts.path.strip("/") or parts.query or parts.fragment else ""
    return f"{parts.scheme}://{parts.netloc}{rest}"


@dataclass(frozen=True)
class AllowedHosts:
    names: frozenset[str]
    suffixes: tuple[str, ...]
    networks: tuple[Network, ...]
    raw: str

    @classmethod
    def parse(cls, text: str | None) -> AllowedHosts | None:
        if not text or not text.strip():
            return None
        names: set[str] = set()
        suffixes: list[str] = []
        networks: list[Network] = []
        for entry in (e.strip().lower() for e in text.split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            if entry.startswith("*."):
                suffixes.append(entry[1:])
            else:
                names.add(entry.rstrip("."))
        return cls(frozenset(names), tuple(suffixes), tuple(networks), text)

    def lists_host(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        if host in self.names or any(host.endswith(s) for s in self.suffixes):
            return True
        literal = _literal(host)
        return literal is not None and self.lists_address(literal)

    def lists_address(self, address: Address) -> bool:
        return any(address in n for n in self.networks if n.version == address.version)


def _literal(host: str) -> Address | None:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def is_loopback(address: Address) -> bool:
    return address.is_loopback


def is_private(address: Address) -> bool:
    """Non-public and not loopback: private, link-local, unique-local, reserved."""
    return not address.is_loopback and not address.is_global


Resolver = Callable[[str], list[Address]]


def resolve(host: str) -> list[Address]:
    """Every address `host` resolves to (a literal resolves to itself)."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    found: list[Address] = []
    for *_, sockaddr in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP):
        address = _literal(str(sockaddr[0]).split("%")[0])
        if address is not None and address not in found:
            found.append(address)
    return found


def check_webhook(url: str, settings: Settings, *, resolver: Resolver | None = None,
                  unresolved_ok: bool = True) -> None:
    """Refuse `url` when the allowed-hosts policy forbids it (see the module docstring).

    Args:
        unresolved_ok: a host name that does not resolve passes (creation: the name may
            exist later); at delivery it is an error.

    Raises:
        WebhookRefused: the host is not allowed or resolves to a private address.
    """
    allowed = AllowedHosts.parse(settings.webhook_allowed_hosts)
    if allowed is None:
        return
    host = urlsplit(url).hostname or ""
    try:
        addresses = (resolver or resolve)(host)
    except OSError as exc:
        if not unresolved_ok:
            raise WebhookRefused(f"webhook host {host!r} does not resolve ({exc})") from None
        addresses = []
    for address in addresses:
        if is_private(address) and not allowed.lists_address(address):
            raise WebhookRefused(
                f"webhook URL {url} points at a private address ({address}), and {SETTING} "
                "does not allow it: add that address or its network (e.g. 10.0.0.0/8) to "
                f"{SETTING}, or use a public or loopback host",
                errors=[{"field": "alert", "message": "private address"}])
    if addresses and all(is_loopback(a) for a in addresses):
        return
    if not allowed.lists_host(host):
        raise WebhookRefused(
            f"webhook host {host!r} is not in {SETTING} ({allowed.raw}): add it there, or "
            "send alerts to a listed host", errors=[{"field": "alert", "message": "host"}])


@dataclass
class Delivery:
    ok: bool
    attempts: int
    error: str | None = None
    status: int | None = None


def deliver(url: str, payload: dict[str, Any], settings: Settings, *,
            on_attempt: Callable[[int, str | None], None] | None = None,
            timeout_s: float = 10.0, resolver: Resolver | None = None) -> Delivery:
    """POST `payload` to `url`, re-checking the host first; retry with backoff.

    `on_attempt(attempt, error)` is called after each try (error None on success), so the
    caller can record every attempt as it happens.
    """
    import httpx

    attempts = settings.webhook_attempts
    delay = settings.webhook_backoff_s
    error: str | None = None
    status: int | None = None
    for attempt in range(1, attempts + 1):
        retry = True
        try:
            check_webhook(url, settings, resolver=resolver, unresolved_ok=False)
            with httpx.Client(timeout=timeout_s, follow_redirects=False) as client:
                response = client.post(url, json=payload,
                                       headers={"user-agent": "llmops-monitor"})
            status = response.status_code
            if 200 <= status < 300:
                if on_attempt:
                    on_attempt(attempt, None)
                return Delivery(True, attempt, None, status)
            error = f"HTTP {status} from the webhook"
            retry = status in RETRIED_STATUS
        except WebhookRefused as exc:
            error, retry = exc.detail, False
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        if on_attempt:
            on_attempt(attempt, error)
        if not retry:
            return Delivery(False, attempt, error, status)
        if attempt < attempts:
            time.sleep(delay)
            delay *= 2
    return Delivery(False, attempts, error, status)
