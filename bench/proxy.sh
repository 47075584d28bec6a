#!/bin/bash
# berth-proxy against HAProxy (Debian's 2.6) and nginx as HTTP reverse proxies, each with one
# worker thread, configured alike: two backends (one nginx worker serving a 6-byte file on two
# ports), round robin, keep-alive to the backends, X-Forwarded-For added. wrk -t1 -c50 for
# keep-alive clients and for a new connection per request (Connection: close). Prints req/s,
# p50, p99, CPU time per request of the proxy process, and its resident memory per idle client
# connection (IDLE_CONNECTIONS, default 5000, held open: enough that memory the warm-up freed
# and the allocator reuses is a small part of the figure); the median of ROUNDS runs, and berth/haproxy ratios.
# Goal (issue 12): berth req/s >= 1.0x HAProxy's with p99 <= HAProxy's, memory per idle
# connection <= HAProxy's.
#
# Usage: bench/proxy.sh [--quick] [--only memory]
#   --quick: 1 round of 3 s; --only memory: just the idle-connection memory (new connections, and
#   connections that served one keep-alive request)
# Environment: BERTH_PROXY (default build/src/berth-proxy)  SECONDS_PER_RUN (5)  ROUNDS (3)
#              CONNECTIONS (50)
# Installs nothing (scripts/setup installs haproxy, nginx and wrk); loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
# --only memory: just the idle-connection memory (fast); other arguments go to bench_args.
ONLY=
args=()
while (($#)); do
  case $1 in
    --only) ONLY=${2:-}; shift 2 || true ;;
    *) args+=("$1"); shift ;;
  esac
done
[[ -z $ONLY || $ONLY == memory ]] || die "--only takes 'memory', not '$ONLY'"
bench_args "${args[@]}"
SRC=$PWD
BERTH_PROXY=${BERTH_PROXY:-$SRC/build/src/berth-proxy}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-50}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-5000}
if [[ $QUICK == 1 ]]; then SECONDS_PER_RUN=3 ROUNDS=1; fi

[[ -x $BERTH_PROXY ]] || die "no berth-proxy at $BERTH_PROXY (ninja berth-proxy, or set BERTH_PROXY)"
for tool in haproxy nginx wrk python3; do
  command -v "$tool" >/dev/null || die "$tool missing: run scripts/setup"
done

WORK=$(mktemp -d /tmp/berth-bench-proxy.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  [[ -n ${KEEP_WORK:-} ]] || rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/www"
printf 'hello\n' >"$WORK/www/index.html"
B1=$(free_port) B2=$(free_port)
cat >"$WORK/backend.conf" <<CONF
worker_processes 1; master_process off; daemon off;
pid $WORK/backend.pid; error_log $WORK/backend.err;
events { worker_connections 8192; }
http { access_log off; keepalive_requests 1000000; keepalive_timeout 60s;
  server { listen 127.0.0.1:$B1 backlog=4096; listen 127.0.0.1:$B2 backlog=4096; root $WORK/www; } }
CONF
nginx -c "$WORK/backend.conf" -p "$WORK" &
PIDS+=($!)

wait_port() {  # wait_port PORT: until something accepts on 127.0.0.1:PORT (5 s)
  python3 - "$1" <<'PY'
import socket, sys, time
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close(); sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
PY
}
wait_port "$B1" || die "the backend nginx did not start: $(cat "$WORK/backend.err")"

# Each proxy: start_NAME PORT → its pid in PROXY_PID.
start_berth() {
  cat >"$WORK/berth.json" <<CONF
{"routes": [{"service": "bench", "backends": [
  {"address": "127.0.0.1:$B1", "name": "b1"}, {"address": "127.0.0.1:$B2", "name": "b2"}]}]}
CONF
  # No per-client cap (HAProxy and nginx have none by default): the idle connections of
  # the memory figure all come from 127.0.0.1.
  "$BERTH_PROXY" serve --listen "127.0.0.1:$1" --config "$WORK/berth.json" \
    --max-connections-per-client 0 2>"$WORK/berth.log" &
  PROXY_PID=$!
}
start_haproxy() {
  cat >"$WORK/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 8000
defaults
  mode http
  timeout connect 3s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
  option forwardfor
frontend f
  bind 127.0.0.1:$1
  default_backend b
backend b
  balance roundrobin
  server b1 127.0.0.1:$B1
  server b2 127.0.0.1:$B2
CONF
  haproxy -db -f "$WORK/haproxy.cfg" 2>"$WORK/haproxy.log" &
  PROXY_PID=$!
}
start_nginx() {
  cat >"$WORK/nginx.conf" <<CONF
worker_processes 1; master_process off; daemon off;
pid $WORK/nginx.pid; error_log $WORK/nginx.err;
events { worker_connections 20000; }
http { access_log off; keepalive_requests 1000000;
  upstream b { server 127.0.0.1:$B1; server 127.0.0.1:$B2; keepalive 64; }
  server { listen 127.0.0.1:$1 backlog=4096;
    location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for; } } }
CONF
  nginx -c "$WORK/nginx.conf" -p "$WORK" &
  PROXY_PID=$!
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# One wrk run: prints "req/s p50_ms p99_ms cpu_us_per_request".
run_wrk() {  # run_wrk PORT PID [extra wrk args]
  local port=$1 pid=$2 out before after
  shift 2
  before=$(cpu_ticks "$pid")
  out=$(wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency "$@" "http://127.0.0.1:$port/index.html")
  after=$(cpu_ticks "$pid")
  python3 - "$before" "$after" "$(getconf CLK_TCK)" <<PY
import re, sys
out = """$out"""
if "Requests/sec" not in out or "50%" not in out:
    sys.stderr.write(out + "\n")
    print("0 0 0 0 failed")
    sys.exit(0)
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", v)
    if not m:
        sys.exit(f"wrk printed a latency of '{v}':\n{out}")
    n, unit = m.groups()
    return float(n) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
total = int(re.search(r"(\d+) requests in", out).group(1))
p50 = ms(re.search(r"50%\s+(\S+)", out).group(1))
p99 = ms(re.search(r"99%\s+(\S+)", out).group(1))
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
cpu = (int(sys.argv[2]) - int(sys.argv[1])) / int(sys.argv[3]) * 1e6 / max(total, 1)
print(f"{rps:.0f} {p50:.3f} {p99:.3f} {cpu:.1f} {errors.group(1) if errors else 0}")
PY
}

# idle_memory PORT PID [served]: KiB of RSS per idle client connection (IDLE_CONNECTIONS held open); with
# `served`, each one first gets a keep-alive request answered, then idles.
idle_memory() {
  local port=$1 pid=$2 before after
  before=$(rss_kb "$pid")
  python3 - "$port" "$pid" "${3:-}" "$IDLE_CONNECTIONS" <<'PY' >"$WORK/idle.out"
import socket, sys, time
conns = []
for _ in range(int(sys.argv[4])):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    if sys.argv[3] == "served":
        s.sendall(b"GET /index.html HTTP/1.1\r\nHost: bench\r\n\r\n")
        got = b""
        while not got.endswith(b"hello\n"):
            chunk = s.recv(4096)
            if not chunk:
                sys.exit("the proxy closed a keep-alive connection")
            got += chunk
    conns.append(s)
time.sleep(0.5)
print(open(f"/proc/{sys.argv[2]}/status").read().split("VmRSS:")[1].split()[0])
for s in conns: s.close()
PY
  after=$(cat "$WORK/idle.out")
  python3 -c "print(f'{($after - $before) / $IDLE_CONNECTIONS:.2f}')"
}

median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

declare -A RESULT
for proxy in berth haproxy nginx; do
  port=$(free_port)
  "start_$proxy" "$port"
  PIDS+=("$PROXY_PID")
  wait_port "$port" || die "$proxy did not start on port $port"
  wrk -t1 -c"$CONNECTIONS" -d1s "http://127.0.0.1:$port/index.html" >/dev/null  # warm-up
  for mode in keepalive close; do
    [[ -z $ONLY ]] || break
    extra=()
    [[ $mode == close ]] && extra=(-H "Connection: close")
    : >"$WORK/runs"
    for ((r = 0; r < ROUNDS; r++)); do
      run_wrk "$port" "$PROXY_PID" "${extra[@]}" >>"$WORK/runs"
    done
    for col in 1 2 3 4 5; do
      RESULT[$proxy.$mode.$col]=$(awk -v c=$col '{print $c}' "$WORK/runs" | median)
    done
  done
  # Served first: the second measurement reuses what the first one's connections freed.
  RESULT[$proxy.served]=$(idle_memory "$port" "$PROXY_PID" served)
  RESULT[$proxy.idle]=$(idle_memory "$port" "$PROXY_PID")
  kill "$PROXY_PID"
  wait "$PROXY_PID" 2>/dev/null || true
done

echo "berth-proxy vs HAProxy $(haproxy -v | awk 'NR == 1 {print $3}') and nginx $(nginx -v 2>&1 | awk -F/ '{print $2}'): one worker thread each, wrk -t1 -c$CONNECTIONS, ${SECONDS_PER_RUN}s x $ROUNDS (median)"
for mode in keepalive close; do
  [[ -z $ONLY ]] || break
  echo
  echo "== $mode =="
  printf '%-8s %10s %9s %9s %12s %8s\n' proxy req/s p50_ms p99_ms cpu_us/req non2xx
  for proxy in berth haproxy nginx; do
    printf '%-8s %10s %9s %9s %12s %8s\n' "$proxy" "${RESULT[$proxy.$mode.1]}" \
      "${RESULT[$proxy.$mode.2]}" "${RESULT[$proxy.$mode.3]}" "${RESULT[$proxy.$mode.4]}" \
      "${RESULT[$proxy.$mode.5]}"
  done
  python3 -c "
b, h = ${RESULT[berth.$mode.1]}, ${RESULT[haproxy.$mode.1]}
bp, hp = ${RESULT[berth.$mode.3]}, ${RESULT[haproxy.$mode.3]}
print(f'berth/haproxy: req/s {b / h:.2f}x, p99 {bp / hp:.2f}x (goal: >= 1.00x req/s, <= 1.00x p99)')"
done
echo
echo "== memory per idle client connection (KiB RSS): after one keep-alive request; new (measured second) =="
for proxy in berth haproxy nginx; do
  printf '%-8s %8s %8s\n' "$proxy" "${RESULT[$proxy.served]}" "${RESULT[$proxy.idle]}"
done
