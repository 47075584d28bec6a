#!/usr/bin/env bats
# `berth serve` over TCP with mutual TLS (docker --tlsverify with certificates made here by
# openssl) and started by systemd socket activation (systemd-socket-activate).

load ../lib/api

setup() { berth_setup; }
teardown() {
  if [[ -n ${SERVE_PID:-} ]]; then
    kill "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
  fi
  berth_teardown
}

# A CA, a server certificate for 127.0.0.1 and a client certificate, in $PKI.
make_pki() {
  PKI=$BATS_TEST_TMPDIR/pki
  mkdir -p "$PKI"
  cd "$PKI"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=berth-test-ca -keyout ca-key.pem -out ca.pem 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server-key.pem -out server.csr 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile server.ext -out server.pem 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=client -keyout key.pem -out client.csr 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' >client.ext
  openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile client.ext -out cert.pem 2>/dev/null
  cd - >/dev/null
}

# Starts `berth serve` with the given arguments and waits for its line for `scheme`.
serve_with() {
  local scheme=$1
  shift
  SERVE_LOG=$BATS_TEST_TMPDIR/serve.log
  "$BERTH" serve --socket "$BATS_TEST_TMPDIR/d.sock" "$@" 2>"$SERVE_LOG" </dev/null 3>&- &
  SERVE_PID=$!
  for i in $(seq 100); do
    grep -qs "Docker Engine API on $scheme" "$SERVE_LOG" && break
    kill -0 "$SERVE_PID" 2>/dev/null || break
    sleep 0.1
  done
  grep -qs "Docker Engine API on $scheme" "$SERVE_LOG" || { cat "$SERVE_LOG" >&2; return 1; }
}

@test "api tcp: docker --tlsverify runs containers over mutual TLS, stdin included; no client certificate, no service" {
  make_pki
  serve_with tcp:// --tcp 127.0.0.1:0 --tls-cert "$PKI/server.pem" --tls-key "$PKI/server-key.pem" --tls-ca "$PKI/ca.pem"
  addr=$(sed -n 's|.*Docker Engine API on tcp://||p' "$SERVE_LOG")
  tls=(--tlsverify --tlscacert "$PKI/ca.pem" --tlscert "$PKI/cert.pem" --tlskey "$PKI/key.pem" -H "tcp://$addr")
  run timeout 60 "$DOCKER" "${tls[@]}" run --rm busybox echo over-tls
  [ "$status" -eq 0 ]
  [ "$output" = over-tls ]
  # A hijacked stream through the relay: stdin in, its end passed on, output and exit code back.
  run bash -c "printf 'a\nb\n' | timeout 60 $DOCKER ${tls[*]} run -i --rm busybox sh -c 'wc -l; exit 4'"
  [ "$status" -eq 4 ]
  [ "$(echo $output)" = 2 ]
  # The TLS server answers only clients with a certificate signed by the CA.
  run curl -sS --cacert "$PKI/ca.pem" "https://$addr/_ping"
  [ "$status" -ne 0 ]
  run curl -sS --cacert "$PKI/ca.pem" --cert "$PKI/cert.pem" --key "$PKI/key.pem" "https://$addr/_ping"
  [ "$status" -eq 0 ]
  [ "$output" = OK ]
  # Still served on the unix socket as well.
  run curl -s --unix-socket "$BATS_TEST_TMPDIR/d.sock" http://docker/_ping
  [ "$output" = OK ]
}

@test "api tcp: --tcp without the three TLS files is refused, and bad files are named" {
  run "$BERTH" serve --socket "$BATS_TEST_TMPDIR/d.sock" --tcp 127.0.0.1:0
  [ "$status" -ne 0 ]
  [[ $output == *"--tcp needs --tls-cert, --tls-key and --tls-ca"* ]]
  run "$BERTH" serve --socket "$BATS_TEST_TMPDIR/d.sock" --tcp 127.0.0.1:0 --tls-cert /nonexistent.pem \
    --tls-key /nonexistent.pem --tls-ca /nonexistent.pem
  [ "$status" -ne 0 ]
  [[ $output == *"load TLS certificate '/nonexistent.pem'"* ]]
  run "$BERTH" serve --socket "$BATS_TEST_TMPDIR/d.sock" --tls-ca /x.pem
  [ "$status" -ne 0 ]
  [[ $output == *"go with --tcp"* ]]
}

@test "api socket activation: no process until a client connects; served on systemd's socket, then exits when idle" {
  command -v systemd-socket-activate
  sock=$BATS_TEST_TMPDIR/activated.sock
  # systemd-socket-activate gives the program only the environment named with -E.
  systemd-socket-activate -l "$sock" -E PATH -- "$BERTH" --root "$BERTH_ROOT" --run-root "$BERTH_RUN_ROOT" \
    serve --idle-exit 1s 2>"$BATS_TEST_TMPDIR/serve.log" </dev/null 3>&- &
  SERVE_PID=$!
  for i in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
  [ -S "$sock" ]
  # Nothing of berth runs yet: the listener is systemd-socket-activate's.
  [ "$(readlink /proc/$SERVE_PID/exe)" != "$(readlink -f "$BERTH")" ]
  run timeout 60 "$DOCKER" -H "unix://$sock" run --rm busybox echo activated
  [ "$status" -eq 0 ] || cat "$BATS_TEST_TMPDIR/serve.log"
  [ "$output" = activated ]
  [ "$(readlink /proc/$SERVE_PID/exe)" = "$(readlink -f "$BERTH")" ]
  grep -q "Docker Engine API on unix://$sock" "$BATS_TEST_TMPDIR/serve.log"
  # Idle for a second: it exits (status 0), and the socket file, systemd's, stays.
  wait "$SERVE_PID"
  SERVE_PID=
  [ -S "$sock" ]
}

# tls_probe ADDR [SOURCE]: GET /_ping over mutual TLS from SOURCE (an address of this host).
tls_probe() {
  curl -sS --max-time "${PROBE_TIME:-10}" ${2:+--interface "$2"} --cacert "$PKI/ca.pem" --cert "$PKI/cert.pem" \
    --key "$PKI/key.pem" "https://$1/_ping"
}

@test "api tcp: a handshake dripped a byte at a time is closed at --header-timeout; others are served meanwhile" {
  make_pki
  serve_with tcp:// --tcp 127.0.0.1:0 --tls-cert "$PKI/server.pem" --tls-key "$PKI/server-key.pem" \
    --tls-ca "$PKI/ca.pem" --header-timeout 1s
  addr=$(sed -n 's|.*Docker Engine API on tcp://||p' "$SERVE_LOG")
  # Five clients announce a 512-byte handshake record, then send it a byte every 200 ms: each read
  # brings something, so only a deadline for the whole handshake ends them.
  python3 - "$addr" >"$BATS_TEST_TMPDIR/drip" <<'PY' &
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
socks = [socket.create_connection((host, int(port))) for _ in range(5)]
for s in socks:
    s.sendall(b"\x16\x03\x01\x02\x00\x01")
start, closed = time.time(), set()
while len(closed) < 5 and time.time() - start < 15:
    for i, s in enumerate(socks):
        if i in closed:
            continue
        try:
            s.sendall(b"\x00")
        except OSError:
            closed.add(i)
    time.sleep(0.2)
print(f"closed {len(closed)}")
PY
  drip=$!
  sleep 0.3
  run tls_probe "$addr"
  [ "$output" = OK ]
  wait "$drip"
  cat "$BATS_TEST_TMPDIR/drip"
  [ "$(cat "$BATS_TEST_TMPDIR/drip")" = "closed 5" ]
}

@test "api tcp: one address cannot take every connection; at --max-connections new ones wait" {
  make_pki
  serve_with tcp:// --tcp 127.0.0.1:0 --tls-cert "$PKI/server.pem" --tls-key "$PKI/server-key.pem" \
    --tls-ca "$PKI/ca.pem" --max-connections-per-client 3 --max-connections 5
  addr=$(sed -n 's|.*Docker Engine API on tcp://||p' "$SERVE_LOG")
  # Six idle connections from 127.0.0.1: three are held, three closed at once; 127.0.0.2 is
  # served meanwhile.
  python3 "$BATS_TEST_DIRNAME/../lib/slow_clients.py" hold "$addr" 6 6 >"$BATS_TEST_TMPDIR/flood" &
  flood=$!
  sleep 1
  run tls_probe "$addr" 127.0.0.2
  [ "$output" = OK ]
  # 3 held + 2 idle from 127.0.0.3 make 5: the next connection waits until one closes.
  python3 "$BATS_TEST_DIRNAME/../lib/slow_clients.py" hold "$addr" 2 2.5 --from 127.0.0.3 >/dev/null &
  idle=$!
  sleep 0.5
  PROBE_TIME=1 run tls_probe "$addr" 127.0.0.4
  [ "$status" -ne 0 ]
  wait "$idle"
  run tls_probe "$addr" 127.0.0.4
  [ "$output" = OK ]
  wait "$flood"
  [ "$(cat "$BATS_TEST_TMPDIR/flood")" = "closed 3" ]
}
