#!/usr/bin/env bats
# `berth serve`: the Docker Engine API on a unix socket, driven by real clients — Debian's docker
# CLI (20.10, API 1.41) and docker-py — and by curl where status codes and bodies matter. The
# server runs on the test's own socket and state, and is stopped by pid.

load ../lib/api

setup() { api_setup; }
teardown() { api_teardown; }

@test "api: _ping answers OK with the API version, GET and HEAD" {
  api GET /_ping
  [ "$code" = 200 ]
  [ "$body" = OK ]
  headers=$(curl -s -I --unix-socket "$SOCK" http://docker/_ping)
  [[ $headers == *"Api-Version: 1.41"* ]]
}

@test "api: a version above 1.41 is refused with docker's message, the prefix is optional" {
  api GET /v1.99/version
  [ "$code" = 400 ]
  [[ $body == *'"message":"client version 1.99 is too new. Maximum supported API version is 1.41"'* ]]
  api GET /version
  [ "$code" = 200 ]
  [[ $body == *'"ApiVersion":"1.41"'* ]]
}

@test "api: docker version and info talk to berth" {
  d version --format '{{.Server.APIVersion}} {{.Server.Platform.Name}}'
  [ "$status" -eq 0 ]
  [ "$output" = "1.41 berth" ]
  d info --format '{{.Images}} {{.OSType}}'
  [ "$status" -eq 0 ]
  [ "$output" = "1 linux" ]
}

@test "api: docker run --rm prints the output and passes the exit code, and leaves nothing" {
  d run --rm busybox echo hello from berth
  [ "$status" -eq 0 ]
  [ "$output" = "hello from berth" ]
  d run --rm busybox sh -c 'echo oops >&2; exit 3'
  [ "$status" -eq 3 ]
  [ "$stderr" = oops ]
  b ps -aq
  [ -z "$output" ]
}

@test "api: run -d, ps, logs, stop, rm through docker; berth ps sees the same container" {
  d run -d --name web -l app=api busybox sh -c 'echo started; echo warn >&2; sleep 300'
  [ "$status" -eq 0 ]
  id=$output
  [ ${#id} -eq 64 ]
  b ps --format '{{.Names}} {{.Status}}'
  [[ $output == "web Up"* ]]
  d ps --filter label=app=api --format '{{.Names}} {{.Image}}'
  [ "$output" = "web busybox" ]
  d ps --filter label=app=other -q
  [ -z "$output" ]
  for i in $(seq 50); do d logs web; [[ $output == started ]] && break; sleep 0.1; done
  [ "$output" = started ]
  [ "$stderr" = warn ]
  d logs -t web
  [[ $output =~ ^[0-9]{4}-.*Z\ started$ ]]
  d inspect -f '{{.State.Status}} {{.Config.Labels.app}}' web
  [ "$output" = "running api" ]
  d stop -t 1 web
  [ "$status" -eq 0 ]
  d ps -a --filter status=exited --format '{{.Names}}'
  [ "$output" = web ]
  d rm web
  [ "$status" -eq 0 ]
  b ps -aq
  [ -z "$output" ]
}

@test "api: a container made by berth shows in docker ps and docker removes it" {
  b run -d --name fromberth busybox sleep 300
  [ "$status" -eq 0 ]
  d ps --format '{{.Names}}'
  [ "$output" = fromberth ]
  d rm fromberth
  [ "$status" -ne 0 ]
  [[ $stderr == *"You cannot remove a running container"* ]]
  d rm -f fromberth
  [ "$status" -eq 0 ]
  b ps -aq
  [ -z "$output" ]
}

@test "api: errors carry docker's status codes and JSON messages" {
  api GET /v1.41/containers/nosuch/json
  [ "$code" = 404 ]
  [ "$body" = '{"message":"No such container: nosuch"}' ]
  api POST /v1.41/containers/create -H 'Content-Type: application/json' -d '{"Image":"nosuch"}'
  [ "$code" = 404 ]
  [[ $body == *'No such image'* ]]
  api POST /v1.41/containers/create -H 'Content-Type: application/json' -d '{"Image":'
  [ "$code" = 400 ]
  [[ $body == *'malformed JSON'* ]]
  api POST /v1.41/containers/create -H 'Content-Type: application/json' \
    -d '{"Image":"busybox","HostConfig":{"Privileged":true}}'
  [ "$code" = 400 ]
  [ "$body" = '{"message":"HostConfig.Privileged is not supported by berth"}' ]
  api POST '/v1.41/containers/create?name=twin' -H 'Content-Type: application/json' \
    -d '{"Image":"busybox","Cmd":["true"]}'
  [ "$code" = 201 ]
  api POST '/v1.41/containers/create?name=twin' -H 'Content-Type: application/json' \
    -d '{"Image":"busybox","Cmd":["true"]}'
  [ "$code" = 409 ]
  [[ $body == *'The container name \"/twin\" is already in use'* ]]
  api POST /v1.41/containers/twin/stop
  [ "$code" = 304 ]
  api GET '/v1.41/containers/json?filters=%7B%22colour%22%3A%5B%22red%22%5D%7D'
  [ "$code" = 400 ]
  api DELETE /v1.41/containers/twin
  [ "$code" = 204 ]
  d inspect nosuch
  [ "$status" -ne 0 ]
  [[ $stderr == *"No such object: nosuch"* ]]
}

@test "api: logs use docker's multiplexed frames without a tty" {
  api POST /v1.41/containers/create -H 'Content-Type: application/json' \
    -d '{"Image":"busybox","Cmd":["sh","-c","echo out; echo err >&2"]}'
  [ "$code" = 201 ]
  id=$(jq -r .Id <<<"$body")
  curl -s --unix-socket "$SOCK" -X POST "http://docker/v1.41/containers/$id/wait?condition=next-exit" \
    -o "$BATS_TEST_TMPDIR/waited" 3>&- &
  waiter=$!
  api POST "/v1.41/containers/$id/start"
  [ "$code" = 204 ]
  wait "$waiter"
  [ "$(cat "$BATS_TEST_TMPDIR/waited")" = '{"Error":null,"StatusCode":0}' ]
  curl -s --unix-socket "$SOCK" "http://docker/v1.41/containers/$id/logs?stdout=1&stderr=1" \
    -o "$BATS_TEST_TMPDIR/frames"
  [ "$(od -An -tx1 -v "$BATS_TEST_TMPDIR/frames" | tr -d ' \n')" = \
    "0100000000000004"$(printf 'out\n' | od -An -tx1 | tr -d ' \n')"0200000000000004"$(printf 'err\n' | od -An -tx1 | tr -d ' \n') ]
}

@test "api: images, image inspect, tag and rmi through docker" {
  d images --format '{{.Repository}}:{{.Tag}}'
  [ "$output" = localhost/busybox:latest ]
  d tag busybox mybox:1
  [ "$status" -eq 0 ]
  d image inspect -f '{{.Os}} {{len .RepoTags}}' busybox
  [ "$output" = "linux 2" ]
  d rmi mybox:1
  [ "$status" -eq 0 ]
  [[ $output == *"Untagged: localhost/mybox:1"* ]]
  d image inspect nosuch
  [ "$status" -ne 0 ]
  [[ $stderr == *"No such image: nosuch"* ]]
}

@test "api: networks and volumes: ls, create, inspect, rm through docker" {
  d network create apinet-$$
  [ "$status" -eq 0 ]
  d network ls --format '{{.Name}}'
  [[ $output == *apinet-$$* ]]
  d network inspect -f '{{.Name}}' apinet-$$
  [ "$output" = apinet-$$ ]
  d run --rm --network apinet-$$ busybox sh -c 'ip -4 addr show eth0 | grep -c inet'
  [ "$output" = 1 ]
  d network rm apinet-$$
  [ "$status" -eq 0 ]
  d volume create --label k=v data1
  [ "$status" -eq 0 ]
  d volume ls --format '{{.Name}}'
  [ "$output" = data1 ]
  d volume inspect -f '{{.Labels.k}} {{.Driver}}' data1
  [ "$output" = "v local" ]
  d run --rm -v data1:/data busybox sh -c 'echo kept > /data/f'
  [ "$status" -eq 0 ]
  d run --rm -v data1:/data busybox cat /data/f
  [ "$output" = kept ]
  d volume rm data1
  [ "$status" -eq 0 ]
  b volume ls -q
  [ -z "$output" ]
}

@test "api: docker build sends a tar context and streams the progress; the image runs" {
  mkdir "$BATS_TEST_TMPDIR/ctx"
  printf 'hello\n' >"$BATS_TEST_TMPDIR/ctx/greeting"
  printf 'FROM busybox\nCOPY greeting /greeting\nRUN echo built >> /greeting\nCMD ["cat", "/greeting"]\n' \
    >"$BATS_TEST_TMPDIR/ctx/Dockerfile"
  d build -t apibuilt:1 "$BATS_TEST_TMPDIR/ctx"
  [ "$status" -eq 0 ]
  [[ $output == *"Successfully built "* ]]
  [[ $output == *"Successfully tagged apibuilt:1"* ]]
  d run --rm apibuilt:1
  [ "$output" = "$(printf 'hello\nbuilt')" ]
  b images --format '{{.Repository}}:{{.Tag}}'
  [[ $output == *apibuilt:1* ]]
  printf 'FROM busybox\nRUN exit 7\n' >"$BATS_TEST_TMPDIR/ctx/Dockerfile"
  d build "$BATS_TEST_TMPDIR/ctx"
  [ "$status" -ne 0 ]
  [[ $stderr == *"exit code: 7"* ]]
  # Query parameters are checked before the context is read: a bad tag failed the build at its
  # end, bad JSON in buildargs was ignored, and a tag that is not UTF-8 got an empty 500.
  api POST '/v1.41/build?networkmode=bridge'
  [ "$code" = 400 ]
  [ "$body" = "{\"message\":\"build: networkmode 'bridge': builds run with default, none or host\"}" ]
  api POST '/v1.41/build?buildargs=%7BA%3A1%7D'
  [ "$code" = 400 ]
  [[ $body == *'query buildargs must be a JSON object of strings'* ]]
  api POST '/v1.41/build?t=web%FF:1'
  [ "$code" = 400 ]
  local want=$'{"message":"build: t \'web\xef\xbf\xbd:1\': '  # U+FFFD for the byte
  [[ $body == "$want"* ]]
}

@test "api: a Dockerfile symlink in the build context resolves inside the context, never to a host file" {
  host=/tmp/berth-api-host-dockerfile-$$
  printf 'FROM busybox\nLABEL where=host-file-was-read\n' >"$host"
  mkdir -p "$BATS_TEST_TMPDIR/ctx2$(dirname "$host")"
  printf 'FROM busybox\nLABEL where=context\n' >"$BATS_TEST_TMPDIR/ctx2$host"
  ln -s "$host" "$BATS_TEST_TMPDIR/ctx2/Dockerfile"
  mkfifo "$BATS_TEST_TMPDIR/ctx2/fifo"
  tar -C "$BATS_TEST_TMPDIR/ctx2" -cf "$BATS_TEST_TMPDIR/ctx2.tar" .
  api POST '/v1.41/build?t=inctx:1' -H 'Content-Type: application/x-tar' --data-binary "@$BATS_TEST_TMPDIR/ctx2.tar"
  rm -f "$host"
  [ "$code" = 200 ]
  [[ $body != *host-file-was-read* ]]
  b image inspect -f '{{index .Config.Labels "where"}}' inctx:1
  [ "$output" = context ]
  # A FIFO named as the Dockerfile is refused, not read (that would block the build for ever).
  api POST '/v1.41/build?dockerfile=fifo' -H 'Content-Type: application/x-tar' --data-binary "@$BATS_TEST_TMPDIR/ctx2.tar"
  [[ $body == *"Cannot locate specified Dockerfile: fifo"* ]]
}

@test "api: docker-py runs, lists and reads the logs of containers" {
  python3 -c 'import docker' 2>/dev/null || { echo "python3-docker is not installed (scripts/setup)" >&2; return 1; }
  run timeout 120 python3 - "$SOCK" <<'PY'
import sys, docker
client = docker.DockerClient(base_url="unix://" + sys.argv[1], version="auto")
assert client.ping()
out = client.containers.run("busybox", ["echo", "from python"], remove=True)
assert out == b"from python\n", out
c = client.containers.run("busybox", ["sh", "-c", "echo bg; sleep 300"], detach=True,
                          name="pyc", labels={"by": "py"})
names = [x.name for x in client.containers.list(filters={"label": "by=py"})]
assert names == ["pyc"], names
import time
for _ in range(50):
    if c.logs() == b"bg\n":
        break
    time.sleep(0.1)
assert c.logs() == b"bg\n", c.logs()
c.reload()
assert c.status == "running", c.status
c.stop(timeout=1)
assert c.wait()["StatusCode"] == 137
c.remove()
try:
    client.containers.get("pyc")
    raise SystemExit("pyc is still there")
except docker.errors.NotFound:
    pass
print("ok")
PY
  echo "$output"
  [ "$status" -eq 0 ]
  [ "${lines[-1]}" = ok ]
}

@test "api: --idle-exit stops the server when no client came, and removes its socket" {
  kill "$SERVE_PID"
  for ((i = 0; i < 50; i++)); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.1; done
  [ ! -e "$SOCK" ]
  run timeout 10 "$BERTH" serve --socket "$SOCK" --idle-exit 500ms
  [ "$status" -eq 0 ]
  [ ! -e "$SOCK" ]
  SERVE_PID=
}
