#!/usr/bin/env bats
# `berth serve`: events, system df, top, stats, diff, cp and export through Debian's docker CLI
# (and curl where bodies matter).

load ../lib/api

setup() { api_setup; }
teardown() { api_teardown; }

@test "api events: docker events --since --until replays, filtered; a follower sees new ones" {
  since=$(date +%s)
  d run -d --name ev -l team=a busybox sleep 300
  [ "$status" -eq 0 ]
  d stop -t 1 ev
  until=$(($(date +%s) + 1))
  d events --since "$since" --until "$until" --filter container=ev --format '{{.Type}} {{.Action}}'
  [ "$status" -eq 0 ]
  [[ $output == *"container create"* ]]
  [[ $output == *"container start"* ]]
  [[ $output == *"container die"* ]]
  d events --since "$since" --until "$until" --filter event=start --filter label=team=a \
    --format '{{.Actor.Attributes.name}} {{.Action}}'
  [ "$output" = "ev start" ]
  d events --since "$since" --until "$until" --filter container=nosuch
  [ -z "$output" ]
  # Following: the stream stays open and shows what happens after it started.
  timeout 20 "$DOCKER" events --filter container=ev --format '{{.Action}}' >"$BATS_TEST_TMPDIR/follow" 2>&1 &
  follower=$!
  sleep 1
  d start ev
  for i in $(seq 100); do grep -q start "$BATS_TEST_TMPDIR/follow" && break; sleep 0.1; done
  kill "$follower" 2>/dev/null || true
  wait "$follower" 2>/dev/null || true
  grep -qx start "$BATS_TEST_TMPDIR/follow"
  api GET '/v1.41/events?since=yesterday'
  [ "$code" = 400 ]
  api GET '/v1.41/events?filters=%7B%22colour%22%3A%5B%22red%22%5D%7D'
  [ "$code" = 400 ]
}

@test "api system df: docker system df counts images, containers and volumes" {
  d volume create dfvol
  d run -d --name dfbox -v dfvol:/data busybox sleep 300
  [ "$status" -eq 0 ]
  d system df --format '{{.Type}} {{.TotalCount}} {{.Active}}'
  [ "$status" -eq 0 ]
  [[ $output == *"Images 1 1"* ]]
  [[ $output == *"Containers 1 1"* ]]
  [[ $output == *"Local Volumes 1 1"* ]]
}

@test "api top, stats, diff: docker top lists the processes, stats --no-stream a sane row" {
  d run -d --name busy busybox sh -c 'touch /added; rm /etc/motd 2>/dev/null; echo x >>/etc/group; sleep 300'
  [ "$status" -eq 0 ]
  d top busy
  [ "$status" -eq 0 ]
  [[ ${lines[0]} == *PID* ]]
  [[ $output == *"sleep 300"* ]]
  d stats --no-stream --format '{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.PIDs}}' busy
  [ "$status" -eq 0 ]
  [[ $output =~ ^busy\ [0-9]+\.[0-9]+%\ [0-9.]+[KMG]?i?B\ /\ [0-9.]+[KMG]iB\ [0-9]+$ ]]
  # one-shot: one document without precpu
  api GET '/v1.41/containers/busy/stats?stream=false&one-shot=true'
  [ "$code" = 200 ]
  [ "$(jq -r '.name' <<<"$body")" = /busy ]
  [ "$(jq '.memory_stats.usage > 0' <<<"$body")" = true ]
  [ "$(jq '.pids_stats.current' <<<"$body")" -ge 1 ]
  for i in $(seq 50); do d diff busy; [[ $output == *"A /added"* ]] && break; sleep 0.1; done
  [[ $output == *"A /added"* ]]
  [[ $output == *"C /etc/group"* ]]
  d stop -t 0 busy
  d top busy
  [ "$status" -ne 0 ]
  [[ $stderr == *"is not running"* ]]
}

@test "api cp and export: docker cp both ways, on running and stopped containers" {
  d run -d --name cpbox busybox sh -c 'mkdir -p /srv/d && echo inside >/srv/d/f && sleep 300'
  [ "$status" -eq 0 ]
  for i in $(seq 50); do d exec cpbox cat /srv/d/f; [ "$output" = inside ] && break; sleep 0.1; done
  d cp cpbox:/srv/d "$BATS_TEST_TMPDIR/out"
  [ "$status" -eq 0 ]
  [ "$(cat "$BATS_TEST_TMPDIR/out/f")" = inside ]
  echo outside >"$BATS_TEST_TMPDIR/g"
  d cp "$BATS_TEST_TMPDIR/g" cpbox:/srv/d/
  [ "$status" -eq 0 ]
  d exec cpbox cat /srv/d/g
  [ "$output" = outside ]
  d cp cpbox:/nonexistent "$BATS_TEST_TMPDIR/x"
  [ "$status" -ne 0 ]
  [[ $stderr == *"No such container:path: cpbox:/nonexistent"* ]]
  api HEAD "/v1.41/containers/cpbox/archive?path=/nonexistent"
  [ "$code" = 404 ]
  d stop -t 0 cpbox
  d cp cpbox:/srv/d/g "$BATS_TEST_TMPDIR/g2"
  [ "$status" -eq 0 ]
  [ "$(cat "$BATS_TEST_TMPDIR/g2")" = outside ]
  d export -o "$BATS_TEST_TMPDIR/all.tar" cpbox
  [ "$status" -eq 0 ]
  tar -tf "$BATS_TEST_TMPDIR/all.tar" | grep -qx './srv/d/g'
  tar -tf "$BATS_TEST_TMPDIR/all.tar" | grep -qx './bin/busybox'
}

@test "api prunes and network connect: docker's bodies; a running container joins and leaves" {
  d network create pn$$
  [ "$status" -eq 0 ]
  d run -d --name joiner busybox sleep 300
  [ "$status" -eq 0 ]
  d network connect --alias j1 pn$$ joiner
  [ "$status" -eq 0 ]
  d inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}' joiner
  [[ $output == *"pn$$"* ]]
  d exec joiner ip -o link
  [[ $output == *eth1* ]]
  d network disconnect pn$$ joiner
  [ "$status" -eq 0 ]
  d network connect pn$$ nosuch
  [ "$status" -ne 0 ]
  [[ $stderr == *"No such container: nosuch"* ]]
  d create --name stale -l keep=no busybox true
  d create --name kept -l keep=yes busybox true
  api POST '/v1.41/containers/prune?filters=%7B%22label%22%3A%5B%22keep%3Dno%22%5D%7D'
  [ "$code" = 200 ]
  [ "$(jq '.ContainersDeleted | length' <<<"$body")" = 1 ]
  d container prune -f
  [ "$status" -eq 0 ]
  [[ $output == *"Total reclaimed space"* ]]
  d ps -a --format '{{.Names}}'
  [ "$output" = joiner ]
  d rm -f joiner
  d network prune -f
  [ "$status" -eq 0 ]
  [[ $output == *"pn$$"* ]]
  d volume create unused
  d volume prune -f
  [[ $output == *unused* ]]
  d image prune -f
  [ "$status" -eq 0 ]
  api POST '/v1.41/volumes/prune?filters=%7B%22label%22%3A%5B%22a%22%5D%7D'
  [ "$code" = 400 ]
}
