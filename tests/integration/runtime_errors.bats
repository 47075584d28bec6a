#!/usr/bin/env bats
# Bad input gets one clear line naming the problem, a non-zero exit, and leaves nothing behind;
# a runtime killed in the middle of create leaves nothing that `delete --force` cannot remove.

load ../lib/bundle

setup() { bundle_setup; }
teardown() { bundle_teardown; }

# nothing_left ID: no state directory, no cgroup, no process of the container.
nothing_left() {
  [ ! -e "$RT_ROOT/$1" ]
  ! ls -d /sys/fs/cgroup/*/berth/"$1" 2>/dev/null || false
  ! pgrep -f -- "$1" || false
}

@test "malformed JSON names the file and the position" {
  id=$(unique_id err); b=$(make_bundle "$id")
  echo '{"ociVersion": "1.0.2", "root": ' >"$b/config.json"
  rt create --bundle "$b" "$id"
  [ "$status" -eq 1 ]
  [[ $output == *"$b/config.json: malformed JSON"* ]]
  [ "${#lines[@]}" -le 2 ]
  nothing_left "$id"
}

@test "a missing rootfs names root.path" {
  id=$(unique_id err); b=$(make_bundle "$id")
  patch_config "$b" '.root.path = "/nonexistent/rootfs"'
  rt create --bundle "$b" "$id"
  [ "$status" -eq 1 ]
  [[ $output == *"root.path '/nonexistent/rootfs': no such file or directory"* ]]
  nothing_left "$id"
}

@test "an unknown namespace and an unknown capability name the field" {
  id=$(unique_id err); b=$(make_bundle "$id")
  patch_config "$b" '.linux.namespaces += [{"type": "bogus"}]'
  rt create --bundle "$b" "$id"
  [ "$status" -eq 1 ]
  [[ $output == *"linux.namespaces[5].type: unknown namespace type 'bogus'"* ]]
  nothing_left "$id"
  patch_config "$b" '.linux.namespaces |= map(select(.type != "bogus")) | .process.capabilities.bounding += ["CAP_BOGUS"]'
  rt create --bundle "$b" "$id"
  [ "$status" -eq 1 ]
  [[ $output == *"unknown capability 'CAP_BOGUS'"* ]]
  nothing_left "$id"
}

@test "a missing program is reported by create, before start" {
  id=$(unique_id err); b=$(make_bundle "$id")
  patch_config "$b" '.process.args = ["no-such-program"]'
  rt create --bundle "$b" "$id"
  [ "$status" -eq 1 ]
  [[ $output == *"exec 'no-such-program': executable file not found in \$PATH"* ]]
  nothing_left "$id"
}

@test "a duplicate id is refused and the first container is untouched" {
  id=$(unique_id dup); b=$(make_bundle "$id")
  patch_config "$b" '.process.args = ["/bin/sleep", "1000"]'
  rt create --bundle "$b" "$id"
  [ "$status" -eq 0 ]
  rt create --bundle "$b" "$id"
  [ "$status" -eq 1 ]
  [[ $output == *"container '$id' already exists"* ]]
  rt state "$id"
  [ "$(jq -r .status <<<"$output")" = created ]
  rt delete "$id"
  [ "$status" -eq 0 ]
  nothing_left "$id"
}

@test "unknown ids, bad ids, bad signals and bad options" {
  rt state nope
  [ "$status" -eq 1 ]
  [[ $output == *"container 'nope' does not exist"* ]]
  rt create --bundle /tmp ../escape
  [ "$status" -eq 1 ]
  [[ $output == *"invalid container id '../escape'"* ]]
  id=$(unique_id err); b=$(make_bundle "$id")
  patch_config "$b" '.process.args = ["/bin/sleep", "1000"]'
  rt run -d --bundle "$b" "$id"
  rt kill "$id" SIGBOGUS
  [ "$status" -eq 1 ]
  [[ $output == *"unknown signal 'SIGBOGUS'"* ]]
  rt create --bogus-flag x
  [ "$status" -eq 2 ]
  [[ $output == *"unknown option '--bogus-flag' for 'create'"* ]]
  rt delete -f "$id"
}

@test "rlimit soft above hard and a bad mount destination are refused before anything starts" {
  id=$(unique_id err); b=$(make_bundle "$id")
  patch_config "$b" '.process.rlimits = [{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 10}]'
  rt create --bundle "$b" "$id"
  [ "$status" -eq 1 ]
  [[ $output == *"process.rlimits[0]: RLIMIT_NOFILE: soft limit 100 is above hard limit 10"* ]]
  patch_config "$b" 'del(.process.rlimits) | .mounts += [{"destination": "relative", "type": "tmpfs", "source": "tmpfs"}]'
  rt create --bundle "$b" "$id"
  [ "$status" -eq 1 ]
  [[ $output == *"mounts[6].destination: 'relative' is not an absolute path"* ]]
  nothing_left "$id"
}

@test "a failing mount names the mount and undoes the create" {
  id=$(unique_id err); b=$(make_bundle "$id")
  patch_config "$b" '.mounts += [{"destination": "/data", "type": "bind", "source": "/nonexistent/src", "options": ["rbind"]}]'
  rt create --bundle "$b" "$id"
  [ "$status" -eq 1 ]
  [[ $output == *"mounts[6] on '/data': bind mount source '/nonexistent/src': no such file or directory"* ]]
  nothing_left "$id"
}

@test "kill -9 of the runtime in the middle of create leaves nothing after delete --force" {
  for phase in early hooks; do
    id=$(unique_id crash); b=$(make_bundle "$id")
    patch_config "$b" '.process.args = ["/bin/sleep", "1000"] | .hooks.createRuntime = [{"path": "/bin/sleep", "args": ["sleep", "0.5"]}]'
    "$BERTH_RUNTIME" --root "$RT_ROOT" create --bundle "$b" "$id" &
    pid=$!
    if [ $phase = early ]; then sleep 0.01; else sleep 0.3; fi
    kill -9 $pid
    wait $pid || true
    sleep 0.6  # let an orphaned hook finish
    "$BERTH_RUNTIME" --root "$RT_ROOT" delete --force "$id" || true
    nothing_left "$id"
    rt create --bundle "$b" "$id"  # the id is free again
    [ "$status" -eq 0 ]
    rt delete --force "$id"
    nothing_left "$id"
  done
}

@test "errors also go to --log, as JSON lines with --log-format json" {
  log=$BATS_TEST_TMPDIR/runtime.log
  rt --log "$log" --log-format json state nope
  [ "$status" -eq 1 ]
  [[ $output == *"container 'nope' does not exist"* ]]
  [ "$(jq -r .level "$log")" = error ]
  [ "$(jq -r .msg "$log")" = "container 'nope' does not exist" ]
  jq -e '.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T")' "$log"
  rt --log "$BATS_TEST_TMPDIR/text.log" delete nope
  grep -q "error: container 'nope' does not exist" "$BATS_TEST_TMPDIR/text.log"
}
