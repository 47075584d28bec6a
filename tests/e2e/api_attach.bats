#!/usr/bin/env bats
# `berth serve`: attach with stdin and resize through the Docker Engine API — Debian's docker
# CLI (`run -i`, `run -it` and `attach` through a pty made by `script`), curl for statuses.

load ../lib/api

setup() { api_setup; }
teardown() { api_teardown; }

@test "api attach: docker run -i feeds the client's stdin to the container until its end" {
  run bash -c "printf 'one\ntwo\nthree\n' | timeout 60 $DOCKER run -i --rm busybox sh -c 'wc -l; echo done >&2'"
  [ "$status" -eq 0 ]
  [[ $output == *3* ]]
  [[ $output == *done* ]]
  b ps -aq
  [ -z "$output" ]
}

@test "api attach: docker run -it: typed input reaches the shell through its terminal, the exit code comes back" {
  run bash -c "(sleep 1; printf 'echo typed-\$((6*7)); tty\nexit 7\n') | timeout 60 script -qec '$DOCKER run -it --rm busybox sh' /dev/null"
  [ "$status" -eq 7 ]
  [[ $output == *"typed-42"* ]]
  [[ $output == *"/dev/pts/"* ]]
}

@test "api attach: docker run -it sizes the container's terminal as the client's (resize)" {
  # docker 20.10 resizes right after the start: the command waits for a size first.
  run timeout 60 script -qec "stty rows 33 cols 101; $DOCKER run -it --rm busybox sh -c 'until s=\$(stty size 2>/dev/null) && [ -n \"\$s\" ] && [ \"\$s\" != \"0 0\" ]; do sleep 0.1; done; echo size=\$s'" /dev/null
  [ "$status" -eq 0 ]
  [[ $output == *"size=33 101"* ]]
}

@test "api attach: docker attach to a running -dit container types into its shell" {
  d run -dit --name box busybox sh
  [ "$status" -eq 0 ]
  run bash -c "(sleep 1; printf 'echo attached-\$((2*21))\nexit 3\n') | timeout 60 script -qec '$DOCKER attach box' /dev/null"
  [[ $output == *"attached-42"* ]]
  d wait box
  [ "$output" = 3 ]
  # A resize reaches the running container's terminal; the kernel reports the new size.
  d run -dit --name sized busybox sh -c 'while :; do stty size >/tmp/size; sleep 0.1; done'
  [ "$status" -eq 0 ]
  api POST "/v1.41/containers/sized/resize?h=21&w=77"
  [ "$code" = 200 ]
  for i in $(seq 50); do d exec sized cat /tmp/size; [ "$output" = "21 77" ] && break; sleep 0.1; done
  [ "$output" = "21 77" ]
}

@test "api attach: docker attach without a tty relays stdin; the container's stdin outlives the client" {
  d run -di --name reader busybox sh -c 'while read l; do echo "got $l"; done; echo bye'
  [ "$status" -eq 0 ]
  run bash -c "(printf 'x\ny\n'; sleep 2) | timeout -k 2 5 $DOCKER attach --sig-proxy=false reader"
  [[ $output == *"$(printf 'got x\ngot y')"* ]]
  # Not made with StdinOnce (docker run -d): the end of that client's input is not the end of
  # the container's, which reads the next client's.
  d inspect -f '{{.State.Running}} {{.Config.StdinOnce}}' reader
  [ "$output" = "true false" ]
  run bash -c "(printf 'z\n'; sleep 2) | timeout -k 2 5 $DOCKER attach --sig-proxy=false reader"
  [[ $output == *"got z"* ]]
}

@test "api attach: resize answers docker's errors: bad size 400, no terminal or not running 409, unknown 404" {
  d run -d --name plain busybox sleep 300
  [ "$status" -eq 0 ]
  api POST "/v1.41/containers/plain/resize?h=x&w=80"
  [ "$code" = 400 ]
  [[ $body == *"h and w must be numbers"* ]]
  api POST "/v1.41/containers/plain/resize?h=24&w=80"
  [ "$code" = 409 ]
  [[ $body == *"has no terminal"* ]]
  d create -t --name idle busybox sh
  api POST "/v1.41/containers/idle/resize?h=24&w=80"
  [ "$code" = 409 ]
  [[ $body == *"is not running"* ]]
  api POST "/v1.41/containers/nosuch/resize?h=24&w=80"
  [ "$code" = 404 ]
  [[ $body == *"No such container: nosuch"* ]]
}
