#!/usr/bin/env bats
# `berth serve`: docker exec through the Docker Engine API — Debian's docker CLI (plain, -i,
# -it through a pty made by `script`, -d), docker-py's exec_run, and curl for statuses.

load ../lib/api

setup() { api_setup; }
teardown() { api_teardown; }

@test "api exec: docker exec passes stdout, stderr and the exit code" {
  d run -d --name box busybox sleep 300
  [ "$status" -eq 0 ]
  d exec box sh -c 'echo out; echo err >&2; exit 3'
  [ "$status" -eq 3 ]
  [ "$output" = out ]
  [ "$stderr" = err ]
  d exec -e A=1 -w /etc -u 1:1 box sh -c 'echo $A $(pwd) $(id -u):$(id -g)'
  [ "$status" -eq 0 ]
  [ "$output" = "1 /etc 1:1" ]
  d exec box /nonexistent
  [ "$status" -eq 127 ]
}

@test "api exec: docker exec -i relays stdin until its end" {
  d run -d --name box busybox sleep 300
  [ "$status" -eq 0 ]
  run bash -c "printf 'one\ntwo\n' | timeout 60 $DOCKER exec -i box sh -c 'wc -l; cat /dev/null'"
  [ "$status" -eq 0 ]
  [ "$(echo $output)" = 2 ]
}

@test "api exec: docker exec -it through a pty: a terminal of the client's size, input, exit code" {
  d run -d --name box busybox sleep 300
  [ "$status" -eq 0 ]
  # docker 20.10 resizes right after the start: the command waits for a size first.
  cat >"$BATS_TEST_TMPDIR/size.sh" <<'SH'
until s=$(stty size 2>/dev/null) && [ -n "$s" ] && [ "$s" != "0 0" ]; do sleep 0.1; done
echo "$s"; tty
SH
  d cp "$BATS_TEST_TMPDIR/size.sh" box:/size.sh
  [ "$status" -eq 0 ]
  run timeout 60 script -qec "stty rows 31 cols 97; $DOCKER exec -it box sh /size.sh" /dev/null
  [ "$status" -eq 0 ]
  [[ $output == *"31 97"* ]]
  [[ $output == *"/dev/pts/"* ]]
  # Typed input reaches the shell through the terminal, and its exit status comes back.
  run bash -c "(sleep 1; printf 'echo typed-\$((6*7))\nexit 7\n') | timeout 60 script -qec '$DOCKER exec -it box sh' /dev/null"
  [ "$status" -eq 7 ]
  [[ $output == *"typed-42"* ]]
}

@test "api exec: docker exec -d runs in the background; the exec's inspect shows its exit code" {
  d run -d --name box busybox sleep 300
  [ "$status" -eq 0 ]
  d exec -d box sh -c 'echo done >/tmp/mark'
  [ "$status" -eq 0 ]
  for i in $(seq 50); do d exec box cat /tmp/mark; [ "$output" = done ] && break; sleep 0.1; done
  [ "$output" = done ]
  api POST /v1.41/containers/box/exec -H 'Content-Type: application/json' \
    -d '{"Cmd":["sh","-c","exit 5"],"AttachStdout":true}'
  [ "$code" = 201 ]
  exec_id=$(jq -r .Id <<<"$body")
  api GET "/v1.41/exec/$exec_id/json"
  [ "$code" = 200 ]
  [ "$(jq -c '[.Running, .ExitCode, .ProcessConfig.entrypoint]' <<<"$body")" = '[false,null,"sh"]' ]
  api POST "/v1.41/exec/$exec_id/start" -H 'Content-Type: application/json' -d '{"Detach":false}'
  [ "$code" = 200 ]
  api GET "/v1.41/exec/$exec_id/json"
  [ "$(jq -c '[.Running, .ExitCode]' <<<"$body")" = '[false,5]' ]
  api POST "/v1.41/exec/$exec_id/start" -H 'Content-Type: application/json' -d '{}'
  [ "$code" = 409 ]
}

@test "api exec: errors are docker's: no such container or exec, not running, unknown field" {
  api POST /v1.41/containers/nosuch/exec -H 'Content-Type: application/json' -d '{"Cmd":["true"]}'
  [ "$code" = 404 ]
  [ "$body" = '{"message":"No such container: nosuch"}' ]
  d create --name stopped busybox true
  [ "$status" -eq 0 ]
  d exec stopped true
  [ "$status" -ne 0 ]
  [[ $stderr == *"is not running"* ]]
  api GET /v1.41/exec/0123abcd/json
  [ "$code" = 404 ]
  [ "$body" = '{"message":"No such exec instance: 0123abcd"}' ]
  d run -d --name box busybox sleep 300
  api POST /v1.41/containers/box/exec -H 'Content-Type: application/json' \
    -d '{"Cmd":["true"],"Frobnicate":1}'
  [ "$code" = 400 ]
  [[ $body == *"Frobnicate"* ]]
  api POST /v1.41/containers/box/exec -H 'Content-Type: application/json' \
    -d '{"Cmd":["true"],"Privileged":true}'
  [ "$code" = 400 ]
  [[ $body == *"Privileged is not supported"* ]]
  api POST /v1.41/containers/box/exec -H 'Content-Type: application/json' -d '{"Cmd":[]}'
  [ "$code" = 400 ]
}

@test "api exec: docker-py's exec_run returns the exit code and the output" {
  d run -d --name box busybox sleep 300
  [ "$status" -eq 0 ]
  run timeout 60 /usr/bin/python3 - <<PY
import docker
c = docker.DockerClient(base_url="unix://$SOCK").containers.get("box")
r = c.exec_run(["sh", "-c", "echo py-out; exit 4"])
print(r.exit_code, r.output.decode().strip())
r = c.exec_run(["sh", "-c", "echo a; echo b >&2"], demux=True)
print(r.output[0].decode().strip(), r.output[1].decode().strip())
PY
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "4 py-out" ]
  [ "${lines[1]}" = "a b" ]
}
