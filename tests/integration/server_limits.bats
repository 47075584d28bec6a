#!/usr/bin/env bats
# Limits of berth's HTTP servers against slow and flooding clients (docs/hardening.md): the
# registry on loopback TCP and the Docker API on its unix socket. A slowloris client is cut off
# while a normal client is served, an oversized head gets 431, one address cannot take every
# connection, and connections beyond the cap wait and are served later.
# The proxy's and the DNS responder's limits are tested in proxy.bats and dns.bats.

load ../lib/registry_server

setup() {
  T=$(mktemp -d /tmp/berth-test-limits.XXXXXX)
  REQ_DIR=$T
  PROBE="python3 $BATS_TEST_DIRNAME/../lib/slow_clients.py"
}

teardown() {
  reg_stop
  if [[ -n ${SERVE_PID:-} ]]; then
    kill "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
  fi
  rm -rf "${T:?}"
}

@test "registry: slowloris connections are closed at the header timeout, others are served" {
  reg_start "$T/reg" --header-timeout 1s
  run $PROBE slowloris "$REG" 20 /v2/
  echo "$output"
  [ "$status" -eq 0 ]
  [[ $output == *"probe 200"* ]]
  [[ $output == *"closed 20"* ]]
}

@test "registry: an upload dripped below the minimum rate is closed; a steady one is answered" {
  reg_start "$T/reg" --header-timeout 1s
  run $PROBE slowbody "$REG" 5 PUT /v2/slow/manifests/latest
  echo "$output"
  [ "$status" -eq 0 ]
  [[ $output == *"steady 4"* || $output == *"steady 2"* ]]
  [[ $output == *"probe 200"* ]]
  [[ $output == *"closed 5"* ]]
}

@test "registry: a body that has barely begun holds a small buffer, not a megabyte" {
  reg_start "$T/reg"
  # 100 uploads each one byte in. Each held a zeroed 1 MiB buffer (100+ MB); it grows from
  # 64 KiB only when reads fill it.
  run $PROBE bodies "$REG" 100 PUT /v2/slow/manifests/latest "$REG_PID"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ $output == *"probe 200"* ]]
  grew=$(sed -n 's/^grew //p' <<<"$output")
  [ "$grew" -lt 40000 ]
}

@test "registry: a request head over --max-header-bytes gets 431, a smaller one is served, a broken one 400" {
  reg_start "$T/reg" --max-header-bytes 4096
  run $PROBE bighead "$REG" 8000 /v2/
  echo "$output"
  [ "$output" = "status 431" ]
  run $PROBE bighead "$REG" 2000 /v2/
  [ "$output" = "status 200" ]
  # A head that is not HTTP gets 400 (it was dropped without an answer).
  run python3 -c 'import socket, sys
h, p = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((h, int(p)), timeout=10)
s.sendall(b"BROKEN\r\n\r\n")
print(s.recv(100).split(b"\r\n")[0].decode())' "$REG"
  [ "$output" = "HTTP/1.1 400 Bad Request" ]
  # The default (64 KiB) holds bearer tokens and big cookies; 100 KB does not pass.
  reg_stop
  reg_start "$T/reg"
  run $PROBE bighead "$REG" 100000 /v2/
  [ "$output" = "status 431" ]
}

@test "registry: a chunk-size line that never ends is cut off at --max-header-bytes, not held" {
  # Beast limits a head but not a chunk line: the server kept every byte (200 MiB, one client).
  reg_start "$T/reg" --max-header-bytes 4096
  run $PROBE chunkline "$REG" PUT /v2/chunky/manifests/latest
  echo "$output"
  [ "$status" -eq 0 ]
  taken=$(sed -n 's/^taken //p' <<<"$output")
  [ "$taken" -lt 16 ]
  [[ $output == *"probe 200"* ]]
}

@test "registry: one address cannot take every connection; another is still served" {
  reg_start "$T/reg" --max-connections-per-client 4
  run $PROBE flood "$REG" 10 /v2/ --from 127.0.0.1 --probe-from 127.0.0.2
  echo "$output"
  [ "$status" -eq 0 ]
  [[ $output == *"held 4"* ]]
  [[ $output == *"refused 6"* ]]
  [[ $output == *"probe 200"* ]]
  # Its own connections are back once the flood closed them.
  run $PROBE flood "$REG" 1 /v2/ --from 127.0.0.1 --probe-from 127.0.0.1
  [[ $output == *"probe 200"* ]]
}

@test "registry: --rate-limit-per-client answers 429 TOOMANYREQUESTS past the burst; another address is served" {
  reg_start "$T/reg" --rate-limit-per-client 1 --rate-limit-burst 5
  urls=()
  for i in $(seq 12); do urls+=(-o /dev/null "http://$REG/v2/"); done
  # One connection, twelve requests at once: the burst of five, then a token a second (three
  # more would take three seconds, which twelve loopback requests do not).
  run curl -s -w '%{http_code}\n' "${urls[@]}"
  echo "$output"
  [ "$(grep -c '^200$' <<<"$output")" -ge 5 ]
  [ "$(grep -c '^200$' <<<"$output")" -le 8 ]
  [ "$(grep -c '^429$' <<<"$output")" -ge 4 ]
  run curl -si "http://$REG/v2/"
  echo "$output"
  [[ $output == *"HTTP/1.1 429"* ]]
  [[ $output == *"Retry-After: 1"* ]]
  [[ $output == *'"code":"TOOMANYREQUESTS"'* ]]
  run curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.2 "http://$REG/v2/"
  [ "$output" = 200 ]
  # Its tokens come back at the rate.
  sleep 1.2
  run curl -s -o /dev/null -w '%{http_code}' "http://$REG/v2/"
  [ "$output" = 200 ]
}

@test "registry: uploads left past --upload-grace are removed while it serves; one in use stays" {
  reg_start "$T/reg" --upload-grace 2s --upload-purge-interval 1s
  req POST /v2/app/one/blobs/uploads/
  [ "$code" = 202 ]
  left=$(hdr Location)
  req POST /v2/app/one/blobs/uploads/
  used=$(hdr Location)
  # The second upload gets a byte every 0.6 s for 4.2 s: never 2 s untouched.
  printf '' >"$T/sent"
  for i in 0 1 2 3 4 5 6; do
    sleep 0.6
    printf "$i" >"$T/byte"
    req PATCH "$used" --data-binary "@$T/byte" -H "Content-Range: $i-$i"
    [ "$code" = 202 ]
    printf "$i" >>"$T/sent"
  done
  req GET "$left"
  [ "$code" = 404 ]
  [[ $body == *BLOB_UPLOAD_UNKNOWN* ]]
  [ "$(ls "$T/reg/storage/uploads" | wc -l)" = 1 ]
  req PUT "$used?digest=sha256:$(sha256sum "$T/sent" | cut -d' ' -f1)"
  [ "$code" = 201 ]
  [ -z "$(ls "$T/reg/storage/uploads")" ]
}

@test "registry: at --max-connections new connections wait and are served once others close" {
  reg_start "$T/reg" --max-connections 3 --max-connections-per-client 0
  run $PROBE queue "$REG" 3 /v2/
  echo "$output"
  [ "$status" -eq 0 ]
  [[ $output == *"waiting yes"* ]]
  [[ $output == *"probe 200"* ]]
}

@test "registry: the cap stays below the descriptor limit: there, connections wait, accept never fails" {
  ulimit -n 200  # this test's processes only: the cap becomes 200 - 64
  reg_start "$T/reg" --max-connections 0 --max-connections-per-client 0
  run $PROBE queue "$REG" 136 /v2/
  echo "$output"
  [[ $output == *"waiting yes"* ]]
  [[ $output == *"probe 200"* ]]
  ! grep -q 'accept:' "$REG_LOG"
}

@test "registry: limit options are checked" {
  run "$BERTH" registry serve --root "$T/r" --max-connections-per-client x
  [ "$status" -ne 0 ]
  [[ $output == *"--max-connections-per-client 'x': give a number from 0 to"* ]]
  run "$BERTH" registry serve --root "$T/r" --max-header-bytes 10
  [[ $output == *"--max-header-bytes '10': give a number from 1024 to"* ]]
  run "$BERTH" registry serve --root "$T/r" --header-timeout 1ms
  [[ $output == *"--header-timeout '1ms': give at least 100ms"* ]]
  run "$BERTH" registry serve --root "$T/r" --rate-limit-per-client -3
  [[ $output == *"--rate-limit-per-client '-3': give a number from 0 to"* ]]
  run "$BERTH" registry serve --root "$T/r" --upload-grace 0s
  [[ $output == *"--upload-grace '0s': give at least 1s"* ]]
  run "$BERTH" registry serve --root "$T/r" --upload-purge-interval soon
  [ "$status" -ne 0 ]
  [[ $output == *soon* ]]
  [ ! -e "$T/r" ]
}

# api_start [OPTIONS...]: `berth serve` on a socket of this test, with empty roots.
api_start() {
  export BERTH_ROOT=$T/root BERTH_RUN_ROOT=$T/run
  SOCK=$T/api.sock
  "$BERTH" serve --socket "$SOCK" "$@" 2>"$T/serve.log" </dev/null 3>&- &
  SERVE_PID=$!
  local i
  for ((i = 0; i < 100; i++)); do
    grep -qs 'Docker Engine API on' "$T/serve.log" && return 0
    kill -0 "$SERVE_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$T/serve.log" >&2
  return 1
}

@test "API server: slowloris connections are closed, /_ping is answered meanwhile; 431 for a huge head" {
  api_start --header-timeout 1s
  run $PROBE slowloris "$SOCK" 10 /_ping
  echo "$output"
  [[ $output == *"probe 200"* ]]
  [[ $output == *"closed 10"* ]]
  run $PROBE bighead "$SOCK" 100000 /_ping
  [ "$output" = "status 431" ]
}

@test "API server: a request body dripped below the minimum rate is closed; /_ping is answered meanwhile" {
  api_start --header-timeout 1s
  run $PROBE slowbody "$SOCK" 5 POST /v1.41/containers/create
  echo "$output"
  [ "$status" -eq 0 ]
  [[ $output != *"steady closed"* ]]
  [[ $output == *"probe 200"* ]]
  [[ $output == *"closed 5"* ]]
}

@test "API server: at --max-connections new connections wait and are served once others close" {
  api_start --max-connections 2
  run $PROBE queue "$SOCK" 2 /_ping
  echo "$output"
  [[ $output == *"waiting yes"* ]]
  [[ $output == *"probe 200"* ]]
}
