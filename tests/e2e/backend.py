"""A real HTTP backend for end-to-end tests: echoes what it received, misbehaves on request.

    python tests/e2e/backend.py         prints "listening on PORT" once ready

Paths: /status/NNN answers that status; /slow/S sleeps S seconds first; /garbage answers bytes
that are not HTTP; /reset closes the connection mid-response; anything else echoes the request
(method, path, query, headers, body) as JSON.
"""

import json
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        if path.startswith("/garbage"):
            self.wfile.write(b"this is not HTTP at all\r\n\r\n")
            self.close_connection = True
            return
        if path.startswith("/reset"):
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.close_connection = True
            return
        if path.startswith("/slow/"):
            time.sleep(float(path.split("/")[2]))
        status = int(path.split("/")[2]) if path.startswith("/status/") else 200
        payload = json.dumps({"method": self.command, "path": path, "query": query,
                              "headers": [[k, v] for k, v in self.headers.items()],
                              "body": body.decode("utf-8", "replace")}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Backend", "echo")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _handle

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()
