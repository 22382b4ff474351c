"""A webhook receiver for tests: an HTTP server on loopback that keeps every POST."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookReceiver:
    """Answers ``status`` to every POST and keeps ``(path, content type, body)``; a context
    manager that stops the server (and its thread) on the way out, even when a test fails."""

    def __init__(self, status: int = 200) -> None:
        self.posts: list[tuple[str, str | None, bytes]] = []
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                posts.append((self.path, self.headers.get("Content-Type"), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A path like a Slack webhook's, with a token in it that must never be logged.
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/secret-token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def bodies(self) -> list[bytes]:
        return [body for _, _, body in self.posts]

    @property
    def payloads(self) -> list[dict]:
        return [json.loads(body) for body in self.bodies]

    def __enter__(self) -> "WebhookReceiver":
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
