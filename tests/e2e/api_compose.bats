#!/usr/bin/env bats
# `berth serve`: Debian's docker-compose 1.29 (docker-py underneath) brings a 3-service project
# up, lists it, reads its logs, scales it and takes it down, through the Docker Engine API.

load ../lib/api

setup() {
  api_setup
  PROJECT=bc$$
  mkdir -p "$BATS_TEST_TMPDIR/proj"
  cat >"$BATS_TEST_TMPDIR/proj/docker-compose.yml" <<'YAML'
version: "3.7"
services:
  web:
    image: busybox
    command: sh -c 'echo web up; exec httpd -f -p 80'
    labels:
      role: front
  worker:
    image: busybox
    command: sh -c 'echo worker up; exec sleep 300'
    environment:
      MODE: batch
  db:
    image: busybox
    command: sh -c 'echo db up; exec sleep 300'
    volumes:
      - data:/data
volumes:
  data: {}
YAML
}

teardown() {
  if [[ -n ${PROJECT:-} ]]; then
    (cd "$BATS_TEST_TMPDIR/proj" && timeout 60 docker-compose -p "$PROJECT" down -v -t 1) >/dev/null 2>&1 || true
  fi
  api_teardown
}

# dc ARGS...: docker-compose in the project's directory, like `d`.
dc() {
  local out=$BATS_TEST_TMPDIR/dc.out err=$BATS_TEST_TMPDIR/dc.err
  (cd "$BATS_TEST_TMPDIR/proj" && timeout 120 docker-compose -p "$PROJECT" "$@") >"$out" 2>"$err" </dev/null 3>&- &&
    status=0 || status=$?
  output=$(cat "$out")
  stderr=$(cat "$err")
}

@test "api compose: docker-compose up -d, ps, logs, scale, down" {
  dc up -d
  [ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
  dc ps
  [ "$status" -eq 0 ]
  [[ $output == *"${PROJECT}_web_1"*"Up"* ]]
  [[ $output == *"${PROJECT}_worker_1"*"Up"* ]]
  [[ $output == *"${PROJECT}_db_1"*"Up"* ]]
  b ps --format '{{.Names}}'
  [ "$(wc -l <<<"$output")" -eq 3 ]
  for i in $(seq 50); do dc logs --no-color; [[ $output == *"db up"* && $output == *"web up"* ]] && break; sleep 0.2; done
  [[ $output == *"worker_1"*"worker up"* ]]
  [[ $output == *"db up"* ]]
  # The services reach each other by name on the project's network.
  # (httpd has no page to serve: a 404 proves the name resolved and the server answered)
  d exec "${PROJECT}_worker_1" wget -O /dev/null http://web/
  [[ $stderr == *"404"* ]]
  dc up -d --scale worker=2
  [ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
  dc ps -q worker
  [ "$(wc -l <<<"$output")" -eq 2 ]
  dc down -v -t 1
  [ "$status" -eq 0 ] || { echo "$stderr" >&2; false; }
  b ps -aq
  [ -z "$output" ]
  d network ls --format '{{.Name}}'
  [[ $output != *"${PROJECT}_default"* ]]
}
