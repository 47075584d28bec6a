#!/usr/bin/env bats
# berth-monitor with real containers: logs, exit records, restart policies, OOM kills, stops.

load ../lib/bundle

setup() {
  bundle_setup
  BERTH_MONITOR=$(dirname "$BERTH_RUNTIME")/berth-monitor
}
# A test that failed half-way may leave its background monitor restarting containers.
teardown() {
  if [[ -n ${mon:-} ]]; then
    kill -KILL "$mon" 2>/dev/null || true
    wait "$mon" 2>/dev/null || true
  fi
  bundle_teardown
}

# monitor ID BUNDLE DIR [OPTIONS...]: execs berth-monitor (so `monitor ... &` gives its pid).
monitor() {
  local id=$1 b=$2 dir=$3
  exec "$BERTH_MONITOR" --runtime "$BERTH_RUNTIME" --runtime-root "$RT_ROOT" --bundle "$b" --dir "$dir" "${@:4}" "$id"
}

@test "output goes to log.jsonl per stream, the exit to exit.json, nothing is left" {
  id=$(unique_id mon); b=$(make_bundle "$id"); d=$BATS_TEST_TMPDIR/ctr
  patch_config "$b" '.process.args = ["/bin/sh", "-c", "echo out-line; echo err-line >&2; printf no-newline; exit 3"]'
  run monitor "$id" "$b" "$d"
  [ "$status" -eq 3 ]
  [ "$(jq -rs 'map(.stream + ":" + .log) | join("|")' "$d/log.jsonl")" = $'stdout:out-line\n|stderr:err-line\n|stdout:no-newline' ]
  jq -e '.time | test("^[0-9-]+T[0-9:.]+Z$")' <(head -1 "$d/log.jsonl")
  [ "$(jq .exitCode "$d/exit.json")" = 3 ]
  [ "$(jq .oomKilled "$d/exit.json")" = false ]
  [ "$(jq .restartCount "$d/exit.json")" = 0 ]
  [ ! -e "$d/monitor.json" ]
  [ ! -e "$RT_ROOT/$id" ]
}

@test "on-failure:2 restarts twice with growing back-off; always stops on a stop request" {
  id=$(unique_id mon); b=$(make_bundle "$id"); d=$BATS_TEST_TMPDIR/ctr
  patch_config "$b" '.process.args = ["/bin/sh", "-c", "echo run; exit 1"]'
  run monitor "$id" "$b" "$d" --restart on-failure:2
  [ "$status" -eq 1 ]
  [ "$(grep -c '"log":"run' "$d/log.jsonl")" -eq 3 ]
  [ "$(jq .restartCount "$d/exit.json")" = 2 ]
  # 100 ms, then 200 ms between the runs
  t=($(jq -r '.time[17:29]' "$d/log.jsonl"))
  awk -v a="${t[0]}" -v b="${t[1]}" -v c="${t[2]}" 'BEGIN { exit !((b - a) >= 0.1 && (c - b) >= 0.2) }'

  id2=$(unique_id mon); b2=$(make_bundle "$id2"); d2=$BATS_TEST_TMPDIR/ctr2
  patch_config "$b2" '.process.args = ["/bin/sh", "-c", "echo up; sleep 0.2; exit 0"]'
  monitor "$id2" "$b2" "$d2" --restart always &
  mon=$!
  for _ in $(seq 100); do [ "$(grep -c up "$d2/log.jsonl" 2>/dev/null)" -ge 2 ] && break; sleep 0.05; done
  touch "$d2/stop-requested"
  wait $mon
  runs=$(grep -c up "$d2/log.jsonl")
  sleep 0.5
  [ "$(grep -c up "$d2/log.jsonl")" -eq "$runs" ]
  [ ! -e "$RT_ROOT/$id2" ]
}

@test "SIGTERM to the monitor reaches the container and ends the restarts" {
  id=$(unique_id mon); b=$(make_bundle "$id"); d=$BATS_TEST_TMPDIR/ctr
  patch_config "$b" '.process.args = ["/bin/sh", "-c", "trap \"echo got-term; exit 0\" TERM; echo ready; while :; do sleep 0.05; done"]'
  monitor "$id" "$b" "$d" --restart always &
  mon=$!
  for _ in $(seq 100); do grep -q ready "$d/log.jsonl" 2>/dev/null && break; sleep 0.05; done
  [ -e "$d/monitor.json" ]
  pid=$(jq .pid "$d/monitor.json")
  [ -d "/proc/$pid" ]
  kill -TERM $mon
  wait $mon
  grep -q got-term "$d/log.jsonl"
  [ "$(jq .exitCode "$d/exit.json")" = 0 ]
  [ ! -e "$RT_ROOT/$id" ]
}

@test "an OOM kill is recorded" {
  id=$(unique_id mon); b=$(make_bundle "$id"); d=$BATS_TEST_TMPDIR/ctr
  patch_config "$b" '.process.args = ["/bin/dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"] | .linux.cgroupsPath = $p | .linux.resources.memory = {"limit": 16777216}' --arg p "/berth-test/$id"
  run monitor "$id" "$b" "$d" --cgroup-path "/berth-test/$id"
  [ "$status" -eq 137 ]
  [ "$(jq .oomKilled "$d/exit.json")" = true ]
  rmdir /sys/fs/cgroup/*/berth-test 2>/dev/null || true
}

@test "the log rotates by size" {
  id=$(unique_id mon); b=$(make_bundle "$id"); d=$BATS_TEST_TMPDIR/ctr
  patch_config "$b" '.process.args = ["/bin/sh", "-c", "for i in $(seq 200); do echo line-$i; done"]'
  run monitor "$id" "$b" "$d" --log-max-size 2000 --log-max-files 2
  [ "$status" -eq 0 ]
  [ -e "$d/log.jsonl.1" ]
  [ ! -e "$d/log.jsonl.2" ]
  [ "$(stat -c %s "$d/log.jsonl")" -le 2000 ]
  tail -1 "$d/log.jsonl" | grep -q 'line-200'
}

@test "a container that cannot be created is a clear error" {
  id=$(unique_id mon); b=$(make_bundle "$id"); d=$BATS_TEST_TMPDIR/ctr
  patch_config "$b" '.process.args = ["/no/such/program"]'
  run monitor "$id" "$b" "$d" --restart always
  [ "$status" -eq 1 ]
  [[ $output == *"create container '$id' failed"*"/no/such/program"* ]]
  run "$BERTH_MONITOR" --restart sometimes x
  [ "$status" -eq 2 ]
  [[ $output == *"restart policy 'sometimes'"* ]]
}

# kB of berth-monitor's code (its r-xp mapping) that process PID has resident.
code_rss() {
  awk -v exe="$(readlink -f "$BERTH_MONITOR")" '
    $1 ~ /-/ && NF >= 5 { code = ($2 == "r-xp" && $6 == exe) }
    code && $1 == "Rss:" { print $2; exit }' "/proc/$1/smaps" 2>/dev/null || true
}

@test "an idle monitor gives its code pages back; health checks and output still work after" {
  id=$(unique_id mon); b=$(make_bundle "$id"); d=$BATS_TEST_TMPDIR/ctr
  patch_config "$b" '.process.args = ["/bin/sh", "-c", "sleep 3; echo late; exit 5"]'
  # A probe every 1.2 s: between two, the monitor has a second without events and lets go again.
  monitor "$id" "$b" "$d" --health-arg /bin/true --health-interval 1200 &
  mon=$!
  for _ in $(seq 100); do [ -e "$d/monitor.json" ] && break; sleep 0.05; done
  # At most one fault-around window (64 KiB, the kernel's default) of code stays mapped.
  small=0
  for _ in $(seq 40); do
    rss=$(code_rss $mon)
    [ -n "$rss" ] && [ "$rss" -le 64 ] && { small=1; break; }
    sleep 0.05
  done
  [ "$small" = 1 ] || { echo "berth-monitor keeps ${rss:-?} kB of code resident"; false; }
  for _ in $(seq 60); do [ "$(jq -r .Status "$d/health.json" 2>/dev/null)" = healthy ] && break; sleep 0.05; done
  [ "$(jq -r .Status "$d/health.json")" = healthy ]
  status=0
  wait $mon || status=$?
  mon=
  [ "$status" -eq 5 ]
  grep -q '"log":"late\\n"' "$d/log.jsonl"
  [ "$(jq .exitCode "$d/exit.json")" = 5 ]
}

@test "--runtime-in-process: no runtime program runs; output, exit and errors as with one" {
  id=$(unique_id mon); b=$(make_bundle "$id"); d=$BATS_TEST_TMPDIR/ctr
  patch_config "$b" '.process.args = ["/bin/sh", "-c", "echo in-process; exit 4"]'
  # A --runtime that cannot run: only health checks would use it.
  run "$BERTH_MONITOR" --runtime /nonexistent/runtime --runtime-root "$RT_ROOT" --bundle "$b" --dir "$d" \
    --runtime-in-process "$id"
  [ "$status" -eq 4 ]
  grep -q '"log":"in-process\\n"' "$d/log.jsonl"
  [ "$(jq .exitCode "$d/exit.json")" = 4 ]
  [ ! -e "$RT_ROOT/$id" ]
  [ ! -e "$d/runtime.log" ]

  id2=$(unique_id mon); b2=$(make_bundle "$id2"); d2=$BATS_TEST_TMPDIR/ctr2
  patch_config "$b2" '.process.args = ["/no/such/program"]'
  run "$BERTH_MONITOR" --runtime-root "$RT_ROOT" --bundle "$b2" --dir "$d2" --runtime-in-process "$id2"
  [ "$status" -eq 1 ]
  [[ $output == *"/no/such/program"* ]]
  [ ! -e "$RT_ROOT/$id2" ]
}

@test "the exit command runs unless a waiter holds waiter.lock as the monitor ends" {
  id=$(unique_id mon); b=$(make_bundle "$id"); d=$BATS_TEST_TMPDIR/ctr
  patch_config "$b" '.process.args = ["/bin/true"]'
  marker=$BATS_TEST_TMPDIR/exit-command-ran
  run monitor "$id" "$b" "$d" --exit-command /bin/touch --exit-arg "$marker"
  [ "$status" -eq 0 ]
  for _ in $(seq 100); do [ -e "$marker" ] && break; sleep 0.02; done
  [ -e "$marker" ]

  rm -f "$marker"
  mkdir -p "$d"
  # This shell is the waiter: a shared lock, as the engine's waiters take it.
  exec {waiter}>"$d/waiter.lock"
  flock -s "$waiter"
  run monitor "$id" "$b" "$d" --exit-command /bin/touch --exit-arg "$marker"
  exec {waiter}>&-
  [ "$status" -eq 0 ]
  sleep 0.3
  [ ! -e "$marker" ]
}
