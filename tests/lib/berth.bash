# Helpers for bats tests that drive the `berth` CLI as a user would.
#
#   load ../lib/berth
#   setup()    { berth_setup; }      # own BERTH_ROOT/BERTH_RUN_ROOT, busybox imported as "busybox"
#   teardown() { berth_teardown; }   # removes every container, checks, unmounts, deletes the roots
#   @test "..." {
#     b run --rm busybox echo hi; [ "$status" -eq 0 ]; [ "$output" = hi ]
#   }
#
# `b ARGS...` runs berth like bats' `run` (sets $status, $output, $lines; stdout only) and keeps
# stderr apart in $stderr, so JSON on stdout parses and error messages are checked on their own.

load "$(dirname "${BASH_SOURCE[0]}")/bundle"

# berth_setup: a fresh state for this test, with the fixture image imported as "busybox".
berth_setup() {
  BERTH_ROOT=$(mktemp -d /tmp/berth-test-root.XXXXXX)
  BERTH_RUN_ROOT=$(mktemp -d /tmp/berth-test-run.XXXXXX)
  export BERTH_ROOT BERTH_RUN_ROOT
  "$BERTH" image import "$BERTH_FIXTURES/busybox-rootfs.tar" busybox >/dev/null
}

# berth_teardown: every container goes, `system check` must succeed, then nothing of the
# roots survives. Safe on every path.
berth_teardown() {
  [[ -n ${BERTH_ROOT:-} ]] || return 0
  local check_status=0
  # A test that failed in a second state (other_root): remove it too, then check the first.
  if [[ -n ${FIRST_ROOT:-} && $BERTH_ROOT != "$FIRST_ROOT" ]]; then
    berth_clean_roots "$BERTH_ROOT" "$BERTH_RUN_ROOT" || true
    export BERTH_ROOT=$FIRST_ROOT BERTH_RUN_ROOT=$FIRST_RUN_ROOT
  fi
  berth_clean_roots "$BERTH_ROOT" "$BERTH_RUN_ROOT" || check_status=$?
  unset BERTH_ROOT BERTH_RUN_ROOT
  [[ $check_status -eq 0 ]] || { echo "berth system check failed ($check_status)" >&2; return 1; }
}

# other_root: a second, empty berth state for the rest of the test (pulls there start from
# nothing); berth_teardown removes it if the test ends there.
other_root() {
  FIRST_ROOT=$BERTH_ROOT FIRST_RUN_ROOT=$BERTH_RUN_ROOT
  export BERTH_ROOT=$BATS_TEST_TMPDIR/root2 BERTH_RUN_ROOT=$BATS_TEST_TMPDIR/run2
  mkdir -p "$BERTH_ROOT" "$BERTH_RUN_ROOT"
}

# leave_other_root: back to the test's own state, the second one checked and removed.
leave_other_root() {
  berth_clean_roots "$BATS_TEST_TMPDIR/root2" "$BATS_TEST_TMPDIR/run2"
  export BERTH_ROOT=$FIRST_ROOT BERTH_RUN_ROOT=$FIRST_RUN_ROOT
}

# berth_clean_roots ROOT RUN_ROOT: removes every container of that state, runs `system check`
# (its status is returned), unmounts what is left under either root (deepest first) and
# deletes both.
berth_clean_roots() {
  local root=$1 run_root=$2 ids m check_status=0
  if [[ -d $root ]]; then
    ids=$(BERTH_ROOT=$root BERTH_RUN_ROOT=$run_root "$BERTH" ps -aq 2>/dev/null 3>&-) || true
    # shellcheck disable=SC2086
    [[ -z $ids ]] || BERTH_ROOT=$root BERTH_RUN_ROOT=$run_root "$BERTH" rm -f $ids >/dev/null 2>&1 3>&- || true
    BERTH_ROOT=$root BERTH_RUN_ROOT=$run_root "$BERTH" system check >/dev/null 2>&1 3>&- || check_status=$?
    # Networks are host-wide (bridges, the root's nftables table): remove them too.
    BERTH_ROOT=$root BERTH_RUN_ROOT=$run_root "$BERTH" system reset --force >/dev/null 2>&1 3>&- || true
  fi
  for m in $(awk -v a="$root/" -v b="$run_root/" \
      'index($5, a) == 1 || index($5, b) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf --one-file-system "$root" "$run_root"
  return "$check_status"
}

# b ARGS...: runs berth; $status, $output/$lines (stdout), $stderr. Output goes through files:
# a detached container's monitor must never hold a pipe of the test open.
b() {
  local out err
  out=$(mktemp "${BATS_TEST_TMPDIR:-/tmp}/out.XXXXXX")
  err=$(mktemp "${BATS_TEST_TMPDIR:-/tmp}/err.XXXXXX")
  "$BERTH" "$@" >"$out" 2>"$err" </dev/null 3>&- && status=0 || status=$?
  output=$(cat "$out")
  stderr=$(cat "$err")
  mapfile -t lines <"$out"
  # Shown by bats when the test fails.
  printf '# berth %s -> %s\n' "$*" "$status" >&2
  [[ -z $stderr ]] || printf '#   stderr: %s\n' "$stderr" >&2
}

# fails_with TEXT ARGS...: `b ARGS...` must fail and say TEXT on stderr.
fails_with() {
  local text=$1
  shift
  b "$@"
  [[ $status -ne 0 ]] || { echo "berth $* succeeded; expected an error saying: $text" >&2; return 1; }
  [[ $stderr == *"$text"* ]] || { echo "berth $*: stderr lacks: $text" >&2; return 1; }
}

# bq ARGS...: berth's stdout alone, failing the test when berth fails (for $(...)).
bq() {
  "$BERTH" "$@" </dev/null 3>&-
}

# detach NAME ARGS...: `berth run -d --name NAME ARGS...`, prints the id; fails on error.
detach() {
  local name=$1
  shift
  "$BERTH" run -d --name "$name" "$@" </dev/null 3>&-
}

# state_of CONTAINER: its .State.Status.
state_of() {
  "$BERTH" inspect -f '{{.State.Status}}' "$1" 3>&-
}

# state_is CONTAINER STATE: succeeds when the container is in that state (for wait_for).
state_is() {
  [[ $(state_of "$1") == "$2" ]]
}

# wait_for SECONDS COMMAND...: retries COMMAND every 0.1 s until it succeeds or time is up.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# gone PID: the process has ended: no such process, or a zombie (dead, waiting for a parent
# that may be an init that reaps late, as in some CI sandboxes).
gone() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  [[ ${stat##*) } == Z* || ${stat##*) } == X* ]]
}

# container_count: how many containers `ps -a` lists.
container_count() {
  "$BERTH" ps -aq 3>&- | grep -c . || true
}

# crash POINT ARGS...: runs berth ARGS with BERTH_CRASH_AT=POINT; it must die there (SIGKILL).
crash() {
  local point=$1 code=0
  shift
  BERTH_CRASH_AT=$point "$BERTH" "$@" >/dev/null 2>&1 </dev/null 3>&- || code=$?
  printf '# berth %s, crashed at %s -> %s\n' "$*" "$point" "$code" >&2
  [[ $code -eq 137 ]] || { echo "berth $* never reached crash point '$point' (exit $code)" >&2; return 1; }
}
