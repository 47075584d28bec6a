#!/usr/bin/python3
# bench/api-phases.py — where a `docker run --rm IMG CMD` spends its time in a Docker Engine API
# server: the requests the docker CLI makes, in its order (ping, create, attach, wait, start),
# each timed from this client, then the time from the start's answer to the end of the attached
# stream and to the wait's answer (the container's run, its exit and its removal). Without the
# CLI's own start-up, so the server's share shows. Prints one line per run and the medians.
#
# Usage: bench/api-phases.py SOCKET [RUNS] [IMAGE] [CMD...]
#        (defaults: 10 runs of apibench:latest /bin/true, as bench/api.sh imports it)
#   e.g. bench/api-phases.py /tmp/d.sock 20 busybox sleep 0.5
import json
import socket
import statistics
import sys
import threading
import time

if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
    sys.exit("usage: bench/api-phases.py SOCKET [RUNS] [IMAGE] [CMD...]")
SOCK = sys.argv[1]
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 10
IMAGE = sys.argv[3] if len(sys.argv) > 3 else "apibench:latest"
CMD = sys.argv[4:] or ["/bin/true"]


def connect():
    s = socket.socket(socket.AF_UNIX)
    s.connect(SOCK)
    return s


def send(s, method, path, body=b"", extra=""):
    head = f"{method} {path} HTTP/1.1\r\nHost: d\r\nContent-Length: {len(body)}\r\n{extra}"
    if body:
        head += "Content-Type: application/json\r\n"
    s.sendall(head.encode() + b"\r\n" + body)


def read_head(s):
    """The response head, and what came after it."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit(f"the server closed the connection: {buf!r}")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head, rest


def read_to_end(s):
    buf = b""
    while chunk := s.recv(65536):
        buf += chunk
    return buf


def one_run():
    t = {"begin": time.monotonic()}
    s = connect()
    send(s, "HEAD", "/_ping")
    read_head(s)
    t["ping"] = time.monotonic()
    body = json.dumps({"Image": IMAGE, "Cmd": CMD,
                       "HostConfig": {"AutoRemove": True, "NetworkMode": "none"}}).encode()
    send(s, "POST", "/v1.41/containers/create", body, "Connection: close\r\n")
    head, rest = read_head(s)
    t["create"] = time.monotonic()
    if not head.startswith(b"HTTP/1.1 201"):
        raise SystemExit(f"create: {head!r} {rest!r}")
    cid = json.loads(rest + read_to_end(s))["Id"]
    s.close()
    attach = connect()
    send(attach, "POST", f"/v1.41/containers/{cid}/attach?stderr=1&stdout=1&stream=1",
         extra="Connection: Upgrade\r\nUpgrade: tcp\r\n")
    read_head(attach)
    t["attach"] = time.monotonic()
    wait = connect()
    send(wait, "POST", f"/v1.41/containers/{cid}/wait?condition=removed")
    read_head(wait)
    t["wait head"] = time.monotonic()
    start = connect()
    send(start, "POST", f"/v1.41/containers/{cid}/start")
    read_head(start)
    t["start"] = time.monotonic()
    start.close()
    ended = {}
    reader = threading.Thread(target=lambda: (read_to_end(attach), ended.update(at=time.monotonic())))
    reader.start()
    answer = read_to_end(wait)
    t["wait"] = time.monotonic()
    reader.join()
    if b'"StatusCode"' not in answer:
        raise SystemExit(f"wait: {answer!r}")
    ms = lambda a, b: (b - a) * 1000
    return {"ping": ms(t["begin"], t["ping"]), "create": ms(t["ping"], t["create"]),
            "attach": ms(t["create"], t["attach"]), "wait head": ms(t["attach"], t["wait head"]),
            "start": ms(t["wait head"], t["start"]),
            "start→attach end": ms(t["start"], ended["at"]), "start→wait answer": ms(t["start"], t["wait"]),
            "total": ms(t["begin"], max(t["wait"], ended["at"]))}


rows = []
for i in range(RUNS):
    rows.append(one_run())
    print("  ".join(f"{k} {v:6.1f}" for k, v in rows[-1].items()), flush=True)
print(f"medians of {RUNS} runs, ms: " +
      "  ".join(f"{k} {statistics.median(r[k] for r in rows):.1f}" for k in rows[0]))
