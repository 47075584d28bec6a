#!/usr/bin/env bats
# `berth` container verbs as a user drives them: run and its options, the life cycle (create,
# start, stop, kill, restart, pause, rm), what ps/logs/inspect/exec/top/stats/cp show, and the
# errors for bad input. Each test has its own BERTH_ROOT and BERTH_RUN_ROOT.

bats_require_minimum_version 1.5.0
load ../lib/berth

setup() { berth_setup; }
teardown() { berth_teardown; }

# --- run ----------------------------------------------------------------------------------

@test "run in the foreground prints the output and passes the exit code on" {
  b run --name fg busybox sh -c 'echo out; echo err >&2; exit 3'
  [ "$status" -eq 3 ]
  [ "$output" = out ]
  [[ $stderr == *err* ]]
  run -0 bq inspect -f '{{.State.ExitCode}}' fg
  [ "$output" = 3 ]
  run -0 bq inspect -f '{{.State.Status}}' fg
  [ "$output" = exited ]
}

@test "run --rm leaves nothing in ps -a, nor a lock file; rm removes its lock file too" {
  b run --rm busybox sh -c 'exit 0'
  [ "$status" -eq 0 ]
  b run --rm busybox false
  [ "$status" -eq 1 ]
  [ "$(container_count)" -eq 0 ]
  b run -d --name locked busybox true
  b rm -f locked
  [ -z "$(ls "$BERTH_RUN_ROOT/locks" | grep '^container-')" ]
}

@test "a --rm container's bundle lives under the run root, its writable layer on disk; both go" {
  id=$(detach tmp --rm busybox sh -c 'echo data >/written; sleep 1000')
  bundle=$BERTH_RUN_ROOT/containers/$id
  # The bundle (config, /etc files, the monitor's files, the log) and the mount point.
  for f in config.json etc/hostname etc/hosts etc/resolv.conf monitor.lock log.jsonl; do
    [ -e "$bundle/$f" ] || { echo "no $bundle/$f" >&2; return 1; }
  done
  grep -q " $bundle/rootfs " /proc/self/mountinfo
  # On the root's disk: the overlay's upper and work directories only.
  run -0 ls "$BERTH_ROOT/containers/$id"
  [ "$output" = "$(printf 'upper\nwork')" ]
  wait_for 10 test -e "$BERTH_ROOT/containers/$id/upper/written"
  run -0 bq inspect -f '{{.LogPath}}' tmp
  [ "$output" = "$bundle/log.jsonl" ]
  b stop -t 0 tmp
  [ "$status" -eq 0 ]
  wait_for 10 sh -c "[ ! -e '$bundle' ] && [ ! -e '$BERTH_ROOT/containers/$id' ]"
  ! grep -q " $bundle/rootfs " /proc/self/mountinfo || false
  [ "$(container_count)" -eq 0 ]
  # Without --rm the bundle stays with the layer, on disk: it outlives a reboot.
  id=$(detach kept busybox true)
  [ -e "$BERTH_ROOT/containers/$id/config.json" ]
  [ ! -e "$BERTH_RUN_ROOT/containers/$id" ]
}

@test "a --rm container whose bundle a reboot took goes at the next command, with its layer" {
  b create --rm --name lost busybox true
  id=$(bq inspect -f '{{.Id}}' lost)
  [ -d "$BERTH_ROOT/containers/$id/upper" ]
  rm -rf "$BERTH_RUN_ROOT/containers/$id" # what a reboot does to the run root's tmpfs
  [ "$(container_count)" -eq 0 ]
  [ ! -e "$BERTH_ROOT/containers/$id" ]
  b system check
  [ "$output" = "nothing to repair" ]
}

@test "the mount points for /etc/hostname, hosts and resolv.conf come from the init layer, not the writable layer" {
  id=$(detach quiet busybox sleep 1000)
  run -0 bq exec quiet cat /etc/hostname
  [ "$output" = "${id:0:12}" ]
  # The image has no /etc/hostname: without the init layer the runtime would create it (and
  # copy /etc up) in the container's writable layer, on disk, at every start.
  run -0 find "$BERTH_ROOT/containers/$id/upper" -mindepth 1
  [ -z "$output" ]
  run -0 find "$BERTH_ROOT/init-layer" -type f
  [ "$(sort <<<"$output")" = "$(printf '%s\n' "$BERTH_ROOT/init-layer/etc/hostname" \
    "$BERTH_ROOT/init-layer/etc/hosts" "$BERTH_ROOT/init-layer/etc/resolv.conf")" ]
  [ ! -s "$BERTH_ROOT/init-layer/etc/hostname" ]
}

@test "run -d prints the full id and the container runs in the background" {
  b run -d --name bg busybox sleep 1000
  [ "$status" -eq 0 ]
  [[ $output =~ ^[0-9a-f]{64}$ ]]
  id=$output
  run -0 bq ps -q
  [ "$output" = "${id:0:12}" ]
  [ "$(state_of bg)" = running ]
  run -0 bq inspect -f '{{.Id}}' bg
  [ "$output" = "$id" ]
}

@test "run -d returns at once: its monitor keeps none of the caller's pipes open" {
  run -0 timeout 20 bash -c '"$BERTH" run -d --name fds busybox sleep 1000 7>&1 | cat'
  [[ $output =~ ^[0-9a-f]{64}$ ]]
  b stop -t 0 fds
  run -0 timeout 20 bash -c '"$BERTH" start fds 7>&1 | cat'
  [ "$output" = fds ]
}

@test "run -e and --env-file set the environment; -e wins over the file" {
  printf '# comment\nFROM_FILE=one\nBOTH=file\n\n' >"$BATS_TEST_TMPDIR/env"
  export PASSED_THROUGH=from-host
  b run --rm --env-file "$BATS_TEST_TMPDIR/env" -e BOTH=flag -e PASSED_THROUGH -e 'SPACED=a b' busybox \
    sh -c 'echo "$FROM_FILE|$BOTH|$PASSED_THROUGH|$SPACED"'
  [ "$status" -eq 0 ]
  [ "$output" = "one|flag|from-host|a b" ]
}

@test "run -w sets the working directory, -u takes a number or a name" {
  b run --rm -w /tmp busybox pwd
  [ "$output" = /tmp ]
  b run --rm -u 1234:5678 busybox sh -c 'id -u; id -g'
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = 1234 ]
  [ "${lines[1]}" = 5678 ]
  b run --rm -u berth busybox sh -c 'id -un; id -g; echo $HOME'
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = berth ]
  [ "${lines[1]}" = 1000 ]
  b run --rm -u nosuchuser busybox true
  [ "$status" -eq 125 ]
  [[ $stderr == *"user 'nosuchuser'"* ]]
}

@test "run --entrypoint replaces the image's entrypoint; the command becomes its arguments" {
  b run --rm --entrypoint /bin/echo busybox hello world
  [ "$status" -eq 0 ]
  [ "$output" = "hello world" ]
  b run --rm --name ep --entrypoint /bin/sh busybox -c 'echo via sh'
  [ "$output" = "via sh" ]
}

@test "run -v binds a host directory read-write, and :ro refuses writes" {
  dir=$BATS_TEST_TMPDIR/host
  mkdir -p "$dir"
  echo from-host >"$dir/in"
  b run --rm -v "$dir:/data" busybox sh -c 'cat /data/in; echo from-container >/data/out'
  [ "$status" -eq 0 ]
  [ "$output" = from-host ]
  [ "$(cat "$dir/out")" = from-container ]
  b run --rm -v "$dir:/data:ro" busybox sh -c 'cat /data/in; echo x >/data/out2'
  [ "$status" -ne 0 ]
  [[ $output == from-host ]]
  [[ $stderr == *"Read-only file system"* ]]
  [ ! -e "$dir/out2" ]
}

@test "run -v with a named volume keeps data; :ro refuses writes" {
  b run --rm -v vol1:/data busybox sh -c 'echo kept >/data/f'
  [ "$status" -eq 0 ]
  b run --rm -v vol1:/data:ro busybox sh -c 'cat /data/f; touch /data/g'
  [ "$status" -ne 0 ]
  [ "$output" = kept ]
  [[ $stderr == *"Read-only file system"* ]]
  run -0 bq volume ls -q
  [ "$output" = vol1 ]
}

@test "run --tmpfs mounts a tmpfs with the given options" {
  b run --rm --read-only --tmpfs /scratch:size=1m busybox sh -c \
    'grep " /scratch " /proc/mounts; echo x >/scratch/f && cat /scratch/f'
  [ "$status" -eq 0 ]
  [[ ${lines[0]} == "tmpfs /scratch tmpfs "* ]]
  [[ ${lines[0]} == *size=1024k* ]]
  [ "${lines[1]}" = x ]
}

@test "run --memory and --pids-limit set the container's cgroup limits" {
  id=$(detach lim --memory 64m --pids-limit 32 busybox sleep 1000)
  run -0 bq inspect -f '{{.HostConfig.Memory}}' lim
  [ "$output" = 67108864 ]
  run -0 bq inspect -f '{{.HostConfig.PidsLimit}}' lim
  [ "$output" = 32 ]
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
    [ "$(cat "/sys/fs/cgroup/berth/$id/memory.max")" = 67108864 ]
    [ "$(cat "/sys/fs/cgroup/berth/$id/pids.max")" = 32 ]
  else
    [ "$(cat "/sys/fs/cgroup/memory/berth/$id/memory.limit_in_bytes")" = 67108864 ]
    [ "$(cat "/sys/fs/cgroup/pids/berth/$id/pids.max")" = 32 ]
  fi
  # The limit holds: the 33rd process cannot be forked.
  b exec lim sh -c 'for i in $(seq 40); do sleep 30 & done 2>/dev/null; wait'
  [ "$status" -ne 0 ] || [[ $stderr == *"Resource temporarily unavailable"* ]] || [[ $output == *"can't fork"* ]]
  b stop -t 0 lim
}

@test "run --read-only makes the root file system read-only" {
  b run --rm --read-only busybox touch /file
  [ "$status" -eq 1 ]
  [[ $stderr == *"Read-only file system"* ]]
  b run --rm busybox touch /file
  [ "$status" -eq 0 ]
}

@test "run --restart on-failure:2 restarts twice and counts the restarts" {
  b run -d --name flaky --restart on-failure:2 busybox sh -c 'echo attempt; exit 1'
  [ "$status" -eq 0 ]
  wait_for 30 state_is flaky exited
  run -0 bq inspect -f '{{.RestartCount}}' flaky
  [ "$output" = 2 ]
  run -0 bq inspect -f '{{.State.ExitCode}}' flaky
  [ "$output" = 1 ]
  run -0 bq logs flaky
  [ "$(grep -c attempt <<<"$output")" -eq 3 ]
  # Docker's shape: the name, and the count apart.
  run -0 bq inspect -f '{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}' flaky
  [ "$output" = "on-failure 2" ]
}

@test "run --restart always: restarting shows the last exit; stop ends it for good" {
  b run -d --name again --restart always busybox sh -c 'sleep 0.3; exit 1'
  [ "$status" -eq 0 ]
  # The back-off is short at first (100 ms): poll ps itself until it catches the restart.
  wait_for 20 sh -c '"$BERTH" ps --format json | jq -r .Status | grep -q "^Restarting (1) "'
  wait_for 20 sh -c '[ "$("$BERTH" inspect -f "{{.RestartCount}}" again)" -ge 2 ]'
  b stop -t 1 again
  [ "$status" -eq 0 ]
  [ "$(state_of again)" = exited ]
  count=$(bq inspect -f '{{.RestartCount}}' again)
  sleep 1
  [ "$(state_of again)" = exited ]
  [ "$(bq inspect -f '{{.RestartCount}}' again)" = "$count" ]
}

@test "run --memory: a container over its limit is OOM-killed and inspect says so" {
  b run --name hog --memory 16m busybox sh -c 'head -c 200m /dev/zero | tail'
  [ "$status" -eq 137 ]
  run -0 bq inspect -f '{{.State.OOMKilled}}' hog
  [ "$output" = true ]
  run -0 bq inspect -f '{{.State.ExitCode}}' hog
  [ "$output" = 137 ]
}

@test "run --hostname sets the host name; --label shows in ps --filter label=" {
  b run --rm --hostname box busybox sh -c 'hostname; cat /etc/hostname'
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = box ]
  [ "${lines[1]}" = box ]
  detach labelled --label tier=web --label solo busybox sleep 1000 >/dev/null
  detach other --label tier=db busybox sleep 1000 >/dev/null
  run -0 bq ps --filter label=tier=web --format json
  [ "$(jq -r .Names <<<"$output")" = labelled ]
  [ "$(jq -r '.Labels.tier' <<<"$output")" = web ]
  run -0 bq ps --filter label=tier --format json
  [ "$(jq -s length <<<"$output")" -eq 2 ]
  run -0 bq ps --filter label=solo -q
  [ "${#lines[@]}" -eq 1 ]
}

@test "run --init makes tini PID 1, and it reaps and forwards signals" {
  b run --rm --init busybox sh -c 'cat /proc/1/cmdline | tr "\0" " "; echo; echo $$'
  [ "$status" -eq 0 ]
  [[ ${lines[0]} == "/sbin/docker-init -- sh -c "* ]]
  [ "${lines[1]}" != 1 ]
  b run --rm busybox sh -c 'echo $$'
  [ "$output" = 1 ]
  # sleep as PID 1 would ignore SIGTERM; under tini it gets it and stop is quick.
  detach tini --init busybox sleep 1000 >/dev/null
  start=$SECONDS
  b stop tini
  (( SECONDS - start < 5 ))
  run -0 bq inspect -f '{{.State.ExitCode}}' tini
  [ "$output" = 143 ]
}

@test "run --cap-add and --cap-drop change CapEff; Docker's default set otherwise" {
  b run --rm busybox grep CapEff /proc/self/status
  [ "$output" = "CapEff:	00000000a80425fb" ]
  b run --rm --cap-drop ALL busybox grep CapEff /proc/self/status
  [ "$output" = "CapEff:	0000000000000000" ]
  b run --rm --cap-add NET_ADMIN --cap-drop CHOWN busybox grep CapEff /proc/self/status
  [ "$output" = "CapEff:	00000000a80435fa" ]
  b run --rm --cap-drop ALL --cap-add KILL busybox grep CapEff /proc/self/status
  [ "$output" = "CapEff:	0000000000000020" ]
  b run --rm --cap-add NOT_A_CAP busybox true
  [ "$status" -eq 125 ]
  [[ $stderr == *NOT_A_CAP* ]]
  b run --rm --cap-drop ALL busybox chown 1 /tmp
  [ "$status" -ne 0 ]
}

@test "the default seccomp profile and capabilities refuse what Docker's refuse" {
  b run --rm busybox sh -c 'grep Seccomp: /proc/self/status; grep NoNewPrivs /proc/self/status'
  [ "${lines[0]}" = "Seccomp:	2" ]
  [ "${lines[1]}" = "NoNewPrivs:	0" ]
  b run --rm busybox unshare -U true
  [ "$status" -ne 0 ]
  b run --rm busybox mount -t tmpfs none /mnt
  [ "$status" -ne 0 ]
  b run --rm busybox sh -c 'echo 1 >/proc/sys/kernel/sysrq'
  [ "$status" -ne 0 ]
}

@test "run --security-opt no-new-privileges and seccomp=unconfined" {
  b run --rm --security-opt no-new-privileges busybox grep NoNewPrivs /proc/self/status
  [ "$status" -eq 0 ]
  [ "$output" = "NoNewPrivs:	1" ]
  b run --rm --security-opt seccomp=unconfined busybox grep Seccomp: /proc/self/status
  [ "$status" -eq 0 ]
  [ "$output" = "Seccomp:	0" ]
  b run --rm --security-opt seccomp=/nonexistent/profile.json busybox true
  [ "$status" -eq 125 ]
  [[ $stderr == *"/nonexistent/profile.json"* ]]
  b run --rm --security-opt bogus busybox true
  [ "$status" -eq 125 ]
  [[ $stderr == *"'bogus'"* ]]
}

@test "run --stop-signal: stop sends that signal" {
  detach sig --stop-signal SIGUSR1 busybox sh -c \
    'trap "echo got usr1; exit 7" USR1; echo ready; while :; do sleep 0.1; done' >/dev/null
  wait_for 10 sh -c '"$BERTH" logs sig | grep -q ready'
  b stop sig
  [ "$status" -eq 0 ]
  [ "$output" = sig ]
  run -0 bq inspect -f '{{.State.ExitCode}}' sig
  [ "$output" = 7 ]
  run -0 bq logs sig
  [[ $output == *"got usr1"* ]]
  run -0 bq inspect -f '{{.Config.StopSignal}}' sig
  [ "$output" = SIGUSR1 ]
}

@test "run --stop-timeout: a container ignoring SIGTERM is killed after that many seconds" {
  detach stubborn --stop-timeout 1 busybox sh -c 'trap "" TERM; while :; do sleep 0.1; done' >/dev/null
  start=$SECONDS
  b stop stubborn
  [ "$status" -eq 0 ]
  (( SECONDS - start < 6 ))
  run -0 bq inspect -f '{{.State.ExitCode}}' stubborn
  [ "$output" = 137 ]
}

# --- life cycle ---------------------------------------------------------------------------

@test "create then start; start -a attaches and passes the exit code" {
  b create --name later busybox sh -c 'echo started; exit 4'
  [ "$status" -eq 0 ]
  [[ $output =~ ^[0-9a-f]{64}$ ]]
  [ "$(state_of later)" = created ]
  run -0 bq ps -a --format json
  [ "$(jq -r .Status <<<"$output")" = Created ]
  b start -a later
  [ "$status" -eq 4 ]
  [ "$output" = started ]
  [ "$(state_of later)" = exited ]
  b create --name bg busybox sleep 1000
  b start bg
  [ "$status" -eq 0 ]
  [ "$output" = bg ]
  [ "$(state_of bg)" = running ]
}

@test "stop -t: SIGTERM first, SIGKILL after the timeout" {
  detach polite busybox sh -c 'trap "exit 0" TERM; while :; do sleep 0.1; done' >/dev/null
  b stop polite
  [ "$status" -eq 0 ]
  run -0 bq inspect -f '{{.State.ExitCode}}' polite
  [ "$output" = 0 ]
  detach deaf busybox sh -c 'trap "" TERM; while :; do sleep 0.1; done' >/dev/null
  start=$SECONDS
  b stop -t 1 deaf
  [ "$status" -eq 0 ]
  (( SECONDS - start < 6 ))
  run -0 bq inspect -f '{{.State.ExitCode}}' deaf
  [ "$output" = 137 ]
  [ "$(state_of deaf)" = exited ]
  # Stopping a stopped container succeeds.
  b stop deaf
  [ "$status" -eq 0 ]
}

@test "kill sends SIGKILL by default and -s the given signal" {
  detach k busybox sh -c 'trap "echo got hup" HUP; echo ready; while :; do sleep 0.1; done' >/dev/null
  wait_for 10 sh -c '"$BERTH" logs k | grep -q ready'
  b kill -s HUP k
  [ "$status" -eq 0 ]
  wait_for 10 sh -c '"$BERTH" logs k | grep -q "got hup"'
  [ "$(state_of k)" = running ]
  b kill k
  [ "$status" -eq 0 ]
  run -0 bq wait k
  [ "$output" = 137 ]
  b kill k
  [ "$status" -eq 1 ]
  [[ $stderr == *"is not running"* ]]
  fails_with "NOSUCHSIG" kill -s NOSUCHSIG k
}

@test "restart stops and starts again: a new process, still running" {
  detach r busybox sh -c 'trap "exit 0" TERM; while :; do sleep 0.1; done' >/dev/null
  pid1=$(bq inspect -f '{{.State.Pid}}' r)
  started1=$(bq inspect -f '{{.State.StartedAt}}' r)
  b restart -t 1 r
  [ "$status" -eq 0 ]
  [ "$output" = r ]
  [ "$(state_of r)" = running ]
  pid2=$(bq inspect -f '{{.State.Pid}}' r)
  [ "$pid1" != "$pid2" ]
  [ "$(bq inspect -f '{{.State.StartedAt}}' r)" != "$started1" ]
}

@test "rm refuses a running container without -f, with a clear message; rm -f removes it" {
  detach busy busybox sleep 1000 >/dev/null
  b rm busy
  [ "$status" -eq 1 ]
  [[ $stderr == *"cannot remove container 'busy': it is running"* ]]
  [[ $stderr == *"rm -f"* ]]
  [ "$(state_of busy)" = running ]
  b rm -f busy
  [ "$status" -eq 0 ]
  [ "$output" = busy ]
  [ "$(container_count)" -eq 0 ]
  b rm busy
  [ "$status" -eq 1 ]
  [[ $stderr == *"container 'busy' not found"* ]]
}

@test "rm -f removes a paused container; run -d --rm goes by itself; container prune" {
  detach frozen busybox sleep 1000 >/dev/null
  b pause frozen
  start=$SECONDS
  b rm -f frozen
  [ "$status" -eq 0 ]
  (( SECONDS - start < 5 ))
  b run -d --rm --name brief busybox true
  [ "$status" -eq 0 ]
  wait_for 10 sh -c '[ -z "$("$BERTH" ps -aq)" ]'
  b run --name ended busybox true
  detach alive busybox sleep 1000 >/dev/null
  b container prune -f
  [ "$status" -eq 0 ]
  [[ $output == *"Deleted Containers:"* ]]
  run -0 bq ps -a --format json
  [ "$(jq -r .Names <<<"$output")" = alive ]
}

@test "rm -v removes the container's anonymous volumes, not named ones" {
  b run --name anon -v /data -v keep:/keep busybox sh -c 'echo x >/data/f'
  [ "$status" -eq 0 ]
  run -0 bq volume ls -q
  [ "${#lines[@]}" -eq 2 ]
  b rm -v anon
  [ "$status" -eq 0 ]
  run -0 bq volume ls -q
  [ "$output" = keep ]
  b run --name anon2 -v /data busybox true
  b rm anon2
  run -0 bq volume ls -q
  [ "${#lines[@]}" -eq 2 ]
}

# --- what the containers show -------------------------------------------------------------

@test "ps: running by default, -a all, -q ids, --filter status=exited, --format json, --no-trunc" {
  up=$(detach up busybox sleep 1000)
  b run --name done busybox sh -c 'exit 2'
  b ps
  [ "$status" -eq 0 ]
  [[ ${lines[0]} == "CONTAINER ID"*IMAGE*COMMAND*CREATED*STATUS*PORTS*NAMES ]]
  [ "${#lines[@]}" -eq 2 ]
  [[ ${lines[1]} == "${up:0:12}"*busybox*'"sleep 1000"'*Up*up ]]
  b ps -a
  [ "${#lines[@]}" -eq 3 ]
  [[ $output == *"Exited (2)"*done* ]]
  b ps -aq
  [ "${#lines[@]}" -eq 2 ]
  [[ ${lines[*]} == *"${up:0:12}"* ]]
  b ps -q --no-trunc
  [ "$output" = "$up" ]
  b ps -a --filter status=exited --format json
  [ "$(jq -r .Names <<<"$output")" = done ]
  [ "$(jq -r .State <<<"$output")" = exited ]
  [ "$(jq -r .ExitCode <<<"$output")" = 2 ]
  b ps --filter status=running --format json
  [ "$(jq -r .ID <<<"$output")" = "$up" ]
  [ "$(jq -r .Image <<<"$output")" = busybox ]
  b ps -a --filter name=don -q
  [ "${#lines[@]}" -eq 1 ]
  fails_with "bogus=1" ps --filter bogus=1
}

@test "logs: --tail, -t, --since, and -f ends when the container stops" {
  b run --name l busybox sh -c 'for i in 1 2 3 4 5; do echo line$i; done; echo oops >&2'
  b logs l
  [ "$status" -eq 0 ]
  [ "${lines[*]}" = "line1 line2 line3 line4 line5" ]
  [ "$stderr" = oops ]
  b logs --tail 2 l
  [ "$output" = line5 ]
  [ "$stderr" = oops ]
  b logs -n 1 l
  [ -z "$output" ]
  b logs -t l
  [[ ${lines[0]} =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z\ line1$ ]]
  b logs --since 1h l
  [ "${#lines[@]}" -eq 5 ]
  b logs --since "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)" l
  [ -z "$output" ]
  fails_with "'x'" logs --tail x l

  detach f busybox sh -c 'echo first; sleep 1; echo second' >/dev/null
  start=$SECONDS
  b logs -f f
  [ "$status" -eq 0 ]
  [ "${lines[*]}" = "first second" ]
  (( SECONDS - start < 10 ))
}

@test "logs -f goes on from the bytes it first read: a line half-written when it looked is not lost" {
  # A line the monitor is still writing when logs -f first reads the file: the rest comes later.
  # (The follow used to go on from the file's size looked up after that first read: what came
  # in between was skipped, and a half line was dropped from both sides.)
  id=$(detach half busybox sleep 30)
  log="$BERTH_ROOT/containers/$id/log.jsonl"
  wait_for 10 test -e "$log"
  printf '{"log":"half a li' >>"$log"
  "$BERTH" logs -f half >"$BATS_TEST_TMPDIR/follow" 3>&- &
  follower=$!
  sleep 0.5
  printf 'ne\\n","stream":"stdout","time":"%s"}\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)" >>"$log"
  b stop -t 0 half
  wait "$follower"
  run cat "$BATS_TEST_TMPDIR/follow"
  echo "$output"
  [ "$output" = "half a line" ]
}

@test "inspect shows Docker's document; -f prints one field; unknown containers fail" {
  detach i -e FOO=bar -w /tmp --label a=b busybox sleep 1000 >/dev/null
  b inspect i
  [ "$status" -eq 0 ]
  [ "$(jq length <<<"$output")" -eq 1 ]
  [ "$(jq -r '.[0].Name' <<<"$output")" = /i ]
  [ "$(jq -r '.[0].State.Running' <<<"$output")" = true ]
  [ "$(jq -r '.[0].Path' <<<"$output")" = sleep ]
  [ "$(jq -r '.[0].Args[0]' <<<"$output")" = 1000 ]
  [ "$(jq -r '.[0].Config.WorkingDir' <<<"$output")" = /tmp ]
  [ "$(jq -r '.[0].Config.Labels.a' <<<"$output")" = b ]
  jq -e '.[0].Config.Env | index("FOO=bar")' <<<"$output"
  (( $(jq '.[0].State.Pid' <<<"$output") > 0 ))
  b inspect -f '{{.State.Status}}' i
  [ "$output" = running ]
  b inspect --format '{{.Config.Image}}' i
  [ "$output" = busybox ]
  fails_with "Nope" inspect -f '{{.Nope}}' i
  b inspect nosuch
  [ "$status" -eq 1 ]
  [[ $stderr == *"container 'nosuch' not found"* ]]
}

@test "exec: -e, -u, -w and the exit code of the command" {
  detach x -e BASE=1 busybox sleep 1000 >/dev/null
  b exec x sh -c 'echo "$BASE"; exit 5'
  [ "$status" -eq 5 ]
  [ "$output" = 1 ]
  b exec -e EXTRA=two -u berth -w /home/berth x sh -c 'echo "$EXTRA"; id -un; pwd'
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = two ]
  [ "${lines[1]}" = berth ]
  [ "${lines[2]}" = /home/berth ]
  b exec -u 4321 x id -u
  [ "$output" = 4321 ]
  b exec x /no/such/binary
  [ "$status" -eq 127 ]
  fails_with "'nosuch' not found" exec nosuch true
  b stop -t 0 x
  fails_with "not running" exec x true
}

@test "wait blocks until the container exits and prints its code" {
  detach w busybox sh -c 'sleep 1; exit 9' >/dev/null
  b wait w
  [ "$status" -eq 0 ]
  [ "$output" = 9 ]
  [ "$(state_of w)" = exited ]
  b wait w
  [ "$output" = 9 ]
}

@test "top lists the container's processes; stats --no-stream shows one sample" {
  detach t busybox sh -c 'sleep 1000 & sleep 1001' >/dev/null
  wait_for 10 sh -c '"$BERTH" top t | grep -q "sleep 1001"'
  b top t
  [ "$status" -eq 0 ]
  [[ ${lines[0]} == UID*PID*TIME*CMD ]]
  [[ $output == *"sleep 1000"* ]]
  [[ $output == *"sleep 1001"* ]]
  b stats --no-stream t
  [ "$status" -eq 0 ]
  [[ ${lines[0]} == "CONTAINER ID"*NAME*"CPU %"*"MEM USAGE / LIMIT"*"MEM %"*PIDS ]]
  [[ ${lines[1]} == *" t "* ]]
  b stats --no-stream --format json t
  [ "$(jq -r .Name <<<"$output")" = t ]
  (( $(jq -r .PIDs <<<"$output") >= 2 ))
  b run --name gone busybox true
  fails_with "not running" top gone
}

@test "cp copies from and into a container, running or stopped" {
  detach c busybox sh -c 'echo inside >/tmp/f; sleep 1000' >/dev/null
  wait_for 10 bq exec c test -f /tmp/f
  b cp c:/tmp/f "$BATS_TEST_TMPDIR/out"
  [ "$status" -eq 0 ]
  [ "$(cat "$BATS_TEST_TMPDIR/out")" = inside ]
  echo outside >"$BATS_TEST_TMPDIR/in"
  b cp "$BATS_TEST_TMPDIR/in" c:/tmp/in
  [ "$status" -eq 0 ]
  run -0 bq exec c cat /tmp/in
  [ "$output" = outside ]
  b stop -t 0 c
  b cp "$BATS_TEST_TMPDIR/in" c:/root/again
  [ "$status" -eq 0 ]
  b cp c:/root/again "$BATS_TEST_TMPDIR/again"
  [ "$(cat "$BATS_TEST_TMPDIR/again")" = outside ]
  fails_with "/no/such" cp c:/no/such "$BATS_TEST_TMPDIR/x"
  # A path inside the container cannot climb out of it.
  b cp c:/../../../../etc/hostname "$BATS_TEST_TMPDIR/esc"
  [ "$status" -ne 0 ] || [ "$(cat "$BATS_TEST_TMPDIR/esc")" != "$(cat /etc/hostname)" ]
}

@test "pause freezes the container and ps/inspect show it; unpause thaws" {
  detach p busybox sh -c 'while :; do date +%s%N >/tmp/tick; sleep 0.05; done' >/dev/null
  b pause p
  [ "$status" -eq 0 ]
  [ "$output" = p ]
  [ "$(state_of p)" = paused ]
  run -0 bq inspect -f '{{.State.Paused}}' p
  [ "$output" = true ]
  run -0 bq ps --format json
  [[ $(jq -r .Status <<<"$output") == *"(Paused)" ]]
  b exec p true
  [ "$status" -ne 0 ]
  fails_with "paused" pause p
  b unpause p
  [ "$status" -eq 0 ]
  [ "$(state_of p)" = running ]
  b exec p true
  [ "$status" -eq 0 ]
  b stop -t 1 p
  [ "$(state_of p)" = exited ]
}

@test "rename changes the name; names are unique and checked" {
  detach old busybox sleep 1000 >/dev/null
  detach taken busybox sleep 1000 >/dev/null
  b rename old new
  [ "$status" -eq 0 ]
  [ "$(state_of new)" = running ]
  b inspect old
  [ "$status" -ne 0 ]
  fails_with "'taken' is already in use" rename new taken
  fails_with "bad/name" rename new 'bad/name'
  [ "$(state_of new)" = running ]
}

@test "port lists nothing without published ports; unknown containers fail" {
  detach pt busybox sleep 1000 >/dev/null
  b port pt
  [ "$status" -eq 0 ]
  [ -z "$output" ]
  fails_with "nosuch" port nosuch
}

@test "container VERB spells every verb too" {
  b container run --rm busybox echo hi
  [ "$output" = hi ]
  detach cv busybox sleep 1000 >/dev/null
  b container ls -q
  [ "${#lines[@]}" -eq 1 ]
  b container rm -f cv
  [ "$status" -eq 0 ]
}

@test "a monitor killed with SIGKILL: the next command records the exit and cleans up; start works again" {
  id=$(detach orphan busybox sleep 1000)
  monitor=$(pgrep -f -- "--dir $BERTH_ROOT/containers/$id")
  [ -n "$monitor" ]
  pid=$(bq inspect -f '{{.State.Pid}}' orphan)
  kill -9 "$monitor"
  wait_for 10 state_is orphan exited
  run -0 bq inspect -f '{{.State.Error}}' orphan
  [[ $output == *monitor* ]]
  # The container's process went with it, and its root file system is unmounted.
  wait_for 10 gone "$pid"
  ! grep -q " $BERTH_ROOT/containers/$id/rootfs " /proc/self/mountinfo || false
  b start orphan
  [ "$status" -eq 0 ]
  [ "$(state_of orphan)" = running ]
}

@test "commands in parallel (no daemon orders them): 8 runs, 8 removes, 6 foreground runs on one volume" {
  for i in $(seq 8); do
    "$BERTH" run -d --name "par$i" busybox sleep 1000 >/dev/null 2>"$BATS_TEST_TMPDIR/run$i" 3>&- &
  done
  wait
  cat "$BATS_TEST_TMPDIR"/run*
  [ "$(bq ps -q | wc -l)" -eq 8 ]
  for i in $(seq 8); do "$BERTH" rm -f "par$i" >/dev/null 2>&1 3>&- & done
  wait
  [ "$(container_count)" -eq 0 ]
  for i in $(seq 6); do
    "$BERTH" run --rm -v shared:/d busybox sh -c "echo $i >>/d/f" 3>&- &
  done
  wait
  [ "$(container_count)" -eq 0 ]
  b run --rm -v shared:/d busybox sort /d/f
  [ "${lines[*]}" = "1 2 3 4 5 6" ]
}

# --- bad input ----------------------------------------------------------------------------

@test "a name already in use is refused and nothing is created" {
  detach dup busybox sleep 1000 >/dev/null
  b run --name dup busybox true
  [ "$status" -eq 125 ]
  [[ $stderr == *"the container name 'dup' is already in use"* ]]
  b create --name dup busybox true
  [ "$status" -eq 125 ]
  [ "$(container_count)" -eq 1 ]
  b run --name 'no spaces' busybox true
  [ "$status" -eq 125 ]
  [[ $stderr == *"'no spaces'"* ]]
  [ "$(container_count)" -eq 1 ]
}

@test "an unknown image is refused with its name and nothing is created" {
  b run --rm nosuchimage:1 true
  [ "$status" -eq 125 ]
  [[ $stderr == *"nosuchimage"* ]]
  [[ $stderr == *"not found"* ]]
  b create nosuchimage
  [ "$status" -eq 125 ]
  [ "$(container_count)" -eq 0 ]
  [ -z "$(ls "$BERTH_ROOT/containers" 2>/dev/null)" ]
}

@test "a bind source that does not exist is refused and nothing is created" {
  b run --rm -v /no/such/dir:/data busybox true
  [ "$status" -eq 125 ]
  [[ $stderr == *"'/no/such/dir' does not exist"* ]]
  [ "$(container_count)" -eq 0 ]
  [ -z "$(bq volume ls -q)" ]
  b run --rm -v relative:dest busybox true
  [ "$status" -eq 125 ]
  [[ $stderr == *"relative:dest"* ]]
}

@test "bad option values name the value and create nothing" {
  b run --rm --memory 12zb busybox true
  [ "$status" -eq 125 ]
  [[ $stderr == *"'12zb'"* ]]
  b run --rm --pids-limit many busybox true
  [ "$status" -eq 125 ]
  [[ $stderr == *"'many'"* ]]
  b run --rm --cpus -1 busybox true
  [ "$status" -eq 125 ]
  [[ $stderr == *"'-1'"* ]]
  b run --rm --restart sometimes busybox true
  [ "$status" -eq 125 ]
  [[ $stderr == *sometimes* ]]
  b run --rm --stop-signal SIGNOPE busybox true
  [ "$status" -eq 125 ]
  [[ $stderr == *SIGNOPE* ]]
  b run --rm --network bridge9 busybox true
  [ "$status" -eq 125 ]
  [[ $stderr == *bridge9* ]]
  b run --rm --env-file /no/such.env busybox true
  [ "$status" -eq 125 ]
  [[ $stderr == *"/no/such.env"* ]]
  b run --rm -w relative/dir busybox true
  [ "$status" -eq 125 ]
  [[ $stderr == *"'relative/dir'"* ]]
  b run --rm --tmpfs scratch busybox true
  [ "$status" -eq 125 ]
  [[ $stderr == *"'scratch'"* ]]
  [ "$(container_count)" -eq 0 ]
}

@test "an unknown option is an error naming it (125, as Docker's); an unknown command too" {
  b run --no-such-option busybox true
  [ "$status" -eq 125 ]
  [[ $stderr == *"--no-such-option"* ]]
  [[ $stderr == *"berth run --help"* ]]
  [ "$(container_count)" -eq 0 ]
  b ps --bogus
  [ "$status" -eq 125 ]
  [[ $stderr == *"--bogus"* ]]
  b frobnicate
  [ "$status" -eq 2 ]
  [[ $stderr == *"unknown command 'frobnicate'"* ]]
  fails_with "image" run
}

@test "errors exit 125 from run, create and exec, 1 from other verbs (as docker's)" {
  b run --rm nosuch true
  [ "$status" -eq 125 ]
  b create nosuch
  [ "$status" -eq 125 ]
  b exec nosuch true
  [ "$status" -eq 125 ]
  for verb in logs top inspect stop "image inspect" "volume inspect" "container logs"; do
    # shellcheck disable=SC2086
    b $verb nosuch
    [ "$status" -eq 1 ]
    [[ $stderr == *nosuch* ]]
  done
}

@test "a command that does not exist in the image fails with 127, one that cannot run with 126" {
  b run --rm busybox /no/such/command
  [ "$status" -eq 127 ]
  [[ $stderr == *"/no/such/command"* ]]
  b run --rm busybox /etc/passwd
  [ "$status" -eq 126 ]
  [ "$(container_count)" -eq 0 ]
}
