#!/usr/bin/env bats
# `berth` image verbs as a user drives them: import (tar, directory, stdin, --change), images,
# image inspect, tag, rmi, prune, save/load round trips, bad archives, system df.
# Each test has its own BERTH_ROOT and BERTH_RUN_ROOT, with the fixture imported as busybox.

bats_require_minimum_version 1.5.0
load ../lib/berth

setup() { berth_setup; }
teardown() { berth_teardown; }

TAR=$BERTH_FIXTURES/busybox-rootfs.tar

# image_id NAME: the full image id (config digest).
image_id() { bq image inspect -f '{{.Id}}' "$1"; }

@test "image import from a tar prints the id; the image runs" {
  b image import "$TAR" fromtar:1
  [ "$status" -eq 0 ]
  [[ $output =~ ^sha256:[0-9a-f]{64}$ ]]
  [ "$output" = "$(image_id fromtar:1)" ]
  b run --rm fromtar:1 echo ok
  [ "$output" = ok ]
  # Same layer as the busybox image (the config differs: its creation time).
  [ "$(bq image inspect -f '{{.RootFS.Layers}}' fromtar:1)" = "$(bq image inspect -f '{{.RootFS.Layers}}' busybox)" ]
}

@test "image import from a directory and from stdin" {
  mkdir -p "$BATS_TEST_TMPDIR/tree/bin"
  tar -xf "$TAR" -C "$BATS_TEST_TMPDIR/tree"
  echo marker >"$BATS_TEST_TMPDIR/tree/marker"
  b image import "$BATS_TEST_TMPDIR/tree" fromdir
  [ "$status" -eq 0 ]
  b run --rm fromdir cat /marker
  [ "$output" = marker ]
  run -0 bash -c '"$BERTH" image import - fromstdin <"$1"' _ "$TAR"
  [ "$output" = "$(image_id fromstdin)" ]
  b run --rm fromstdin echo via-stdin
  [ "$output" = via-stdin ]
}

@test "image import --change sets CMD, ENV, WORKDIR, ENTRYPOINT, USER and STOPSIGNAL" {
  b image import --change 'CMD ["echo", "from", "cmd"]' "$TAR" withcmd
  [ "$status" -eq 0 ]
  b run --rm withcmd
  [ "$status" -eq 0 ]
  [ "$output" = "from cmd" ]
  b run --rm withcmd echo overridden
  [ "$output" = overridden ]
  b image inspect -f '{{.Config.Cmd}}' withcmd
  [ "$output" = '[echo from cmd]' ]  # Go's %v, as docker prints it
  b image import -c 'ENV GREETING=hello' -c 'WORKDIR /tmp' -c 'ENTRYPOINT ["/bin/sh", "-c"]' \
    -c 'CMD ["echo $GREETING; pwd"]' "$TAR" withenv
  b run --rm withenv
  [ "${lines[0]}" = hello ]
  [ "${lines[1]}" = /tmp ]
  b image import -c 'USER berth' -c 'STOPSIGNAL SIGUSR2' -c 'ENTRYPOINT ["/bin/echo", "ep"]' "$TAR" custom
  b run --rm custom hello
  [ "$output" = "ep hello" ]
  b run --rm --entrypoint "" custom id -un
  [ "$output" = berth ]
  b create --name stops custom
  [ "$(bq inspect -f '{{.Config.StopSignal}}' stops)" = SIGUSR2 ]
  fails_with "FROB x" image import --change 'FROB x' "$TAR" bad
  b image inspect bad
  [ "$status" -ne 0 ]
}

@test "images lists a table, ids with -q, JSON with --format json" {
  b tag busybox other:2
  b images
  [ "$status" -eq 0 ]
  [[ ${lines[0]} == REPOSITORY*TAG*"IMAGE ID"*CREATED*SIZE ]]
  [ "${#lines[@]}" -eq 3 ]
  id=$(image_id busybox)
  [[ $output == *"localhost/busybox"*latest*"${id:7:12}"* ]]
  [[ $output == *"localhost/other"*" 2 "*"${id:7:12}"* ]]
  b images -q
  [ "$output" = "${id:7:12}" ]
  b images -q --no-trunc
  [ "$output" = "$id" ]
  b images --format json
  [ "$(jq -s length <<<"$output")" -eq 2 ]
  [ "$(jq -r 'select(.Tag == "2") | .Repository' <<<"$output")" = localhost/other ]
  [ "$(jq -r 'select(.Tag == "2") | .ID' <<<"$output")" = "$id" ]
  (( $(jq -s '.[0].Size' <<<"$output") > 0 ))
  b images other
  [ "${#lines[@]}" -eq 2 ]
  fails_with "yaml" images --format yaml
}

@test "images --filter dangling=true lists only images without a name" {
  b images --filter dangling=true -q
  [ -z "$output" ]
  b image import --change 'CMD ["true"]' "$TAR"
  [ "$status" -eq 0 ]
  noname=$output
  b images --filter dangling=true --format json
  [ "$(jq -r .ID <<<"$output")" = "$noname" ]
  [ "$(jq -r .Repository <<<"$output")" = "<none>" ]
  [ "$(jq -r .Tag <<<"$output")" = "<none>" ]
  b images -q
  [ "${#lines[@]}" -eq 2 ]
  fails_with "dangling=maybe" images --filter dangling=maybe
}

@test "image inspect shows Docker's fields" {
  b image inspect busybox
  [ "$status" -eq 0 ]
  [ "$(jq length <<<"$output")" -eq 1 ]
  [ "$(jq -r '.[0].RepoTags[0]' <<<"$output")" = localhost/busybox:latest ]
  [ "$(jq -r '.[0].Os' <<<"$output")" = linux ]
  [ "$(jq -r '.[0].RootFS.Layers | length' <<<"$output")" -eq 1 ]
  [[ $(jq -r '.[0].Id' <<<"$output") == sha256:* ]]
  b image inspect -f '{{.Architecture}}' busybox
  [ -n "$output" ]
  fails_with "image 'nosuch' not found" image inspect nosuch
}

@test "tag gives another name; rmi of one name only untags" {
  b tag busybox mine:v1
  [ "$status" -eq 0 ]
  [ "$(image_id mine:v1)" = "$(image_id busybox)" ]
  b rmi mine:v1
  [ "$status" -eq 0 ]
  [ "$output" = "Untagged: localhost/mine:v1" ]
  b image inspect busybox
  [ "$status" -eq 0 ]
  fails_with "nosuch" tag nosuch x
  fails_with "Bad Name" tag busybox 'Bad Name'
}

@test "rmi removes the last name and the image; refused while a container uses it; -f untags" {
  id=$(image_id busybox)
  b tag busybox second
  b create --name user busybox true
  # Two names for one image: by id it needs -f.
  b rmi "${id:7:12}"
  [ "$status" -eq 1 ]
  [[ $stderr == *"2 names"* ]]
  b rmi busybox
  [ "$status" -eq 0 ]
  [ "$output" = "Untagged: localhost/busybox:latest" ]
  b rmi second
  [ "$status" -eq 1 ]
  [[ $stderr == *"'second'"*"is used by 1 container"* ]]
  b image inspect second
  [ "$status" -eq 0 ]
  b rmi -f second
  [ "$status" -eq 0 ]
  [ "$output" = "Untagged: localhost/second:latest" ]
  # The container keeps its image, now without a name.
  b images --filter dangling=true -q --no-trunc
  [ "$output" = "$id" ]
  b start -a user
  [ "$status" -eq 0 ]
  b rm user
  b image import "$TAR" third
  third=$output
  b rmi third
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "Untagged: localhost/third:latest" ]
  [ "${lines[1]}" = "Deleted: $third" ]
  b rmi nosuch
  [ "$status" -eq 1 ]
  [[ $stderr == *"image 'nosuch' not found"* ]]
}

@test "image prune removes dangling images; -a every image no container uses" {
  b image import --change 'CMD ["true"]' "$TAR"
  dangling=$output
  b image import --change 'CMD ["sh"]' "$TAR" used
  b create --name c used
  b image prune -f
  [ "$status" -eq 0 ]
  [[ $output == *"deleted: $dangling"* ]]
  [[ $output == *"Total reclaimed space:"* ]]
  run -0 bq images --format json
  [ "$(jq -s length <<<"$output")" -eq 2 ]
  b image prune -a -f
  [ "$status" -eq 0 ]
  [[ $output == *"untagged: localhost/busybox:latest"* ]]
  run -0 bq images --format json
  [ "$(jq -r .Repository <<<"$output")" = localhost/used ]
  b run --rm used echo fine
  [ "$output" = fine ]
}

@test "save and load round trip: docker-archive and oci-archive keep the image id" {
  id=$(image_id busybox)
  b save -o "$BATS_TEST_TMPDIR/docker.tar" busybox
  [ "$status" -eq 0 ]
  tar -tf "$BATS_TEST_TMPDIR/docker.tar" | grep -qx manifest.json
  b save --format oci-archive -o "$BATS_TEST_TMPDIR/oci.tar" busybox
  [ "$status" -eq 0 ]
  tar -tf "$BATS_TEST_TMPDIR/oci.tar" | grep -qx oci-layout
  b rmi busybox
  [ -z "$(bq images -q)" ]

  b load -i "$BATS_TEST_TMPDIR/docker.tar"
  [ "$status" -eq 0 ]
  [ "$output" = "Loaded image: localhost/busybox:latest" ]
  [ "$(image_id busybox)" = "$id" ]
  b rmi busybox

  run -0 bash -c '"$BERTH" load <"$1"' _ "$BATS_TEST_TMPDIR/oci.tar"
  [[ $output == *"localhost/busybox:latest"* ]]
  [ "$(image_id busybox)" = "$id" ]
  b run --rm busybox echo loaded
  [ "$output" = loaded ]

  # To stdout too.
  run -0 bash -c '"$BERTH" save busybox >"$1"' _ "$BATS_TEST_TMPDIR/stdout.tar"
  tar -tf "$BATS_TEST_TMPDIR/stdout.tar" | grep -qx manifest.json
}

@test "load of a corrupt archive fails with a clear message and changes nothing" {
  b save -o "$BATS_TEST_TMPDIR/good.tar" busybox
  before_images=$(bq images --format json)
  before_blobs=$(find "$BERTH_ROOT/blobs" -type f | sort)

  mkdir "$BATS_TEST_TMPDIR/bad"
  echo 'not json' >"$BATS_TEST_TMPDIR/bad/manifest.json"
  tar -cf "$BATS_TEST_TMPDIR/bad.tar" -C "$BATS_TEST_TMPDIR/bad" manifest.json
  fails_with "manifest.json" load -i "$BATS_TEST_TMPDIR/bad.tar"

  size=$(stat -c %s "$BATS_TEST_TMPDIR/good.tar")
  head -c $((size / 2)) "$BATS_TEST_TMPDIR/good.tar" >"$BATS_TEST_TMPDIR/short.tar"
  b load -i "$BATS_TEST_TMPDIR/short.tar"
  [ "$status" -ne 0 ]
  [ -n "$stderr" ]

  echo 'just text' >"$BATS_TEST_TMPDIR/text.tar"
  fails_with "text.tar" load -i "$BATS_TEST_TMPDIR/text.tar"

  fails_with "missing.tar" load -i "$BATS_TEST_TMPDIR/missing.tar"

  [ "$(bq images --format json)" = "$before_images" ]
  [ "$(find "$BERTH_ROOT/blobs" -type f | sort)" = "$before_blobs" ]
}

@test "an unknown image is a clear error everywhere" {
  for verb in "run --rm" create "image inspect" rmi save; do
    # shellcheck disable=SC2086
    b $verb nosuch:9
    [ "$status" -ne 0 ]
    [[ $stderr == *"nosuch:9"* ]]
  done
  b save -o "$BATS_TEST_TMPDIR/x.tar" nosuch:9
  [ "$status" -ne 0 ]
  [ ! -e "$BATS_TEST_TMPDIR/x.tar" ]
  fails_with "/no/such.tar" image import /no/such.tar x
}

@test "system df counts images, containers and volumes" {
  b system df
  [ "$status" -eq 0 ]
  [[ ${lines[0]} == TYPE*TOTAL*ACTIVE*SIZE*RECLAIMABLE ]]
  [[ ${lines[1]} == Images*" 1 "*" 0 "* ]]
  detach up -v v1:/data busybox sleep 1000 >/dev/null
  b run --name gone busybox sh -c 'dd if=/dev/zero of=/big bs=1k count=100 2>/dev/null'
  b system df --format json
  [ "$status" -eq 0 ]
  [ "$(jq -r 'select(.Type == "Images") | .TotalCount' <<<"$output")" -eq 1 ]
  [ "$(jq -r 'select(.Type == "Images") | .Active' <<<"$output")" -eq 1 ]
  [ "$(jq -r 'select(.Type == "Containers") | .TotalCount' <<<"$output")" -eq 2 ]
  [ "$(jq -r 'select(.Type == "Containers") | .Active' <<<"$output")" -eq 1 ]
  (( $(jq -r 'select(.Type == "Containers") | .Reclaimable' <<<"$output") >= 102400 ))
  [ "$(jq -r 'select(.Type == "Local Volumes") | .TotalCount' <<<"$output")" -eq 1 ]
  [ "$(jq -r 'select(.Type == "Local Volumes") | .Active' <<<"$output")" -eq 1 ]
}
