#!/usr/bin/env bats
# `berth compose` as a user drives it (docs/compose.md, docs/projects.md): Compose files and JSON
# project files brought up, converged, scaled, updated, shown and taken down with real containers
# from the busybox fixture; bad input refused before anything is created; `up` killed half way
# and the next `up` converging with nothing stray.
#
# Each test has its own BERTH_ROOT and a project name with the pid; traffic stays on the
# project's own network (wget/nslookup from one instance to another). berth_teardown removes
# every container and network the test made.

bats_require_minimum_version 1.5.0
load ../lib/berth
load ../lib/registry_server

setup() {
  berth_setup
  P=cp$$
  DIR=$BATS_TEST_TMPDIR/proj
  mkdir -p "$DIR"
  cd "$DIR"
  HOST_PORT=$((21000 + $$ % 9000))
  REG_PIDS=()
}

teardown() {
  local pid
  for pid in "${REG_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  berth_teardown
}

# c ARGS...: `berth compose -p $P ARGS...` in the project directory (as b: $status, $output, $stderr).
c() { b compose -p "$P" "$@"; }

# A shell that stops on SIGTERM at once (a plain `sleep` as pid 1 ignores it).
SLEEP='["sh", "-c", "trap \"exit 0\" TERM; sleep 100000 & wait"]'
WORKER='["sh", "-c", "trap \"exit 0\" TERM; sleep 200000 & wait"]'

write_shop() {
  cat >compose.yaml <<EOF
services:
  web:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; echo web \$\$WHO > /www/index.html; httpd -f -p 80 -h /www & wait"]
    environment:
      WHO: \${WHO:-nobody}
    ports: ["127.0.0.1:$HOST_PORT:80"]
    tmpfs: /www
    depends_on:
      api: {condition: service_healthy}
  api:
    image: busybox
    command: $SLEEP
    healthcheck: {test: ["CMD", "true"], interval: 200ms}
    depends_on: [db]
    volumes: ["data:/data"]
  db:
    image: busybox
    command: $SLEEP
  worker:
    image: busybox
    command: $WORKER
    scale: 2
volumes:
  data:
EOF
}

id_of() { bq inspect -f '{{.Id}}' "$1"; }
running_names() { bq ps --format '{{.Names}}' | sort | tr '\n' ' '; }
all_names() { bq ps -a --format '{{.Names}}' | sort | tr '\n' ' '; }

@test "up -d starts services in dependency order with compose names, labels and DNS names" {
  write_shop
  c up -d
  [ "$status" -eq 0 ]
  # Dependencies first: db, then api (healthy), then web.
  order=$(grep -o 'Container [^ ]*  Started' <<<"$stderr" | awk '{print $2}' | tr '\n' ' ')
  [[ $order == "$P-db-1 $P-api-1 $P-web-1 "* ]]
  [ "$(running_names)" = "$P-api-1 $P-db-1 $P-web-1 $P-worker-1 $P-worker-2 " ]
  [ "$(bq inspect -f '{{index .Config.Labels "com.docker.compose.project"}}' "$P-worker-2")" = "$P" ]
  [ "$(bq inspect -f '{{index .Config.Labels "com.docker.compose.service"}}' "$P-worker-2")" = worker ]
  [ "$(bq inspect -f '{{index .Config.Labels "com.docker.compose.container-number"}}' "$P-worker-2")" = 2 ]
  bq network inspect "${P}_default" >/dev/null
  bq volume inspect "${P}_data" >/dev/null
  # SERVICE and SERVICE.PROJECT resolve on the project's network; the page comes through.
  b exec "$P-worker-1" wget -q -O- http://web/
  [ "$status" -eq 0 ]
  [ "$output" = "web nobody" ]
  b exec "$P-worker-1" wget -q -O- "http://web.$P/"
  [ "$output" = "web nobody" ]
  b exec "$P-web-1" nslookup worker
  [[ $output == *"$(bq inspect -f '{{.NetworkSettings.IPAddress}}' "$P-worker-2")"* ]]
  # The published port answers on loopback.
  run curl -s "http://127.0.0.1:$HOST_PORT/"
  [ "$output" = "web nobody" ]
  c ps
  [ "${#lines[@]}" -eq 6 ]
  [[ ${lines[0]} == NAME* ]]
  c ls
  [[ $output == *"$P"*"running(5)"* ]]
}

@test "up again changes nothing; an edited service alone is recreated, one instance at a time" {
  write_shop
  c up -d
  [ "$status" -eq 0 ]
  before_web=$(id_of "$P-web-1") before_db=$(id_of "$P-db-1") before_w1=$(id_of "$P-worker-1")
  c up -d
  [ "$status" -eq 0 ]
  [[ $stderr != *Creating* ]]
  [ "$(id_of "$P-web-1")" = "$before_web" ]
  [ "$(id_of "$P-worker-1")" = "$before_w1" ]
  # A new value for web's environment: web is recreated, nothing else.
  WHO=alice c up -d
  [ "$status" -eq 0 ]
  [[ $stderr == *"Container $P-web-1  Recreating (stop-first)"* ]]  # a fixed host port: stop-first
  [ "$(id_of "$P-web-1")" != "$before_web" ]
  [ "$(id_of "$P-db-1")" = "$before_db" ]
  [ "$(id_of "$P-worker-1")" = "$before_w1" ]
  b exec "$P-worker-1" wget -q -O- http://web/
  [ "$output" = "web alice" ]
  # The worker's command changes: start-first, both instances replaced, names kept.
  sed -i 's/sleep 200000/sleep 200001/' compose.yaml
  WHO=alice c up -d worker
  [ "$status" -eq 0 ]
  [[ $stderr == *"Container $P-worker-1  Recreating (start-first)"* ]]
  [[ $stderr == *"Container $P-worker-2  Recreated"* ]]
  [ "$(id_of "$P-worker-1")" != "$before_w1" ]
  [ "$(all_names)" = "$P-api-1 $P-db-1 $P-web-1 $P-worker-1 $P-worker-2 " ]
}

@test "a failing update rolls back and show says why" {
  cat >compose.yaml <<EOF
services:
  api:
    image: busybox
    command: $SLEEP
    healthcheck: {test: ["CMD", "true"], interval: 200ms, retries: 1}
EOF
  c up -d --wait
  [ "$status" -eq 0 ]
  before=$(id_of "$P-api-1")
  sed -i 's/\["CMD", "true"\]/["CMD-SHELL", "echo db unreachable; exit 1"]/' compose.yaml
  c up -d
  [ "$status" -ne 0 ]
  [[ $stderr == *"update of $P-api-1 failed, rolled back: $P-api-1 health check failing: exit 1: db unreachable"* ]]
  [ "$(id_of "$P-api-1")" = "$before" ]
  [ "$(state_of "$P-api-1")" = running ]
  [ "$(all_names)" = "$P-api-1 " ]
  c show
  [[ $output == *"last up failed: update of $P-api-1 failed, rolled back"* ]]
}

@test "scale up and down: the newest instances go first" {
  write_shop
  c up -d
  c scale worker=4
  [ "$status" -eq 0 ]
  [ "$(bq ps --filter label=com.docker.compose.service=worker -q | wc -l)" -eq 4 ]
  c show --format json
  [ "$(jq -r '.Services[] | select(.Name == "worker") | "\(.Running) from \(.Desired)"' <<<"$output")" = "4 from 4" ]
  keep=$(id_of "$P-worker-1")
  c up -d --scale worker=1
  [ "$status" -eq 0 ]
  [[ $stderr == *"Container $P-worker-4  Removed"*"Container $P-worker-3  Removed"*"Container $P-worker-2  Removed"* ]]
  [ "$(id_of "$P-worker-1")" = "$keep" ]
  [ "$(bq ps -a --filter label=com.docker.compose.service=worker -q | wc -l)" -eq 1 ]
  # A fixed host port cannot be held twice: refused before anything changes.
  fails_with "--scale web=2: the service publishes a fixed host port so only one instance can run" \
    compose -p "$P" up -d --scale web=2
  [ "$(bq ps -a --filter label=com.docker.compose.service=web -q | wc -l)" -eq 1 ]
}

@test "show: desired against actual, and why each instance is not running" {
  cat >compose.yaml <<EOF
services:
  ok:
    image: busybox
    command: $SLEEP
    scale: 2
  broken:
    image: busybox
    command: ["sh", "-c", "echo connecting to db; foo"]
  hog:
    image: busybox
    command: ["sh", "-c", "echo eating; head -c 200m /dev/zero | tail"]
    mem_limit: 16m
EOF
  c up -d
  [ "$status" -eq 0 ]
  wait_for 10 state_is "$P-broken-1" exited
  wait_for 10 state_is "$P-hog-1" exited
  c show
  [ "$status" -eq 0 ]
  [[ $output == *"ok  2 from 2 running  busybox"* ]]
  [[ $output == *"broken  0 from 1 running"* ]]
  [[ $output == *"why: exited 127: sh: foo: not found"* ]]
  [[ $output == *"| connecting to db"* ]]
  [[ $output == *"why: OOM killed at 16 MiB"* ]]
  c show --format json broken
  [ "$(jq -r '.Services | length' <<<"$output")" = 1 ]
  [ "$(jq -r '.Services[0].Instances[0].Reason' <<<"$output")" = "exited 127: sh: foo: not found" ]
  [ "$(jq -r '.Services[0].Instances[0].LastLogs[0]' <<<"$output")" = "connecting to db" ]
}

@test "a missing image is refused before anything is created, and show names it" {
  cat >compose.yaml <<EOF
services:
  db:
    image: busybox
    command: $SLEEP
  web:
    image: localhost/nosuch:2
    depends_on: [db]
EOF
  fails_with "service web: image localhost/nosuch:2 not found" compose -p "$P" up -d
  [ "$(container_count)" -eq 0 ]
  c show
  [[ $output == *"web  0 from 1 running  localhost/nosuch:2"* ]]
  [[ $output == *"last up failed: service web: image localhost/nosuch:2 not found"* ]]
  # A service with build: and no context.
  printf 'services:\n  app:\n    build: ./app\n' >compose.yaml
  fails_with "service app: build: build context '$DIR/app' does not exist" compose -p "$P" up -d
}

@test "config prints the normalised model; interpolation, env files, --var, -f merging and profiles" {
  cat >compose.yaml <<'EOF'
services:
  web:
    image: "busybox:${TAG:-latest}"
    command: echo ${GREETING:?say hello} $$HOME
    ports: ["8080:80"]
    environment: [A=1]
  debug:
    image: busybox
    profiles: [dev]
EOF
  printf 'TAG=1.2\nGREETING=hi\n' >.env
  printf 'services:\n  web:\n    environment: [B=2]\n    ports: ["9090:90"]\n' >override.yaml
  c config --format json
  [ "$status" -eq 0 ]
  [ "$(jq -r .name <<<"$output")" = "$P" ]
  [ "$(jq -r .services.web.image <<<"$output")" = "busybox:1.2" ]
  [ "$(jq -c .services.web.command <<<"$output")" = '["echo","hi","$$HOME"]' ]
  [ "$(jq -r '.services.web.ports[0].published' <<<"$output")" = 8080 ]
  [ "$(jq -r '.services | keys | join(",")' <<<"$output")" = web ]
  [ "$(jq -r '.networks.default.name' <<<"$output")" = "${P}_default" ]
  # --var beats the environment, which beats .env; --env-file replaces .env.
  GREETING=shell c --var GREETING=var config --format json
  [ "$(jq -c .services.web.command <<<"$output")" = '["echo","var","$$HOME"]' ]
  printf 'GREETING=other\n' >other.env
  c --env-file other.env config --format json
  [ "$(jq -r .services.web.image <<<"$output")" = "busybox:latest" ]
  c -f compose.yaml -f override.yaml --profile dev config --format json
  [ "$(jq -r '.services.web.environment | to_entries | map("\(.key)=\(.value)") | join(",")' <<<"$output")" = "A=1,B=2" ]
  [ "$(jq -r '.services.web.ports | length' <<<"$output")" = 2 ]
  [ "$(jq -r '.services | keys | join(",")' <<<"$output")" = debug,web ]
  # The YAML form reads back as the same project.
  c config
  [ "$status" -eq 0 ]
  printf '%s\n' "$output" >normalised.yaml
  b compose -p "$P" -f normalised.yaml config --format json
  [ "$(jq -r .services.web.image <<<"$output")" = "busybox:1.2" ]
  c config --services
  [ "$output" = web ]
}

@test "bad input: each error names file, path and value, and nothing is created" {
  printf 'services:\n  web:\n    image: busybox\n    ports: ["8080:80", "80:80:80"]\n' >compose.yaml
  fails_with 'compose.yaml: services.web.ports[1]: "80:80:80" is not a port mapping' compose -p "$P" up -d
  printf 'services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [a]\n' >compose.yaml
  fails_with "dependency cycle: a -> b -> a" compose -p "$P" up -d
  printf 'services:\n  web:\n    image: ${IMAGE:?set IMAGE to the image to run}\n' >compose.yaml
  fails_with "compose.yaml: services.web.image: required variable IMAGE is missing: set IMAGE to the image to run" compose -p "$P" config
  printf 'services:\n  web:\n    image: busybox\n    restart: sometimes\n' >compose.yaml
  fails_with 'compose.yaml: services.web.restart: "sometimes" is not no, always, on-failure[:N] or unless-stopped' compose -p "$P" up -d
  printf 'services:\n  web:\n    image: busybox\n    colour: blue\n' >compose.yaml
  c config
  [ "$status" -eq 0 ]
  [[ $stderr == *"compose.yaml: services.web.colour: unknown field, ignored"* ]]
  printf 'services:\n  web:\n    image: busybox\n   bad: indent\n' >compose.yaml
  fails_with "compose.yaml:4:" compose -p "$P" config
  rm compose.yaml
  fails_with "no project file in '$DIR'" compose -p "$P" up -d
  [ "$(container_count)" -eq 0 ]
  [ -z "$(bq network ls -q --filter name="${P}_")" ]
}

@test "clashes: a port held by another container or a host process, a taken container name" {
  detach "other$$" -p "127.0.0.1:$HOST_PORT:80" busybox sleep 1000
  printf 'services:\n  web:\n    image: busybox\n    command: %s\n    ports: ["127.0.0.1:%s:80"]\n' "$SLEEP" "$HOST_PORT" >compose.yaml
  fails_with "services.web.ports: 127.0.0.1:$HOST_PORT is held by other$$" compose -p "$P" up -d
  [ "$(container_count)" -eq 1 ]
  b rm -f "other$$"
  python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(60)' "$HOST_PORT" &
  holder=$!
  wait_for 5 bash -c "ss -ltn | grep -q '127.0.0.1:$HOST_PORT '"
  fails_with "services.web.ports: 127.0.0.1:$HOST_PORT/tcp is held by a process on the host" compose -p "$P" up -d
  kill "$holder"
  wait "$holder" || true
  [ "$(container_count)" -eq 0 ]
  detach "taken$$" busybox sleep 1000
  printf 'services:\n  web:\n    image: busybox\n    command: %s\n    container_name: taken%s\n' "$SLEEP" "$$" >compose.yaml
  c up -d
  [ "$status" -ne 0 ]
  [[ $stderr == *"create taken$$"* ]]
}

@test "clashes within the project: a port an orphan holds, a fixed port scaled, found before anything changes" {
  printf 'services:\n  old:\n    image: busybox\n    command: %s\n    ports: ["127.0.0.1:%s:80"]\n' "$SLEEP" "$HOST_PORT" >compose.yaml
  c up -d
  [ "$status" -eq 0 ]
  # The port moves to a new service; the old one's instance still holds it.
  printf 'services:\n  web:\n    image: busybox\n    command: %s\n    ports: ["127.0.0.1:%s:80"]\n' "$SLEEP" "$HOST_PORT" >compose.yaml
  fails_with "services.web.ports: 127.0.0.1:$HOST_PORT is held by $P-old-1 (service old is no longer in the files: --remove-orphans removes it)" \
    compose -p "$P" up -d
  [ "$(all_names)" = "$P-old-1 " ]
  c up -d --remove-orphans
  [ "$status" -eq 0 ]
  [[ $stderr == *"Container $P-old-1  Removed"*"Container $P-web-1  Started"* ]]
  [ "$(running_names)" = "$P-web-1 " ]
  # More than one instance of a fixed host port: said up front, whichever way it is asked.
  fails_with "--scale web=2: the service publishes a fixed host port so only one instance can run" \
    compose -p "$P" scale web=2
  printf 'services:\n  web:\n    image: busybox\n    command: %s\n    ports: ["127.0.0.1:%s:80"]\n    scale: 3\n' "$SLEEP" "$HOST_PORT" >compose.yaml
  fails_with "compose.yaml: services.web: publishes a fixed host port ($HOST_PORT) and has 3 replicas: only one instance can hold it" \
    compose -p "$P" up -d
  [ "$(all_names)" = "$P-web-1 " ]
  # A one-off container of the project holds its port too.
  printf 'services:\n  web:\n    image: busybox\n    command: %s\n' "$SLEEP" >compose.yaml
  c up -d
  b run -d --name "holder$$" -l "com.docker.compose.project=$P" -l com.docker.compose.service=web \
    -l com.docker.compose.oneoff=True -p "127.0.0.1:$HOST_PORT:81" busybox sleep 1000
  [ "$status" -eq 0 ]
  printf 'services:\n  web:\n    image: busybox\n    command: %s\n    ports: ["127.0.0.1:%s:80"]\n' "$SLEEP" "$HOST_PORT" >compose.yaml
  fails_with "services.web.ports: 127.0.0.1:$HOST_PORT is held by holder$$" compose -p "$P" up -d
}

@test "logs are prefixed per instance; --tail and -t" {
  cat >compose.yaml <<EOF
services:
  a:
    image: busybox
    command: ["sh", "-c", "echo one; echo two; echo three"]
  b:
    image: busybox
    command: ["sh", "-c", "echo bee"]
EOF
  c up -d
  wait_for 10 state_is "$P-a-1" exited
  wait_for 10 state_is "$P-b-1" exited
  c logs
  [ "$status" -eq 0 ]
  [[ $output == *"$P-a-1  | one"*"$P-a-1  | three"* ]]
  [[ $output == *"$P-b-1  | bee"* ]]
  c logs --tail 1 a
  [ "$output" = "$P-a-1  | three" ]
  c logs -t --no-log-prefix b
  [[ $output =~ ^20[0-9-]+T[0-9:.]+Z\ bee$ ]]
}

@test "stop, start, restart and exec act on the project's instances" {
  write_shop
  c up -d
  c stop worker
  [ "$status" -eq 0 ]
  [ "$(state_of "$P-worker-1")" = exited ]
  [ "$(state_of "$P-web-1")" = running ]
  c start
  [ "$(state_of "$P-worker-2")" = running ]
  c restart db
  [ "$status" -eq 0 ]
  [[ $stderr == *"$P-db-1  Stopped"*"$P-db-1  Started"* ]]
  c exec -T --index 2 worker hostname
  [ "$status" -eq 0 ]
  c exec -T api sh -c 'exit 3'
  [ "$status" -eq 3 ]
}

@test "down removes containers, networks and (with -v) volumes; without files it goes by name" {
  write_shop
  c up -d
  c down -t 1
  [ "$status" -eq 0 ]
  [ "$(container_count)" -eq 0 ]
  [ -z "$(bq network ls -q --filter name="${P}_default")" ]
  bq volume inspect "${P}_data" >/dev/null
  c up -d
  mkdir elsewhere
  cd elsewhere
  c down -v -t 1
  [ "$status" -eq 0 ]
  [ "$(container_count)" -eq 0 ]
  run -1 "$BERTH" volume inspect "${P}_data"
  c ls -a
  [[ $output != *"$P"* ]]
}

@test "JSON project: variables, dependencies by relative path, start order, show per app" {
  cat >berth.json <<EOF
{
  "id": "$P",
  "services": [
    {"id": "frontend", "apps": [
      {"id": "web", "image": "busybox", "cmd": "trap 'exit 0' TERM; echo \$\$PORT > /tmp/port; httpd -f -p 8080 & wait",
       "instances": 2, "mem": 64, "port_mappings": [{"container_port": 8080}],
       "domain": {"type": "HTTP", "uri": "shop.\$domain"},
       "dependencies": ["../../backend/api"]}]},
    {"id": "backend", "apps": [
      {"id": "api", "image": "busybox", "cmd": "trap 'exit 0' TERM; sleep 100000 & wait",
       "env": {"REDIS": "redis.backend.$P"},
       "health_checks": [{"cmd": "true", "interval_seconds": 0.2}], "dependencies": ["../redis", "../mongo"]},
      {"id": "redis", "image": "busybox", "cmd": "trap 'exit 0' TERM; sleep 100000 & wait",
       "health_checks": [{"cmd": "true", "interval_seconds": 0.2}]},
      {"id": "mongo", "image": "busybox", "cmd": "trap 'exit 0' TERM; sleep 100000 & wait",
       "health_checks": [{"cmd": "true", "interval_seconds": 0.2}]}]}
  ]
}
EOF
  fails_with "berth.json: unknown variable \$domain" compose up -d
  [ "$(container_count)" -eq 0 ]
  b compose --var domain=example.org up -d
  [ "$status" -eq 0 ]
  order=$(grep -o 'Container [^ ]*  Started' <<<"$stderr" | awk '{print $2}' | tr '\n' ' ')
  [ "$order" = "$P-mongo.backend-1 $P-redis.backend-1 $P-api.backend-1 $P-web.frontend-1 $P-web.frontend-2 " ]
  # APP.SERVICE.PROJECT resolves, and $PORT is the app's port.
  b exec "$P-api.backend-1" nslookup "web.frontend.$P"
  [ "$status" -eq 0 ]
  [ "$(grep -c '^Address' <<<"$output")" -ge 3 ]  # the resolver's and both instances'
  b exec "$P-api.backend-1" wget -q -O- "http://web.frontend.$P:8080/port"
  [ "$status" -eq 1 ]
  [[ $stderr == *"404 Not Found"* ]]  # httpd answered: the name leads to the app's port
  [ "$(bq exec "$P-web.frontend-1" cat /tmp/port)" = 8080 ]
  b compose --var domain=example.org show --format json
  [ "$(jq -r '.Services[] | "\(.Name) \(.Running)/\(.Desired)"' <<<"$output" | tr '\n' ' ')" = \
    "api.backend 1/1 mongo.backend 1/1 redis.backend 1/1 web.frontend 2/2 " ]
  b compose --var domain=example.org config --format json
  [ "$(jq -r '.services."web.frontend"."x-domain".uri' <<<"$output")" = shop.example.org ]
  b compose --var domain=example.org down -t 1
  [ "$(container_count)" -eq 0 ]
}

@test "up killed half way: the next up converges and nothing stray is left" {
  write_shop
  for point in compose-up:after-model compose-up:after-create; do
    crash "$point" compose -p "$P" up -d
    c up -d
    [ "$status" -eq 0 ]
    [ "$(running_names)" = "$P-api-1 $P-db-1 $P-web-1 $P-worker-1 $P-worker-2 " ]
    [ "$(all_names)" = "$P-api-1 $P-db-1 $P-web-1 $P-worker-1 $P-worker-2 " ]
    c down -t 1
    [ "$(container_count)" -eq 0 ]
  done
  # Killed in the middle of a rolling update, start-first and stop-first.
  c up -d
  for point in compose-up:after-old-aside compose-up:after-replacement-start; do
    sed -i "s/sleep 2000[0-9]*/sleep 2000$RANDOM/" compose.yaml
    crash "$point" compose -p "$P" up -d worker
    WHO=$point crash "$point" compose -p "$P" up -d web
    WHO=$point c up -d
    [ "$status" -eq 0 ]
    [ "$(all_names)" = "$P-api-1 $P-db-1 $P-web-1 $P-worker-1 $P-worker-2 " ]
    [ "$(running_names)" = "$P-api-1 $P-db-1 $P-web-1 $P-worker-1 $P-worker-2 " ]
    b exec "$P-worker-1" wget -q -O- http://web/
    [ "$output" = "web $point" ]
  done
  b system check
  [ "$status" -eq 0 ]
}

@test "run --rm: a one-off container on the project's network, its exit code, nothing left; events" {
  write_shop
  c run --rm -T web sh -c 'echo $WHO'
  [ "$status" -eq 0 ]
  [ "$output" = nobody ]
  # run starts the service's dependencies first, but not the service itself.
  [ "$(running_names)" = "$P-api-1 $P-db-1 " ]
  c run --rm -T worker sh -c 'wget -q -O /dev/null http://api.'"$P"':1 2>&1 | grep -q refused && echo reached; exit 4'
  [ "$status" -eq 4 ]
  [ "$output" = reached ]  # on the project's network, by the service's name
  [ "$(all_names)" = "$P-api-1 $P-db-1 " ]
  c up -d
  c events --json --since 1h --until 0s
  [ "$status" -eq 0 ]
  [ "$(jq -r 'select(.Action == "start" and .Actor.Attributes."com.docker.compose.oneoff" == "False") | .Actor.Attributes.name' <<<"$output" | sort -u | tr '\n' ' ')" = \
    "$P-api-1 $P-db-1 $P-web-1 $P-worker-1 $P-worker-2 " ]
  b events --filter project="$P" --filter event=die --since 1h --until 0s --format '{{.Actor.Attributes.name}}'
  [[ $output == *"$P-web-run-"* ]]
}

# start_registry: Debian's docker-registry on 127.0.0.1:$REG_PORT, data under the test's tmpdir.
start_registry() {
  REG_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  REG=127.0.0.1:$REG_PORT
  mkdir -p "$BATS_TEST_TMPDIR/registry"
  printf 'version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: %s}\n' \
    "$BATS_TEST_TMPDIR/registry" "$REG" >"$BATS_TEST_TMPDIR/registry.yml"
  docker-registry serve "$BATS_TEST_TMPDIR/registry.yml" >"$BATS_TEST_TMPDIR/registry.log" 2>&1 &
  REG_PIDS+=($!)
  wait_for 5 curl -sf "http://$REG/v2/" -o /dev/null
}

@test "up pulls the images it does not have; pull fetches them again" {
  start_registry
  b push busybox "$REG/shop/app:1"
  [ "$status" -eq 0 ]
  other_root
  printf 'services:\n  app:\n    image: %s/shop/app:1\n    command: %s\n' "$REG" "$SLEEP" >compose.yaml
  c up -d
  [ "$status" -eq 0 ]
  [[ $stderr == *"Image $REG/shop/app:1  Pulling"*"Image $REG/shop/app:1  Pulled"* ]]
  [ "$(state_of "$P-app-1")" = running ]
  c pull
  [ "$status" -eq 0 ]
  [[ $stderr == *"Image $REG/shop/app:1  Pulled"* ]]
  printf 'services:\n  app:\n    image: %s/shop/nosuch:1\n' "$REG" >compose.yaml
  fails_with "service app: image $REG/shop/nosuch:1 not found" compose -p "$P" up -d
  c down -t 1
  leave_other_root
}

@test "up in the foreground prints the instances' output; SIGINT stops the project" {
  printf 'services:\n  a:\n    image: busybox\n    command: ["sh", "-c", "trap \\"echo bye; exit 0\\" TERM; echo hello; sleep 1000 & wait"]\n    scale: 2\n' >compose.yaml
  "$BERTH" compose -p "$P" up >"$BATS_TEST_TMPDIR/up.out" 2>&1 </dev/null 3>&- &
  local pid=$!
  wait_for 20 grep -q "$P-a-2  | hello" "$BATS_TEST_TMPDIR/up.out"
  kill -INT "$pid"
  local code=0
  wait "$pid" || code=$?
  cat "$BATS_TEST_TMPDIR/up.out" >&2
  [ "$code" -eq 0 ]
  grep -q "Gracefully stopping" "$BATS_TEST_TMPDIR/up.out"
  grep -q "$P-a-1  | bye" "$BATS_TEST_TMPDIR/up.out"
  [ "$(state_of "$P-a-1")" = exited ]
  [ "$(state_of "$P-a-2")" = exited ]
}

@test "update_config.parallelism replaces that many instances at a time" {
  cat >compose.yaml <<EOF
services:
  worker:
    image: busybox
    command: $WORKER
    deploy:
      replicas: 4
      update_config: {parallelism: 2}
EOF
  c up -d
  [ "$status" -eq 0 ]
  before=$(bq ps --format '{{.Label "com.docker.compose.config-hash"}}' | sort -u)
  sed -i 's/sleep 200000/sleep 200001/' compose.yaml
  c up -d
  [ "$status" -eq 0 ]
  # Two replacements begin before the first one ends, and the third only after.
  events=$(grep -oE 'Container [^ ]+  (Recreating|Recreated)' <<<"$stderr" | awk '{print $3}' | tr '\n' ' ')
  [ "$events" = "Recreating Recreating Recreated Recreated Recreating Recreating Recreated Recreated " ]
  [ "$(all_names)" = "$P-worker-1 $P-worker-2 $P-worker-3 $P-worker-4 " ]
  # One configuration across the four, and not the first one.
  [ "$(bq ps --format '{{.Label "com.docker.compose.config-hash"}}' | sort -u | wc -l)" -eq 1 ]
  [ "$(bq ps --format '{{.Label "com.docker.compose.config-hash"}}' | sort -u)" != "$before" ]
}

@test "change rolls out a new image or environment for one service" {
  write_shop
  c up -d
  b tag busybox busybox:2
  [ "$status" -eq 0 ]
  before_db=$(id_of "$P-db-1") before_w=$(id_of "$P-worker-1")
  c change worker -e MODE=fast
  [ "$status" -eq 0 ]
  [ "$(id_of "$P-worker-1")" != "$before_w" ]
  [ "$(id_of "$P-db-1")" = "$before_db" ]
  [ "$(bq exec "$P-worker-2" sh -c 'echo $MODE')" = fast ]
  c change worker --image busybox:2
  [ "$status" -eq 0 ]
  [ "$(bq inspect -f '{{.Config.Image}}' "$P-worker-1")" = busybox:2 ]
  c show --format json
  [ "$(jq -r '.Services[] | select(.Name == "worker") | "\(.Running)/\(.Desired) \(.Image)"' <<<"$output")" = "2/2 busybox:2" ]
  fails_with "give --image, --env or --var" compose -p "$P" change worker
}

@test "a change holds: up with the same files keeps it, until the files change that field" {
  write_shop
  sed -i 's/^    image: busybox$/    image: busybox:${TAG:-latest}/' compose.yaml
  c up -d
  [ "$status" -eq 0 ]
  b tag busybox busybox:2
  b tag busybox busybox:3
  c change worker -e MODE=fast --image busybox:2
  [ "$status" -eq 0 ]
  w1=$(id_of "$P-worker-1") db=$(id_of "$P-db-1")
  # The same files: up converges on the change, recreating nothing, and says why.
  c up -d
  [ "$status" -eq 0 ]
  [[ $stderr == *'service worker: keeps image busybox:2 from `berth compose change` (the files say busybox:latest)'* ]]
  [[ $stderr == *"service worker: keeps MODE=fast"* ]]
  [[ $stderr != *Recreat* ]]
  [ "$(id_of "$P-worker-1")" = "$w1" ]
  [ "$(bq inspect -f '{{.Config.Image}}' "$P-worker-1")" = busybox:2 ]
  c show worker
  [[ $output == *"changed apart from the files (berth compose change): image busybox:2, MODE=fast"* ]]
  # Scaling keeps it too.
  c scale worker=3
  [ "$(bq inspect -f '{{.Config.Image}}' "$P-worker-3")" = busybox:2 ]
  [ "$(bq exec "$P-worker-3" sh -c 'echo $MODE')" = fast ]
  c up -d --scale worker=2
  # The files set MODE: theirs from now on; the image stays changed.
  sed -i 's/sleep 200000 & wait"\]/&\n    environment: {MODE: slow}/' compose.yaml
  grep -q 'MODE: slow' compose.yaml
  c up -d
  [ "$status" -eq 0 ]
  [[ $stderr == *'service worker: the files changed environment MODE (nothing to "slow"): it replaces "fast"'* ]]
  [ "$(bq exec "$P-worker-1" sh -c 'echo $MODE')" = slow ]
  [ "$(bq inspect -f '{{.Config.Image}}' "$P-worker-1")" = busybox:2 ]
  c up -d
  [[ $stderr != *Recreat* ]]
  [[ $stderr != *"MODE"* ]]
  c show --format json
  [ "$(jq -c '.Services[] | select(.Name == "worker") | .Changes' <<<"$output")" = '["image busybox:2"]' ]
  # --var: the service's fields with TAG=3 (db, which uses TAG too, keeps the files' value).
  c change api --var TAG=3
  [ "$status" -eq 0 ]
  [ "$(bq inspect -f '{{.Config.Image}}' "$P-api-1")" = busybox:3 ]
  [ "$(bq inspect -f '{{.Config.Image}}' "$P-db-1")" = busybox:latest ]
  [ "$(id_of "$P-db-1")" = "$db" ]
  c up -d
  [ "$(bq inspect -f '{{.Config.Image}}' "$P-api-1")" = busybox:3 ]
  [[ $stderr == *"service api: keeps --var TAG=3"* ]]
  c show --format json
  [ "$(jq -r '.Services[] | select(.Name == "api") | .Image' <<<"$output")" = busybox:3 ]
  # down forgets the changes: the next up is the files'.
  c down -t 1
  c up -d
  [ "$(bq inspect -f '{{.Config.Image}}' "$P-worker-1")" = busybox:latest ]
  [ "$(bq inspect -f '{{.Config.Image}}' "$P-api-1")" = busybox:latest ]
}

@test "desired state survives: up after instances died converges, recreating nothing healthy" {
  cat >compose.yaml <<EOF
services:
  api:
    image: busybox
    command: $SLEEP
    healthcheck: {test: ["CMD", "true"], interval: 200ms}
  db:
    image: busybox
    command: $SLEEP
  worker:
    image: busybox
    command: $WORKER
    restart: always
    scale: 2
EOF
  c up -d --wait
  [ "$status" -eq 0 ]
  api=$(id_of "$P-api-1") db=$(id_of "$P-db-1") w1=$(id_of "$P-worker-1") w2=$(id_of "$P-worker-2")
  # A crash: db's process is killed from outside; worker-2's too, which its monitor restarts.
  kill -9 "$(bq inspect -f '{{.State.Pid}}' "$P-db-1")"
  kill -9 "$(bq inspect -f '{{.State.Pid}}' "$P-worker-2")"
  wait_for 10 state_is "$P-db-1" exited
  restarted() { [ "$(bq inspect -f '{{.RestartCount}} {{.State.Status}}' "$P-worker-2")" = "1 running" ]; }
  wait_for 20 restarted
  c up -d
  [ "$status" -eq 0 ]
  [[ $stderr == *"Container $P-db-1  Started"* ]]
  [[ $stderr != *Creat* ]]
  [[ $stderr != *Recreat* ]]
  [ "$(id_of "$P-api-1")" = "$api" ]
  [ "$(id_of "$P-db-1")" = "$db" ]
  [ "$(id_of "$P-worker-1")" = "$w1" ]
  [ "$(id_of "$P-worker-2")" = "$w2" ]
  [ "$(running_names)" = "$P-api-1 $P-db-1 $P-worker-1 $P-worker-2 " ]
  [ "$(bq inspect -f '{{.State.Health.Status}}' "$P-api-1")" = healthy ]
}

@test "services with build: are built by berth build, named PROJECT-SERVICE, rebuilt with --build" {
  mkdir app
  printf 'FROM busybox\nARG GREETING=hi\nRUN echo "$GREETING from the build" > /built\nCMD ["sh", "-c", "cat /built; trap \\"exit 0\\" TERM; sleep 1000 & wait"]\n' >app/Dockerfile
  cat >compose.yaml <<EOF
services:
  app:
    build:
      context: ./app
      args: {GREETING: hello}
  tagged:
    image: localhost/shop-tagged:1
    build: ./app
EOF
  c up -d
  [ "$status" -eq 0 ]
  [[ $stderr == *"Service app  Building"*"Service app  Built $P-app"* ]]
  bq image inspect "$P-app" >/dev/null
  bq image inspect localhost/shop-tagged:1 >/dev/null
  wait_for 10 bash -c "'$BERTH' logs '$P-app-1' 3>&- | grep -q 'hello from the build'"
  # Built once: up again uses the image; --build builds again (from the cache) and converges.
  c up -d
  [[ $stderr != *Building* ]]
  c up -d --build app
  [ "$status" -eq 0 ]
  [[ $stderr == *"Service app  Built"* ]]
  c build tagged
  [ "$status" -eq 0 ]
  [[ $stderr == *"Service tagged  Built localhost/shop-tagged:1"* ]]
  printf 'FROM busybox\nRUN exit 3\n' >app/Dockerfile
  fails_with "service app: build:" compose -p "$P" up -d --build app
}

@test "DNS names follow scale, both ways" {
  write_shop
  c up -d
  count_addresses() {  # the worker's addresses that nslookup gives from web
    "$BERTH" exec "$P-web-1" nslookup "worker.$P" 3>&- 2>/dev/null | awk '/^Name:/ {n=1} n && /^Address/ {c++} END {print c+0}'
  }
  has_addresses() { [ "$(count_addresses)" -eq "$1" ]; }
  # The names berth-dns answers with (the network's names file).
  named_workers() { [ "$(cat "$BERTH_RUN_ROOT"/networks/*/names | grep -c "^worker.$P ")" -eq "$1" ]; }
  [ "$(count_addresses)" -eq 2 ]
  c scale worker=4
  [ "$status" -eq 0 ]
  start=$(date +%s%N)
  wait_for 10 has_addresses 4
  echo "# 4 addresses answered $(( ($(date +%s%N) - start) / 1000000 )) ms after scale returned" >&3
  c scale worker=1
  start=$(date +%s%N)
  wait_for 10 named_workers 1
  echo "# names file down to 1 after $(( ($(date +%s%N) - start) / 1000000 )) ms" >&3
  # berth-dns itself answers with the one instance left (asked from the host, at the gateway).
  gw=$(bq network inspect -f '{{(index .IPAM.Config 0).Gateway}}' "${P}_default")
  dns_answers() { [ "$(dig +short +time=1 +tries=1 "@$gw" "worker.$P" A | grep -c .)" -eq "$1" ]; }
  wait_for 10 dns_answers 1
}

@test "a service's DNS name answers with its healthy instances only" {
  cat >compose.yaml <<EOF2
services:
  client:
    image: busybox
    command: $SLEEP
  api:
    image: busybox
    command: $SLEEP
    scale: 2
    healthcheck: {test: ["CMD", "test", "-e", "/tmp/ready"], interval: 200ms, retries: 1}
EOF2
  c up -d
  [ "$status" -eq 0 ]
  api_addresses() {
    "$BERTH" exec "$P-client-1" nslookup "api.$P" 3>&- 2>/dev/null | awk '/^Name:/ {n=1} n && /^Address/ {c++} END {print c+0}'
  }
  has_api_addresses() { [ "$(api_addresses)" -eq "$1" ]; }
  # Neither instance is healthy yet: the service name answers with no address, while each
  # instance's own name resolves.
  [ "$(api_addresses)" -eq 0 ]
  "$BERTH" exec "$P-client-1" nslookup "$P-api-1" 3>&- >/dev/null
  "$BERTH" exec "$P-api-1" touch /tmp/ready
  wait_for 10 has_api_addresses 1
  "$BERTH" exec "$P-api-2" touch /tmp/ready
  wait_for 10 has_api_addresses 2
  # Failing again takes it out.
  "$BERTH" exec "$P-api-1" rm /tmp/ready
  wait_for 10 has_api_addresses 1
}

@test "push uploads the images of services with build: and image: to their registry" {
  reg_start "$BATS_TEST_TMPDIR/reg"
  REG_PIDS+=("$REG_PID")
  mkdir app
  printf 'FROM busybox\nRUN echo built for %s > /built\n' "$P" >app/Dockerfile
  cat >compose.yaml <<EOF
services:
  api:
    image: $REG/shop/api:1
    build: ./app
    command: $SLEEP
  db:
    image: busybox
    command: $SLEEP
  local:
    build: ./app
EOF
  # Nothing built yet: the push names the service and says what to do.
  fails_with "service api: push $REG/shop/api:1: " compose -p "$P" push api
  [[ $stderr == *"berth compose build api"* ]]
  c build
  [ "$status" -eq 0 ]
  c push
  [ "$status" -eq 0 ]
  [[ $stderr == *"Image $REG/shop/api:1  Pushed sha256:"* ]]
  [[ $stderr == *"Service db  Skipped: not built here"* ]]
  [[ $stderr == *"Service local  Skipped: no image: to push to"* ]]
  fails_with "no such service: nosuch" compose -p "$P" push nosuch
  # What the registry holds is the built image: another state pulls and runs it.
  other_root
  b pull "$REG/shop/api:1"
  [ "$status" -eq 0 ]
  b run --rm "$REG/shop/api:1" cat /built
  [ "$output" = "built for $P" ]
  leave_other_root
}

@test "events SERVICE: that service's instances, health and scale changes, live and past" {
  cat >compose.yaml <<EOF
services:
  api:
    image: busybox
    command: $SLEEP
    healthcheck: {test: ["CMD", "true"], interval: 200ms}
  worker:
    image: busybox
    command: $WORKER
EOF
  c up -d --wait
  [ "$status" -eq 0 ]
  # A follower of worker alone sees its scale change and its new instance as they happen.
  # (--since: it reads from that second on, so it misses nothing however late it starts.)
  "$BERTH" compose -p "$P" events --json --since "$(date +%s)" worker >"$BATS_TEST_TMPDIR/events.out" 2>&1 </dev/null 3>&- &
  local follower=$!
  REG_PIDS+=("$follower")
  c scale worker=3
  [ "$status" -eq 0 ]
  wait_for 10 grep -q '"replicas":"3"' "$BATS_TEST_TMPDIR/events.out"
  wait_for 10 grep -q "\"name\":\"$P-worker-3\"" "$BATS_TEST_TMPDIR/events.out"
  kill "$follower"
  wait "$follower" || true
  line=$(grep '"replicas":"3"' "$BATS_TEST_TMPDIR/events.out")
  [ "$(jq -r '"\(.Type) \(.Actor.Attributes.previous) -> \(.Actor.Attributes.replicas)"' <<<"$line")" = "service 1 -> 3" ]
  ! grep -q "$P-api-1" "$BATS_TEST_TMPDIR/events.out"
  # Past events of api: its start and its health, nothing of worker's.
  c events --json --since 1h --until 0s api
  [ "$status" -eq 0 ]
  [ "$(jq -r '.Actor.Attributes."com.docker.compose.service"' <<<"$output" | sort -u)" = api ]
  [[ $(jq -r 'select(.Type == "container") | .Action' <<<"$output" | tr '\n' ' ') == *"start "*"health_status: healthy "* ]]
  # A failing check is in the stream too.
  b exec "$P-api-1" sh -c 'rm /bin/true'
  [ "$status" -eq 0 ]
  unhealthy() {
    "$BERTH" compose -p "$P" events --json --since 1h --until 0s api 3>&- | grep -q '"Action":"health_status: unhealthy"'
  }
  wait_for 10 unhealthy
  # berth events --filter project=P with a label too: both must hold (docker's label filters).
  b events --filter project="$P" --filter label=com.docker.compose.service=worker --since 1h --until 0s --format '{{.Type}} {{.Action}}'
  [ "$status" -eq 0 ]
  [[ $output == *"service scale"* ]]
  [[ $output == *"container start"* ]]
  b events --filter project="$P" --filter type=service --since 1h --until 0s --format '{{.Actor.Attributes.name}} {{.Actor.Attributes.replicas}}'
  [ "$output" = "$(printf 'api 1\nworker 1\nworker 3')" ]
  b events --filter project="$P" --filter label=com.docker.compose.service=worker --since 1h --until 0s --format '{{.Actor.Attributes.name}}'
  [[ $output != *"$P-api-1"* ]]
  fails_with "no such service: nosuch" compose -p "$P" events nosuch
}
