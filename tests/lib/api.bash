# Helpers for bats tests of `berth serve` (the Docker Engine API) driven by real clients.
#
#   load ../lib/api
#   setup()    { api_setup; }     # berth_setup, then `berth serve` on the test's own socket
#   teardown() { api_teardown; }  # stops that server by pid, then berth_teardown
#
# `d ARGS...` runs Debian's docker CLI against it like `b`; `api METHOD PATH [CURL ARGS]` sends
# one request and sets $code and $body.

load "$(dirname "${BASH_SOURCE[0]}")/berth"

DOCKER=/usr/bin/docker

api_setup() {
  berth_setup
  SOCK=$BATS_TEST_TMPDIR/d.sock
  SERVE_LOG=$BATS_TEST_TMPDIR/serve.log
  "$BERTH" serve --socket "$SOCK" 2>"$SERVE_LOG" </dev/null 3>&- &
  SERVE_PID=$!
  local i
  for ((i = 0; i < 100; i++)); do
    grep -qs 'Docker Engine API on' "$SERVE_LOG" && break
    kill -0 "$SERVE_PID" 2>/dev/null || break
    sleep 0.1
  done
  grep -qs 'Docker Engine API on' "$SERVE_LOG" || { cat "$SERVE_LOG" >&2; return 1; }
  export DOCKER_HOST=unix://$SOCK DOCKER_CONFIG=$BATS_TEST_TMPDIR/docker-config
}

api_teardown() {
  if [[ -n ${SERVE_PID:-} ]]; then
    kill "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
  fi
  berth_teardown
}

# d ARGS...: the docker CLI, like `b` (stdout in $output, stderr in $stderr).
d() {
  local out=$BATS_TEST_TMPDIR/d.out err=$BATS_TEST_TMPDIR/d.err
  timeout 60 "$DOCKER" "$@" >"$out" 2>"$err" </dev/null 3>&- && status=0 || status=$?
  output=$(cat "$out")
  stderr=$(cat "$err")
  mapfile -t lines <"$out"
}

# api METHOD PATH [CURL ARGS...]: one request; $code and $body.
api() {
  local method=$1 path=$2
  shift 2
  code=$(curl -s -o "$BATS_TEST_TMPDIR/body" -w '%{http_code}' --unix-socket "$SOCK" -X "$method" \
    "$@" "http://docker$path")
  body=$(cat "$BATS_TEST_TMPDIR/body")
}
