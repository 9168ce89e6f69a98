"""A webhook receiver on loopback for the webhook tests, whose answer to each request is scripted.

Script items, one per request in arrival order (then 200 for ever): an HTTP status (200, 500, 404…), "slow" (answer
200 only after `slow_seconds`, by when the deliverer has timed out), "drop" (close the connection without
answering) or "redirect" (302 to a URL whose GET answers 200, which a POST must not take for delivery).
Positions in `failing` are answered 500 whatever the script says. Signatures are checked here, by hand, with hmac:
the tests do not trust the deliverer's own signing code to check itself.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

SECRET = "s3cret-shared-with-the-receiver"


@dataclass
class Request:
    position: int
    action: Any
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)

    def signature_ok(self, secret: str = SECRET) -> bool:
        timestamp = self.headers["X-Complaints-Timestamp"]
        expected = hmac.new(secret.encode(), timestamp.encode() + b"." + self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers["X-Complaints-Signature"], f"sha256={expected}")


class Receiver:
    def __init__(self, script: list[Any] | None = None, failing: set[int] | None = None,
                 slow_seconds: float = 1.0, pace: float = 0.0):
        self.pace = pace  # seconds each answer takes (a receiver doing some work)
        self.script = list(script or [])
        self.failing = set(failing or ())
        self.slow_seconds = slow_seconds
        self.requests: list[Request] = []
        self.accepted: list[Request] = []  # those answered 2xx
        self.on_request: Callable[[Request], None] | None = None  # runs before the answer (e.g. a stop)
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.pace:
                    time.sleep(receiver.pace)
                position = int(self.headers.get("X-Complaints-Position", 0))
                with receiver._lock:
                    action = 500 if position in receiver.failing else (
                        receiver.script.pop(0) if receiver.script else 200)
                    request = Request(position, action, dict(self.headers.items()), body)
                    receiver.requests.append(request)
                    if isinstance(action, int) and 200 <= action < 300:
                        receiver.accepted.append(request)
                if receiver.on_request is not None:
                    receiver.on_request(request)
                if action == "drop":
                    self.close_connection = True
                    return
                if action == "redirect":
                    self.send_response(302)
                    self.send_header("Location", receiver.url + "/moved")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if action == "slow":
                    time.sleep(receiver.slow_seconds)
                    action = 200
                self.send_response(action)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a slow answer finds the deliverer gone: expected

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/complaints"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def __enter__(self) -> "Receiver":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def positions(self) -> list[int]:
        return [r.position for r in self.accepted]

    def wait_for(self, condition: Callable[[], bool], seconds: float = 10.0) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            assert time.monotonic() < deadline, f"timed out; received {[r.position for r in self.requests]}"
            time.sleep(0.02)


def refused_url() -> str:
    """A loopback address nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks/complaints"
