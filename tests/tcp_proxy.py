"""A TCP proxy the test controls, between a server process and PostgreSQL or Redis: it forwards
bytes until told to cut every connection it carries (as a network partition or a store's
restart would), to refuse new ones (the port closed: connection refused) and to accept again.

Threads, not asyncio: the tests drive it from plain pytest code while real clients talk through
it. Each connection is a pair of sockets pumped by two threads; a cut shuts both sockets down,
which wakes the pumps, and closes them with a reset (SO_LINGER 0), as a dropped link looks to the
client: its next read or write fails at once.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from app.devstack import free_port


class TcpProxy:
    def __init__(self, target_port: int, *, target_host: str = "127.0.0.1", port: int = 0):
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self._lock = threading.Lock()
        self._links: set[_Link] = set()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self.accepted = 0  # connections carried so far, for the tests' curiosity

    # -- control --------------------------------------------------------------------------
    def start(self) -> TcpProxy:
        self.accept()
        return self

    def accept(self) -> None:
        """Listen (again) on the proxy's port: new connections reach the target."""
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(128)
            self._listener = listener
            self._acceptor = threading.Thread(
                target=self._accept_loop, args=(listener,), name="tcp-proxy-accept", daemon=True
            )
            self._acceptor.start()

    def refuse(self) -> None:
        """Close the port: new connections are refused (existing ones are left alone; `cut`
        drops them)."""
        with self._lock:
            listener, self._listener = self._listener, None
            acceptor, self._acceptor = self._acceptor, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
            listener.close()
        if acceptor is not None:
            acceptor.join(5)

    def cut(self) -> int:
        """Drop every connection carried now, both ways, with a reset; how many there were."""
        with self._lock:
            links, self._links = self._links, set()
        for link in links:
            link.reset()
        return len(links)

    def down(self) -> None:
        """The target is unreachable: current connections dropped, new ones refused."""
        self.refuse()
        self.cut()

    def up(self) -> None:
        self.accept()

    def close(self) -> None:
        self.down()

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._links)

    # -- pumping --------------------------------------------------------------------------
    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # refused or closed
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _reset(client)  # the target itself is down: the client sees its connection drop
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = _Link(client, upstream)
            with self._lock:
                if self._listener is not listener:  # refused meanwhile
                    link.reset()
                    return
                self._links.add(link)
                self.accepted += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pump, args=(link, source, sink), name="tcp-proxy-pump", daemon=True
                ).start()

    def _pump(self, link: _Link, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            # An orderly close from one side is passed on as such.
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
        except OSError:
            _reset(sink)
        finally:
            with self._lock:
                link.pumps -= 1
                last = link.pumps == 0
                if last:
                    self._links.discard(link)
            if last:
                link.reset()


class _Link:
    """One proxied connection: the client's socket, the target's, and its pumps still running."""

    def __init__(self, client: socket.socket, upstream: socket.socket):
        self.client = client
        self.upstream = upstream
        self.pumps = 2

    def reset(self) -> None:
        _reset(self.client)
        _reset(self.upstream)


def _reset(sock: socket.socket) -> None:
    """Close abruptly (RST), waking any thread blocked on the socket."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


@contextmanager
def tcp_proxy(target_port: int, *, target_host: str = "127.0.0.1") -> Iterator[TcpProxy]:
    proxy = TcpProxy(target_port, target_host=target_host).start()
    try:
        yield proxy
    finally:
        proxy.close()
