#!/usr/bin/python3
# bench/api-floor.py — the docker CLI's own share of a `docker run --rm IMG CMD`: a Docker Engine
# API server on a unix socket that does no work at all (every answer canned, the "container"
# exits at once), so that `docker run` against it times only the CLI: its start-up, its requests
# (ping, create, attach, wait, start) and its exit. bench/api.sh runs it beside the real servers:
# whatever a server does, a `docker run` through it cannot take less than this.
#
# Usage: bench/api-floor.py SOCKET      (serves until killed)
import os
import socket
import sys
import threading

SOCK = sys.argv[1]
ID = "f" * 64


def answer(conn, status, body=b"", headers=()):
    head = [f"HTTP/1.1 {status}", "Api-Version: 1.41", "Content-Type: application/json",
            f"Content-Length: {len(body)}", *headers]
    conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)


def serve(conn):
    buf = b""
    with conn:
        while True:
            while b"\r\n\r\n" not in buf:
                got = conn.recv(65536)
                if not got:
                    return
                buf += got
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            while len(buf) < length:
                buf += conn.recv(65536)
            buf = buf[length:]
            path = path.split("?", 1)[0]
            if path.endswith("/_ping"):
                answer(conn, "200 OK", b"" if method == "HEAD" else b"OK")
            elif path.endswith("/containers/create"):
                answer(conn, "201 Created", ('{"Id":"%s","Warnings":[]}' % ID).encode())
            elif path.endswith("/attach"):
                # Hijacked: the head, then the end of an empty stream.
                conn.sendall(b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
                             b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
                conn.shutdown(socket.SHUT_WR)
                while conn.recv(65536):
                    pass
                return
            elif path.endswith("/wait"):
                answer(conn, "200 OK", b'{"StatusCode":0,"Error":null}\n')
            elif path.endswith("/start"):
                answer(conn, "204 No Content")
            else:
                answer(conn, "404 Not Found", b'{"message":"page not found"}')


def main():
    if os.path.exists(SOCK):
        os.unlink(SOCK)
    server = socket.socket(socket.AF_UNIX)
    server.bind(SOCK)
    server.listen(64)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


main()
