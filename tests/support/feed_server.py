"""A feed server on loopback for the tests: good feeds with validators, 304s, slow and huge answers, garbage.

Each route is a function of the request's headers returning (status, headers, body), or a special
behaviour (``Slow``, ``Trickle``, ``Endless``). Every request is recorded, so a test can tell that an
unchanged feed cost exactly one request answered 304.
"""

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Answer = tuple[int, dict[str, str], bytes]


@dataclass(frozen=True)
class Slow:
    """Waits ``seconds`` before answering anything."""

    seconds: float


@dataclass(frozen=True)
class Trickle:
    """Answers 200 at once, then sends one byte every ``every`` seconds, ``count`` times."""

    every: float
    count: int


@dataclass(frozen=True)
class Endless:
    """Answers 200 with no Content-Length and streams ``chunk`` bytes until ``total`` is reached."""

    total: int
    chunk: int = 65_536


Route = Callable[[dict[str, str]], Answer] | Slow | Trickle | Endless | Answer


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    status: int


@dataclass
class FeedServer:
    base: str
    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def requests_to(self, path: str) -> list[Seen]:
        return [request for request in self.seen if request.path == path]


def conditional(
    body: bytes, *, etag: str | None = None, last_modified: str | None = None, **headers: str
) -> Route:
    """A route serving ``body`` with validators, answering 304 when the request's validators match."""

    def route(request: dict[str, str]) -> Answer:
        validators = {}
        if etag:
            validators["ETag"] = etag
        if last_modified:
            validators["Last-Modified"] = last_modified
        matches = (etag and request.get("if-none-match") == etag) or (
            last_modified and not etag and request.get("if-modified-since") == last_modified
        )
        if matches:
            return 304, validators, b""
        return 200, {**headers, **validators}, body

    return route


def make_handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            headers = {name.lower(): value for name, value in self.headers.items()}
            route = server.routes.get(self.path)
            if route is None:
                self.answer((404, {}, b"not here"), headers)
            elif isinstance(route, Slow):
                time.sleep(route.seconds)
                self.answer((200, {}, b"{}"), headers)
            elif isinstance(route, Trickle):
                self.trickle(route, headers)
            elif isinstance(route, Endless):
                self.endless(route, headers)
            elif isinstance(route, tuple):
                self.answer(route, headers)
            else:
                self.answer(route(headers), headers)

        def answer(self, answer: Answer, headers: dict[str, str]) -> None:
            status, extra, body = answer
            server.seen.append(Seen(self.path, headers, status))
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            if status != 304 and "Content-Length" not in extra:
                self.send_header("Content-Length", str(len(body)))
            if "Content-Length" in extra:
                self.send_header("Connection", "close")  # a lie about the length: end the connection
            self.end_headers()
            try:
                if status != 304:
                    self.wfile.write(body)
            except OSError:
                pass  # the client gave up (a test of timeouts)

        def trickle(self, route: Trickle, headers: dict[str, str]) -> None:
            server.seen.append(Seen(self.path, headers, 200))
            self.send_response(200)
            self.send_header("Content-Length", str(route.count))
            self.end_headers()
            try:
                for _ in range(route.count):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(route.every)
            except OSError:
                pass  # the client gave up, as it should

        def endless(self, route: Endless, headers: dict[str, str]) -> None:
            server.seen.append(Seen(self.path, headers, 200))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Connection", "close")
            self.end_headers()
            sent = 0
            try:
                while sent < route.total:
                    self.wfile.write(b"[" * route.chunk)
                    sent += route.chunk
            except OSError:
                pass

    return Handler


@contextmanager
def serving() -> Iterator[FeedServer]:
    """A feed server on 127.0.0.1 at a free port, stopped at the end."""
    feed_server = FeedServer(base="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(feed_server))
    httpd.daemon_threads = True
    feed_server.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield feed_server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
