"""A small TCP proxy of our own, put between the product and PostgreSQL, Redis or SMTP to inject faults.

The real servers are shared and must never be stopped; the proxy plays their outages instead:
- ``cut()``: every open connection is reset, and so is every new one at once (a crash, a restart);
- ``restore()``: connections are accepted and forwarded again;
- ``slow(seconds)``: every chunk is delayed (a slow or overloaded server);
- ``hang()``: connections are accepted but nothing goes through (a hung server, a silent network);
- ``drop_connections()``: every open connection is reset, new ones are accepted (a network blip).
Threads, not asyncio: tests drive it from plain synchronous code.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

_LINGER_RESET = struct.pack("ii", 1, 0)  # close() sends RST at once instead of FIN


class FaultProxy:
    """Forwards 127.0.0.1:<port> to ``target``; faults are switched on and off at any moment."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.delay = 0.0
        self.hanging = False
        self.refusing = False
        self._listener: socket.socket | None = None
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._closed: dict[tuple[socket.socket, socket.socket], int] = {}
        self._lock = threading.Lock()
        self.port = self._listen(0)
        self.connections = 0

    # -- faults -----------------------------------------------------------------------------
    def cut(self) -> None:
        """Reset every open connection, and every new one, until ``restore()``.

        The port stays bound (closing it would let the system hand it to some outgoing connection,
        and the proxy could not listen on it again).
        """
        self.refusing = True
        self.drop_connections()

    def restore(self) -> None:
        """Accept and forward again, with no delay."""
        self.delay, self.hanging, self.refusing = 0.0, False, False

    def slow(self, seconds: float) -> None:
        """Delay every chunk in both directions by ``seconds``."""
        self.delay = seconds

    def hang(self) -> None:
        """Accept connections but let nothing through."""
        self.hanging = True

    def drop_connections(self) -> None:
        """Reset every open connection (new ones are still accepted unless cut)."""
        with self._lock:
            pairs, self._pairs = self._pairs, set()
        for pair in pairs:
            for sock in pair:
                _reset(sock)

    def close(self) -> None:
        self.cut()
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    # -- plumbing ---------------------------------------------------------------------------
    def _listen(self, port: int) -> int:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True, name="fault-proxy-accept").start()
        return listener.getsockname()[1]

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _address = listener.accept()
            except OSError:
                return  # cut: the listener was closed
            if self._listener is not listener:
                _reset(client)
                return
            if self.refusing:
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _reset(client)
                continue
            pair = (client, upstream)
            with self._lock:
                self._pairs.add(pair)
                self.connections += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(pair, source, sink), daemon=True,
                                 name="fault-proxy-pump").start()

    def _pump(self, pair, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:  # an orderly close: pass it on, the other direction ends in turn
                    sink.shutdown(socket.SHUT_WR)
                    with self._lock:
                        done = self._closed.setdefault(pair, 0) + 1
                        self._closed[pair] = done
                    if done == 2:
                        self._forget(pair, reset=False)
                    return
                while self.hanging and pair in self._pairs:
                    time.sleep(0.05)
                if self.delay:
                    time.sleep(self.delay)
                if pair not in self._pairs:
                    break
                sink.sendall(data)
        except OSError:
            pass
        self._forget(pair, reset=True)

    def _forget(self, pair, *, reset: bool) -> None:
        with self._lock:
            self._pairs.discard(pair)
            self._closed.pop(pair, None)
        for sock in pair:
            if reset:
                _reset(sock)
            else:
                sock.close()


def _reset(sock: socket.socket) -> None:
    """Abort a connection at once, even while another thread waits in recv() on it (close() alone would not)."""
    for step in (lambda: sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET),
                 lambda: sock.shutdown(socket.SHUT_RDWR), sock.close):
        try:
            step()
        except OSError:
            pass
