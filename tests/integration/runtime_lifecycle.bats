#!/usr/bin/env bats
# berth-runtime's lifecycle and process plumbing, with real containers from the busybox fixture.

load ../lib/bundle

setup() { bundle_setup; }
teardown() { bundle_teardown; }

@test "run returns the container's exit status and passes stdio through" {
  id=$(unique_id run); b=$(make_bundle "$id")
  patch_config "$b" '.process.args = ["/bin/sh", "-c", "read x; echo got:$x; echo err >&2; exit 7"]'
  run bash -c "echo hello | '$BERTH_RUNTIME' --root '$RT_ROOT' run --bundle '$b' '$id' 2>/dev/null"
  [ "$status" -eq 7 ]
  [ "$output" = "got:hello" ]
  # run deletes the container when it exits
  rt state "$id"
  [ "$status" -ne 0 ]
  [[ $output == *"container '$id' does not exist"* ]]
}

@test "run reports death by signal as 128+N and forwards signals" {
  id=$(unique_id sig); b=$(make_bundle "$id")
  patch_config "$b" '.process.args = ["/bin/sh", "-c", "trap \"exit 42\" USR1; echo ready; while :; do sleep 0.05; done"]'
  "$BERTH_RUNTIME" --root "$RT_ROOT" run --bundle "$b" "$id" >"$BATS_TEST_TMPDIR/out" &
  runtime_pid=$!
  for _ in $(seq 100); do grep -q ready "$BATS_TEST_TMPDIR/out" && break; sleep 0.05; done
  kill -USR1 $runtime_pid
  wait $runtime_pid || code=$?
  [ "${code:-0}" -eq 42 ]

  id2=$(unique_id sig); b2=$(make_bundle "$id2")
  # not pid 1 of a pid namespace: that one cannot be killed from inside
  patch_config "$b2" '.process.args = ["/bin/sh", "-c", "kill -9 $$"] | .linux.namespaces |= map(select(.type != "pid"))'
  rt run --bundle "$b2" "$id2"
  [ "$status" -eq 137 ]
}

@test "create, start, state, kill, delete follow the spec's statuses" {
  id=$(unique_id life); b=$(make_bundle "$id")
  patch_config "$b" '.process.args = ["/bin/sleep", "1000"]'
  rt create --bundle "$b" --pid-file "$BATS_TEST_TMPDIR/pid" "$id"
  [ "$status" -eq 0 ]
  rt state "$id"
  [ "$(jq -r .status <<<"$output")" = created ]
  [ "$(jq -r .pid <<<"$output")" = "$(cat "$BATS_TEST_TMPDIR/pid")" ]
  [ "$(jq -r .bundle <<<"$output")" = "$b" ]
  [ "$(jq -r .ociVersion <<<"$output")" != null ]
  # the process exists but has not exec'd the user program yet
  ! grep -q sleep "/proc/$(cat "$BATS_TEST_TMPDIR/pid")/cmdline" || false
  rt start "$id"
  [ "$status" -eq 0 ]
  rt state "$id"
  [ "$(jq -r .status <<<"$output")" = running ]
  grep -q sleep "/proc/$(cat "$BATS_TEST_TMPDIR/pid")/cmdline"
  rt start "$id"
  [ "$status" -ne 0 ]
  [[ $output == *"cannot start container '$id': it is running"* ]]
  rt delete "$id"
  [ "$status" -ne 0 ]
  [[ $output == *"cannot delete container '$id': it is running"* ]]
  rt kill "$id" KILL
  [ "$status" -eq 0 ]
  for _ in $(seq 100); do rt state "$id"; [ "$(jq -r .status <<<"$output")" = stopped ] && break; sleep 0.02; done
  [ "$(jq -r .status <<<"$output")" = stopped ]
  rt kill "$id" TERM
  [ "$status" -ne 0 ]
  [[ $output == *"is stopped"* ]]
  rt delete "$id"
  [ "$status" -eq 0 ]
  [ ! -e "$RT_ROOT/$id" ]
  [ ! -e "/sys/fs/cgroup/pids/berth/$id" ]
}

@test "create and start work for a non-root user (the exec fifo is reopened after the uid switch)" {
  id=$(unique_id user); b=$(make_bundle "$id")
  patch_config "$b" '.process.user = {"uid": 1000, "gid": 1000} | .process.args = ["/bin/sleep", "1000"]'
  rt create --bundle "$b" "$id"
  [ "$status" -eq 0 ]
  rt start "$id"
  [ "$status" -eq 0 ]
  rt state "$id"
  [ "$(jq -r .status <<<"$output")" = running ]
  pid=$(jq -r .pid <<<"$output")
  [ "$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")" = 1000 ]
  rt delete --force "$id"
  [ "$status" -eq 0 ]
}

@test "list shows containers as a table and as JSON; kill --all and delete --force" {
  id=$(unique_id list); b=$(make_bundle "$id")
  patch_config "$b" '.process.args = ["/bin/sh", "-c", "sleep 1000 & sleep 1000"]'
  rt run --detach --bundle "$b" "$id"
  [ "$status" -eq 0 ]
  rt list
  [[ ${lines[0]} == "ID"*"PID"*"STATUS"*"BUNDLE"*"CREATED"*"OWNER" ]]
  [[ ${lines[1]} == "$id "*"running"* ]]
  rt list --format json
  [ "$(jq -r '.[0].id' <<<"$output")" = "$id" ]
  [ "$(jq -r '.[0].status' <<<"$output")" = running ]
  rt ps --format json "$id"
  [ "$(jq length <<<"$output")" -ge 2 ]
  rt ps "$id"
  [[ $output == *sleep* ]]
  rt kill --all "$id" KILL
  [ "$status" -eq 0 ]
  rt delete --force "$id"
  [ "$status" -eq 0 ]
  rt list -q
  [ -z "$output" ]
}

@test "pause and resume freeze the container" {
  id=$(unique_id pause); b=$(make_bundle "$id")
  patch_config "$b" '.process.args = ["/bin/sleep", "1000"]'
  rt run -d --bundle "$b" "$id"
  rt pause "$id"
  [ "$status" -eq 0 ]
  rt state "$id"
  [ "$(jq -r .status <<<"$output")" = paused ]
  rt resume "$id"
  [ "$status" -eq 0 ]
  rt state "$id"
  [ "$(jq -r .status <<<"$output")" = running ]
  rt delete -f "$id"
  [ "$status" -eq 0 ]
}

@test "exec runs in the container's namespaces, with args or a process file" {
  id=$(unique_id exec); b=$(make_bundle "$id")
  patch_config "$b" '.process.args = ["/bin/sleep", "1000"] | .hostname = "box"'
  rt run -d --bundle "$b" "$id"
  rt exec "$id" /bin/hostname
  [ "$status" -eq 0 ]
  [ "$output" = box ]
  rt exec --user 1000:1000 -g 10 --additional-gids 20 "$id" /bin/id -G
  [ "$output" = "1000 10 20" ]
  rt exec --env FOO=bar --cwd /tmp "$id" /bin/sh -c 'echo $FOO $(pwd); exit 3'
  [ "$status" -eq 3 ]
  [ "$output" = "bar /tmp" ]
  echo '{"args":["/bin/sh","-c","id -u; cat /proc/1/cmdline | tr \"\\0\" \" \""],"cwd":"/","user":{"uid":1000,"gid":1000},"env":["PATH=/bin"]}' >"$BATS_TEST_TMPDIR/p.json"
  rt exec --process "$BATS_TEST_TMPDIR/p.json" "$id"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = 1000 ]
  [[ ${lines[1]} == "/bin/sleep 1000"* ]]
  rt exec -d --pid-file "$BATS_TEST_TMPDIR/exec.pid" "$id" /bin/sleep 1000
  [ "$status" -eq 0 ]
  rt ps --format json "$id"
  [[ $output == *"$(cat "$BATS_TEST_TMPDIR/exec.pid")"* ]]
  run bash -c "(sleep 0.3; printf 'tty; exit 6\r'; sleep 0.3) | script -qec '$BERTH_RUNTIME --root $RT_ROOT exec -t $id /bin/sh' /dev/null"
  [ "$status" -eq 6 ]
  [[ $output == *"/dev/pts/"* ]]
  rt exec "$id" /no/such/program
  [ "$status" -ne 0 ]
  [[ $output == *"/no/such/program"* ]]
  rt delete -f "$id"
}

@test "a terminal is handed over --console-socket to a real socket client" {
  id=$(unique_id tty); b=$(make_bundle "$id")
  patch_config "$b" '.process.terminal = true | .process.args = ["/bin/sh"] | .process.consoleSize = {"height": 30, "width": 100}'
  sock=$BATS_TEST_TMPDIR/console.sock
  python3 "$BERTH_SOURCE/tests/lib/console_client.py" "$sock" $'tty; stty size; exit 5\n' 5 >"$BATS_TEST_TMPDIR/console.out" &
  client=$!
  for _ in $(seq 100); do [ -e "$sock.ready" ] && break; sleep 0.05; done
  rt run --console-socket "$sock" --bundle "$b" "$id"
  [ "$status" -eq 5 ]
  wait $client
  cat "$BATS_TEST_TMPDIR/console.out"
  grep -q '^pty: /dev/pts/0' "$BATS_TEST_TMPDIR/console.out"
  grep -q '/dev/pts/0' <(tail -n +2 "$BATS_TEST_TMPDIR/console.out")
  grep -q '30 100' "$BATS_TEST_TMPDIR/console.out"
}

@test "create with a terminal but no console socket is refused with a hint" {
  id=$(unique_id tty); b=$(make_bundle "$id")
  patch_config "$b" '.process.terminal = true'
  rt create --bundle "$b" "$id"
  [ "$status" -ne 0 ]
  [[ $output == *"process.terminal is true but no --console-socket was given"* ]]
  [[ $output == *"hint: pass --console-socket PATH"* ]]
  [ ! -e "$RT_ROOT/$id" ]
}

@test "foreground run relays the terminal itself: raw input, window size, exit code" {
  id=$(unique_id tty); b=$(make_bundle "$id")
  patch_config "$b" '.process.terminal = true | .process.args = ["/bin/sh"]'
  # script(1) gives the runtime a real terminal of 33x99 on its stdin.
  run bash -c "(sleep 0.5; printf 'tty; stty size\r'; sleep 0.3; printf 'exit 4\r'; sleep 0.3) |
    script -qec 'stty rows 33 cols 99; $BERTH_RUNTIME --root $RT_ROOT run --bundle $b $id' /dev/null"
  [ "$status" -eq 4 ]
  [[ $output == *"/dev/pts/0"* ]]
  [[ $output == *"33 99"* ]]
}

@test "preserve-fds passes extra descriptors to the container" {
  id=$(unique_id fds); b=$(make_bundle "$id")
  patch_config "$b" '.process.args = ["/bin/sh", "-c", "cat <&3"]'
  echo through-fd-3 >"$BATS_TEST_TMPDIR/data"
  run bash -c "'$BERTH_RUNTIME' --root '$RT_ROOT' run --preserve-fds 1 --bundle '$b' '$id' 3<'$BATS_TEST_TMPDIR/data'"
  [ "$status" -eq 0 ]
  [ "$output" = through-fd-3 ]
}

@test "spec writes a default config.json and refuses to overwrite it" {
  cd "$BATS_TEST_TMPDIR"
  rt spec
  [ "$status" -eq 0 ]
  [ "$(jq -r '.process.args[0]' config.json)" = sh ]
  rt spec
  [ "$status" -ne 0 ]
  [[ $output == *"config.json' already exists"* ]]
  mkdir rl
  rt spec --rootless --bundle rl
  [ "$status" -eq 0 ]
  jq -e '.linux.namespaces | map(.type) | index("user")' rl/config.json
}

@test "features and version describe the runtime" {
  rt features
  [ "$status" -eq 0 ]
  jq -e '.linux.namespaces | index("user")' <<<"$output"
  jq -e '.linux.seccomp.enabled' <<<"$output"
  rt --version
  [[ $output == "berth-runtime version "* ]]
  run "$BERTH" runtime --version
  [[ $output == "berth-runtime version "* ]]
}
