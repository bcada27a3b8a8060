"""A TCP proxy on loopback in front of PostgreSQL that can play a database restart.

``cut(seconds)`` closes every connection passing through and refuses new ones for that long, which is
what a client sees while the server restarts; the shared server itself is never touched.
``cut_at_next_answer(seconds)`` does the same the moment the server next answers, and drops that answer:
a restart between the server committing a transaction and the client hearing so.
"""

import contextlib
import socket
import threading
from collections.abc import Callable
from types import TracebackType


class Proxy:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.down = threading.Event()
        self._armed: float | None = None  # cut for this long at the server's next answer
        self.cuts = 0
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> "Proxy":
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.listener.close()
        self._close_all()

    def cut(self, seconds: float) -> None:
        """The server goes away: every connection drops, and none is taken for ``seconds``."""
        self.cuts += 1
        self.down.set()
        self._close_all()
        threading.Timer(seconds, self.down.clear).start()

    def cut_at_next_answer(self, seconds: float) -> None:
        """The server's next answer, on any connection, is lost, and the server goes away then."""
        with self._lock:
            self._armed = seconds

    def _answer_lost(self) -> bool:
        with self._lock:
            seconds, self._armed = self._armed, None
        if seconds is None:
            return False
        self.cut(seconds)
        return True

    def _close_all(self) -> None:
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down.is_set():
                client.close()  # refused while "restarting"
                continue
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._open += [client, upstream]
            threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=pump, args=(upstream, client, self._answer_lost), daemon=True).start()


def pump(source: socket.socket, sink: socket.socket, lost: Callable[[], bool] = lambda: False) -> None:
    """Copy ``source`` to ``sink`` until either closes; data for which ``lost()`` says so is dropped."""
    try:
        while data := source.recv(65536):
            if lost():
                break
            sink.sendall(data)
    except OSError:
        pass
    for sock in (source, sink):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
