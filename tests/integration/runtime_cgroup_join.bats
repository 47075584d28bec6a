#!/usr/bin/env bats
# How a container's processes get into its cgroup. Moving another process takes a global lock
# whose first use after a quiet spell waits for an RCU grace period (~10 ms, most of a start),
# so the runtime avoids moves: on cgroup v1 the process joins itself through each hierarchy's
# `tasks` (no lock), on v2 it is cloned into its cgroup (clone3 CLONE_INTO_CGROUP).

load ../lib/bundle

setup() { bundle_setup; }
teardown() { bundle_teardown; }

# v1_hierarchies: the mounted v1 hierarchies (one per line of /proc/self/cgroup, but not 0::).
v1_hierarchies() { grep -vc '^0::' /proc/self/cgroup; }

@test "v1: the container's process is in its cgroup in every hierarchy" {
  id=$(unique_id join); b=$(make_bundle "$id")
  patch_config "$b" '.process.args = ["/bin/cat", "/proc/self/cgroup"]'
  rt run --bundle "$b" "$id"
  [ "$status" -eq 0 ]
  [ "$(grep -v '^0::' <<<"$output" | grep -c ":/berth/$id\$")" -eq "$(v1_hierarchies)" ]
}

@test "v1: an exec'd process is in the container's cgroup in every hierarchy" {
  id=$(unique_id join); b=$(make_bundle "$id")
  patch_config "$b" '.process.args = ["/bin/sleep", "1000"]'
  rt run --detach --bundle "$b" "$id"
  [ "$status" -eq 0 ]
  rt exec "$id" /bin/cat /proc/self/cgroup
  [ "$status" -eq 0 ]
  [ "$(grep -v '^0::' <<<"$output" | grep -c ":/berth/$id\$")" -eq "$(v1_hierarchies)" ]
  rt delete --force "$id"
}

@test "v1: the container joins by writing 0 to tasks, never a pid to cgroup.procs (no lock, no wait)" {
  command -v strace >/dev/null || { echo "strace missing: run scripts/setup" >&2; return 1; }
  id=$(unique_id join); b=$(make_bundle "$id")
  patch_config "$b" '.process.args = ["/bin/true"]'
  rt_root
  strace -f -qq -e trace=openat,write -o "$BATS_TEST_TMPDIR/strace" \
    "$BERTH_RUNTIME" --root "$RT_ROOT" run --bundle "$b" "$id" </dev/null
  # The tasks files are opened by the runtime, then written "0" by the container's process.
  [ "$(grep -c "openat(.*/berth/$id/tasks\", O_WRONLY" "$BATS_TEST_TMPDIR/strace")" -eq "$(v1_hierarchies)" ]
  [ "$(grep -c 'write([0-9]*, "0", 1) *= 1' "$BATS_TEST_TMPDIR/strace")" -ge "$(v1_hierarchies)" ]
  run grep 'cgroup.procs", O_WRONLY' "$BATS_TEST_TMPDIR/strace"
  [ "$status" -ne 0 ]
}

@test "v2: the container is cloned into its cgroup (clone3 CLONE_INTO_CGROUP), and an exec joins it" {
  command -v strace >/dev/null || { echo "strace missing: run scripts/setup" >&2; return 1; }
  id=$(unique_id join); b=$(make_bundle "$id")
  patch_config "$b" '.process.args = ["/bin/grep", "^0::", "/proc/self/cgroup"]'
  id2=$(unique_id join); b2=$(make_bundle "$id2")
  patch_config "$b2" '.process.args = ["/bin/sleep", "1000"]'
  # strace follows a foreground run only: a detached container would keep it waiting.
  on_v2 "set -e
    strace -f -qq -e trace=clone3 -o $BATS_TEST_TMPDIR/strace \$R run --bundle $b $id
    \$R run --detach --bundle $b2 $id2
    \$R exec $id2 /bin/grep ^0:: /proc/self/cgroup
    \$R delete --force $id2"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "0::/berth/$id" ]
  [ "${lines[1]}" = "0::/berth/$id2" ]
  grep -q 'CLONE_INTO_CGROUP' "$BATS_TEST_TMPDIR/strace"
}
