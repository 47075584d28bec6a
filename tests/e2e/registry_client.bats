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

# A second, empty berth state: pulls there start from nothing.
other_root() {
  export BERTH_ROOT=$BATS_TEST_TMPDIR/root2 BERTH_RUN_ROOT=$BATS_TEST_TMPDIR/run2
  mkdir -p "$BERTH_ROOT" "$BERTH_RUN_ROOT"
}

back_to_first_root() {
  BERTH_FIRST_ROOT=${BERTH_FIRST_ROOT:-}
  berth_clean_roots "$BATS_TEST_TMPDIR/root2" "$BATS_TEST_TMPDIR/run2" >/dev/null 2>&1 || true
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

  local first_root=$BERTH_ROOT first_run=$BERTH_RUN_ROOT
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
  berth_clean_roots "$BERTH_ROOT" "$BERTH_RUN_ROOT"
  export BERTH_ROOT=$first_root BERTH_RUN_ROOT=$first_run
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
