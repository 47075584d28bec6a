#!/usr/bin/env bats
# Fifteen realistic Compose projects (tests/fixtures/compose/, busybox stand-ins for every
# image): `berth compose config` against Debian's docker-compose 1.29 `config` for the same file
# (tests/lib/compose_compare.py compares what containers are made from), and each project
# brought up, shown and taken down with real containers.
#
# Each test has its own BERTH_ROOT and works on a copy of the files (bind mounts there are made
# by `up`); project names carry the pid. 14-static-ip.yaml's subnet is 172.31.N.0/24 with N
# from the pid.

bats_require_minimum_version 1.5.0
load ../lib/berth

setup() {
  berth_setup
  DIR=$BATS_TEST_TMPDIR/projects
  cp -r "$BERTH_SOURCE/tests/fixtures/compose" "$DIR"
  cd "$DIR"
  export TAG=latest DOMAIN=example.test NET=$(($$ % 200 + 20))
}

teardown() {
  berth_teardown
}

profile_of() { [[ $1 == 10-* ]] && echo "--profile debug" || true; }

@test "config agrees with docker-compose 1.29 on all fifteen projects" {
  command -v docker-compose >/dev/null || { echo "docker-compose missing: run scripts/setup" >&2; return 1; }
  local f failed=0 count=0
  for f in [0-9]*.yaml; do
    # shellcheck disable=SC2046
    "$BERTH" compose -f "$f" -p "p$$" $(profile_of "$f") config --format json >"$f.berth.json"
    # shellcheck disable=SC2046
    docker-compose -f "$f" -p "p$$" $(profile_of "$f") config >"$f.peer.yaml" 2>/dev/null
    run python3 "$BERTH_SOURCE/tests/lib/compose_compare.py" "$f.berth.json" "$f.peer.yaml"
    echo "# $f: ${lines[-1]}" >&3
    [[ $status -eq 0 ]] || { echo "$f: $output" >&2; failed=1; }
    count=$((count + 1))
  done
  [ "$count" -eq 15 ]
  [ "$failed" -eq 0 ]
}

# show_ready PROJECT: every service's instances run (one-shots: exited 0), the healthy ones healthy.
show_ready() {
  local doc
  doc=$("$BERTH" compose -p "$1" show --format json 3>&-) || return 1
  jq -e '[.Services[] | select(.Name != "migrate" and .Name != "oneshot")
          | (.Running == .Desired) and ((.HasHealthCheck | not) or .Healthy == .Running)] | all' <<<"$doc" >/dev/null
}

@test "every project comes up, show has them all running, and down leaves nothing" {
  local f p
  for f in [0-9]*.yaml; do
    p=r$$-${f%%-*}
    # shellcheck disable=SC2046
    b compose -f "$f" -p "$p" $(profile_of "$f") up -d
    [[ $status -eq 0 ]] || { echo "$f: up failed: $stderr" >&2; return 1; }
    wait_for 20 show_ready "$p" || { "$BERTH" compose -p "$p" show >&2; echo "$f: not ready" >&2; return 1; }
    b compose -f "$f" -p "$p" down -v -t 2
    [[ $status -eq 0 ]] || { echo "$f: down failed: $stderr" >&2; return 1; }
    [ "$(container_count)" -eq 0 ]
    echo "# $f: up, ready, down" >&3
  done
  [ -z "$(bq network ls -q --filter name="r$$-")" ]
  [ -z "$(bq volume ls -q)" ]
}

@test "the projects' special cases: one-shots, static addresses, links, read-only roots" {
  b compose -f 05-migrations.yaml -p "m$$" up -d
  [ "$status" -eq 0 ]
  [[ $stderr == *"Container m$$-migrate-1  Waiting"*"Container m$$-app-1  Started"* ]]
  [ "$(state_of "m$$-migrate-1")" = exited ]
  b compose -p "m$$" logs migrate
  [[ $output == *"migrate-1  | done"* ]]
  b compose -p "m$$" down -t 1
  b compose -f 14-static-ip.yaml -p "s$$" up -d
  [ "$status" -eq 0 ]
  [ "$(bq inspect -f '{{.NetworkSettings.Networks}}' "s$$-ldap-1" | grep -o "172.31.$NET.10")" = "172.31.$NET.10" ]
  b exec "s$$-app-1" nslookup ldap
  [[ $output == *"172.31.$NET.10"* ]]
  b compose -p "s$$" down -t 1
  b compose -f 02-shop-v2.yaml -p "l$$" up -d
  [ "$status" -eq 0 ]
  b exec "l$$-frontend-1" nslookup backend  # the link's alias
  [ "$status" -eq 0 ]
  b compose -p "l$$" down -t 1
  b compose -f 12-security.yaml -p "h$$" up -d
  [ "$status" -eq 0 ]
  b exec "h$$-proxy-1" sh -c 'touch /x 2>&1; id -u'
  [[ $output == *"Read-only file system"* ]]
  [[ ${lines[-1]} == 1000 ]]
  b compose -p "h$$" down -t 1
  [ "$(container_count)" -eq 0 ]
}
