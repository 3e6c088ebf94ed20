"""A local HTTP server that serves images (and failures) for image-ingestion and SSRF tests."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image


def png_bytes(width: int = 8, height: int = 6, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    output = io.BytesIO()
    Image.new("RGB", (width, height), color).save(output, format="PNG")
    return output.getvalue()


def jpeg_bytes(width: int = 40, height: int = 30, seed: int = 0) -> bytes:
    output = io.BytesIO()
    Image.new("RGB", (width, height), ((seed * 37) % 256, (seed * 91) % 256, 120)).save(output, format="JPEG")
    return output.getvalue()


Route = tuple[int, str, bytes, dict[str, str]]


class _Handler(BaseHTTPRequestHandler):
    routes: dict[str, Route] = {}
    delay_s: float = 0.0

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        route: Route
        if path.startswith("/img/"):
            # /img/<n>.jpg: a distinct small JPEG per n, as many as a test wants.
            number = int(path.removeprefix("/img/").split(".", 1)[0])
            route = (200, "image/jpeg", jpeg_bytes(seed=number), {})
        elif path == "/slow":
            time.sleep(3)
            route = (200, "image/png", png_bytes(), {})
        else:
            route = self.routes.get(path, (404, "text/plain", b"not found", {}))
        status, content_type, body, headers = route
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def image_server(routes: dict[str, Route] | None = None) -> Iterator[str]:
    # The caller's dict itself: a test may add routes while the server runs.
    handler = type("Handler", (_Handler,), {"routes": routes if routes is not None else {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
