#!/usr/bin/env bats
# A real engine drives berth-runtime: podman 4.3 (cgroupfs, conmon) runs, execs, stops and
# removes containers through it. No network: podman's bridge would add firewall rules.

load ../lib/bundle

setup_file() {
  export IMAGE=localhost/berth-test-busybox-$$
  podman import "$BERTH_FIXTURES/busybox-rootfs.tar" "$IMAGE" >/dev/null
}

teardown_file() {
  podman rm -af --filter "ancestor=$IMAGE" >/dev/null 2>&1 || true
  podman rmi -f "$IMAGE" >/dev/null 2>&1 || true
}

p() { podman --runtime "$BERTH_RUNTIME" "$@"; }

@test "podman run --rm prints, passes the exit code, and leaves no cgroup" {
  run p run --rm --network none "$IMAGE" sh -c 'echo hi from berth; exit 3'
  [ "$status" -eq 3 ]
  [ "$output" = "hi from berth" ]
  run p run --rm --network none --hostname box --user 1000:1000 "$IMAGE" sh -c 'hostname; id -u'
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = box ]
  [ "${lines[1]}" = 1000 ]
}

@test "podman run -d, exec (also with a terminal), stop and rm" {
  name=berth-test-$$-exec
  run p run -d --network none --name "$name" "$IMAGE" sleep 1000
  [ "$status" -eq 0 ]
  cid=$output
  run p exec "$name" sh -c 'echo exec-ok; cat /proc/1/cmdline | tr "\0" " "'
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = exec-ok ]
  [[ ${lines[1]} == "sleep 1000"* ]]
  run p exec -it "$name" tty </dev/null
  [ "$status" -eq 0 ]
  [[ $output == /dev/pts/* ]]
  run p inspect --format '{{.State.Status}} {{.OCIRuntime}}' "$name"
  [[ $output == "running "*"berth-runtime"* ]]
  run p stop -t 1 "$name"
  [ "$status" -eq 0 ]
  run p inspect --format '{{.State.Status}}' "$name"
  [ "$output" = exited ]
  run p rm "$name"
  [ "$status" -eq 0 ]
  ! ls -d /sys/fs/cgroup/*/libpod_parent/libpod-"$cid" 2>/dev/null || false
}

@test "podman sees the container's real exit when it is killed" {
  name=berth-test-$$-kill
  p run -d --network none --name "$name" "$IMAGE" sleep 1000 >/dev/null
  run p kill -s KILL "$name"
  [ "$status" -eq 0 ]
  run p wait "$name"
  [ "$output" = 137 ]
  p rm "$name" >/dev/null
}
