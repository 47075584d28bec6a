#!/usr/bin/env python3
"""Hostile clients for the limit tests of berth's servers (tests/integration/server_limits.bats,
dns.bats). TARGET is HOST:PORT or the path of a unix socket. Each mode prints `key value` lines
that the bats tests check.

  slowloris TARGET N PATH [--from ADDR]   N connections trickle a request head a byte at a time;
                                           meanwhile one normal GET PATH (from ADDR) is made.
                                           Prints `probe STATUS`, then `closed K` once the server
                                           closed all N (or after 60 s).
  slowbody TARGET N METHOD PATH           N connections send a request head with a 100000-byte
                                           body, then drip it a byte at a time; meanwhile one
                                           client sends such a body at 50 kB/s. Prints `steady
                                           STATUS` (its answer), `probe STATUS` (a GET /_ping or
                                           /v2/), then `closed K` once the server closed the N.
  bighead TARGET BYTES PATH               one request whose head has a BYTES-long header field.
                                           Prints `status STATUS` (or `status closed`).
  chunkline TARGET METHOD PATH            a chunked request whose chunk-size line never ends
                                           (up to 64 MiB of it). Prints `taken MiB` (sent before
                                           the server stopped reading), `status STATUS` (or
                                           `status closed`), then `probe STATUS` (GET /v2/ or
                                           /_ping).
  bodies TARGET N METHOD PATH PID          N connections each start a 100000-byte body (one byte
                                           of it) and wait; prints `grew KB`, how much the
                                           server process PID's resident memory grew, then
                                           `probe STATUS`.
  flood TARGET N PATH [--from ADDR] [--probe-from ADDR]
                                           N idle connections from ADDR; prints `held H` and
                                           `refused R` (answered 503 or closed at once), then a
                                           normal GET PATH from --probe-from: `probe STATUS`.
  hold TARGET N SECONDS [--from ADDR]     N idle connections (from ADDR); prints `closed K`, how
                                           many the server closed within half a second (before
                                           any TLS or HTTP), then holds the rest SECONDS.
  queue TARGET N PATH                      N idle connections, then a GET PATH on one more:
                                           prints `waiting yes|no` after a second, then closes
                                           the N and prints `probe STATUS` once it is answered.
  dns-slowloris HOST PORT N               N TCP connections to a DNS server, each sending one
                                           byte of a query's length; prints `held H`, then
                                           `closed K` once the server closed them (or after 60 s).
  dns-query HOST PORT NAME                one query for NAME over TCP: `answer RCODE ANCOUNT`.
"""
import socket
import struct
import sys
import threading
import time


def connect(target, source=None):
    if target.startswith("/"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(target)
        return s
    host, port = target.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if source:
        s.bind((source, 0))
    s.connect((host, int(port)))
    return s


def read_until(sock, complete):
    """What the peer sent until `complete(data)`, the end of the stream or an error."""
    data = b""
    try:
        while not complete(data):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except (ConnectionError, socket.timeout):
        pass
    return data


def status_of(sock, timeout=30):
    """Reads a response's status code; 'closed' when the connection ends first."""
    sock.settimeout(timeout)
    data = read_until(sock, lambda d: b"\r\n" in d)
    if not data.startswith(b"HTTP/1."):
        return "closed"
    return data.split(b" ")[1].decode()


def get(target, path, source=None):
    s = connect(target, source)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode())
    st = status_of(s)
    s.close()
    return st


def closed_by_peer(sock):
    """True when the server closed (or reset) the connection."""
    sock.setblocking(False)
    try:
        return sock.recv(4096) == b""
    except BlockingIOError:
        return False
    except ConnectionError:
        return True
    finally:
        sock.setblocking(True)


def wait_all_closed(socks, drip=None, limit=60.0):
    start = time.time()
    open_ = list(socks)
    while open_ and time.time() - start < limit:
        still = []
        for s in open_:
            gone = closed_by_peer(s)
            if not gone and drip:
                try:
                    s.send(drip)
                except (ConnectionError, OSError):
                    gone = True
            if not gone:
                still.append(s)
        open_ = still
        time.sleep(0.2)
    return len(socks) - len(open_)


def option(args, name):
    if name in args:
        i = args.index(name)
        value = args[i + 1]
        del args[i:i + 2]
        return value
    return None


def main():
    args = sys.argv[1:]
    mode = args.pop(0)
    source = option(args, "--from")
    probe_from = option(args, "--probe-from")
    if mode == "slowloris":
        target, n, path = args[0], int(args[1]), args[2]
        socks = []
        for _ in range(n):
            s = connect(target)
            s.sendall(b"GET / HTTP/1.1\r\nHost: test\r\nX-Slow: ")
            socks.append(s)
        time.sleep(0.3)
        print(f"probe {get(target, path, source)}", flush=True)
        print(f"closed {wait_all_closed(socks, drip=b'a')}", flush=True)
    elif mode == "slowbody":
        target, n, method, path = args[0], int(args[1]), args[2], args[3]
        head = f"{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n".encode()
        socks = []
        for _ in range(n):
            s = connect(target)
            s.sendall(head + b"{")
            socks.append(s)
        steady = connect(target)
        steady.sendall(head)
        for _ in range(100):
            steady.sendall(b" " * 1000)
            time.sleep(0.02)
        print(f"steady {status_of(steady)}", flush=True)
        steady.close()
        probe = "/_ping" if target.startswith("/") else "/v2/"
        print(f"probe {get(target, probe, source)}", flush=True)
        print(f"closed {wait_all_closed(socks, drip=b' ')}", flush=True)
    elif mode == "bighead":
        target, size, path = args[0], int(args[1]), args[2]
        s = connect(target)
        head = f"GET {path} HTTP/1.1\r\nHost: test\r\nX-Big: {'a' * size}\r\n\r\n".encode()
        try:
            s.sendall(head)
        except ConnectionError:
            pass
        print(f"status {status_of(s)}", flush=True)
    elif mode == "chunkline":
        target, method, path = args[0], args[1], args[2]
        s = connect(target)
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n5".encode())
        sent = 0
        try:
            while sent < 64 << 20:
                s.sendall(b"a" * 65536)
                sent += 65536
        except ConnectionError:
            pass
        print(f"taken {sent >> 20}", flush=True)
        print(f"status {status_of(s)}", flush=True)
        probe = "/_ping" if target.startswith("/") else "/v2/"
        print(f"probe {get(target, probe, source)}", flush=True)
    elif mode == "bodies":
        target, n, method, path, pid = args[0], int(args[1]), args[2], args[3], args[4]

        def rss_kb():
            with open(f"/proc/{pid}/status") as f:
                return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))

        before = rss_kb()
        head = f"{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Length: 100000\r\n\r\n{{".encode()
        socks = []
        for _ in range(n):
            s = connect(target)
            s.sendall(head)
            socks.append(s)
        time.sleep(1)  # every server-side read of the first byte done
        print(f"grew {rss_kb() - before}", flush=True)
        probe = "/_ping" if target.startswith("/") else "/v2/"
        print(f"probe {get(target, probe, source)}", flush=True)
    elif mode == "hold":
        target, n, seconds = args[0], int(args[1]), float(args[2])
        socks = [connect(target, source) for _ in range(n)]
        time.sleep(0.5)
        print(f"closed {sum(closed_by_peer(s) for s in socks)}", flush=True)
        time.sleep(seconds)
    elif mode == "flood":
        target, n, path = args[0], int(args[1]), args[2]
        socks = [connect(target, source) for _ in range(n)]
        time.sleep(0.5)
        refused = []
        for s in socks:
            s.setblocking(False)
            try:
                data = s.recv(4096)
                refused.append(data == b"" or data.startswith(b"HTTP/1.1 503"))
            except BlockingIOError:
                refused.append(False)
            except ConnectionError:
                refused.append(True)
        print(f"held {refused.count(False)}", flush=True)
        print(f"refused {refused.count(True)}", flush=True)
        print(f"probe {get(target, path, probe_from)}", flush=True)
        for s in socks:
            s.close()
    elif mode == "queue":
        target, n, path = args[0], int(args[1]), args[2]
        socks = [connect(target) for _ in range(n)]
        time.sleep(0.3)
        result = []
        t = threading.Thread(target=lambda: result.append(get(target, path)))
        t.start()
        t.join(1.0)
        print(f"waiting {'no' if result else 'yes'}", flush=True)
        for s in socks:
            s.close()
        t.join(60)
        print(f"probe {result[0] if result else 'none'}", flush=True)
    elif mode == "dns-slowloris":
        host, port, n = args[0], int(args[1]), int(args[2])
        socks = []
        for _ in range(n):
            s = socket.create_connection((host, port))
            s.sendall(b"\x00")
            socks.append(s)
        time.sleep(0.5)
        held = [s for s in socks if not closed_by_peer(s)]
        print(f"held {len(held)}", flush=True)
        print(f"closed {wait_all_closed(held)}", flush=True)
    elif mode == "dns-query":
        host, port, name = args[0], int(args[1]), args[2]
        q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
        for label in name.split("."):
            q += bytes([len(label)]) + label.encode()
        q += b"\x00" + struct.pack(">HH", 1, 1)
        s = socket.create_connection((host, port), timeout=10)
        s.sendall(struct.pack(">H", len(q)) + q)
        data = read_until(s, lambda d: len(d) >= 2 and len(d) >= 2 + struct.unpack(">H", d[:2])[0])
        if len(data) < 14:
            print("answer none", flush=True)
        else:
            flags, _, ancount = struct.unpack(">HHH", data[4:10])
            print(f"answer {flags & 0xF} {ancount}", flush=True)
    else:
        sys.exit(f"unknown mode {mode}")


main()
