#!/usr/bin/env bats
# The crash-point walk (docs/hardening.md): berth is SIGKILLed at every crash point compiled into
# it — the list comes from the sources (scripts/crash-points), so a new point is walked without a
# new test, and a point this file does not know how to reach fails it. After each kill the next
# commands work, `berth system check` repairs what was left and a second check finds nothing, and
# no mount, cgroup, veth, nftables rule, monitor, container process, runtime state, build
# directory or half-written file is left (tests/lib/crash.bash, leftovers). Locks are flocks: a
# killed process holds none.
#
# BERTH_CRASH_WALK=POINT[,POINT...] walks only those points (to debug one).

bats_require_minimum_version 1.5.0
load ../lib/berth
load ../lib/network
load ../lib/crash
load ../lib/registry_server

setup() {
  network_setup
  MARK=$((700000 + RANDOM))
  OUT=$BATS_TEST_TMPDIR/out
  mkdir -p "$OUT"
}

teardown() {
  reg_stop
  berth_teardown
}

# A small image of its own (one file, no programs), so that a pull has blobs to fetch.
tiny_image() {
  local text=${2:-walk $MARK} dir
  dir=$BATS_TEST_TMPDIR/tiny-$(sha256sum <<<"$text" | cut -c1-8)
  if [[ ! -f $dir.tar ]]; then
    mkdir -p "$dir"
    echo "$text" >"$dir/marker"
    tar -C "$dir" -cf "$dir.tar" marker
  fi
  bq image import "$dir.tar" "$1" >/dev/null
}

# The walk's registry (plain HTTP on loopback), started once.
registry() {
  [[ -n ${REG_PID:-} ]] || reg_start "$BATS_TEST_TMPDIR/reg" "$@"
}

# no_bridge ID: the bridge of network ID is gone from the host.
no_bridge() {
  ! ip link show "bth-${1:0:11}" >/dev/null 2>&1 || { echo "bridge bth-${1:0:11} left" >&2; return 1; }
}

# usable_then_gone NAME ID: a container runs on the network, then `network rm` removes it and
# its bridge.
usable_then_gone() {
  b run --rm --network "$1" busybox true
  [ "$status" -eq 0 ]
  b network rm "$1"
  [ "$status" -eq 0 ]
  no_bridge "$2"
}

# walk POINT: reaches the crash point, dies there (crash fails unless berth exits by SIGKILL),
# then proves the state sound and that the interrupted operation works when done again.
walk() {
  local point=$1 id
  case ${point%%:*} in
    create | start)
      crash "$point" run -d --name walk busybox sleep "$MARK"
      after_crash
      b rm -f walk
      ;;
    run)
      crash "$point" run --rm busybox sleep "$MARK"
      after_crash
      ;;
    rm)
      b run -d --name walk busybox sleep "$MARK"
      crash "$point" rm -f walk
      after_crash
      b ps -aq
      [ -z "$output" ]
      ;;
    volume-create)
      crash "$point" volume create walkvol
      after_crash
      b volume create walkvol
      [ "$status" -eq 0 ]
      b volume rm walkvol
      ;;
    volume-rm)
      b volume create walkvol
      b run --rm -v walkvol:/data busybox touch /data/x
      crash "$point" volume rm walkvol
      after_crash
      b volume ls -q
      [ -z "$output" ]
      ;;
    prune)
      tiny_image walk/tiny:1
      crash "$point" rmi walk/tiny:1
      after_crash
      tiny_image walk/tiny:1
      b rmi walk/tiny:1
      [ "$status" -eq 0 ]
      ;;
    register)
      tiny_image walk/tiny:1
      b save -o "$BATS_TEST_TMPDIR/tiny-saved.tar" walk/tiny:1
      b rmi walk/tiny:1
      crash "$point" load -i "$BATS_TEST_TMPDIR/tiny-saved.tar"
      after_crash
      b load -i "$BATS_TEST_TMPDIR/tiny-saved.tar"
      [ "$status" -eq 0 ]
      b image inspect walk/tiny:1
      [ "$status" -eq 0 ]
      b rmi walk/tiny:1
      ;;
    save)
      crash "$point" save -o "$OUT/busybox.tar" busybox
      after_crash
      # Nothing in the user's directory: not the archive, not a temporary of it.
      [ -z "$(ls -A "$OUT")" ] || { ls -la "$OUT" >&2; return 1; }
      b save -o "$OUT/busybox.tar" busybox
      [ "$status" -eq 0 ]
      [ -s "$OUT/busybox.tar" ]
      [ "$(ls -A "$OUT")" = busybox.tar ]
      rm -f "$OUT/busybox.tar"
      ;;
    network-create)
      crash "$point" network create walknet
      after_crash
      # Whatever the kill left, the network works or is gone; either way it can be used again.
      b network inspect -f '{{.Id}}' walknet
      if [ "$status" -eq 0 ]; then
        usable_then_gone walknet "$output"
      fi
      b network create walknet
      [ "$status" -eq 0 ]
      usable_then_gone walknet "$(bq network inspect -f '{{.Id}}' walknet)"
      ;;
    network-rm)
      b network create walknet
      id=$(bq network inspect -f '{{.Id}}' walknet)
      crash "$point" network rm walknet
      after_crash
      no_bridge "$id"
      # The network is still there, without its bridge: a container makes the bridge again,
      # and rm finishes.
      usable_then_gone walknet "$id"
      b network create walknet
      [ "$status" -eq 0 ]
      b network rm walknet
      ;;
    pull)
      registry
      tiny_image walk/tiny:1
      b push walk/tiny:1 "$REG/walk/tiny:1"
      [ "$status" -eq 0 ]
      b rmi walk/tiny:1
      crash "$point" pull "$REG/walk/tiny:1"
      after_crash
      b pull "$REG/walk/tiny:1"
      [ "$status" -eq 0 ]
      b image inspect "$REG/walk/tiny:1"
      [ "$status" -eq 0 ]
      b rmi "$REG/walk/tiny:1"
      ;;
    push)
      registry
      crash "$point" push busybox "$REG/walk/pushed:1"
      after_crash
      b push busybox "$REG/walk/pushed:1"
      [ "$status" -eq 0 ]
      b rmi "$REG/walk/pushed:1"
      b pull "$REG/walk/pushed:1"
      [ "$status" -eq 0 ]
      b rmi "$REG/walk/pushed:1"
      ;;
    registry-upload)
      # The server is the one killed: a push to it fails, a restarted server takes the push.
      reg_stop
      BERTH_CRASH_AT=$point reg_start "$BATS_TEST_TMPDIR/reg"
      local killed=$REG_PID
      b push busybox "$REG/walk/upload:1"
      [ "$status" -ne 0 ]
      wait "$killed" || [ $? -eq 137 ]
      REG_PID=
      reg_start "$BATS_TEST_TMPDIR/reg"
      b push busybox "$REG/walk/upload:1"
      [ "$status" -eq 0 ]
      b rmi "$REG/walk/upload:1"
      b pull "$REG/walk/upload:1"
      [ "$status" -eq 0 ]
      b rmi "$REG/walk/upload:1"
      blobs_verified "$BATS_TEST_TMPDIR/reg/storage"
      after_crash
      ;;
    registry-gc)
      # Blobs without a manifest (a push cut short), then gc killed after its first removal.
      registry
      tiny_image walk/unreferenced:1 "nobody refers to this $MARK"
      crash push:after-blobs push walk/unreferenced:1 "$REG/walk/gc:1"
      b rmi walk/unreferenced:1
      crash "$point" registry gc --root "$BATS_TEST_TMPDIR/reg/storage" --grace 0s
      b registry gc --root "$BATS_TEST_TMPDIR/reg/storage" --grace 0s
      [ "$status" -eq 0 ]
      blobs_verified "$BATS_TEST_TMPDIR/reg/storage"
      b push busybox "$REG/walk/gc:1"
      [ "$status" -eq 0 ]
      b rmi "$REG/walk/gc:1"
      b pull "$REG/walk/gc:1"
      [ "$status" -eq 0 ]
      b rmi "$REG/walk/gc:1"
      after_crash
      ;;
    build)
      mkdir -p "$BATS_TEST_TMPDIR/ctx"
      printf 'FROM busybox\nRUN echo %s >/built\n' "$MARK" >"$BATS_TEST_TMPDIR/ctx/Dockerfile"
      crash "$point" build -t walk/built:1 "$BATS_TEST_TMPDIR/ctx"
      after_crash
      b build -t walk/built:1 "$BATS_TEST_TMPDIR/ctx"
      [ "$status" -eq 0 ]
      b run --rm walk/built:1 cat /built
      [ "$output" = "$MARK" ]
      b rmi walk/built:1
      ;;
    compose-up | compose-down)
      walk_compose "$point"
      ;;
    *)
      echo "crash point '$point': crash_walk.bats does not know how to reach it; add a case to walk()" >&2
      return 1
      ;;
  esac
}

# A one-service project; up (and for the update points an up that replaces the instance) or
# down killed at POINT, then up converges and down leaves nothing.
walk_compose() {
  local point=$1 dir=$BATS_TEST_TMPDIR/proj P=walk$$
  mkdir -p "$dir"
  cat >"$dir/compose.yaml" <<EOF
services:
  app:
    image: busybox
    command: ["sleep", "$MARK"]
    environment: {GEN: "1"}
EOF
  cd "$dir"
  case $point in
    compose-up:after-old-aside | compose-up:after-replacement-start)
      b compose -p "$P" up -d
      [ "$status" -eq 0 ]
      sed -i 's/GEN: "1"/GEN: "2"/' compose.yaml
      crash "$point" compose -p "$P" up -d
      ;;
    compose-up:*) crash "$point" compose -p "$P" up -d ;;
    compose-down:*)
      b compose -p "$P" up -d
      [ "$status" -eq 0 ]
      crash "$point" compose -p "$P" down -t 1
      ;;
  esac
  after_crash
  b compose -p "$P" up -d
  [ "$status" -eq 0 ]
  [ "$(bq ps -q | wc -l)" -eq 1 ]
  b exec "$P-app-1" sh -c 'echo $GEN'
  [ "$output" = "$(sed -n 's/.*GEN: "\([0-9]\)".*/\1/p' compose.yaml)" ]
  b compose -p "$P" down -t 1
  [ "$status" -eq 0 ]
  b ps -aq
  [ -z "$output" ]
  cd - >/dev/null
  after_crash
}

@test "scripts/crash-points lists the crash points of every multi-step operation" {
  run -0 "$BERTH_SOURCE/scripts/crash-points"
  local op
  for op in create start run rm volume-create volume-rm prune register save pull push build \
      network-create network-rm registry-upload registry-gc compose-up compose-down; do
    grep -q "^$op:" <<<"$output" || { echo "no crash point for $op" >&2; return 1; }
  done
}

@test "a kill at every crash point: the next command works and nothing is left behind" {
  local points point n=0
  points=$("$BERTH_SOURCE/scripts/crash-points")
  [[ -z ${BERTH_CRASH_WALK:-} ]] || points=$(tr ',' '\n' <<<"$BERTH_CRASH_WALK")
  for point in $points; do
    echo "# walking $point" >&3
    echo "# --- crash point $point" >&2  # shown with the failure, before its commands
    walk "$point"
    n=$((n + 1))
  done
  echo "# walked $n crash points" >&3
}
