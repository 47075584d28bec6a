"""What the proxy tests' Python clients share: one raw request to berth-proxy on 127.0.0.1."""
import socket


def ask(port, data):
    """Sends `data` on a new connection and returns all the proxy answers until it closes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(data)
    out = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
    return out.decode(errors="replace")
