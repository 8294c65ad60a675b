"""Starting or reaching Ray, for `llmops train --backend ray` and `llmops tune --backend ray`.

    init_ray(None)                       a local Ray instance on this machine
    init_ray("auto")                     the cluster this machine belongs to (`ray start`)
    init_ray("ray://HOST:10001")         a remote cluster through the Ray client
    init_ray("HOST:6379")                a cluster's head (GCS) address

Ray's dashboard is never started by llmops (``include_dashboard=False``), so neither the
dashboard nor its job API listens anywhere; a cluster started by someone else keeps its own
settings. An address that does not answer fails within seconds (a TCP probe before Ray's
own minute-long reconnect loop), and a missing Ray says how to install it.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from llmops.errors import InvalidInput, ServiceUnavailable

INSTALL_HINT = "Ray is not installed: pip install 'llmops[ray]'"
PROBE_TIMEOUT_S = 3.0
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
LOCAL = frozenset({"", "local"})


def import_ray() -> Any:
    """The `ray` module, or `InvalidInput` with the install command."""
    try:
        import ray
    except ImportError:
        raise InvalidInput(INSTALL_HINT) from None
    return ray


def _host_port(address: str) -> tuple[str, int]:
    """(host, port) of ``ray://HOST:PORT`` or ``HOST:PORT``."""
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise InvalidInput(f"invalid Ray address {address!r}: use auto, ray://HOST:10001 or "
                           "HOST:6379")
    return host.strip("[]"), int(port)


def probe(address: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Raise `ServiceUnavailable` unless something accepts TCP connections at `address`."""
    host, port = _host_port(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise ServiceUnavailable(
            f"Ray address {address!r} does not answer ({reason} after at most "
            f"{timeout_s:g}s): start the cluster (`ray start --head`) or fix the address"
        ) from None


def is_remote(address: str | None) -> bool:
    """Whether work sent to `address` may run on other machines."""
    if address is None or address.strip().lower() in LOCAL:
        return False
    if address == "auto":
        return True  # whatever cluster this machine joined: possibly many nodes
    host, _ = _host_port(address)
    return host not in LOOPBACK


def init_ray(address: str | None, *, num_cpus: int | None = None,
             runtime_env: dict[str, Any] | None = None) -> None:
    """Start a local Ray instance (`address` None or ``local``) or connect to a cluster.

    Does nothing when Ray is already initialised in this process.

    Raises:
        InvalidInput: Ray is not installed (with the pip command), or a malformed address.
        ServiceUnavailable: the address does not answer (within seconds).
    """
    ray = import_ray()
    if ray.is_initialized():
        return
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                               "configure_logging": False}
    if runtime_env:
        options["runtime_env"] = runtime_env
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no phoning home from a test
    if address is None or address.strip().lower() in LOCAL:
        if num_cpus is not None:
            options["num_cpus"] = num_cpus
        ray.init(**options)
        return
    if address != "auto":
        probe(address)
    try:
        ray.init(address=address, **options)
    except ConnectionError as exc:
        raise ServiceUnavailable(f"cannot connect to Ray at {address!r}: {exc}") from None
    except ValueError as exc:
        if "ray[client]" in str(exc):  # ray:// needs the client's gRPC package
            raise InvalidInput("a ray:// address needs Ray's client: pip install "
                               "'ray[client]' (or use the cluster's HOST:6379 address)"
                               ) from None
        raise


def require_shared_artifacts(address: str | None) -> None:
    """Refuse a local artifact folder when work may run on other machines.

    Raises:
        InvalidInput: `address` may reach other machines and the artifact store is a
            folder on this one; names both and how to fix it. Nothing has started yet.
    """
    if not is_remote(address):
        return
    from llmops.config import get_settings

    url = get_settings().resolved_artifact_url
    if "://" not in url or url.startswith("file://"):
        raise InvalidInput(
            f"the Ray cluster at {address!r} may run work on other machines, which cannot "
            f"read the local artifact folder {url!r}: set LLMOPS_ARTIFACT_URL to a shared "
            "store (e.g. s3://bucket/llmops) that every node reaches, or run without an "
            "address (a local Ray instance)")
