#!/usr/bin/env bats
# `berth registry serve` under stress: SIGKILL mid-upload then restart (no partial blob is ever
# served; the upload resumes), concurrent uploads of one blob, and gc next to a running server.

load ../lib/registry_server

setup() {
  T=$(mktemp -d /tmp/berth-test-registry-crash.XXXXXX)
  REQ_DIR=$T
  reg_start "$T/reg"
}

teardown() {
  reg_stop
  [[ -z ${SLOW_PID:-} ]] || kill "$SLOW_PID" 2>/dev/null || true
  rm -rf "$T"
}

# Every blob on disk has the digest of its name.
all_blobs_verified() { blobs_verified "$T/reg/storage"; }

@test "registry crash: SIGKILL mid-chunk, restart: nothing partial is visible, the upload resumes" {
  head -c 3000000 /dev/urandom >"$T/blob"
  digest=$(sha "$T/blob")
  req POST /v2/app/one/blobs/uploads/
  loc=$(hdr Location)
  id=${loc##*/}
  # A client that sends 1 MB of a 3 MB chunk and then stalls, holding the connection.
  python3 - "$REG" "$loc" "$T/blob" <<'PY' &
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
data = open(sys.argv[3], "rb").read()
s = socket.create_connection((host, int(port)))
s.sendall(f"PATCH {sys.argv[2]} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data[:1000000])
time.sleep(30)
PY
  SLOW_PID=$!
  data=$T/reg/storage/uploads/$id/data
  for _ in $(seq 100); do [ "$(stat -c %s "$data" 2>/dev/null)" = 1000000 ] && break; sleep 0.05; done
  [ "$(stat -c %s "$data")" = 1000000 ]
  kill -9 "$REG_PID"
  wait "$REG_PID" 2>/dev/null || true
  kill "$SLOW_PID"
  SLOW_PID=
  reg_start "$T/reg"
  req HEAD "/v2/app/one/blobs/$digest" -I
  [ "$code" = 404 ]
  [ -z "$(ls "$T/reg/storage/blobs/sha256")" ]
  req GET "$loc"
  [ "$code" = 204 ]
  [ "$(hdr Range)" = 0-999999 ]
  # A wrong digest now must not publish the partial bytes either.
  req PUT "$loc?digest=$digest"
  [ "$code" = 400 ]
  [[ $body == *DIGEST_INVALID* ]]
  [ -z "$(ls "$T/reg/storage/blobs/sha256")" ]
  # Restarted from scratch, and resumed after a second kill between chunks.
  req POST /v2/app/one/blobs/uploads/
  loc=$(hdr Location)
  head -c 1000000 "$T/blob" >"$T/a"
  req PATCH "$loc" --data-binary "@$T/a" -H 'Content-Range: 0-999999'
  [ "$code" = 202 ]
  kill -9 "$REG_PID"
  wait "$REG_PID" 2>/dev/null || true
  reg_start "$T/reg"
  req GET "$loc"
  [ "$(hdr Range)" = 0-999999 ]
  tail -c +1000001 "$T/blob" >"$T/b"
  req PUT "$loc?digest=$digest" --data-binary "@$T/b" -H 'Content-Range: 1000000-2999999'
  [ "$code" = 201 ]
  req GET "/v2/app/one/blobs/$digest"
  cmp "$T/body" "$T/blob"
  [ -z "$(ls "$T/reg/storage/uploads")" ]
}

@test "registry crash: SIGKILL while uploads stream: every blob on disk matches its digest" {
  for i in 1 2 3 4; do head -c 20000000 /dev/urandom >"$T/b$i"; done
  for i in 1 2 3 4; do
    curl -s -o /dev/null -X POST --data-binary "@$T/b$i" "$REG_URL/v2/app/one/blobs/uploads/?digest=$(sha "$T/b$i")" &
  done
  sleep 0.3
  kill -9 "$REG_PID"
  wait "$REG_PID" 2>/dev/null || true
  wait
  all_blobs_verified
  reg_start "$T/reg"
  for i in 1 2 3 4; do
    req HEAD "/v2/app/one/blobs/$(sha "$T/b$i")" -I
    if [ "$code" = 200 ]; then
      req GET "/v2/app/one/blobs/$(sha "$T/b$i")"
      cmp "$T/body" "$T/b$i"
    else
      [ "$code" = 404 ]
    fi
  done
}

@test "registry: eight concurrent uploads of one blob, into one and into several repositories" {
  head -c 5000000 /dev/urandom >"$T/blob"
  digest=$(sha "$T/blob")
  pids=()
  for i in 1 2 3 4 5 6 7 8; do
    repo=app/one
    (( i % 2 )) || repo=app/r$i
    curl -s -o "$T/out$i" -w '%{http_code}' -X POST --data-binary "@$T/blob" \
      "$REG_URL/v2/$repo/blobs/uploads/?digest=$digest" >"$T/code$i" &
    pids+=($!)
  done
  wait "${pids[@]}"
  for i in 1 2 3 4 5 6 7 8; do [ "$(cat "$T/code$i")" = 201 ] || { cat "$T/out$i"; false; }; done
  for repo in app/one app/r2 app/r4 app/r6 app/r8; do
    req GET "/v2/$repo/blobs/$digest"
    cmp "$T/body" "$T/blob"
  done
  [ "$(ls "$T/reg/storage/blobs/sha256")" = "${digest#sha256:}" ]
  [ -z "$(ls "$T/reg/storage/uploads")" ]
  all_blobs_verified
}

@test "registry gc: removes unreferenced old blobs and stale uploads, keeps young and used ones, dry-run changes nothing" {
  head -c 4096 /dev/urandom >"$T/layer"
  head -c 4096 /dev/urandom >"$T/lone"
  echo '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$T/config"
  push_image app/one v1 "$T/config" "$T/layer" "$T/m.json"
  [ "$code" = 201 ]
  lone=$(push_blob app/two "$T/lone")
  req POST /v2/app/two/blobs/uploads/
  stale=$(hdr Location)
  req PATCH "$stale" --data-binary "@$T/lone"
  blobs=$T/reg/storage/blobs/sha256
  # Young: kept even though unreferenced.
  run "$BERTH" registry gc --root "$T/reg/storage"
  [ "$status" -eq 0 ]
  [[ $output == *"Removed 0 blobs"* ]]
  [[ $output == *"1 younger than the grace period"* ]]
  touch -d '2 hours ago' "$blobs/${lone#sha256:}" "$blobs/$(sha "$T/layer" | cut -d: -f2)"
  touch -d '2 days ago' "$T"/reg/storage/uploads/*/data
  run "$BERTH" registry gc --root "$T/reg/storage" --dry-run
  [ "$status" -eq 0 ]
  [[ $output == *"Would remove blob $lone"* ]]
  [[ $output == *"Would remove upload ${stale##*/}"* ]]
  [ -e "$blobs/${lone#sha256:}" ]
  # The server keeps serving while gc runs.
  run "$BERTH" registry gc --root "$T/reg/storage" --format json
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["removed_blobs"], len(d["removed_uploads"]), d["kept_blobs"])')" = "['$lone'] 1 3" ]
  [ ! -e "$blobs/${lone#sha256:}" ]
  req HEAD "/v2/app/two/blobs/$lone" -I
  [ "$code" = 404 ]
  req GET "$stale"
  [ "$code" = 404 ]
  req GET /v2/app/one/manifests/v1
  [ "$code" = 200 ]
  req GET "/v2/app/one/blobs/$(sha "$T/layer")"
  cmp "$T/body" "$T/layer"
  # Deleting the manifest makes its blobs garbage.
  req DELETE "/v2/app/one/manifests/$(sha "$T/m.json")"
  [ "$code" = 202 ]
  touch -d '2 hours ago' "$blobs"/*
  run "$BERTH" registry gc --root "$T/reg/storage"
  [[ $output == *"Removed 3 blobs"* ]]
  [ -z "$(ls "$blobs")" ]
  # And pushing again afterwards works.
  push_image app/one v1 "$T/config" "$T/layer" "$T/m.json"
  [ "$code" = 201 ]
}

@test "registry: a connection stalled mid-body or idle is closed after --idle-timeout; the upload resumes" {
  reg_stop
  reg_start "$T/idle" --idle-timeout 1s
  req POST /v2/app/one/blobs/uploads/
  loc=$(hdr Location)
  run timeout 20 python3 - "$REG" "$loc" <<'PY'
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
def closed_after(payload):
    s = socket.create_connection((host, int(port)))
    s.sendall(payload)
    start = time.time()
    s.settimeout(15)
    data = s.recv(1)
    return data == b"", time.time() - start
ok1, t1 = closed_after(f"PATCH {sys.argv[2]} HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n".encode() + b"a" * 1000)
ok2, t2 = closed_after(b"")
print(ok1, ok2, t1 < 10, t2 < 10)
PY
  [ "$status" -eq 0 ]
  [ "$output" = "True True True True" ]
  req GET "$loc"
  [ "$code" = 204 ]
  [ "$(hdr Range)" = 0-999 ]
}

@test "registry: a client that resets a download does not take the server down (SIGPIPE)" {
  head -c 50000000 /dev/urandom >"$T/blob"
  digest=$(push_blob app/one "$T/blob")
  for _ in 1 2 3; do
    python3 - "$REG" "$digest" <<'PY'
import socket, struct, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)))
s.sendall(f"GET /v2/app/one/blobs/{sys.argv[2]} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
s.recv(1000)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset
s.close()
PY
  done
  sleep 0.5
  kill -0 "$REG_PID"
  req GET "/v2/app/one/blobs/$digest"
  [ "$code" = 200 ]
  cmp "$T/body" "$T/blob"
}
