"""What `serve` and `demo --serve` settle before starting: the public URL, a free port.

Without HEARTCHAIN_PUBLIC_URL the pages and QR labels link to the host and port being served,
so `serve --port 8400` prints labels that scan back to :8400. An explicit URL that names another
origin is kept (a reverse proxy may front the server) but gets one line of warning.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import MutableMapping
from urllib.parse import urlsplit

ENV_PUBLIC_URL = "HEARTCHAIN_PUBLIC_URL"
_ANY_ADDRESS = {"0.0.0.0", "::", ""}


def served_origin(host: str, port: int) -> str:
    """The origin a browser on this machine reaches for `host:port` (any-address → loopback)."""
    shown = "127.0.0.1" if host in _ANY_ADDRESS else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def settle_public_url(env: MutableMapping[str, str], host: str, port: int) -> str | None:
    """Set HEARTCHAIN_PUBLIC_URL in `env` to the served origin unless it is set; return a
    warning when an explicit one points elsewhere (or when serving on every address)."""
    served = served_origin(host, port)
    explicit = env.get(ENV_PUBLIC_URL, "").strip()
    if not explicit:
        env[ENV_PUBLIC_URL] = served
        if host in _ANY_ADDRESS:
            return (f"warning: serving on every address; pages and QR labels link to {served}: "
                    f"set {ENV_PUBLIC_URL} to the address people reach")
        return None
    parts = urlsplit(explicit)
    explicit_port = parts.port or (443 if parts.scheme == "https" else 80)
    if explicit_port != port or (parts.hostname or "") not in {host, "127.0.0.1", "localhost"}:
        return (f"warning: {ENV_PUBLIC_URL}={explicit} while serving {served}: pages and QR "
                f"labels link to {explicit}")
    return None


def address_family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def port_in_use(host: str, port: int) -> str | None:
    """Why `host:port` cannot be bound now (None when it can), checked as uvicorn binds it."""
    with socket.socket(address_family(host), socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"{host}:{port} is already in use (is another heartchain serving there?)"
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


class WorkerSocket(socket.socket):
    """The address `serve --workers N` listens on. uvicorn starts its workers by spawn and hands
    each this socket pickled; each unpickles it as a socket of its own bound to the same address
    with SO_REUSEPORT, so the kernel spreads new connections over the workers. One shared
    listening socket let whichever worker woke first accept a whole burst, and keep-alive keeps a
    connection on the worker that took it: 32 benchmark clients on one worker, the other idle.
    The parent's socket only holds the address: it never listens, so it is given no connection."""

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return worker_socket, (self.family, self.getsockname())


def worker_socket(family: int, address: tuple[object, ...]) -> WorkerSocket:
    sock = WorkerSocket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock
