#!/usr/bin/env python3
"""A --console-socket peer: receives the pty master over SCM_RIGHTS, types `input`, prints
everything the terminal shows until EOF. Usage: console_client.py SOCKET INPUT [TIMEOUT]."""
import os
import select
import socket
import sys
import time

path, text = sys.argv[1], sys.argv[2]
timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 10
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path)
server.listen(1)
open(path + ".ready", "w").close()
conn, _ = server.accept()
msg, fds, _, _ = socket.recv_fds(conn, 4096, 1)
if not fds:
    sys.exit("no file descriptor received")
master = fds[0]
print("pty:", msg.decode(), flush=True)
os.write(master, text.encode())
deadline = time.time() + timeout
out = b""
while time.time() < deadline:
    r, _, _ = select.select([master], [], [], 0.2)
    if not r:
        continue
    try:
        chunk = os.read(master, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
sys.stdout.write(out.decode(errors="replace"))
