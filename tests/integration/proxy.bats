#!/usr/bin/env bats
# berth-proxy (the data plane, docs/proxy.md) in front of small Python backends on 127.0.0.1
# (tests/integration/proxy/backend.py): forwarding, keep-alive, chunked bodies, 100-continue,
# WebSocket, retries, 503 and recovery, TLS by SNI, TCP mode, slow and oversized clients, the
# control socket. Ports are picked free at run time; every process is this test's own (by pid)
# and teardown stops them all.

setup() {
  PROXY=${BERTH_PROXY:-$(dirname "${BERTH:-$BATS_TEST_DIRNAME/../../build/src/berth}")/berth-proxy}
  [[ -x $PROXY ]] || { echo "no berth-proxy at $PROXY (build the berth-proxy target)" >&2; return 1; }
  BACKEND=$BATS_TEST_DIRNAME/proxy/backend.py
  WORK=$(mktemp -d /tmp/berth-test-proxy.XXXXXX)
  PIDS=()
}

teardown() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_port() {
  python3 - "$1" <<'PY'
import socket, sys, time
for _ in range(200):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close(); sys.exit(0)
    except OSError:
        time.sleep(0.025)
sys.exit(1)
PY
}

# backend MODE NAME: starts one, sets PORT_<NAME> to its port.
backend() {
  local port
  port=$(free_port)
  python3 "$BACKEND" "$1" "$2" "$port" >/dev/null 2>&1 3>&- &
  PIDS+=($!)
  wait_port "$port"
  printf -v "PORT_$2" '%s' "$port"
}

# routes JSON: the config file (written atomically, as an editor would).
routes() {
  printf '%s\n' "$1" >"$WORK/routes.json.tmp"
  mv "$WORK/routes.json.tmp" "$WORK/routes.json"
}

# proxy [ARGS...]: berth-proxy on $P with the config file and the control socket.
proxy() {
  P=$(free_port)
  "$PROXY" serve --listen "web=127.0.0.1:$P" --config "$WORK/routes.json" \
    --control "$WORK/ctl.sock" "$@" >/dev/null 2>"$WORK/proxy.log" 3>&- &
  PIDS+=($!)
  PROXY_PID=$!
  wait_port "$P" || { cat "$WORK/proxy.log"; return 1; }
}

ctl() { curl -sS --unix-socket "$WORK/ctl.sock" "$@"; }

two_backends() {
  backend http a
  backend http b
  routes "{\"routes\": [{\"service\": \"web\", \"backends\": [
    {\"address\": \"127.0.0.1:$PORT_a\", \"name\": \"a\"},
    {\"address\": \"127.0.0.1:$PORT_b\", \"name\": \"b\"}]}]}"
}

@test "proxy: forwards with keep-alive, round robin and X-Forwarded/Forwarded headers" {
  two_backends
  proxy
  # One curl, three requests on one connection.
  run curl -sS -H 'Host: shop.example' -H 'Connection: keep-alive, X-Drop' -H 'X-Drop: 1' \
    -H 'X-Forwarded-For: 10.1.2.3' "http://127.0.0.1:$P/1" "http://127.0.0.1:$P/2" \
    "http://127.0.0.1:$P/3" -w '\n%{num_connects}\n'
  [ "$status" -eq 0 ]
  echo "$output"
  [[ $(grep -c '"backend": "a"' <<<"$output") -ge 1 ]]
  [[ $(grep -c '"backend": "b"' <<<"$output") -ge 1 ]]
  grep -q '"x-forwarded-for": "10.1.2.3, 127.0.0.1"' <<<"$output"
  grep -q '"x-forwarded-proto": "http"' <<<"$output"
  grep -q '"x-forwarded-host": "shop.example"' <<<"$output"
  grep -q '"forwarded": "for=127.0.0.1;proto=http;host=\\"shop.example\\""' <<<"$output"
  ! grep -q '"x-drop"' <<<"$output" || false
  ! grep -q '"connection"' <<<"$output" || false
  # Pipelined: two requests in one write, two answers in order.
  run python3 - "$P" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /p1 HTTP/1.1\r\nHost: x\r\n\r\nGET /p2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
data = b""
while True:
    d = s.recv(65536)
    if not d: break
    data += d
text = data.decode()
assert text.count("HTTP/1.1 200") == 2, text
assert text.index('"path": "/p1"') < text.index('"path": "/p2"'), text
print("ok")
PY
  [ "$status" -eq 0 ]
}

@test "proxy: a request header split across segments (the request line alone, byte by byte) is served" {
  two_backends
  proxy
  run python3 - "$P" <<'PY'
import socket, sys, time
def ask(parts):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for p in parts:
        s.sendall(p)
        time.sleep(0.05)  # each part its own segment, read on its own
    data = b""
    while not data.endswith(b"}") and b"HTTP/1.1 4" not in data:
        d = s.recv(65536)
        if not d: break
        data += d
    s.close()
    return data.decode()
head = b"GET /split HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
for parts in ([head[:20], head[20:]],
              [b"GET /split HTTP/1.1\r\n", b"Host: x\r\n", b"Connection: close\r\n\r\n"],
              [b"\r\n" + head[:5], head[5:30], head[30:]],
              [bytes([c]) for c in head]):
    text = ask(parts)
    assert text.startswith("HTTP/1.1 200"), (parts[:3], text)
    assert '"path": "/split"' in text, text
print("ok")
PY
  echo "$output"
  [ "$status" -eq 0 ]
}

@test "proxy: chunked and Content-Length uploads, Expect: 100-continue" {
  two_backends
  proxy
  head -c 300000 /dev/urandom >"$WORK/blob"
  sum=$(sha256sum "$WORK/blob" | cut -d' ' -f1)
  run curl -sS -H 'Transfer-Encoding: chunked' --data-binary @"$WORK/blob" "http://127.0.0.1:$P/up"
  [ "$status" -eq 0 ]
  grep -q "\"body_sha\": \"$sum\"" <<<"$output"
  run curl -sS -H 'Expect: 100-continue' --data-binary @"$WORK/blob" "http://127.0.0.1:$P/up"
  [ "$status" -eq 0 ]
  grep -q "\"body_length\": 300000" <<<"$output"
  grep -q "\"body_sha\": \"$sum\"" <<<"$output"
  ! grep -q '"expect"' <<<"$output" || false
}

@test "proxy: a body that ends when the backend closes is sent chunked on a kept connection" {
  backend eof e
  routes "{\"routes\": [{\"service\": \"web\", \"backends\": [{\"address\": \"127.0.0.1:$PORT_e\"}]}]}"
  proxy
  python3 -c 'import sys; sys.stdout.write(("e:" + "0123456789" * 10000)[:100000])' >"$WORK/want"
  # HTTP/1.1, keep-alive: two such responses (bare-LF header lines, then CRLF) on one connection.
  run curl -sS -D "$WORK/headers" -o "$WORK/got1" -o "$WORK/got2" -w '%{num_connects}\n' \
    "http://127.0.0.1:$P/lf" "http://127.0.0.1:$P/crlf"
  [ "$status" -eq 0 ]
  [ "$output" = $'1\n0' ]
  cmp "$WORK/want" "$WORK/got1"
  cmp "$WORK/want" "$WORK/got2"
  [ "$(grep -ci '^transfer-encoding: chunked' "$WORK/headers")" -eq 2 ]
  [ "$(grep -ci '^x-backend: e' "$WORK/headers")" -eq 2 ]
  ! grep -qi '^connection: close' "$WORK/headers" || false
  # HTTP/1.0: no chunks, the body as is and the connection closed after it.
  run curl -sS --http1.0 -D "$WORK/headers10" -o "$WORK/got10" "http://127.0.0.1:$P/lf"
  [ "$status" -eq 0 ]
  cmp "$WORK/want" "$WORK/got10"
  grep -qi '^connection: close' "$WORK/headers10"
  ! grep -qi '^transfer-encoding' "$WORK/headers10" || false
}

@test "proxy: WebSocket upgrade is tunnelled both ways" {
  backend ws w
  routes "{\"routes\": [{\"service\": \"ws\", \"backends\": [{\"address\": \"127.0.0.1:$PORT_w\"}]}]}"
  proxy
  run python3 - "$P" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
data = b""
while b"\r\n\r\n" not in data:
    data += s.recv(4096)
head, rest = data.split(b"\r\n\r\n", 1)
assert head.startswith(b"HTTP/1.1 101"), head
assert b"Upgrade: websocket" in head, head
for msg in (b"hello", b"x" * 100000):
    s.sendall(msg)
    got = rest
    rest = b""
    while len(got) < len(msg):
        got += s.recv(65536)
    assert got == msg
print("ok")
PY
  echo "$output"
  [ "$status" -eq 0 ]
}

@test "proxy: a backend that dies mid-request: GET is retried elsewhere, POST gets 502" {
  backend die d
  backend http ok
  # The dying backend first in a round robin of two: each request tries it first once.
  routes "{\"routes\": [{\"service\": \"web\", \"backends\": [
    {\"address\": \"127.0.0.1:$PORT_d\", \"name\": \"dies\"},
    {\"address\": \"127.0.0.1:$PORT_ok\", \"name\": \"ok\"}]}]}"
  proxy
  for i in 1 2 3 4; do
    run curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P/get$i"
    [ "$output" = 200 ]
  done
  # The backend that closed without answering is out for a while (passive health); bring it
  # back by a new table with new ids, so that the POST meets it.
  routes "{\"routes\": [{\"service\": \"web\", \"backends\": [
    {\"address\": \"127.0.0.1:$PORT_d\", \"id\": \"d2\", \"name\": \"dies\"}]}]}"
  sleep 0.3
  run curl -sS -w '\n%{http_code}' -d 'order=1' "http://127.0.0.1:$P/post"
  echo "$output"
  [[ $output == *502 ]]
  grep -q "closed the connection before answering" <<<"$output"
}

@test "proxy: a pooled connection the backend closed is retried on a new one, also with one instance" {
  # The backend closes each keep-alive connection 50 ms after answering: the proxy's pooled
  # connection is stale at the next request. GETs take it on trust and must be re-sent on a
  # new connection to the same (only) instance; a POST checks the pool first.
  backend oneshot one
  routes "{\"routes\": [{\"service\": \"web\", \"backends\": [
    {\"address\": \"127.0.0.1:$PORT_one\", \"name\": \"one\"}]}]}"
  proxy
  for i in 1 2 3 4 5; do
    run curl -sS -w ' %{http_code}' "http://127.0.0.1:$P/get$i"
    echo "$output"
    [ "$output" = "one:$i 200" ]
    sleep 0.2
  done
  run curl -sS -w ' %{http_code}' -d 'order=1' "http://127.0.0.1:$P/post"
  echo "$output"
  [ "$output" = "one:6 200" ]
  # The stale connections were retries, not failures of the instance.
  [[ $(ctl http://x/routes | jq -r '.routes[0].backends[0].state') == up ]]
}

@test "proxy: no backend gives a 503 page naming the service, then recovers from the config file" {
  routes '{"routes": [{"service": "shop_web", "backends": []}]}'
  proxy
  run curl -sS -w '\n%{http_code}' "http://127.0.0.1:$P/"
  [[ $output == *503 ]]
  grep -q "service 'shop_web'" <<<"$output"
  backend http a
  routes "{\"routes\": [{\"service\": \"shop_web\", \"backends\": [{\"address\": \"127.0.0.1:$PORT_a\"}]}]}"
  for _ in $(seq 50); do
    code=$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P/")
    [[ $code == 200 ]] && break
    sleep 0.05
  done
  [ "$code" = 200 ]
  # A refused connection (a backend that is gone) is a 503 too, never a 502 or a hang.
  routes '{"routes": [{"service": "shop_web", "backends": [{"address": "127.0.0.1:1"}]}]}'
  sleep 0.3
  run curl -sS -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P/"
  [ "$output" = 503 ]
}

@test "proxy: TLS with two certificates picked by SNI, and redirect to https" {
  for h in a.example b.example; do
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=$h" -addext "subjectAltName=DNS:$h" \
      -keyout "$WORK/$h.key" -out "$WORK/$h.crt" 2>/dev/null
  done
  backend http a
  routes "{\"routes\": [{\"service\": \"web\", \"redirect_https\": true, \"tls\": true,
    \"backends\": [{\"address\": \"127.0.0.1:$PORT_a\"}]}]}"
  T=$(free_port)
  proxy --listen "websecure=127.0.0.1:$T,tls" --tls-cert "$WORK/a.example.crt" \
    --tls-key "$WORK/a.example.key" --tls-cert "$WORK/b.example.crt" --tls-key "$WORK/b.example.key"
  wait_port "$T"
  for h in a.example b.example; do
    run curl -sS --cacert "$WORK/$h.crt" --resolve "$h:$T:127.0.0.1" "https://$h:$T/x"
    [ "$status" -eq 0 ]
    grep -q '"x-forwarded-proto": "https"' <<<"$output"
  done
  run curl -sS --tlsv1.1 --tls-max 1.1 -k --resolve "a.example:$T:127.0.0.1" "https://a.example:$T/"
  [ "$status" -ne 0 ]
  run curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' -H 'Host: a.example' "http://127.0.0.1:$P/p?q=1"
  [ "$output" = "301 https://a.example/p?q=1" ]
}

@test "proxy: a certificate that does not match its key is a clear start-up error" {
  for h in a b; do
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=$h" -keyout "$WORK/$h.key" \
      -out "$WORK/$h.crt" 2>/dev/null
  done
  routes '{"routes": []}'
  run "$PROXY" serve --listen "127.0.0.1:$(free_port),tls" --tls-cert "$WORK/a.crt" --tls-key "$WORK/b.key"
  [ "$status" -eq 1 ]
  [[ $output == *"TLS certificate '$WORK/a.crt' does not match its key '$WORK/b.key'"* ]]
}

@test "proxy: TCP mode balances connections" {
  backend tcp t1
  backend tcp t2
  routes "{\"routes\": [{\"service\": \"echo\", \"mode\": \"tcp\", \"entrypoint\": \"web\",
    \"backends\": [{\"address\": \"127.0.0.1:$PORT_t1\"}, {\"address\": \"127.0.0.1:$PORT_t2\"}]}]}"
  proxy
  run python3 - "$P" <<'PY'
import socket, sys
seen = set()
for i in range(4):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
    s.sendall(b"ping")
    data = b""
    while not data.endswith(b"ping"):
        data += s.recv(100)
    seen.add(data.split(b":")[0])
    s.close()
assert seen == {b"t1", b"t2"}, seen
print("ok")
PY
  echo "$output"
  [ "$status" -eq 0 ]
}

@test "proxy: slow, malformed, Host-less and oversized requests get 408, 400 and 431; others are served" {
  two_backends
  proxy --header-timeout-ms 500 --max-header-bytes 4096
  run python3 - "$P" "$BATS_TEST_DIRNAME/proxy" <<'PY'
import functools, socket, sys
port = int(sys.argv[1])
sys.path.insert(0, sys.argv[2])
import client
ask = functools.partial(client.ask, port)
slow = socket.create_connection(("127.0.0.1", port), timeout=10)
slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finished
# Meanwhile everyone else is served.
assert ask(b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").startswith("HTTP/1.1 200")
out = slow.recv(65536).decode()
assert out.startswith("HTTP/1.1 408"), out
assert ask(b"BROKEN\r\n\r\n").startswith("HTTP/1.1 400")
# RFC 9112 §3.2: HTTP/1.1 without Host is a 400 (the catch-all route would take it); 1.0 is not.
out = ask(b"GET /ok HTTP/1.1\r\nConnection: close\r\n\r\n")
assert out.startswith("HTTP/1.1 400") and "must have a Host header" in out, out
assert ask(b"GET /ok HTTP/1.0\r\n\r\n").startswith("HTTP/1.1 200")
big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8000 + b"\r\n\r\n"
assert ask(big).startswith("HTTP/1.1 431")
assert ask(b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").startswith("HTTP/1.1 200")
print("ok")
PY
  echo "$output"
  [ "$status" -eq 0 ]
}

@test "proxy: request bodies dripped under --min-body-rate get 408 and close; a steady upload is served" {
  two_backends
  # Windows of a second: the drippers (5 bytes a second) are closed after about one.
  proxy --header-timeout-ms 1000
  run python3 "$BATS_TEST_DIRNAME/../lib/slow_clients.py" slowbody "127.0.0.1:$P" 5 POST /up
  echo "$output"
  [ "$status" -eq 0 ]
  [[ $output == *"steady 200"* ]]
  [[ $output == *"probe 200"* ]]
  [[ $output == *"closed 5"* ]]
  # 0 turns the minimum off: a dripper is held until the idle timeout.
  kill "$PROXY_PID"
  proxy --header-timeout-ms 1000 --min-body-rate 0 --idle-timeout-ms 4000
  run python3 - "$P" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
for _ in range(10):  # 3 s, a byte every 300 ms
    time.sleep(0.3)
    s.sendall(b" ")
s.setblocking(False)
try:
    print("answered", s.recv(100))
except BlockingIOError:
    print("held")
PY
  echo "$output"
  [ "$output" = "held" ]
}

@test "proxy: --rate-limit-per-client answers 429 past an address's burst; other addresses are served" {
  two_backends
  proxy --rate-limit-per-client 5 --rate-limit-burst 10
  run python3 - "$P" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
def statuses(source, n):
    s = socket.socket()
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    got = []
    for _ in range(n):
        s.sendall(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(65536)
        head, _, body = head.partition(b"\r\n\r\n")
        length = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
        while len(body) < length:
            body += s.recv(65536)
        got.append(int(head.split(b" ")[1]))
        if got[-1] == 429:
            assert b"Retry-After: 1" in head and b"requests a second" in body, head + body
    s.close()
    return got
first = statuses("127.0.0.1", 30)
# The burst (10), then 429s, on the same connection (it stays open).
assert first[:10] == [200] * 10 and 429 in first and set(first) == {200, 429}, first
assert statuses("127.0.0.2", 5) == [200] * 5
time.sleep(1.1)  # five a second come back
again = statuses("127.0.0.1", 20)
assert again[:5] == [200] * 5 and 429 in again, again
print("ok")
PY
  echo "$output"
  [ "$output" = ok ]
}

@test "proxy: a chunk-size line or trailers over --max-header-bytes are refused, not held" {
  two_backends
  proxy --max-header-bytes 4096
  # A chunk-size line that never ends: the proxy used to keep every byte of it (200 MiB, one client).
  run python3 "$BATS_TEST_DIRNAME/../lib/slow_clients.py" chunkline "127.0.0.1:$P" POST /up
  echo "$output"
  [ "$(sed -n 's/^taken //p' <<<"$output")" -lt 16 ]
  [[ $output == *"probe 200"* ]]
  run python3 - "$P" "$BATS_TEST_DIRNAME/proxy" <<'PY'
import functools, sys
port = int(sys.argv[1])
sys.path.insert(0, sys.argv[2])
import client
ask = functools.partial(client.ask, port)
head = b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
# Arriving whole: a 400 that says why. Trailers count with their last chunk.
out = ask(head + b"5;x=" + b"a" * 5000 + b"\r\nhello\r\n0\r\n\r\n")
assert out.startswith("HTTP/1.1 400") and "larger than 4096 bytes" in out, out
out = ask(head + b"5\r\nhello\r\n0\r\nX-T: " + b"a" * 5000 + b"\r\n\r\n")
assert out.startswith("HTTP/1.1 400") and "larger than 4096 bytes" in out, out
# Under the limit: served.
closing = head.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
out = ask(closing + b"5;x=" + b"a" * 1000 + b"\r\nhello\r\n0\r\nX-T: 1\r\n\r\n")
assert out.startswith("HTTP/1.1 200") and '"body_length": 5' in out, out
print("ok")
PY
  echo "$output"
  [ "$status" -eq 0 ]
}

@test "proxy: a backend's chunk-size line that never ends breaks its response, not the proxy's memory" {
  local port
  port=$(free_port)
  python3 "$BACKEND" chunkline c "$port" >/dev/null 2>"$WORK/backend.err" 3>&- &
  PIDS+=($!)
  wait_port "$port"
  routes "{\"routes\": [{\"service\": \"web\", \"backends\": [{\"address\": \"127.0.0.1:$port\", \"name\": \"c\"}]}]}"
  proxy
  run curl -sS -m 60 "http://127.0.0.1:$P/" -o /dev/null
  [ "$status" -ne 0 ]  # the response broke off
  for _ in $(seq 100); do grep -q '^sent' "$WORK/backend.err" && break; sleep 0.1; done
  cat "$WORK/backend.err"
  [ "$(sed -n 's/^sent //p' "$WORK/backend.err")" -lt 16 ]
}

@test "proxy: one address cannot take every connection; at --max-connections new ones wait" {
  two_backends
  proxy --max-connections-per-client 4
  local probe="python3 $BATS_TEST_DIRNAME/../lib/slow_clients.py"
  run $probe flood "127.0.0.1:$P" 10 /ok --from 127.0.0.1 --probe-from 127.0.0.2
  echo "$output"
  [[ $output == *"held 4"* ]]
  [[ $output == *"refused 6"* ]]
  [[ $output == *"probe 200"* ]]
  kill "$PROXY_PID"
  wait "$PROXY_PID" 2>/dev/null || true
  proxy --max-connections 3 --max-connections-per-client 0
  run $probe queue "127.0.0.1:$P" 3 /ok
  echo "$output"
  [[ $output == *"waiting yes"* ]]
  [[ $output == *"probe 200"* ]]
}

@test "proxy: a listen address in use is a clear start-up error" {
  routes '{"routes": []}'
  proxy
  run "$PROXY" serve --listen "127.0.0.1:$P"
  [ "$status" -eq 1 ]
  [[ $output == *"listen on '127.0.0.1:$P': address already in use"* ]]
}

@test "proxy: control socket lists routes and drains a backend after its in-flight requests" {
  two_backends
  proxy
  run ctl http://x/routes
  [ "$status" -eq 0 ]
  [[ $(jq -r '.routes[0].backends | map(.state) | join(",")' <<<"$output") == up,up ]]
  # A slow request in flight on b, then drain b: the answer waits for it.
  curl -sS "http://127.0.0.1:$P/slow" -o "$WORK/slow1" 3>&- &
  local c1=$!
  curl -sS "http://127.0.0.1:$P/slow" -o "$WORK/slow2" 3>&- &
  local c2=$!
  sleep 0.3
  run ctl -X POST "http://x/drain?backend=127.0.0.1:$PORT_b&timeout_ms=5000" -w '\n%{http_code}'
  echo "$output"
  [[ $output == *200 ]]
  wait "$c1" "$c2"
  grep -q '"backend": "b"' "$WORK/slow1" "$WORK/slow2"
  [[ $(ctl http://x/routes | jq -r '.routes[0].backends[1].state') == draining ]]
  for i in 1 2 3; do
    curl -sS "http://127.0.0.1:$P/after" | grep -q '"backend": "a"'
  done
  run ctl -X POST "http://x/drain?backend=nope" -w '\n%{http_code}'
  [[ $output == *404 ]]
  run ctl http://x/stats
  [[ $(jq '.routes[0].counters.requests' <<<"$output") -ge 5 ]]
}

@test "proxy: stats page, JSON, Prometheus metrics and the access log" {
  two_backends
  S=$(free_port)
  proxy --stats "127.0.0.1:$S" --access-log "$WORK/access.log" --access-log-format json
  curl -sS "http://127.0.0.1:$P/hello" >/dev/null
  run curl -sS "http://127.0.0.1:$S/"
  [[ $output == *"<table>"* && $output == *"web"* ]]
  run curl -sS "http://127.0.0.1:$S/stats.json"
  [[ $(jq -r '.frontends[0].name' <<<"$output") == web ]]
  run curl -sS "http://127.0.0.1:$S/metrics"
  [[ $output == *'berth_proxy_backend_up{service="web",backend="a"'* ]]
  sleep 0.2
  jq -e 'select(.target == "/hello" and .status == 200 and .service == "web")' "$WORK/access.log"
}

@test "proxy: the stats listener closes slow requests at the header timeout and holds at most 64 connections" {
  two_backends
  S=$(free_port)
  proxy --stats "127.0.0.1:$S" --header-timeout-ms 500
  local probe="python3 $BATS_TEST_DIRNAME/../lib/slow_clients.py"
  run $probe slowloris "127.0.0.1:$S" 5 /stats.json
  echo "$output"
  [ "$status" -eq 0 ]
  [[ $output == *"probe 200"* ]]
  [[ $output == *"closed 5"* ]]
  # 70 idle connections (the default header timeout, 10 s, does not end them here): 64 held, the
  # others closed at once; the data plane is served meanwhile.
  kill "$PROXY_PID"
  S=$(free_port)
  proxy --stats "127.0.0.1:$S"
  python3 "$BATS_TEST_DIRNAME/../lib/slow_clients.py" hold "127.0.0.1:$S" 70 1.5 >"$WORK/flood" &
  local flood=$!
  sleep 1
  run curl -sS "http://127.0.0.1:$P/ok"
  [ "$status" -eq 0 ]
  wait "$flood"
  [ "$(cat "$WORK/flood")" = "closed 6" ]
  # Once they are gone, the stats page answers again.
  run curl -sS "http://127.0.0.1:$S/stats.json"
  [[ $(jq -r '.frontends[0].name' <<<"$output") == web ]]
}

@test "proxy: idle keep-alive connections park between requests, wake for the next, and close at the idle timeout" {
  two_backends
  S=$(free_port)
  proxy --stats "127.0.0.1:$S" --idle-timeout-ms 700
  run python3 - "$P" "$S" <<'PY'
import json, socket, sys, time, urllib.request
port, stats = int(sys.argv[1]), int(sys.argv[2])
def current():
    with urllib.request.urlopen(f"http://127.0.0.1:{stats}/stats.json") as r:
        return json.load(r)["frontends"][0]["current_connections"]
def response(s):
    got = b""
    while b"\r\n\r\n" not in got:
        d = s.recv(65536)
        assert d, "closed while a response was due"
        got += d
    head, _, body = got.partition(b"\r\n\r\n")
    length = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
    while len(body) < length:
        body += s.recv(65536)
    assert head.startswith(b"HTTP/1.1 200"), head
    return body[length:]
conns = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(20)]
for round in range(2):
    for s in conns:
        s.sendall(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        assert response(s) == b""
    time.sleep(0.2)  # every session is parked now; the next request wakes it
# Two pipelined requests on a parked connection: both answered, in order.
conns[0].sendall(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\n")
rest = response(conns[0])
if rest:
    assert rest.startswith(b"HTTP/1.1 200"), rest
else:
    assert response(conns[0]) == b""
assert current() == 20, current()
# Left alone, each one is closed by the proxy at the idle timeout, with no reply.
for s in conns:
    assert s.recv(65536) == b""
for _ in range(200):
    if current() == 0: break
    time.sleep(0.05)
assert current() == 0, current()
print("ok")
PY
  echo "$output"
  [ "$status" -eq 0 ]
}

# checked_route PATH: backend a behind an HTTP check of PATH every 50 ms.
checked_route() {
  routes "{\"routes\": [{\"service\": \"web\",
    \"check\": {\"kind\": \"http\", \"path\": \"$1\", \"interval_ms\": 50, \"rise\": 1, \"fall\": 1},
    \"backends\": [{\"address\": \"127.0.0.1:$PORT_a\", \"name\": \"a\"}]}]}"
}

# await_code CODE: until a request through the proxy gets CODE (10 s).
await_code() {
  local code i
  for ((i = 0; i < 200; i++)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P/x")
    [[ $code == "$1" ]] && return 0
    sleep 0.05
  done
  echo "got $code, not $1" >&2
  return 1
}

@test "proxy: a changed health check applies to backends already in the table" {
  backend http a
  checked_route /status/503
  proxy
  run curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P/x"
  [ "$output" = 503 ]
  checked_route /status/200
  await_code 200
  # Back to a failing check: the backend goes out; then without a check it is served again.
  checked_route /status/503
  await_code 503
  routes "{\"routes\": [{\"service\": \"web\",
    \"backends\": [{\"address\": \"127.0.0.1:$PORT_a\", \"name\": \"a\"}]}]}"
  await_code 200
}
