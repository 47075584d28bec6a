#!/usr/bin/env bats
# `berth push` and `pull` through an HTTP proxy (Debian's tinyproxy on 127.0.0.1): plain HTTP
# requests in absolute form, HTTPS through a CONNECT tunnel, NO_PROXY, proxy credentials, and
# errors naming the proxy. Loopback is never proxied (as in Go's clients), so the registries run
# in a network namespace of the test's own, reached over a veth pair: netns bthprx<pid>, veths
# vbp<pid>h/n, 10.213.X.Y/30; all removed in teardown.

bats_require_minimum_version 1.5.0
load ../lib/berth

setup() {
  [[ $(id -u) -eq 0 ]] || skip "needs root (a network namespace)"
  command -v tinyproxy >/dev/null || skip "tinyproxy is not installed (scripts/setup)"
  berth_setup
  export DOCKER_CONFIG=$BATS_TEST_TMPDIR/docker-config
  PIDS=()
  NS=bthprx$$ VETH_H=vbp$$h VETH_N=vbp$$n
  local base=$((($$ / 250 % 60) * 4))
  HOST_IP=10.213.$(($$ % 250)).$((base + 1)) REG_IP=10.213.$(($$ % 250)).$((base + 2))
  ip netns add "$NS"
  ip link add "$VETH_H" type veth peer name "$VETH_N"
  ip link set "$VETH_N" netns "$NS"
  ip addr add "$HOST_IP/30" dev "$VETH_H"
  ip link set "$VETH_H" up
  ip -n "$NS" addr add "$REG_IP/30" dev "$VETH_N"
  ip -n "$NS" link set "$VETH_N" up
  ip -n "$NS" link set lo up
  unset HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy
}

teardown() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  [[ -z ${NS:-} ]] || ip netns del "$NS" 2>/dev/null || true
  [[ -z ${VETH_H:-} ]] || ip link del "$VETH_H" 2>/dev/null || true
  berth_teardown
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for CMD...: until it succeeds (5 s at most).
wait_for() {
  local i
  for i in $(seq 100); do "$@" && return 0; sleep 0.05; done
  echo "gave up waiting for: $*" >&2
  return 1
}

# serve_registries: berth registry serve in the namespace, plain HTTP on REG_IP:5000 and HTTPS
# (a self-signed certificate) on REG_IP:5443.
serve_registries() {
  local dir=$BATS_TEST_TMPDIR/registry
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=$REG_IP" -addext "subjectAltName=IP:$REG_IP" \
    -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
  ip netns exec "$NS" "$BERTH" registry serve --root "$dir/plain" --addr "$REG_IP:5000" 2>"$dir/plain.log" &
  PIDS+=($!)
  ip netns exec "$NS" "$BERTH" registry serve --root "$dir/tls" --addr "$REG_IP:5443" \
    --tls-cert "$dir/cert.pem" --tls-key "$dir/key.pem" 2>"$dir/tls.log" &
  PIDS+=($!)
  wait_for curl -s -o /dev/null "http://$REG_IP:5000/v2/"
  wait_for curl -s -k -o /dev/null "https://$REG_IP:5443/v2/"
}

# start_proxy [USER PASSWORD]: tinyproxy on 127.0.0.1:PROXY_PORT, logging to PROXY_LOG; with a
# user, it asks for Basic credentials.
start_proxy() {
  PROXY_PORT=$(free_port)
  PROXY_LOG=$BATS_TEST_TMPDIR/proxy-$PROXY_PORT.log
  local conf=$BATS_TEST_TMPDIR/proxy-$PROXY_PORT.conf
  printf 'Port %s\nListen 127.0.0.1\nTimeout 60\nLogFile "%s"\nLogLevel Info\nMaxClients 50\nDisableViaHeader Yes\n' \
    "$PROXY_PORT" "$PROXY_LOG" >"$conf"
  [[ -z ${1:-} ]] || echo "BasicAuth $1 $2" >>"$conf"
  tinyproxy -d -c "$conf" >/dev/null 2>&1 &
  PIDS+=($!)
  wait_for curl -s -o /dev/null "http://127.0.0.1:$PROXY_PORT/"
}

# proxied PATTERN: how many requests the proxy logged whose request line matches PATTERN.
proxied() { grep -c "Request (file descriptor [0-9]*): $1" "$PROXY_LOG" || true; }

@test "push and pull through HTTP_PROXY (absolute-form requests) and HTTPS_PROXY (CONNECT); NO_PROXY goes direct" {
  serve_registries
  start_proxy
  export HTTP_PROXY=http://127.0.0.1:$PROXY_PORT HTTPS_PROXY=http://127.0.0.1:$PROXY_PORT

  b push --tls-verify=false busybox "$REG_IP:5000/team/app:1"
  [ "$status" -eq 0 ]
  [ "$(proxied "PUT http://$REG_IP:5000/v2/team/app/manifests/1 ")" -eq 1 ]
  [ "$(proxied "POST http://$REG_IP:5000/v2/team/app/blobs/uploads/ ")" -ge 2 ]

  b push --tls-verify=false busybox "$REG_IP:5443/team/app:1"
  [ "$status" -eq 0 ]
  [ "$(proxied "CONNECT $REG_IP:5443 ")" -ge 1 ]
  # Inside the tunnel the proxy sees nothing of the requests.
  [ "$(proxied "PUT https://")" -eq 0 ]

  other_root
  b pull --tls-verify=false "$REG_IP:5000/team/app:1"
  [ "$status" -eq 0 ]
  [ "$(proxied "GET http://$REG_IP:5000/v2/team/app/blobs/sha256:")" -ge 2 ]
  b pull --tls-verify=false "$REG_IP:5443/team/app:1"
  [ "$status" -eq 0 ]
  b run --rm "$REG_IP:5000/team/app:1" echo ok
  [ "$output" = ok ]

  # NO_PROXY: straight to the registry, nothing more in the proxy's log.
  local before
  before=$(proxied ".")
  NO_PROXY=10.213.0.0/16 b push --tls-verify=false "$REG_IP:5000/team/app:1" "$REG_IP:5000/team/app:2"
  [ "$status" -eq 0 ]
  NO_PROXY=$REG_IP:5443 b pull --tls-verify=false "$REG_IP:5443/team/app:1"
  [ "$status" -eq 0 ]
  [ "$(proxied ".")" -eq "$before" ]
  leave_other_root
}

@test "a proxy that asks for credentials gets them from the URL; refusals and a missing proxy are named" {
  serve_registries
  start_proxy alice s3cret

  HTTPS_PROXY=http://127.0.0.1:$PROXY_PORT fails_with \
    "proxy 127.0.0.1:$PROXY_PORT (HTTPS_PROXY) refused CONNECT $REG_IP:5443: 407" push --tls-verify=false busybox "$REG_IP:5443/team/app:1"
  [[ $stderr == *"HTTPS_PROXY=http://USER:PASSWORD@127.0.0.1:$PROXY_PORT"* ]]
  HTTP_PROXY=http://127.0.0.1:$PROXY_PORT fails_with \
    "proxy 127.0.0.1:$PROXY_PORT (HTTP_PROXY) refused GET http://$REG_IP:5000/v2/: 407" push --tls-verify=false busybox "$REG_IP:5000/team/app:1"

  HTTPS_PROXY=http://alice:s3cret@127.0.0.1:$PROXY_PORT b push --tls-verify=false busybox "$REG_IP:5443/team/app:1"
  [ "$status" -eq 0 ]
  HTTP_PROXY=http://alice:s3cret@127.0.0.1:$PROXY_PORT b push --tls-verify=false busybox "$REG_IP:5000/team/app:1"
  [ "$status" -eq 0 ]

  local dead
  dead=$(free_port)
  HTTPS_PROXY=http://127.0.0.1:$dead fails_with \
    "connect to proxy 127.0.0.1:$dead (HTTPS_PROXY) for $REG_IP:5443: connection refused" pull --tls-verify=false "$REG_IP:5443/team/app:1"
  HTTPS_PROXY=socks5://127.0.0.1:1080 fails_with "berth speaks to proxies over http:// only" pull --tls-verify=false "$REG_IP:5443/team/app:1"
}
