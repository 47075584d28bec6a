#!/usr/bin/env bats
# `berth pull`, `push`, `login` and `logout` against real registries on loopback: Debian's
# docker-registry (CNCF distribution 2.8; anonymous and htpasswd Basic auth), and a small Python
# registry that serves chosen bytes (lying digests, slow transfers to interrupt, Range requests).
# Each test has its own BERTH_ROOT, DOCKER_CONFIG and registry on a free port, removed on exit.

bats_require_minimum_version 1.5.0
load ../lib/berth

setup() {
  berth_setup
  export DOCKER_CONFIG=$BATS_TEST_TMPDIR/docker-config
  REG_PIDS=()
}

teardown() {
  local pid
  [[ -z ${GNUPGHOME:-} ]] || teardown_pass
  for pid in "${REG_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  berth_teardown
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http URL: until anything answers there (5 s at most).
wait_http() {
  local i
  for i in $(seq 100); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.05
  done
  echo "nothing answers at $1" >&2
  return 1
}

# start_registry [htpasswd]: docker-registry on 127.0.0.1:$PORT, data under the test's tmpdir;
# with "htpasswd", user alice (password secret1) is required for everything.
start_registry() {
  PORT=$(free_port)
  REG=127.0.0.1:$PORT
  local dir=$BATS_TEST_TMPDIR/registry-$PORT
  mkdir -p "$dir/data"
  cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: $REG
EOF
  if [[ ${1:-} == htpasswd ]]; then
    htpasswd -Bbn alice secret1 >"$dir/htpasswd"
    cat >>"$dir/config.yml" <<EOF
auth:
  htpasswd:
    realm: berth-test
    path: $dir/htpasswd
EOF
  fi
  docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
  REG_PIDS+=($!)
  wait_http "http://$REG/v2/"
}

# pull_and_run NAME [PULL OPTIONS...]: in a second, empty state, the pull works and what it
# pulled runs.
pull_and_run() {
  local name=$1
  shift
  other_root
  b pull "$@" "$name"
  [ "$status" -eq 0 ] || return 1
  b run --rm "$name" echo ok
  [ "$output" = ok ] || return 1
  leave_other_root
}

# noise_image NAME BYTES [LAYOUT]: busybox plus BYTES of random data at /noise, imported as NAME
# (and saved as an OCI layout at LAYOUT when given).
noise_image() {
  local dir=$BATS_TEST_TMPDIR/noise-tree
  mkdir -p "$dir"
  tar -xf "$BERTH_FIXTURES/busybox-rootfs.tar" -C "$dir"
  head -c "$2" /dev/urandom >"$dir/noise"
  b image import "$dir" "$1"
  [ "$status" -eq 0 ] || return 1
  [[ -z ${3:-} ]] || b save --format oci-dir -o "$3" "$1"
}

# fake_registry LAYOUT MODE: a Python registry serving the OCI layout's first image as any
# name:tag, on 127.0.0.1:$PORT. MODE "lie" flips a byte in the middle of every large blob;
# "slow" sends blobs at about 12 MB/s; "flaky" closes the connection halfway through the first
# transfer of each large blob; "busy" answers the first request for each manifest and blob 429
# with Retry-After: 1, "overloaded" answers every one so. Requests are logged to $FAKE_LOG
# (with their Range, and "429" for the refused ones).
fake_registry() {
  PORT=$(free_port)
  REG=127.0.0.1:$PORT
  FAKE_LOG=$BATS_TEST_TMPDIR/fake-$PORT.log
  cat >"$BATS_TEST_TMPDIR/fake_registry.py" <<'EOF'
import http.server, json, os, socket, sys, time
root, port, mode, log = sys.argv[1], int(sys.argv[2]), sys.argv[3], open(sys.argv[4], "a")
cut, refused = set(), set()
index = json.load(open(os.path.join(root, "index.json")))
def blob(digest):
    return os.path.join(root, "blobs", *digest.split(":"))
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def head(self, code, length, ctype, extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(length))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
    def do_GET(self):
        rng = self.headers.get("Range")
        log.write(f"{self.command} {self.path} range={rng}\n")
        log.flush()
        if self.path == "/v2/":
            self.head(200, 2, "application/json")
            return self.wfile.write(b"{}") if self.command == "GET" else None
        if mode == "overloaded" or (mode == "busy" and self.path not in refused):
            refused.add(self.path)
            log.write(f"429 {self.command} {self.path}\n")
            log.flush()
            body = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}'
            self.head(429, len(body), "application/json", [("Retry-After", "1")])
            return self.wfile.write(body) if self.command == "GET" else None
        kind, ref = self.path.split("/")[-2:]
        if kind == "manifests":
            desc = index["manifests"][0]
            digest = ref if ref.startswith("sha256:") else desc["digest"]
            if not os.path.exists(blob(digest)):
                return self.head(404, 0, "application/json")
            data = open(blob(digest), "rb").read()
            self.head(200, len(data), desc["mediaType"], [("Docker-Content-Digest", digest)])
            return self.wfile.write(data) if self.command == "GET" else None
        if not os.path.exists(blob(ref)):
            return self.head(404, 0, "application/json")
        data = open(blob(ref), "rb").read()
        if mode == "lie" and len(data) > 4096:
            data = data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF]) + data[len(data) // 2 + 1 :]
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        extra = [("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")] if rng else []
        self.head(206 if rng else 200, len(data) - start, "application/octet-stream", extra)
        if self.command == "HEAD":
            return
        if mode == "flaky" and len(data) > (1 << 20) and ref not in cut:
            cut.add(ref)
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        for off in range(start, len(data), 256 << 10):
            self.wfile.write(data[off : off + (256 << 10)])
            if mode == "slow":
                time.sleep(0.02)
    do_HEAD = do_GET
http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
EOF
  python3 "$BATS_TEST_TMPDIR/fake_registry.py" "$1" "$PORT" "$2" "$FAKE_LOG" &
  REG_PIDS+=($!)
  wait_http "http://$REG/v2/"
}


@test "push to docker-registry, pull into an empty state, run what was pulled" {
  start_registry
  b push busybox "$REG/team/app:1"
  [ "$status" -eq 0 ]
  [[ $output == *"layer sha256:"*"pushed ("* ]]
  [[ $output == *"1: digest: sha256:"* ]]
  local pushed_digest=${output##*digest: }
  pushed_digest=${pushed_digest%% *}
  # Again: every blob is already there.
  b push busybox "$REG/team/app:1"
  [ "$status" -eq 0 ]
  [[ $output == *"already exists"* ]]
  [[ $output != *"pushed ("* ]]
  # Skopeo (a third-party client) reads what berth pushed.
  run skopeo inspect --tls-verify=false "docker://$REG/team/app:1"
  [ "$status" -eq 0 ]
  [[ $output == *"$pushed_digest"* ]]

  other_root
  b pull "$REG/team/app:1"
  [ "$status" -eq 0 ]
  [[ $output == *"layer sha256:"*"pulled ("* ]]
  [[ $output == *"Digest: $pushed_digest"* ]]
  [[ $output == *"Status: Downloaded newer image for $REG/team/app:1"* ]]
  b run --rm "$REG/team/app:1" echo ok
  [ "$status" -eq 0 ]
  [ "$output" = ok ]
  b images --format json
  [[ $output == *"\"Repository\":\"$REG/team/app\""* ]]
  # Already there: nothing transferred.
  b pull "$REG/team/app:1"
  [ "$status" -eq 0 ]
  [[ $output == *"Status: Image is up to date"* ]]
  b pull -q "$REG/team/app@$pushed_digest"
  [ "$status" -eq 0 ]
  leave_other_root
}

@test "pull of a Docker schema 2 image (written by skopeo --format v2s2)" {
  start_registry
  b push -q busybox "$REG/team/app:1"
  [ "$status" -eq 0 ]
  run skopeo copy -q --src-tls-verify=false --dest-tls-verify=false --format v2s2 \
    "docker://$REG/team/app:1" "docker://$REG/team/docker:1"
  [ "$status" -eq 0 ]
  pull_and_run "$REG/team/docker:1"
  other_root
  b pull -q "$REG/team/docker:1"
  [ "$(bq image inspect -f '{{.Manifest.MediaType}}' "$REG/team/docker:1")" = application/vnd.docker.distribution.manifest.v2+json ]
  leave_other_root
}

@test "pull names what is missing: unknown tag, unknown repository, nothing listening, no registry" {
  start_registry
  b push -q busybox "$REG/team/app:1"
  [ "$status" -eq 0 ]
  fails_with "manifest unknown: $REG/team/app:nope not found" pull "$REG/team/app:nope"
  fails_with "manifest unknown: $REG/team/none:1 not found" pull "$REG/team/none:1"
  local dead
  dead=$(free_port)
  fails_with "connect to 127.0.0.1:$dead: connection refused" pull "127.0.0.1:$dead/x:1"
  fails_with "the name has no registry" pull app:1
  fails_with "--tls-verify 'maybe': use true or false" pull --tls-verify=maybe "$REG/team/app:1"
  # Nothing was registered by the failures.
  b images -q
  [ "${#lines[@]}" -eq 1 ]
}

@test "htpasswd registry: push denied until login; login checks the password; config.json 0600, Docker's format; logout" {
  start_registry htpasswd
  mkdir -p "$DOCKER_CONFIG"
  echo '{"auths": {"other.example:5000": {"auth": "eDp5"}}, "psFormat": "table"}' >"$DOCKER_CONFIG/config.json"
  fails_with "push to $REG/team/app denied: " push busybox "$REG/team/app:1"
  [[ $stderr == *"authentication required — run 'berth login $REG'"* ]]
  fails_with "login to $REG: the registry refused the user name or password" login -u alice -p wrong "$REG"
  [ "$(jq -c '.auths | keys' "$DOCKER_CONFIG/config.json")" = '["other.example:5000"]' ]

  run --separate-stderr bash -c "echo secret1 | '$BERTH' login -u alice --password-stdin $REG"
  [ "$status" -eq 0 ]
  [ "$output" = "Login Succeeded" ]
  [[ $stderr == *"password is stored unencrypted in $DOCKER_CONFIG/config.json"* ]]
  [ "$(stat -c %a "$DOCKER_CONFIG/config.json")" = 600 ]
  [ "$(jq -r --arg r "$REG" '.auths[$r].auth' "$DOCKER_CONFIG/config.json" | base64 -d)" = alice:secret1 ]
  # The rest of the file is kept.
  [ "$(jq -r '.psFormat' "$DOCKER_CONFIG/config.json")" = table ]
  [ "$(jq -r '.auths["other.example:5000"].auth' "$DOCKER_CONFIG/config.json")" = eDp5 ]
  # skopeo reads the same file (Docker's format).
  run skopeo inspect --tls-verify=false --authfile "$DOCKER_CONFIG/config.json" "docker://$REG/team/app:1"
  [[ $output == *"manifest unknown"* ]]

  b push busybox "$REG/team/app:1"
  [ "$status" -eq 0 ]
  pull_and_run "$REG/team/app:1"

  b logout "$REG"
  [ "$status" -eq 0 ]
  [ "$output" = "Removing login credentials for $REG" ]
  [ "$(jq -c '.auths | keys' "$DOCKER_CONFIG/config.json")" = '["other.example:5000"]' ]
  [ "$(stat -c %a "$DOCKER_CONFIG/config.json")" = 600 ]
  b logout "$REG"
  [ "$output" = "Not logged in to $REG" ]
  other_root
  fails_with "pull from $REG/team/app denied: " pull "$REG/team/app:1"
  [[ $stderr == *"authentication required — run 'berth login $REG'"* ]]
  leave_other_root
}

# A password store for docker-credential-pass: a fresh gpg key without passphrase, in the test's
# tmpdir; teardown stops the gpg-agent it started.
setup_pass() {
  export GNUPGHOME=$BATS_TEST_TMPDIR/gnupg PASSWORD_STORE_DIR=$BATS_TEST_TMPDIR/password-store
  mkdir -p -m 700 "$GNUPGHOME"
  gpg --batch --quiet --passphrase '' --quick-gen-key 'berth test <test@berth.invalid>' default default never 2>/dev/null
  pass init "$(gpg --list-keys --with-colons | awk -F: '/^fpr/ {print $10; exit}')" >/dev/null
}
teardown_pass() { gpgconf --kill gpg-agent 2>/dev/null || true; }

@test "login through a credential helper (docker-credential-pass): no password in config.json; push, pull, skopeo and logout use it" {
  command -v docker-credential-pass >/dev/null || skip "docker-credential-pass is not installed (scripts/setup)"
  setup_pass
  start_registry htpasswd
  mkdir -p "$DOCKER_CONFIG"
  echo '{"credsStore": "pass", "auths": {"other.example:5000": {"auth": "eDp5"}}}' >"$DOCKER_CONFIG/config.json"
  run --separate-stderr bash -c "echo secret1 | '$BERTH' login -u alice --password-stdin $REG"
  [ "$status" -eq 0 ]
  [ "$output" = "Login Succeeded" ]
  [ -z "$stderr" ]  # no warning about an unencrypted password
  # Docker's layout: an empty entry, the secret in the store.
  [ "$(jq -c --arg r "$REG" '.auths[$r]' "$DOCKER_CONFIG/config.json")" = '{}' ]
  ! grep -q secret1 "$DOCKER_CONFIG/config.json" || false
  [ "$(echo -n "$REG" | docker-credential-pass get | jq -r .Secret)" = secret1 ]
  [ "$(jq -r '.auths["other.example:5000"].auth' "$DOCKER_CONFIG/config.json")" = eDp5 ]

  b push busybox "$REG/team/app:1"
  [ "$status" -eq 0 ]
  # skopeo finds the same login through the same helper (it reads "credHelpers", not "credsStore").
  jq --arg r "$REG" '.credHelpers[$r] = "pass"' "$DOCKER_CONFIG/config.json" >"$BATS_TEST_TMPDIR/skopeo-auth.json"
  run skopeo inspect --tls-verify=false --authfile "$BATS_TEST_TMPDIR/skopeo-auth.json" "docker://$REG/team/app:1"
  [ "$status" -eq 0 ]
  pull_and_run "$REG/team/app:1"

  b logout "$REG"
  [ "$status" -eq 0 ]
  [ "$output" = "Removing login credentials for $REG" ]
  [ "$(echo -n "$REG" | docker-credential-pass get | jq -r .Secret)" = "" ]
  [ "$(jq -c '.auths | keys' "$DOCKER_CONFIG/config.json")" = '["other.example:5000"]' ]
  fails_with "push to $REG/team/app denied: " push busybox "$REG/team/app:2"

  # A helper that is not installed: the error names it and what to do.
  echo '{"credHelpers": {"'"$REG"'": "nosuch"}}' >"$DOCKER_CONFIG/config.json"
  fails_with "credential helper 'nosuch' named in config.json: no 'docker-credential-nosuch' in PATH" push busybox "$REG/team/app:2"
}

@test "pull of an index with several platforms takes linux/amd64, or the --platform asked for" {
  [ "$(uname -m)" = x86_64 ] || skip "the host is not amd64"
  start_registry
  b image import --change 'ENV ARCH=arm64' "$BERTH_FIXTURES/busybox-rootfs.tar" arm-ish:1
  [ "$status" -eq 0 ]
  b push -q busybox "$REG/team/multi:amd64"
  [ "$status" -eq 0 ]
  b push -q arm-ish:1 "$REG/team/multi:arm64"
  [ "$status" -eq 0 ]
  local amd arm amd_size arm_size type
  type=application/vnd.oci.image.manifest.v1+json
  amd=$(curl -sf -H "Accept: $type" "http://$REG/v2/team/multi/manifests/amd64" | tee "$BATS_TEST_TMPDIR/amd.json" | sha256sum | cut -d' ' -f1)
  arm=$(curl -sf -H "Accept: $type" "http://$REG/v2/team/multi/manifests/arm64" | tee "$BATS_TEST_TMPDIR/arm.json" | sha256sum | cut -d' ' -f1)
  amd_size=$(stat -c %s "$BATS_TEST_TMPDIR/amd.json")
  arm_size=$(stat -c %s "$BATS_TEST_TMPDIR/arm.json")
  jq -cn --arg t "$type" --arg a "sha256:$amd" --argjson asz "$amd_size" --arg r "sha256:$arm" --argjson rs "$arm_size" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [
       {mediaType: $t, digest: $r, size: $rs, platform: {architecture: "arm64", os: "linux", variant: "v8"}},
       {mediaType: $t, digest: $a, size: $asz, platform: {architecture: "amd64", os: "linux"}}]}' >"$BATS_TEST_TMPDIR/index.json"
  run curl -sf -X PUT -H "Content-Type: application/vnd.oci.image.index.v1+json" \
    --data-binary "@$BATS_TEST_TMPDIR/index.json" "http://$REG/v2/team/multi/manifests/1"
  [ "$status" -eq 0 ]

  other_root
  b pull "$REG/team/multi:1"
  [ "$status" -eq 0 ]
  [[ $output == *"Digest: sha256:$(sha256sum "$BATS_TEST_TMPDIR/index.json" | cut -d' ' -f1)"* ]]
  [ "$(bq image inspect -f '{{.Manifest.Digest}}' "$REG/team/multi:1")" = "sha256:$amd" ]
  b pull --platform linux/arm64 "$REG/team/multi:1"
  [ "$status" -eq 0 ]
  [ "$(bq image inspect -f '{{.Manifest.Digest}}' "$REG/team/multi:1")" = "sha256:$arm" ]
  fails_with "no linux/s390x image in $REG/team/multi:1: it has linux/arm64/v8, linux/amd64" \
    pull --platform linux/s390x "$REG/team/multi:1"
  leave_other_root
}

@test "a blob that does not hash to its digest is refused and nothing is stored" {
  noise_image noisy:1 300000 "$BATS_TEST_TMPDIR/layout"
  [ "$status" -eq 0 ]
  fake_registry "$BATS_TEST_TMPDIR/layout" lie
  other_root
  fails_with "digest mismatch" pull "$REG/team/liar:1"
  [[ $stderr == *"refused, nothing stored"* ]]
  local layer
  layer=$(grep -o 'blob sha256:[0-9a-f]*' <<<"$stderr" | cut -d' ' -f2)
  [ -n "$layer" ]
  b images -q
  [ -z "$output" ]
  # The lying layer left nothing (the honest config blob may stay: the GC takes it).
  [ ! -e "$BERTH_ROOT/blobs/sha256/${layer#sha256:}" ]
  [ -z "$(ls "$BERTH_ROOT/ingest")" ]
  leave_other_root
}

@test "a pull killed mid-transfer resumes with a Range request and the image is intact" {
  noise_image big:1 "$((40 << 20))" "$BATS_TEST_TMPDIR/layout"
  [ "$status" -eq 0 ]
  fake_registry "$BATS_TEST_TMPDIR/layout" slow
  other_root
  "$BERTH" pull "$REG/team/big:1" >"$BATS_TEST_TMPDIR/first.out" 2>&1 3>&- &
  local pid=$! size=0 i partial
  for i in $(seq 200); do
    partial=$(ls "$BERTH_ROOT"/ingest/pull-*.partial 2>/dev/null | head -1)
    [[ -n $partial ]] && size=$(stat -c %s "$partial" 2>/dev/null || echo 0)
    ((size > 8 << 20)) && break
    sleep 0.05
  done
  kill -9 "$pid"
  wait "$pid" || true
  ((size > 8 << 20))
  b pull "$REG/team/big:1"
  [ "$status" -eq 0 ]
  [[ $output == *"resuming at"* ]]
  grep -q "range=bytes=" "$FAKE_LOG"
  [ -z "$(ls "$BERTH_ROOT/ingest")" ]
  b run --rm "$REG/team/big:1" sh -c 'wc -c < /noise'
  [ "$output" = $((40 << 20)) ]
  [ "$(bq image inspect -f '{{.Id}}' "$REG/team/big:1")" = "$(BERTH_ROOT=$FIRST_ROOT BERTH_RUN_ROOT=$FIRST_RUN_ROOT "$BERTH" image inspect -f '{{.Id}}' big:1)" ]
  leave_other_root
}

# serve_with_token DIR: `berth registry serve` with htpasswd users alice (read-write on team/*)
# and bob (read-only there), and the bearer-token flow with its own /token as the realm.
serve_with_token() {
  local dir=$1 token
  mkdir -p "$dir"
  htpasswd -cbB -C 5 "$dir/htpasswd" alice wonderland 2>/dev/null
  htpasswd -bB -C 5 "$dir/htpasswd" bob builder 2>/dev/null
  head -c 32 /dev/urandom >"$dir/token.key"
  PORT=$(free_port)
  REG=127.0.0.1:$PORT
  token=", \"token\": {\"realm\": \"http://$REG/token\", \"service\": \"berth-test\", \"issuer\": \"berth-test\", \"key_file\": \"token.key\", \"ttl\": 120}"
  cat >"$dir/config.json" <<JSON
{ "htpasswd": "htpasswd",
  "rules": [
    {"repository": "team/*", "users": ["alice"], "actions": ["pull", "push", "delete"]},
    {"repository": "team/*", "users": ["bob"], "actions": ["pull"]}
  ]$token }
JSON
  "$BERTH" registry serve --root "$dir/storage" --addr "$REG" --config "$dir/config.json" 2>"$dir/server.log" </dev/null 3>&- &
  REG_PIDS+=($!)
  local i
  for i in $(seq 100); do grep -q 'listening on' "$dir/server.log" && return 0; sleep 0.1; done
  cat "$dir/server.log" >&2
  return 1
}

@test "round trip with berth registry serve and the bearer-token flow; a read-only user is denied push" {
  "$BERTH" registry serve --help >/dev/null || skip "berth registry serve is not built"
  serve_with_token "$BATS_TEST_TMPDIR/serve"
  fails_with "push to $REG/team/app denied: " push busybox "$REG/team/app:1"
  fails_with "login to $REG: " login -u alice -p wrong "$REG"
  [ ! -e "$DOCKER_CONFIG/config.json" ]
  b login -u alice -p wonderland "$REG"
  [ "$status" -eq 0 ]
  [ "$output" = "Login Succeeded" ]
  b push busybox "$REG/team/app:1"
  [ "$status" -eq 0 ]
  [[ $output == *"1: digest: sha256:"* ]]
  # Another repository: the layer is mounted from team/app, whose local name says it is there.
  b tag busybox "$REG/team/app:1"
  b push busybox "$REG/team/copy:1"
  [ "$status" -eq 0 ]
  [[ $output == *"mounted from team/app"* ]]
  pull_and_run "$REG/team/app:1"
  b login -u bob -p builder "$REG"
  [ "$status" -eq 0 ]
  fails_with "push to $REG/team/other denied: " push busybox "$REG/team/other:1"
  [[ $stderr == *"run 'berth login $REG'"* ]]
  other_root
  b pull -q "$REG/team/app:1"
  [ "$status" -eq 0 ]
  leave_other_root
}

@test "TLS: a self-signed certificate is refused with a hint; --tls-verify=false accepts it" {
  "$BERTH" registry serve --help >/dev/null || skip "berth registry serve is not built"
  local dir=$BATS_TEST_TMPDIR/tls
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
    -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
  PORT=$(free_port)
  REG=127.0.0.1:$PORT
  "$BERTH" registry serve --root "$dir/storage" --addr "$REG" --tls-cert "$dir/cert.pem" --tls-key "$dir/key.pem" \
    2>"$dir/server.log" </dev/null 3>&- &
  REG_PIDS+=($!)
  local i
  for i in $(seq 100); do grep -q 'listening on' "$dir/server.log" && break; sleep 0.1; done
  fails_with "TLS handshake with 127.0.0.1:$PORT" push busybox "$REG/team/app:1"
  [[ $stderr == *"--tls-verify=false"* ]]
  b push --tls-verify=false busybox "$REG/team/app:1"
  [ "$status" -eq 0 ]
  pull_and_run "$REG/team/app:1" --tls-verify=false
}

@test "a push whose upload breaks continues from what the registry received" {
  cat >"$BATS_TEST_TMPDIR/upload_registry.py" <<'PY'
# Just enough of the distribution API for pushes; the first PATCH of each large blob is cut
# off after 1 MiB (the connection closed without an answer).
import hashlib, http.server, socket, sys
port, log = int(sys.argv[1]), open(sys.argv[2], "a")
blobs, uploads, broken = {}, {}, set()
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def answer(self, code, headers=(), body=b""):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
    def body(self):
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))
    def record(self):
        log.write(f"{self.command} {self.path} content-range={self.headers.get('Content-Range')}\n")
        log.flush()
    def do_GET(self):
        self.record()
        if self.path == "/v2/":
            return self.answer(200, body=b"{}")
        if self.path.startswith("/upload/"):
            n = self.path.split("/")[2].split("?")[0]
            return self.answer(204, [("Location", f"/upload/{n}"), ("Range", f"0-{len(uploads[n]) - 1}")])
        self.answer(404)
    def do_HEAD(self):
        self.record()
        self.answer(200 if self.path.split("/")[-1] in blobs else 404)
    def do_POST(self):
        self.record()
        n = str(len(uploads) + 1)
        uploads[n] = b""
        self.answer(202, [("Location", f"/upload/{n}"), ("Range", "0-0")])
    def do_PATCH(self):
        self.record()
        n = self.path.split("/")[2]
        length = int(self.headers["Content-Length"])
        start = int(self.headers["Content-Range"].split("-")[0]) if self.headers.get("Content-Range") else len(uploads[n])
        if start != len(uploads[n]):
            return self.answer(416)
        if length > (4 << 20) and n not in broken:
            broken.add(n)
            uploads[n] += self.rfile.read(1 << 20)
            log.write(f"BROKE {n} at {len(uploads[n])}\n")
            log.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        uploads[n] += self.rfile.read(length)
        self.answer(202, [("Location", f"/upload/{n}"), ("Range", f"0-{len(uploads[n]) - 1}")])
    def do_PUT(self):
        self.record()
        data = self.body()
        if self.path.startswith("/upload/"):
            n, query = self.path.split("/")[2].split("?")
            digest = query.split("digest=")[1]
            content = uploads[n] + data
            if "sha256:" + hashlib.sha256(content).hexdigest() != digest:
                return self.answer(400, body=b'{"errors":[{"code":"DIGEST_INVALID","message":"digest did not match"}]}')
            blobs[digest] = content
            return self.answer(201, [("Docker-Content-Digest", digest)])
        self.answer(201, [("Docker-Content-Digest", "sha256:" + hashlib.sha256(data).hexdigest())])
http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
PY
  PORT=$(free_port)
  REG=127.0.0.1:$PORT
  python3 "$BATS_TEST_TMPDIR/upload_registry.py" "$PORT" "$BATS_TEST_TMPDIR/upload.log" &
  REG_PIDS+=($!)
  wait_http "http://$REG/v2/"
  noise_image big:1 "$((8 << 20))"
  b push big:1 "$REG/team/big:1"
  [ "$status" -eq 0 ]
  [[ $output == *"1: digest: sha256:"* ]]
  local n
  n=$(sed -n 's/^BROKE \([0-9]*\) at 1048576$/\1/p' "$BATS_TEST_TMPDIR/upload.log")
  [ -n "$n" ]
  # The registry was asked where the upload stood, and the rest went with a Content-Range.
  grep -q "^GET /upload/$n " "$BATS_TEST_TMPDIR/upload.log"
  grep -q "^PATCH /upload/$n content-range=1048576-" "$BATS_TEST_TMPDIR/upload.log"
}

@test "two pulls of one image at once into one state both succeed and leave no partial file" {
  noise_image big:1 "$((4 << 20))" "$BATS_TEST_TMPDIR/layout"
  fake_registry "$BATS_TEST_TMPDIR/layout" slow
  other_root
  "$BERTH" pull -q "$REG/team/big:1" >"$BATS_TEST_TMPDIR/a.out" 2>&1 3>&- &
  local a=$!
  "$BERTH" pull -q "$REG/team/big:1" >"$BATS_TEST_TMPDIR/b.out" 2>&1 3>&- &
  local b_pid=$!
  wait "$a" || { cat "$BATS_TEST_TMPDIR/a.out"; false; }
  wait "$b_pid" || { cat "$BATS_TEST_TMPDIR/b.out"; false; }
  [ -z "$(ls "$BERTH_ROOT/ingest")" ]
  b run --rm "$REG/team/big:1" sh -c 'wc -c < /noise'
  [ "$output" = $((4 << 20)) ]
  leave_other_root
}

@test "a busy registry (429 with Retry-After) is asked again after the wait; one that stays busy is named" {
  noise_image big:1 "$((1 << 20))" "$BATS_TEST_TMPDIR/layout"
  fake_registry "$BATS_TEST_TMPDIR/layout" busy
  other_root
  local t0=$SECONDS
  b pull "$REG/team/big:1"
  [ "$status" -eq 0 ]
  # Each manifest and blob was refused once, then fetched: the waits of the blobs overlap.
  [ "$(grep -c '^429 GET /v2/team/big/blobs/' "$FAKE_LOG")" -ge 2 ]
  grep -q '^429 GET /v2/team/big/manifests/1' "$FAKE_LOG"
  ((SECONDS - t0 >= 2))
  b run --rm "$REG/team/big:1" sh -c 'wc -c < /noise'
  [ "$output" = $((1 << 20)) ]
  leave_other_root

  fake_registry "$BATS_TEST_TMPDIR/layout" overloaded
  other_root
  fails_with "429" pull "$REG/team/big:1"
  [[ $stderr == *"slow down"* ]]
  [ "$(grep -c '^429 GET /v2/team/big/manifests/1' "$FAKE_LOG")" -eq 5 ]
  leave_other_root
}

@test "a foreign layer (non-distributable, with urls) the registry does not hold comes from its URL, checked" {
  "$BERTH" registry serve --help >/dev/null || skip "berth registry serve is not built"
  local dir=$BATS_TEST_TMPDIR/foreign web_port
  mkdir -p "$dir/www"
  gzip -1 -c "$BERTH_FIXTURES/busybox-rootfs.tar" >"$dir/www/layer.tar.gz"
  web_port=$(free_port)
  python3 -m http.server "$web_port" --bind 127.0.0.1 --directory "$dir/www" >/dev/null 2>&1 &
  REG_PIDS+=($!)
  PORT=$(free_port)
  REG=127.0.0.1:$PORT
  "$BERTH" registry serve --root "$dir/storage" --addr "$REG" 2>"$dir/server.log" </dev/null 3>&- &
  REG_PIDS+=($!)
  wait_http "http://127.0.0.1:$web_port/"
  wait_http "http://$REG/v2/"
  # The config is pushed, the layer is not: the manifest points at it by URL.
  python3 - "$dir" "$BERTH_FIXTURES/busybox-rootfs.tar" "http://127.0.0.1:$web_port/layer.tar.gz" <<'PY'
import hashlib, json, os, sys
d, tar, url = sys.argv[1:]
layer = open(f"{d}/www/layer.tar.gz", "rb").read()
diff_id = "sha256:" + hashlib.sha256(open(tar, "rb").read()).hexdigest()
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                     "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
open(f"{d}/config.json", "wb").write(config)
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(config),
                       "digest": "sha256:" + hashlib.sha256(config).hexdigest()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                        "size": len(layer), "digest": "sha256:" + hashlib.sha256(layer).hexdigest(),
                        "urls": [url.replace("layer", "missing"), url]}]}
open(f"{d}/manifest.json", "w").write(json.dumps(manifest))
PY
  local config_digest
  config_digest=sha256:$(sha256sum "$dir/config.json" | cut -d' ' -f1)
  curl -sf -X POST --data-binary @"$dir/config.json" "http://$REG/v2/team/foreign/blobs/uploads/?digest=$config_digest"
  curl -sf -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary @"$dir/manifest.json" "http://$REG/v2/team/foreign/manifests/1"

  other_root
  b pull "$REG/team/foreign:1"
  [ "$status" -eq 0 ]
  b run --rm "$REG/team/foreign:1" echo ok
  [ "$output" = ok ]
  # Pushed elsewhere, the foreign layer stays where it is (as docker does); the copy still pulls.
  b push "$REG/team/foreign:1" "$REG/team/copy:1"
  [ "$status" -eq 0 ]
  local layer_digest
  layer_digest=sha256:$(sha256sum "$dir/www/layer.tar.gz" | cut -d' ' -f1)
  [ "$(curl -s -o /dev/null -w '%{http_code}' -I "http://$REG/v2/team/copy/blobs/$layer_digest")" = 404 ]
  [ "$(curl -s -o /dev/null -w '%{http_code}' -I "http://$REG/v2/team/copy/blobs/$config_digest")" = 200 ]
  leave_other_root
  other_root
  b pull "$REG/team/copy:1"
  [ "$status" -eq 0 ]
  leave_other_root

  # Other bytes at the URL: refused, nothing stored.
  echo "not the layer" >"$dir/www/layer.tar.gz"
  other_root
  fails_with "refused, nothing stored" pull "$REG/team/foreign:1"
  [ -z "$(ls "$BERTH_ROOT/ingest")" ]
  leave_other_root
}

@test "a transfer cut off mid-blob is continued within the same pull" {
  noise_image big:1 "$((4 << 20))" "$BATS_TEST_TMPDIR/layout"
  fake_registry "$BATS_TEST_TMPDIR/layout" flaky
  other_root
  b pull "$REG/team/big:1"
  [ "$status" -eq 0 ]
  [[ $output == *"resuming at"* ]]
  grep -q "range=bytes=" "$FAKE_LOG"
  b run --rm "$REG/team/big:1" sh -c 'wc -c < /noise'
  [ "$output" = $((4 << 20)) ]
  leave_other_root
}
