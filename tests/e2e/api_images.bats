#!/usr/bin/env bats
# `berth serve`: images in and out through Debian's docker CLI — push to and pull from a
# `berth registry serve` on loopback, history, save/load, search, auth.

load ../lib/api
load ../lib/registry_server

setup() { api_setup; }
teardown() {
  reg_stop
  api_teardown
}

@test "api images: docker push and pull through a local registry, with docker's progress" {
  reg_start "$BATS_TEST_TMPDIR/reg"
  d tag busybox "$REG/team/box:1"
  [ "$status" -eq 0 ]
  d push "$REG/team/box:1"
  [ "$status" -eq 0 ]
  [[ $output == *"The push refers to repository [$REG/team/box]"* ]]
  [[ $output == *"1: digest: sha256:"* ]]
  d rmi "$REG/team/box:1"
  [ "$status" -eq 0 ]
  d pull "$REG/team/box:1"
  [ "$status" -eq 0 ]
  [[ $output == *"Status: "*" for $REG/team/box:1"* ]]
  d run --rm "$REG/team/box:1" echo pulled-ok
  [ "$output" = pulled-ok ]
  d pull "$REG/team/nosuch:1"
  [ "$status" -ne 0 ]
  d push nosuch-image:1
  [ "$status" -ne 0 ]
  [[ $stderr == *"No such image"* || $stderr == *"does not exist"* ]]
}

@test "api images: docker-py pulls from the local registry and reads the stream" {
  reg_start "$BATS_TEST_TMPDIR/reg"
  b push busybox "$REG/py/box:2"
  [ "$status" -eq 0 ]
  run timeout 60 /usr/bin/python3 - <<PY
import docker
c = docker.DockerClient(base_url="unix://$SOCK")
img = c.images.pull("$REG/py/box", tag="2")
print(img.tags)
PY
  [ "$status" -eq 0 ]
  [[ $output == *"$REG/py/box:2"* ]]
}

@test "api images: history, save and load, search answers empty" {
  d history busybox
  [ "$status" -eq 0 ]
  [[ ${lines[0]} == *"IMAGE"*"CREATED BY"* ]]
  d save -o "$BATS_TEST_TMPDIR/box.tar" busybox
  [ "$status" -eq 0 ]
  tar -tf "$BATS_TEST_TMPDIR/box.tar" | grep -qx manifest.json
  d rmi busybox
  [ "$status" -eq 0 ]
  d load -i "$BATS_TEST_TMPDIR/box.tar"
  [ "$status" -eq 0 ]
  [[ $output == *"Loaded image: "*busybox* ]]
  d run --rm busybox echo loaded
  [ "$output" = loaded ]
  api GET '/v1.41/images/search?term=busybox'
  [ "$code" = 200 ]
  [ "$body" = "[]" ]
  api GET /v1.41/images/nosuch/history
  [ "$code" = 404 ]
  [ "$body" = '{"message":"No such image: nosuch"}' ]
  printf 'not a tar' >"$BATS_TEST_TMPDIR/bad.tar"
  api POST /v1.41/images/load --data-binary @"$BATS_TEST_TMPDIR/bad.tar"
  [ "$code" = 400 ]
}
