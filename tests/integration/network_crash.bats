#!/usr/bin/env bats
# Crash safety of a container's network wiring (engine/networks.h): `berth run -d` SIGKILLed
# right after wiring (BERTH_CRASH_AT=start:after-network, src/engine/detail/crash_point.h), `rm`
# killed half-way, and runs killed at timed moments. One `berth system check` then removes the
# netns, veths, DNS names and DNAT rules of containers that do not run, a second finds nothing,
# and the next runs work on the same network and ports.

bats_require_minimum_version 1.5.0
load ../lib/berth
load ../lib/network

setup() { network_setup; }

teardown() {
  berth_teardown
}

# no_wiring_left ID NET: nothing of the container's wiring is left on the host or in NET's names.
no_wiring_left() {
  local veths
  veths=$(veths_of "$1")
  [[ -z $veths ]] || { echo "veths left: $veths" >&2; return 1; }
  [[ ! -e $BERTH_RUN_ROOT/netns/$1 ]] || { echo "netns of ${1:0:12} left" >&2; return 1; }
  ! grep -qs "^${1:0:12} " "$BERTH_RUN_ROOT/networks/$2/names" || { echo "DNS name of ${1:0:12} left" >&2; return 1; }
  [[ -z $(dnat_rules) ]] || { echo "DNAT rules left: $(dnat_rules)" >&2; return 1; }
}

@test "run -d killed after wiring the network: check unwires it, and it starts again later" {
  b network create crashnet
  net=$(bq network inspect -f '{{.Id}}' crashnet)
  crash start:after-network run -d --name k1 --network crashnet -p "$PORT0:80" busybox sh -c "$(httpd_cmd k1)"
  id=$(bq inspect -f '{{.Id}}' k1)
  # What the crash left: the wiring of a container that does not run.
  [ -n "$(veths_of "$id")" ]
  [ -e "$BERTH_RUN_ROOT/netns/$id" ]
  grep -q "^k1 " "$BERTH_RUN_ROOT/networks/$net/names"
  [ "$(dnat_rules | wc -l)" -eq 1 ]

  b system check
  [ "$status" -eq 0 ]
  [[ $output == *"network namespace of container ${id:0:12} that does not run"* ]]
  # (its veth goes with the namespace)
  [[ $output == *"DNS names and ports of stopped container ${id:0:12}"* ]]
  b system check
  [ "$output" = "nothing to repair" ]
  no_wiring_left "$id" "$net"

  # The same container starts with its address and port; another one runs beside it.
  ip=$(bq inspect -f '{{.NetworkSettings.IPAddress}}' k1)
  b start k1
  [ "$status" -eq 0 ]
  [ "$(bq inspect -f '{{.NetworkSettings.IPAddress}}' k1)" = "$ip" ]
  [ "$(host_fetch "http://127.0.0.1:$PORT0/")" = hello-k1 ]
  detach k2 --network crashnet -p "$((PORT0 + 1)):80" busybox sh -c "$(httpd_cmd k2)"
  [ "$(host_fetch "http://127.0.0.1:$((PORT0 + 1))/")" = hello-k2 ]
  b run --rm --network crashnet busybox timeout 3 wget -qO- http://k1/
  [ "$output" = hello-k1 ]
}

@test "a foreground run --rm killed after wiring: check unwires it and the next run works" {
  for cmd in "run" "run --rm"; do
    # shellcheck disable=SC2086
    crash start:after-network $cmd -p "$PORT0:80" busybox true
    b system check
    [ "$status" -eq 0 ]
    [[ $output == *"network namespace of container"* ]]
    b system check
    [ "$output" = "nothing to repair" ]
    for id in $(bq ps -aq --no-trunc); do no_wiring_left "$id" "$(bq network inspect -f '{{.Id}}' bridge)"; done
    b rm -f $(bq ps -aq)
  done
  b run --rm -p "$PORT0:80" busybox ip -4 -o addr show eth0
  [ "$status" -eq 0 ]
}

@test "rm -f killed half-way through a wired container: the next command finishes it" {
  b network create rmnet
  net=$(bq network inspect -f '{{.Id}}' rmnet)
  for point in rm:after-mark rm:after-files; do
    detach gone --network rmnet -p "$PORT0:80" busybox sleep 1000
    id=$(bq inspect -f '{{.Id}}' gone)
    crash "$point" rm -f gone
    b ps -a -q
    [ -z "$output" ]
    b system check
    [ "$status" -eq 0 ]
    b system check
    [ "$output" = "nothing to repair" ]
    no_wiring_left "$id" "$net"
    # Its address and port are free again.
    detach again --network rmnet -p "$PORT0:80" busybox sleep 1000
    b rm -f again
  done
}

@test "runs killed at timed moments: one check repairs all, addresses stay unique" {
  b network create timed
  net=$(bq network inspect -f '{{.Id}}' timed)
  for i in $(seq 12); do
    # 10 ms ... 450 ms into `run -d`: before, during and after the wiring.
    delay=$(awk -v i="$i" 'BEGIN { printf "%.2f", 0.01 + (i - 1) * 0.04 }')
    "$BERTH" run -d --name "t$i" --network timed -p "$((PORT0 + i)):80" busybox sleep 1000 \
      >/dev/null 2>&1 </dev/null 3>&- &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  b system check
  [ "$status" -eq 0 ]
  b system check
  [ "$output" = "nothing to repair" ]
  # Every container that runs has its own address, and the kernel agrees with berth.db.
  running=$(bq ps -q --no-trunc)
  pairs=$(for id in $running; do echo "$(bq inspect -f '{{.NetworkSettings.IPAddress}}' "$id") $(netns_ip "$id")"; done)
  [ -z "$(awk '$1 != $2' <<<"$pairs")" ]
  [ "$(awk '{print $1}' <<<"$pairs" | sort | uniq -d)" = "" ]
  # Those that do not run have no wiring left.
  for id in $(bq ps -aq --no-trunc); do
    [[ $running == *"$id"* ]] && continue
    [ -z "$(veths_of "$id")" ]
    [ ! -e "$BERTH_RUN_ROOT/netns/$id" ]
  done
  [ "$(dnat_rules | wc -l)" -eq "$(wc -w <<<"$running")" ]
  # And every one of them can start (again) or be removed.
  for id in $(bq ps -aq --no-trunc); do
    b start "$id"
    [ "$status" -eq 0 ]
  done
  [ "$(dnat_rules | wc -l)" -eq "$(bq ps -q | wc -l)" ]
  b rm -f $(bq ps -aq)
  [ "$status" -eq 0 ]
  [ -z "$(dnat_rules)" ]
  [ -z "$(ls -A "$BERTH_RUN_ROOT/netns" 2>/dev/null)" ]
  b system check
  [ "$output" = "nothing to repair" ]
}
