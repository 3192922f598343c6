"""A small web app on Python's standard library: no Lambda code in it at all.

Run it locally with `python3 app.py` and curl http://127.0.0.1:8081/hello?name=Ada; on Lambda
(or `cargo lamina serve`) the runtime layer's `http:` convention forwards each HTTP event to it.
"""
import json
import os
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit


class App(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: without this, Nagle's algorithm holds the body
    # until the client's delayed ACK, 40 ms later, on every keep-alive request.
    disable_nagle_algorithm = True

    def answer(self, status, body, content_type="text/plain; charset=utf-8", cookies=()):
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        for cookie in cookies:
            self.send_header("set-cookie", cookie)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/health":
            self.answer(200, b"ok")
        elif url.path == "/hello":
            name = query.get("name", ["world"])[0]
            self.answer(200, f"Hello, {name}!".encode(), cookies=["greeted=yes; Path=/"])
        elif url.path == "/cookie":
            seen = self.headers.get("cookie", "")
            self.answer(200, f"cookie: {seen}".encode(), cookies=["visited=yes; Path=/", "theme=dark"])
        elif url.path == "/big":
            self.answer(200, b"0123456789abcdef" * (3 * 1024 * 1024 // 16))
        else:
            self.answer(404, b"sample-web-python has no such page")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path == "/events":
            # Events that are not HTTP requests (a schedule, a queue) arrive here.
            self.answer(200, json.dumps({"received": json.loads(body)}).encode(), "application/json")
        else:
            self.answer(200, body, self.headers.get("content-type", "application/octet-stream"))

    def log_message(self, format, *args):
        print("app:", format % args, flush=True)


if __name__ == "__main__":
    HTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8081"))), App).serve_forever()
