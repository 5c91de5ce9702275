"""The playground's web server: the page and its JSON API on 127.0.0.1.

The standard library's ``ThreadingHTTPServer``, with limits: a body of at most
``MAX_BODY_BYTES`` (refused before it is read), ``TIMEOUT`` seconds for each read from a
client, at most ``MAX_CLIENTS`` connections handled at once, and on loopback only
requests that name this server in their ``Host`` header (so a web page elsewhere cannot
reach it through DNS rebinding). Every error is a 4xx or 5xx reply with one line of JSON,
``{"error": "..."}``. The page's files are read from the package once, at start, and
only those are served. Nothing in a request is executed or used as a file name.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple
from urllib.parse import parse_qs, urlsplit

from .requests import MAX_BODY_BYTES, TIMEOUT, ApiError

if TYPE_CHECKING:
    from .api import Playground


class Reply(NamedTuple):
    """A reply: its body, content type, status and extra headers."""

    body: bytes
    content_type: str
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()


DEFAULT_PORT = 8765
MAX_CLIENTS = 32
_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".js": "text/javascript; charset=utf-8"}
_PAGES = {"/": "playground.html", "/playground.css": "playground.css",
          **{f"/{name}.js": f"{name}.js"
             for name in ("playground", "common", "network", "tools", "train")}}
#: The API: path -> method -> what answers it, from the playground and the request
#: (whose ``query()`` and ``body()`` are read only when called).
_API: dict[str, dict[str, Callable[[Playground, _Handler], Reply]]] = {
    "/api/model": {"GET": lambda p, r: _json(p.describe())},
    "/api/neuron": {"GET": lambda p, r: _json(p.neuron(r.query()))},
    "/api/weights": {"GET": lambda p, r: _json(p.weights())},
    "/api/dream": {"GET": lambda p, r: _json(p.dream(r.query()))},
    "/api/predict": {"POST": lambda p, r: _json(p.predict(r.body()))},
    "/api/fool": {"POST": lambda p, r: _json(p.fool(r.body()))},
    "/api/normalize": {"POST": lambda p, r: _json(p.normalize(r.body()))},
    "/api/train": {"GET": lambda p, r: _json(p.training_status()),
                   "POST": lambda p, r: _json(p.train(r.body()), 202)},
    "/api/train/stop": {"POST": lambda p, r: _json(p.stop_training(r.body()))},
    "/api/train/save": {"POST": lambda p, r: Reply(
        p.save(r.body()), "application/octet-stream", 200,
        (("Content-Disposition", 'attachment; filename="model.npz"'),))},
}
_ROUTES = {**{path: ", ".join(methods) for path, methods in _API.items()},
           **dict.fromkeys(_PAGES, "GET")}
_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache",
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                                       "base-uri 'none'; form-action 'none'"}


def _static_files() -> dict[str, Reply]:
    """The page's files: URL path -> Reply."""
    folder = files("skdigitnet._playground").joinpath("static")
    return {path: Reply(folder.joinpath(name).read_bytes(), _TYPES[name[name.rindex("."):]])
            for path, name in _PAGES.items()}


def _json(value: object, status: int = 200) -> Reply:
    return Reply(json.dumps(value, separators=(",", ":")).encode(), "application/json",
                 status)


# RFC 9110's names for the statuses whose phrase Python renamed (3.13: 413, 414, 416, 422),
# so that the API's error messages do not depend on the Python that serves them
_PHRASES = {413: "Content Too Large", 414: "URI Too Long", 416: "Range Not Satisfiable",
            422: "Unprocessable Content"}


class _Handler(BaseHTTPRequestHandler):
    """One connection: GET the page and the API's GET calls; POST the others."""

    protocol_version = "HTTP/1.1"
    server_version = "skdigitnet-playground"
    timeout: ClassVar[float | None] = TIMEOUT
    server: PlaygroundServer

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def _other(self) -> None:
        self._answer(self.command)

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _other

    def setup(self) -> None:
        # typeshed declares timeout a ClassVar; socketserver reads it from the instance
        self.timeout = self.server.client_timeout  # type: ignore[misc]
        super().setup()
        # headers and body go out in two writes: without this, Nagle's algorithm and the
        # client's delayed ACK hold the body back for 40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _answer(self, method: str) -> None:
        # bytes of a refused body to read and drop, and for how long
        self._unread: tuple[int, float] = (0, 0)
        try:
            self._send(self._route(method))
        except ApiError as exc:
            self._error(exc.status, exc.message)
            self._discard(*self._unread)
        except TimeoutError:
            self._error(408, f"the body did not arrive within {self.timeout:g} s")
        except Exception as exc:  # noqa: BLE001 - a reply, never a dead connection
            self._error(500, f"internal error: {type(exc).__name__}; see the server's log")
            sys.stderr.write(f"skdigitnet playground: {self.command} {self.path[:80]}: ")
            traceback.print_exc()

    def _route(self, method: str) -> Reply:
        url = urlsplit(self.path)
        self._check_host()
        if url.path not in _ROUTES:
            raise ApiError(404, f"no such path: {url.path[:80]}; the page is at / and the "
                                "API under /api/ (see GET /api/model)")
        allowed = _ROUTES[url.path].split(", ")
        if method not in allowed:
            raise ApiError(405, f"{method} is not allowed on {url.path}; use "
                                f"{' or '.join(allowed)}")
        if url.path in _PAGES:
            return self.server.static[url.path]
        return _API[url.path][method](self.server.playground, self)

    def query(self) -> dict[str, list[str]]:
        """The request's query string, as ``urllib.parse.parse_qs`` reads it."""
        return parse_qs(urlsplit(self.path).query, keep_blank_values=True)

    def _check_host(self) -> None:
        allowed = self.server.hosts
        if allowed is not None and self.headers.get("Host", "") not in allowed:
            raise ApiError(403, f"unexpected Host header {self.headers.get('Host', '')[:80]!r};"
                                f" open {self.server.url}")

    def body(self) -> bytes:
        """The request body, after checking its type and announced length (an empty
        body needs no type)."""
        if "Transfer-Encoding" in self.headers or "Content-Length" not in self.headers:
            self._unread = (1 << 16, 0.1)  # unknown: whatever comes at once
            raise ApiError(411, "send the body with a Content-Length header")
        text = self.headers["Content-Length"]
        if not (text.isascii() and text.isdigit()):
            raise ApiError(400, f"Content-Length must be a whole number; got {text[:40]!r}")
        if int(text) == 0:
            return b""
        if int(text) > MAX_BODY_BYTES or self.headers.get_content_type() != "application/json":
            self._unread = (int(text), 2.0)  # never parsed
            if int(text) > MAX_BODY_BYTES:
                raise ApiError(413, f"the body has {int(text):,} bytes; the limit is "
                                    f"{MAX_BODY_BYTES:,}")
            raise ApiError(415, "send the body as JSON, with Content-Type: application/json")
        body = self.rfile.read(int(text))
        if len(body) < int(text):
            raise ApiError(400, f"the body ended after {len(body)} of {int(text)} bytes")
        return body

    def _discard(self, n: int, seconds: float) -> None:
        """Read and drop up to ``n`` bytes of a refused body, for at most ``seconds``, so
        that a client still sending it reads the reply instead of a reset connection."""
        deadline = time.monotonic() + seconds
        try:
            self.connection.settimeout(seconds)
            while n > 0 and time.monotonic() < deadline:
                chunk = self.rfile.read1(min(n, 1 << 16))
                if not chunk:
                    break
                n -= len(chunk)
        except OSError:
            pass

    def _error(self, status: int, message: str) -> None:
        """A 4xx or 5xx reply; then the connection closes (a body may be left unread)."""
        self.close_connection = True
        self._send(_json({"error": message}, status))

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in (*_HEADERS.items(), *reply.headers):
            self.send_header(name, value)
        if reply.status == 405:
            self.send_header("Allow", _ROUTES[urlsplit(self.path).path])
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """http.server's own errors (bad request line, headers too long, unknown method)
        as one line of JSON too."""
        if self.request_version == "HTTP/0.9":  # never spoken here: reply with headers
            self.request_version = "HTTP/1.0"
        status = HTTPStatus(code)
        phrase = _PHRASES.get(code, status.phrase)
        self._error(code, f"{phrase.lower()}: {message or status.description}")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        if self.server.verbose:
            super().log_message(format, *args)


class PlaygroundServer(ThreadingHTTPServer):
    """The HTTP server: a :class:`Playground`, its page, and at most ``MAX_CLIENTS``
    connections at a time (each handled by its own daemon thread)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, playground: Playground, host: str = "127.0.0.1",
                 port: int = DEFAULT_PORT, verbose: bool = False,
                 timeout: float = TIMEOUT) -> None:
        self._open: set[Any] = set()  # before bind: it may fail, and server_close runs
        self._lock = threading.Lock()
        self.playground = playground
        if ":" in host:
            self.address_family = socket.AF_INET6
        try:
            super().__init__((host, port), _Handler)
        except OSError as exc:
            raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose "
                          "another port (0 picks a free one)") from None
        self.verbose, self.client_timeout = verbose, timeout
        self.static = _static_files()
        self.port = self.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}/"
        self.hosts = _loopback_hosts(host, self.port)
        self._slots = threading.BoundedSemaphore(MAX_CLIENTS)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(timeout=TIMEOUT):
            self.shutdown_request(request)  # every slot busy for TIMEOUT s: drop it
            return
        with self._lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._lock:
                self._open.discard(request)
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A browser that drops its connection (a closed tab, a reload, a reset) is not an
        error of the server: nothing is printed. Anything else prints its traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def server_close(self) -> None:
        """Stop listening, stop any training, and end the connections still open (a
        browser keeps some)."""
        super().server_close()
        self.playground.training.stop()
        with self._lock:
            for request in self._open:
                with contextlib.suppress(OSError):
                    request.shutdown(socket.SHUT_RDWR)


def _loopback_hosts(host: str, port: int) -> set[str] | None:
    """The Host headers accepted when serving on loopback; None (any) otherwise."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        return None
    names = {"127.0.0.1", "localhost", "[::1]", f"[{host}]" if ":" in host else host}
    return names | {f"{name}:{port}" for name in names}
