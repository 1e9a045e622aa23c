"""The bench's camera: a connection the server closed while it was idle (its keep-alive ran out between two
trials) is reopened and the frame sent again, as any HTTP/1.1 client does."""

from __future__ import annotations

import http.server
import json
import threading

from bench.pipeline import Camera


class _ClosesAfterEachResponse(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    posts = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).posts += 1
        body = json.dumps({"frame_id": f"f{self.posts}"}).encode()
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()  # promises keep-alive (HTTP/1.1), then lets it run out at once
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


def test_the_camera_reopens_a_connection_the_server_closed_while_it_was_idle():
    server = http.server.HTTPServer(("127.0.0.1", 0), _ClosesAfterEachResponse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        camera = Camera(server.server_address[1], session_id=1, secret="lfrcam_test")
        assert [camera.submit(b"\xff\xd8 frame") for _ in range(3)] == ["f1", "f2", "f3"]
        assert _ClosesAfterEachResponse.posts == 3 and not camera.refused  # each frame sent once
        camera.close()
    finally:
        server.shutdown()
        server.server_close()
