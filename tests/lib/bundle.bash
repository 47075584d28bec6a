# Helpers for bats tests that run containers from the busybox fixture.
#
#   load ../lib/bundle           (from tests/integration/*.bats or tests/e2e/*.bats)
#   setup()    { bundle_setup; }
#   teardown() { bundle_teardown; }
#   @test "..." {
#     id=$(unique_id hello); b=$(make_bundle "$id")
#     patch_config "$b" '.process.args = ["/bin/echo", "hi"]'
#     rt run --bundle "$b" "$id"; [ "$status" -eq 0 ]; [ "$output" = hi ]
#   }
#
# Environment (ctest sets all four; defaults fit a plain `bats` run from the source tree):
#   BERTH_RUNTIME  the runtime under test          BERTH_FIXTURES  built fixture directory
#   BERTH          the berth CLI                   BERTH_SOURCE    the source tree

BERTH_SOURCE=${BERTH_SOURCE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BERTH_RUNTIME=${BERTH_RUNTIME:-$BERTH_SOURCE/build/src/berth-runtime}
BERTH=${BERTH:-$BERTH_SOURCE/build/src/berth}
BERTH_FIXTURES=${BERTH_FIXTURES:-$BERTH_SOURCE/build/fixtures}
BERTH_ROOTFS=$BERTH_FIXTURES/rootfs
export BERTH_SOURCE BERTH_RUNTIME BERTH BERTH_FIXTURES BERTH_ROOTFS

# The fixture: ctest builds it first; a direct `bats` run builds it here (instant when built).
if [[ ! -f $BERTH_FIXTURES/.complete ]]; then
  "$BERTH_SOURCE/tests/fixtures/make-busybox-bundle.sh" "$BERTH_FIXTURES" >&2
fi

# unique_id [PREFIX] -> PREFIX-PID-N, unique within this test run even when called in $(...).
unique_id() {
  local prefix=${1:-berth-test} counter=${BATS_RUN_TMPDIR:-${TMPDIR:-/tmp}}/.berth-unique-id.$$ n
  n=$(( $(cat "$counter" 2>/dev/null || echo 0) + 1 ))
  echo "$n" >"$counter"
  echo "$prefix-$$-$n"
}

# make_bundle NAME [DIR] -> prints the path of a fresh bundle DIR/NAME (DIR defaults to
# $BATS_TEST_TMPDIR) whose config.json is the fixture template, root at the shared rootfs.
make_bundle() {
  local name=${1:?make_bundle NAME [DIR]} dir=${2:-${BATS_TEST_TMPDIR:?}}
  local bundle=$dir/$name
  mkdir -p "$bundle"
  jq --arg root "$BERTH_ROOTFS" '.root.path = $root' "$BERTH_FIXTURES/bundle/config.json" \
    >"$bundle/config.json"
  echo "$bundle"
}

# patch_config BUNDLE FILTER [JQ_ARGS...]: edits BUNDLE/config.json in place with jq, e.g.
#   patch_config "$b" '.hostname = $h' --arg h box
patch_config() {
  local bundle=${1:?patch_config BUNDLE FILTER [JQ_ARGS...]} filter=${2:?jq filter}
  jq "${@:3}" "$filter" "$bundle/config.json" >"$bundle/config.json.tmp" &&
    mv "$bundle/config.json.tmp" "$bundle/config.json"
}

# rt_root: the per-test state directory given to the runtime with --root (created on first use).
rt_root() {
  if [[ -z ${RT_ROOT:-} ]]; then
    RT_ROOT=/run/berth-test-$$-${BATS_TEST_NUMBER:-0}-$RANDOM
    export RT_ROOT
  fi
  mkdir -p "$RT_ROOT"
}

# rt ARGS...: like bats `run` for the runtime under test with this test's --root: sets
# $status, $output and $lines. Output goes through a file, not a pipe: a created or detached
# container inherits it and keeps it open, and a pipe would never reach EOF.
rt() {
  rt_root
  local log
  log=$(mktemp "${BATS_TEST_TMPDIR:-/tmp}/rt.XXXXXX")
  "$BERTH_RUNTIME" --root "$RT_ROOT" "$@" >"$log" 2>&1 </dev/null && status=0 || status=$?
  output=$(cat "$log")
  mapfile -t lines <"$log"
}

bundle_setup() {
  rt_root
}

# bundle_teardown: force-deletes every container left in $RT_ROOT and removes the directory.
# Safe to call on every path, also when the runtime itself is broken.
bundle_teardown() {
  [[ -n ${RT_ROOT:-} && -d $RT_ROOT ]] || return 0
  local dir id pid
  for dir in "$RT_ROOT"/*/; do
    [[ -d $dir ]] || continue
    id=$(basename "$dir")
    "$BERTH_RUNTIME" --root "$RT_ROOT" delete --force "$id" >/dev/null 2>&1 || true
    # If the runtime could not delete it, kill what it recorded so nothing outlives the test.
    if [[ -f $dir/state.json ]]; then
      pid=$(jq -r '.pid // 0' "$dir/state.json" 2>/dev/null || echo 0)
      [[ $pid =~ ^[0-9]+$ && $pid -gt 1 ]] && kill -9 "$pid" 2>/dev/null || true
    fi
  done
  rm -rf --one-file-system "$RT_ROOT"
  unset RT_ROOT
}

# on_v2 SCRIPT: like bats `run` for bash SCRIPT in a mount namespace where /sys/fs/cgroup is the
# host's empty cgroup2 (a v2 host, for the runtime); $R in SCRIPT is the runtime command line.
on_v2() {
  run unshare -m bash -c "mount --make-rprivate / && mount -t cgroup2 none /sys/fs/cgroup && R='$BERTH_RUNTIME --root $RT_ROOT' && $1" </dev/null
}
