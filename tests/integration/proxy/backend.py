#!/usr/bin/env python3
"""Test backends for tests/integration/proxy.bats, on 127.0.0.1:PORT.

backend.py http NAME PORT      HTTP/1.1 keep-alive: answers JSON {backend, method, path,
                               headers, body_length, body_sha}; /slow sleeps 1 s first
backend.py die NAME PORT       reads a request's header, then closes without answering
backend.py ws NAME PORT        answers an Upgrade with 101, then echoes bytes back
backend.py tcp NAME PORT       echoes bytes, prefixed once with "NAME:"
backend.py eof NAME PORT       answers 200 with neither Content-Length nor chunked: the body
                               (100000 bytes, "NAME:" then digits) ends when it closes; on /lf
                               the header lines end in a bare LF, as busybox httpd's CGI sends
                               (the status line comes alone first, as busybox writes it)
backend.py chunkline NAME PORT answers 200 chunked, then a chunk-size line that never ends
                               (up to 64 MiB of it); prints `sent MiB` on stderr when done
backend.py oneshot NAME PORT   answers one request as keep-alive ("NAME:N", N counting the
                               requests), then closes the connection 50 ms later, as a
                               backend whose keep-alive timeout is short
"""
import hashlib
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

mode, name, port = sys.argv[1], sys.argv[2], int(sys.argv[3])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def answer(self):
        data = self.body()
        if self.path == "/slow":
            time.sleep(1)
        if self.path.startswith("/status/"):  # a health check's answer: /status/503
            self.send_response(int(self.path.split("/")[2]))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        out = json.dumps({
            "backend": name, "method": self.command, "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body_length": len(data), "body_sha": hashlib.sha256(data).hexdigest(),
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.send_header("Keep-Alive", "timeout=5")
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = answer


def serve_raw(handle):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


def read_header(c):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = c.recv(4096)
        if not chunk:
            return None
        data += chunk
    return data


def die(c):
    read_header(c)
    c.close()


def ws(c):
    if read_header(c) is None:
        return
    c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
    echo(c)


def eof(c):
    header = read_header(c)
    if header is None:
        return
    path = header.split(b" ")[1]
    nl = b"\n" if path == b"/lf" else b"\r\n"
    body = (name + ":").encode() + b"0123456789" * 10000
    body = body[:100000]
    # The status line alone first, as busybox httpd writes it before the CGI's output.
    c.sendall(b"HTTP/1.1 200 OK\r\n")
    time.sleep(0.05)
    c.sendall(b"Content-Type: text/plain" + nl + b"X-Backend: " + name.encode() + nl + nl)
    for i in range(0, len(body), 7000):
        c.sendall(body[i:i + 7000])
    c.close()


def chunkline(c):
    if read_header(c) is None:
        return
    sent = 0
    try:
        c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5")
        while sent < 64 << 20:
            c.sendall(b"a" * 65536)
            sent += 65536
    except OSError:
        pass
    print(f"sent {sent >> 20}", file=sys.stderr, flush=True)
    c.close()


served = 0


def oneshot(c):
    global served
    if read_header(c) is None:
        return
    served += 1
    body = f"{name}:{served}".encode()
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    time.sleep(0.05)
    c.close()


def echo(c, prefix=b""):
    if prefix:
        c.sendall(prefix)
    while True:
        data = c.recv(4096)
        if not data:
            break
        c.sendall(data)
    c.close()


if mode == "http":
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
elif mode == "die":
    serve_raw(die)
elif mode == "ws":
    serve_raw(ws)
elif mode == "eof":
    serve_raw(eof)
elif mode == "oneshot":
    serve_raw(oneshot)
elif mode == "chunkline":
    serve_raw(chunkline)
elif mode == "tcp":
    serve_raw(lambda c: echo(c, (name + ":").encode()))
