#!/usr/bin/env bats
# Bad input changes nothing: every refused command names the problem, and the containers,
# images, volumes and blobs are exactly what they were before it.

load ../lib/berth

setup() {
  berth_setup
  "$BERTH" volume create keep >/dev/null
  "$BERTH" create --name existing busybox true >/dev/null
}

teardown() {
  berth_teardown
}

# What bad input must leave alone.
snapshot() {
  "$BERTH" ps -a -q --no-trunc
  "$BERTH" images -q --no-trunc
  "$BERTH" volume ls -q
  find "$BERTH_ROOT/blobs" "$BERTH_ROOT/layers" "$BERTH_ROOT/containers" "$BERTH_ROOT/volumes" \
    -maxdepth 2 2>/dev/null | sort
  ls -A "$BERTH_ROOT/ingest" 2>/dev/null
  awk -v a="$BERTH_ROOT/" 'index($5, a) == 1 {print $5}' /proc/self/mountinfo
}

# refused PATTERN ARGS...: berth ARGS fails, its error contains PATTERN, and nothing changed.
refused() {
  local pattern=$1 before after
  shift
  before=$(snapshot)
  b "$@"
  [ "$status" -ne 0 ] || { echo "berth $* succeeded" >&2; return 1; }
  [[ $stderr == *"$pattern"* ]] || { echo "error of berth $* lacks '$pattern'" >&2; return 1; }
  after=$(snapshot)
  [ "$before" = "$after" ] || { diff <(echo "$before") <(echo "$after") >&2; return 1; }
}

archive() {
  local kind=$1 out=$BATS_TEST_TMPDIR/$1.tar
  python3 "$BERTH_SOURCE/tests/lib/make-archive.py" "$kind" "$out" "$BERTH_FIXTURES/busybox-rootfs.tar" \
    "bad/$kind:1"
  echo "$out"
}

@test "load: a truncated, an empty and a non-archive file are refused" {
  local good=$BATS_TEST_TMPDIR/good.tar
  "$BERTH" save -o "$good" busybox
  head -c $(($(stat -c %s "$good") / 2)) "$good" >"$BATS_TEST_TMPDIR/truncated.tar"
  refused "truncated.tar" load -i "$BATS_TEST_TMPDIR/truncated.tar"
  : >"$BATS_TEST_TMPDIR/empty.tar"
  refused "empty.tar" load -i "$BATS_TEST_TMPDIR/empty.tar"
  head -c 100000 /dev/urandom >"$BATS_TEST_TMPDIR/noise.tar"
  refused "noise.tar" load -i "$BATS_TEST_TMPDIR/noise.tar"
  refused "does-not-exist.tar" load -i "$BATS_TEST_TMPDIR/does-not-exist.tar"
  refused "missing-layer" load -i "$(archive missing-layer)"
}

@test "load: a blob whose content does not match its digest is refused" {
  local saved=$BATS_TEST_TMPDIR/saved.tar
  "$BERTH" save --format oci-archive -o "$saved" busybox
  python3 "$BERTH_SOURCE/tests/lib/make-archive.py" corrupt-blob "$BATS_TEST_TMPDIR/corrupt.tar" "$saved" -
  # The blob is in the store already: load into a fresh root to see the mismatch.
  "$BERTH" rm -f existing >/dev/null
  "$BERTH" rmi busybox >/dev/null
  refused "digest" load -i "$BATS_TEST_TMPDIR/corrupt.tar"
}

@test "a layer whose diff id is not what the image config says is refused by load" {
  refused "diff id mismatch" load -i "$(archive digest-mismatch)"
}

@test "layers with ../ paths or an escaping symlink are refused and write nothing outside" {
  rm -f /tmp/berth-escaped "$BERTH_ROOT/escaped" "$BERTH_ROOT/layers/escaped"
  local kind before
  for kind in traversal symlink-escape; do
    b load -i "$(archive "$kind")"
    before=$(snapshot)
    b run --rm "bad/$kind:1" true
    [ "$status" -ne 0 ]
    if [[ $kind == traversal ]]; then
      [[ $stderr == *"entry '../escaped'"*"escapes the layer"* ]]
    else
      [[ $stderr == *"'up' is a symlink: refusing to follow it"* ]]
    fi
    [ "$before" = "$(snapshot)" ]
    ! compgen -G "$BERTH_ROOT/layers/*.tmp-*" || false
  done
  [ ! -e /tmp/berth-escaped ]
  [ ! -e "$BERTH_ROOT/escaped" ]
  [ ! -e "$BERTH_ROOT/layers/escaped" ]
}

@test "unknown images, containers and volumes are named in the error" {
  refused "image 'no-such-image' not found" run --rm no-such-image true
  refused "image 'no-such-image' not found" create no-such-image
  refused "image 'no-such-image' not found" rmi no-such-image
  refused "no-such-container" rm no-such-container
  refused "no-such-container" start no-such-container
  refused "volume 'no-such-volume' not found" volume rm no-such-volume
}

@test "a name in use is refused: containers, and run does not start anything" {
  refused "'existing' is already in use" create --name existing busybox true
  refused "'existing' is already in use" run --name existing busybox true
  refused "'existing' is already in use" run -d --name existing busybox sleep 100
  refused "container name" create --name '-bad' busybox true
}

@test "rm of a running container needs -f" {
  b run -d --name busy busybox sleep 1000
  [ "$status" -eq 0 ]
  refused "cannot remove container 'busy': it is running" rm busy
  b rm -f busy
  [ "$status" -eq 0 ]
}

@test "a bind mount source that does not exist is refused" {
  refused "bind source path '/no/such/dir' does not exist" run --rm -v /no/such/dir:/data busybox true
  refused "bind source path '/no/such/dir' does not exist" create -v /no/such/dir:/data busybox true
}

@test "bad --memory, --cpus and --restart values are refused" {
  refused "--memory" run --rm --memory lots busybox true
  refused "--memory" run --rm --memory -5m busybox true
  refused "--cpus 'abc'" run --rm --cpus abc busybox true
  refused "--cpus '-2'" run --rm --cpus -2 busybox true
  refused "sometimes" run -d --restart sometimes busybox true
  refused "on-failure:x" run -d --restart on-failure:x busybox true
  refused "--restart and --rm" run --rm --restart always busybox true
}

@test "volume rm of a volume in use is refused" {
  b run -d --name user -v keep:/data busybox sleep 1000
  refused "volume 'keep' is in use" volume rm keep
}
