"""A loopback TCP proxy in front of a database, for outages on demand (issue 16).

    with DbProxy(("127.0.0.1", 5432)) as proxy:
        url = proxy.url(pg_url)        # the same URL, through the proxy's port
        proxy.reset()                  # connections reset now and refused until restore()
        proxy.silence()                # connections held open, not a byte through either way
        proxy.restore()                # traffic flows again

`reset` closes every connection with a TCP RST (SO_LINGER 0) and resets each new one at
once: the database "restarted" or a firewall rejected it.  `silence` stops copying bytes
both ways and leaves the sockets open (a dead route, a frozen server); new connections are
accepted and get no answer.  `restore(drop=True)` after a silence closes the held connections
(a NAT or load balancer that forgot them); `restore()` lets them go on where they stopped.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from types import TracebackType

from sqlalchemy.engine import make_url


def _rst(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class DbProxy:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.mode = "pass"             # pass | reset | silent
        self.connections = 0           # accepted so far
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="dbproxy", daemon=True)

    def url(self, database_url: str) -> str:
        """`database_url` with its host and port replaced by the proxy's."""
        parsed = make_url(database_url).set(host="127.0.0.1", port=self.port)
        return parsed.render_as_string(hide_password=False)

    # ------------------------------------------------------------------ outages

    def reset(self) -> None:
        with self._lock:
            self.mode = "reset"
            pairs, self._pairs = self._pairs, []
        for client, server in pairs:
            _rst(client)
            _rst(server)

    def silence(self) -> None:
        with self._lock:
            self.mode = "silent"
            self._flowing.clear()

    def restore(self, *, drop: bool = False) -> None:
        with self._lock:
            if drop:
                pairs, self._pairs = self._pairs, []
            else:
                pairs = []
            self.mode = "pass"
            self._flowing.set()
        for client, server in pairs:
            _rst(client)
            _rst(server)

    # ------------------------------------------------------------------ plumbing

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            if self.mode == "reset":
                _rst(client)
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        self._flowing.wait()            # a silent proxy answers nothing, not even connecting
        if self._closed.is_set() or self.mode == "reset":
            _rst(client)
            return
        try:
            server = socket.create_connection(self.target, timeout=10)
        except OSError:
            _rst(client)
            return
        server.settimeout(None)
        pair = (client, server)
        with self._lock:
            self._pairs.append(pair)
        try:
            self._pump(client, server)
        finally:
            with self._lock:
                if pair in self._pairs:
                    self._pairs.remove(pair)
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.close()

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        peer = {client: server, server: client}
        while not self._closed.is_set():
            if not self._flowing.is_set():      # silent: nothing read, nothing written
                self._flowing.wait(0.2)
                continue
            try:
                readable, _, _ = select.select([client, server], [], [], 0.2)
                for sock in readable:
                    if not self._flowing.is_set():
                        break
                    data = sock.recv(65536)
                    if not data:
                        return
                    peer[sock].sendall(data)
            except (OSError, ValueError):       # reset, or closed under us
                return

    def __enter__(self) -> DbProxy:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._closed.set()
        self._flowing.set()
        self.listener.close()
        self.restore(drop=True)
