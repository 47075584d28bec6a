#!/usr/bin/env bats
# `berth proxy` with real containers (docs/proxy.md, "Routes from containers"; docs/compose.md,
# "A load balancer for the project"): routes from berth.proxy.* labels and VIRTUAL_HOST, weights,
# the table following starts, health and stops, 503 with no healthy backend and recovery, bad
# labels named by `berth proxy check`, and no failed request while a compose service scales
# 1 → 3 → 1 and is updated instance by instance under load.
#
# Traffic goes only to loopback (the proxy listens on 127.0.0.1:PORT0+N) and from the proxy to
# this test's own containers. Each test has its own roots; the proxies it starts are stopped by
# pid in teardown.

bats_require_minimum_version 1.5.0
load ../lib/berth
load ../lib/network

setup() {
  network_setup
  PROXY_PIDS=()
  P=px$$
  DIR=$BATS_TEST_TMPDIR/proj
  mkdir -p "$DIR"
}

teardown() {
  local pid
  for pid in "${PROXY_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PROXY_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  [[ -z ${BERTH_ROOT:-} ]] || (cd "$DIR" && "$BERTH" compose -p "$P" down -t 1 >/dev/null 2>&1 3>&-) || true
  berth_teardown
}

# web_cmd NAME: busybox httpd serving "hello-NAME" at /, /api/index.html and /styles/a.css; it
# stops at once on SIGTERM.
web_cmd() {
  echo "mkdir -p /www/api /www/styles && for f in index.html api/index.html styles/a.css; do echo hello-$1 >/www/\$f; done; trap 'exit 0' TERM; httpd -f -p 80 -h /www & wait"
}

# start_proxy NAME ARGS...: `berth proxy serve --name NAME ARGS...` in the background, waits
# until its control socket answers.
start_proxy() {
  local name=$1
  shift
  "$BERTH" proxy serve --name "$name" "$@" >"$BATS_TEST_TMPDIR/proxy-$name.log" 2>&1 </dev/null 3>&- &
  PROXY_PIDS+=($!)
  wait_for 10 proxy_answers "$name" || { cat "$BATS_TEST_TMPDIR/proxy-$name.log" >&2; return 1; }
}
proxy_answers() { "$BERTH" proxy routes --name "$1" >/dev/null 2>&1 3>&-; }

# get HOST PATH: the body (or nothing) the proxy on PORT0 answers for Host: HOST.
get() { curl -sS --max-time 5 -H "Host: $1" "http://127.0.0.1:$PORT0$2" 2>/dev/null || true; }
# code HOST PATH: the status.
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Host: $1" "http://127.0.0.1:$PORT0$2" || true; }
body_is() { [[ $(get "$1" "$2") == "$3" ]]; }
code_is() { [[ $(code "$1" "$2") == "$3" ]]; }

# routes_have TEXT [ARGS]: `berth proxy routes ARGS` prints TEXT.
routes_have() {
  local name=$1 text=$2
  [[ $("$BERTH" proxy routes --name "$name" 3>&-) == *"$text"* ]]
}
routes_lack() {
  local name=$1 text=$2
  [[ $("$BERTH" proxy routes --name "$name" 3>&-) != *"$text"* ]]
}
# backends_are NAME JSON: the first route's backends, as proxy NAME's GET /routes shows them.
backends_are() {
  [[ $("$BERTH" proxy routes --name "$1" --format json 3>&- | jq -c '.routes[0].backends') == "$2" ]]
}
in_flight_is() {
  [[ $("$BERTH" proxy routes --name "$1" --format json 3>&- | jq -r '.routes[0].backends[0].in_flight') == "$2" ]]
}
backend_state_is() {
  [[ $("$BERTH" proxy routes --name "$1" --format json 3>&- | jq -r '.routes[0].backends[0].state') == "$2" ]]
}
state_has() { [[ $("$BERTH" proxy routes --from-state 3>&-) == *"$1"* ]]; }
state_lacks() { [[ $("$BERTH" proxy routes --from-state 3>&-) != *"$1"* ]]; }

# --- labels and state, without a server ------------------------------------------------------

@test "proxy check names bad labels (container, label, value) and conflicts; exit 1" {
  detach web-1 --label berth.proxy.port=80x busybox sleep 1000
  detach web-2 --label berth.proxy.prot=80 busybox sleep 1000
  b proxy check
  [ "$status" -eq 1 ]
  [[ $stderr == *'web-1: label berth.proxy.port="80x": not a port (1-65535)'* ]]
  [[ $stderr == *'web-2: label berth.proxy.prot="80": unknown label'* ]]
  b rm -f web-1 web-2
  detach a-1 --label berth.proxy.host=shop.example busybox sleep 1000
  detach b-1 --label berth.proxy.host=shop.example busybox sleep 1000
  b proxy check
  [ "$status" -eq 1 ]
  [[ $stderr == *'conflict: host shop.example path /: claimed by services a-1, b-1 with the same priority; a-1 wins'* ]]
  b rm -f b-1
  b proxy check
  [ "$status" -eq 0 ]
  [ "$output" = "1 route(s), 1 backend(s): labels are fine" ]
}

@test "the table follows a container starting, becoming healthy, stopping and being removed" {
  detach hc --label berth.proxy.host=hc.example --health-cmd 'test -f /tmp/ok' --health-interval 200ms \
    busybox sh -c "trap 'exit 0' TERM; sleep 100000 & wait"
  ip=$(bq inspect -f '{{.NetworkSettings.IPAddress}}' hc)
  b proxy routes --from-state
  [[ $output == *"hc.example"*"hc $ip:80 starting"* ]]
  b exec hc touch /tmp/ok
  wait_for 10 state_has "hc $ip:80 up"
  b proxy routes --from-state --format json
  [ "$(jq -r '.routes[0].backends[0].healthy' <<<"$output")" = true ]
  b stop -t 1 hc
  wait_for 10 state_has "hc.example"
  b proxy routes --from-state
  [[ $output == *"hc.example"*"(none)"* ]]
  b rm hc
  b proxy routes --from-state
  [[ $output != *"hc.example"* ]]
}

# last_table_is JQ: the last table `berth proxy watch` published passes the jq filter.
last_table_is() { tail -n1 "$WATCH" | jq -e "$1" >/dev/null 2>&1; }

@test "the route source publishes a table at each start, health change, stop and removal" {
  WATCH=$BATS_TEST_TMPDIR/watch.jsonl
  "$BERTH" proxy watch >"$WATCH" 2>"$BATS_TEST_TMPDIR/watch.err" </dev/null 3>&- &
  PROXY_PIDS+=($!)
  wait_for 10 last_table_is '.routes == []'
  detach hc --label berth.proxy.host=hc.example --health-cmd 'test -f /tmp/ok' --health-interval 200ms \
    busybox sh -c "trap 'exit 0' TERM; sleep 100000 & wait"
  id=$(bq inspect -f '{{.Id}}' hc)
  wait_for 10 last_table_is ".routes[0].backends[0].id == \"$id\" and .routes[0].backends[0].healthy == false"
  b exec hc touch /tmp/ok
  wait_for 10 last_table_is '.routes[0].backends[0].healthy == true'
  b stop -t 1 hc
  wait_for 10 last_table_is '.routes[0].service == "hc" and .routes[0].backends == []'
  b rm hc
  wait_for 10 last_table_is '.routes == []'
  # Each publication is a different table (nothing republished when nothing changed).
  [ "$(jq -c 'del(.time_ns, .generation)' "$WATCH" | uniq -d | wc -l)" -eq 0 ]
}

# --- with the server --------------------------------------------------------------------------

@test "routing by host, path prefix, path glob and VIRTUAL_HOST" {
  detach shop --label berth.proxy.host=shop.example busybox sh -c "$(web_cmd shop)"
  detach api --label berth.proxy.host=shop.example --label berth.proxy.path=/api busybox sh -c "$(web_cmd api)"
  detach vh -e 'VIRTUAL_HOST=*/styles/*.css, http://vh.example' busybox sh -c "$(web_cmd vh)"
  detach any --label 'berth.proxy.host=*.wild.example' busybox sh -c "$(web_cmd any)"
  b proxy check
  [ "$status" -eq 0 ]
  start_proxy t$$ --listen "127.0.0.1:$PORT0"
  wait_for 10 body_is shop.example / hello-shop
  wait_for 10 body_is shop.example /api/index.html hello-api
  wait_for 10 body_is vh.example / hello-vh
  wait_for 10 body_is other.example /styles/a.css hello-vh
  # An exact host is more specific than any host with a path glob (docs/proxy.md, ties).
  [ "$(get shop.example /styles/a.css)" = hello-shop ]
  wait_for 10 body_is a.wild.example / hello-any
  [ "$(get SHOP.example /)" = hello-shop ]
  [ "$(code nobody.example /)" = 404 ]
  b proxy routes
  [ "$status" -eq 0 ]
  [[ ${lines[0]} == ROUTE*HOSTS*PATH*MODE*BACKENDS* ]]
  [[ $output == *"api "*"shop.example"*"/api"*"api "*":80 up"* ]]
  b proxy ls
  [[ $output == *"t$$ "* ]]
}

@test "weights share the requests 3:1" {
  detach w1 --label berth.proxy.service=w --label berth.proxy.weight=3 busybox sh -c "$(web_cmd w1)"
  detach w2 --label berth.proxy.service=w --label berth.proxy.weight=1 busybox sh -c "$(web_cmd w2)"
  start_proxy t$$ --listen "127.0.0.1:$PORT0"
  wait_for 10 routes_have t$$ "w1 "
  wait_for 10 code_is any / 200
  n1=0 n2=0
  for i in $(seq 40); do
    case $(get any /) in
      hello-w1) n1=$((n1 + 1)) ;;
      hello-w2) n2=$((n2 + 1)) ;;
    esac
  done
  echo "w1: $n1, w2: $n2" >&2
  [ $((n1 + n2)) -eq 40 ]
  [ "$n1" -ge 25 ] && [ "$n1" -le 35 ]
}

@test "a stopped container leaves the table; zero healthy backends give 503, then recovery" {
  detach s1 --label berth.proxy.host=s.example --health-cmd 'test -f /tmp/ok' --health-interval 200ms \
    busybox sh -c "$(web_cmd s1)"
  start_proxy t$$ --listen "127.0.0.1:$PORT0"
  wait_for 10 routes_have t$$ "s1 "
  # Not healthy yet: no backend to send to.
  [ "$(code s.example /)" = 503 ]
  [[ $(get s.example /) == *s1* ]]  # the page names the service
  b exec s1 touch /tmp/ok
  wait_for 10 body_is s.example / hello-s1
  b stop -t 2 s1
  [ "$status" -eq 0 ]
  wait_for 10 backends_are t$$ '[]'
  [ "$(code s.example /)" = 503 ]
  b start s1
  b exec s1 touch /tmp/ok
  wait_for 10 body_is s.example / hello-s1 || { "$BERTH" proxy routes --name t$$ --format json >&2; false; }
}

@test "berth stop drains: the proxy marks the backend draining before the signal" {
  detach slow --label berth.proxy.host=slow.example busybox sh -c \
    "mkdir -p /www/cgi-bin && printf '#!/bin/sh\nfor i in \$(seq 600); do [ -e /tmp/go ] && break; sleep 0.1; done\nprintf \"Content-Type: text/plain\\\\r\\\\nContent-Length: 5\\\\r\\\\n\\\\r\\\\ndone\\\\n\"\n' >/www/cgi-bin/slow && chmod +x /www/cgi-bin/slow && trap 'exit 0' TERM; httpd -f -p 80 -h /www & wait"
  start_proxy t$$ --listen "127.0.0.1:$PORT0"
  wait_for 10 routes_have t$$ "slow "
  # The CGI answers once /tmp/go exists (or after a minute): the request stays in flight for
  # as long as the test needs, whatever the machine's load.
  curl -sS --max-time 90 -H 'Host: slow.example' "http://127.0.0.1:$PORT0/cgi-bin/slow" >"$BATS_TEST_TMPDIR/slow.out" 2>&1 &
  cpid=$!
  wait_for 30 in_flight_is t$$ 1
  "$BERTH" stop -t 60 slow >/dev/null 2>&1 3>&- &
  spid=$!
  # The request is still in flight: the stop waits, the backend drains.
  wait_for 30 backend_state_is t$$ draining
  [ "$(state_of slow)" = running ]
  b exec slow touch /tmp/go
  wait "$spid"
  wait "$cpid"
  [ "$(cat "$BATS_TEST_TMPDIR/slow.out")" = done ]
  [ "$(state_of slow)" = exited ]
}

# --- compose: the project's proxy, and no request lost under load ------------------------------

write_project() {
  cat >"$DIR/compose.yaml" <<EOF
x-berth-proxy:
  listen: ["127.0.0.1:$PORT0"]
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo web-\$\$WHO >/www/index.html && trap 'exit 0' TERM; httpd -f -p 80 -h /www & wait"]
    environment:
      WHO: "$1"
    labels:
      berth.proxy.host: load.example
    healthcheck: {test: ["CMD", "wget", "-qO/dev/null", "http://127.0.0.1/"], interval: 200ms}
    stop_grace_period: 5s
EOF
}

# wrk_ok FILE: wrk's report shows requests and no error of any kind.
# (`! cmd` does not fail a bats test unless it is the last line: hence the ifs.) On failure, the
# proxy's view of its backends (last errors, retries) goes to the test's output.
wrk_ok() {
  cat "$1" >&2
  grep -q 'requests in' "$1"
  if grep -q -e 'Non-2xx or 3xx responses' -e 'Socket errors' "$1"; then
    "$BERTH" proxy routes --name "$P" --format json 3>&- >&2 || true
    return 1
  fi
}

@test "compose: up starts the project's proxy, 0 failed requests while scaling 1-3-1 and updating" {
  cd "$DIR"
  write_project one
  b compose -p "$P" up -d --wait
  [ "$status" -eq 0 ]
  [[ $stderr == *"Proxy $P"*"Started"* || $output == *"Proxy $P"*"Started"* ]]
  wait_for 10 body_is load.example / web-one
  b proxy ls
  [[ $output == *"$P "* ]]

  wrk -t1 -c4 --timeout 30s -d20s -H 'Host: load.example' "http://127.0.0.1:$PORT0/" >"$BATS_TEST_TMPDIR/wrk1.txt" 2>&1 &
  wpid=$!
  sleep 1
  b compose -p "$P" scale web=3
  [ "$status" -eq 0 ]
  wait_for 20 routes_have "$P" "$P-web-3 "
  sleep 1
  b compose -p "$P" scale web=1
  [ "$status" -eq 0 ]
  wait "$wpid"
  wrk_ok "$BATS_TEST_TMPDIR/wrk1.txt"

  # An update instance by instance (the environment changes: every instance is replaced).
  b compose -p "$P" scale web=2
  wrk -t1 -c4 --timeout 30s -d20s -H 'Host: load.example' "http://127.0.0.1:$PORT0/" >"$BATS_TEST_TMPDIR/wrk2.txt" 2>&1 &
  wpid=$!
  sleep 1
  write_project two
  b compose -p "$P" up -d --wait --scale web=2
  [ "$status" -eq 0 ]
  wait "$wpid"
  wrk_ok "$BATS_TEST_TMPDIR/wrk2.txt"
  wait_for 10 body_is load.example / web-two

  b compose -p "$P" down -t 2
  [ "$status" -eq 0 ]
  b proxy ls
  [[ $output != *"$P "* ]]
}

@test "compose: updating a single instance under load gives 0 non-2xx (the old one serves until the new one is up)" {
  cd "$DIR"
  write_project one
  b compose -p "$P" up -d --wait
  [ "$status" -eq 0 ]
  wait_for 10 body_is load.example / web-one

  wrk -t1 -c4 --timeout 30s -d15s -H 'Host: load.example' "http://127.0.0.1:$PORT0/" >"$BATS_TEST_TMPDIR/wrk.txt" 2>&1 &
  wpid=$!
  sleep 1
  write_project two
  b compose -p "$P" up -d --wait
  [ "$status" -eq 0 ]
  body_is load.example / web-two
  wait "$wpid"
  wrk_ok "$BATS_TEST_TMPDIR/wrk.txt"
}
