"""Misbehaving replay and forward targets on loopback: closed ports, silent and slow servers."""

from __future__ import annotations

import socket
import threading


class SilentServer:
    """Accepts connections and never answers (``accepted`` is set at the first one);
    ``trickle`` answers headers, then a body byte every 100 ms."""

    def __init__(self, trickle: bool = False) -> None:
        self.trickle = trickle
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stopped = threading.Event()
        self.accepted = threading.Event()
        self.connections: list[socket.socket] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        self.listener.settimeout(0.1)
        while not self.stopped.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append(connection)
            self.accepted.set()
            if self.trickle:
                threading.Thread(target=self.drip, args=(connection,), daemon=True).start()

    def drip(self, connection: socket.socket) -> None:
        """Answer headers at once, then one body byte every 100 ms, forever."""
        try:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
            while not self.stopped.wait(0.1):
                connection.sendall(b"x")
        except OSError:
            return

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        self.listener.close()
        for connection in self.connections:
            connection.close()
