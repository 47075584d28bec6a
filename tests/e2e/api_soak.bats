#!/usr/bin/env bats
# `berth serve` under a job worker's load (docker-py, as the Docker birthday challenge's worker:
# pull from a registry, run, read the IP from inspect, probe port 80, remove), many clients at
# once, and clients that vanish mid-stream: the server keeps serving and nothing leaks —
# containers, mounts, veths, processes, the server's fds.
#
# The worker runs 15 times here; BERTH_SOAK_ITERATIONS=200 for the long run by hand:
#   BERTH_SOAK_ITERATIONS=200 bats tests/e2e/api_soak.bats

load ../lib/api
load ../lib/registry_server
load ../lib/network

setup() { api_setup; }
teardown() {
  reg_stop
  api_teardown
}

# The server's fds, but for its pooled berth.db connections (engine/engine_pool.h): those stay
# open between requests by design, and pooled_db_fds bounds them.
server_fds() { find "/proc/$SERVE_PID/fd" -mindepth 1 -printf '%l\n' | grep -vc '/berth\.db' || true; }
# At most EnginePool::kMaxIdle (8) idle connections, each the database, its WAL and the shared
# memory file, plus the reaper's.
pooled_db_fds() { find "/proc/$SERVE_PID/fd" -mindepth 1 -printf '%l\n' | grep -c '/berth\.db' || true; }
db_fds_bounded() {
  local n
  n=$(pooled_db_fds)
  [ "$n" -le 30 ] || { echo "the server holds $n fds of berth.db"; false; }
}
# The server's threads (a stream's thread that never ends is a leak too) and its children, zombies
# included: execs, and the monitors of the containers it started (they exit with their container).
server_threads() { ls "/proc/$SERVE_PID/task" | wc -l; }
server_children() { pgrep -P "$SERVE_PID" | wc -l; }
# The baseline: live children only (a monitor that just exited is reaped within a second).
live_children() { ps -o stat= --ppid "$SERVE_PID" | grep -vc '^Z' || true; }
# Entries of this state's per-container directories, network namespaces, lock files and pulls
# in progress (ingest): each container or pull leaves none behind.
our_entries() {
  local d
  for d in "$BERTH_ROOT/containers" "$BERTH_RUN_ROOT/containers" "$BERTH_RUN_ROOT/runtime" \
    "$BERTH_RUN_ROOT/netns" "$BERTH_RUN_ROOT/locks" "$BERTH_ROOT/ingest"; do
    [[ -d $d ]] && ls -A "$d"
  done | grep -cv '^\.' || true
}
# Cgroup directories named after the containers listed in FILE, in every hierarchy (v1 or v2).
# A container's processes end with its cgroup (a cgroup with a process cannot be removed).
cgroups_of() {
  find /sys/fs/cgroup -mindepth 2 -maxdepth 4 -type d -path '*/berth/*' 2>/dev/null |
    grep -F -f <(sed 's/^/\/berth\//' "$1") || true
}
# Mounts and processes of this test's berth state (monitors, DNS, proxies, containers' mounts).
our_mounts() { grep -c -e "$BERTH_ROOT" -e "$BERTH_RUN_ROOT" /proc/self/mountinfo || true; }
our_processes() { pgrep -f -- "$BERTH_RUN_ROOT" | grep -vx "$SERVE_PID" | wc -l; }

# settles VAR EXPECTED COMMAND...: true once COMMAND prints EXPECTED (within 10 s); sets VAR.
settles() {
  local var=$1 want=$2 i value
  shift 2
  for i in $(seq 100); do
    value=$("$@")
    [ "$value" = "$want" ] && break
    sleep 0.1
  done
  printf -v "$var" '%s' "$value"
  [ "$value" = "$want" ]
}

@test "api soak: a docker-py worker pulls, runs, probes port 80 and removes, again and again; nothing leaks" {
  reg_start "$BATS_TEST_TMPDIR/reg"
  b push busybox "$REG/soak/box:1"
  [ "$status" -eq 0 ]
  b rmi busybox
  cat >"$BATS_TEST_TMPDIR/worker.py" <<'PY'
import sys, time, urllib.request
import docker
sock, repo, n, ids_file = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
c = docker.DockerClient(base_url="unix://" + sock, timeout=60)
ids = open(ids_file, "w")
for i in range(n):
    image = c.images.pull(repo, tag="1")
    box = c.containers.run(image.id, ["sh", "-c", f"mkdir /www; echo job-{i} >/www/index.html; exec httpd -f -p 80 -h /www"],
                           detach=True)
    ids.write(box.id + "\n"); ids.flush()
    box.reload()
    ip = box.attrs["NetworkSettings"]["IPAddress"]
    assert ip, f"round {i}: no IP in inspect"
    for attempt in range(100):
        try:
            body = urllib.request.urlopen(f"http://{ip}:80/", timeout=2).read().decode().strip()
            break
        except OSError:
            time.sleep(0.05)
    else:
        raise SystemExit(f"round {i}: nothing answers on {ip}:80")
    assert body == f"job-{i}", f"round {i}: {ip} answered {body!r}"
    box.remove(force=True)
    c.images.remove(f"{repo}:1", force=True)
print(f"{n} rounds passed")
PY
  # One round first: what the server holds once warm (its threads' event loops, timers).
  run timeout 120 /usr/bin/python3 "$BATS_TEST_TMPDIR/worker.py" "$SOCK" "$REG/soak/box" 1 "$BATS_TEST_TMPDIR/ids"
  [ "$status" -eq 0 ]
  fds0=$(server_fds) mounts0=$(our_mounts) procs0=$(our_processes) entries0=$(our_entries)
  threads0=$(server_threads) children0=$(live_children)
  n=${BERTH_SOAK_ITERATIONS:-15}
  run timeout $((60 + n * 20)) /usr/bin/python3 "$BATS_TEST_TMPDIR/worker.py" "$SOCK" "$REG/soak/box" "$n" "$BATS_TEST_TMPDIR/ids"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ $output == *"$n rounds passed"* ]]
  b ps -aq
  [ -z "$output" ]
  while read -r id; do no_veths "$id" || { echo "veth left of $id: $(veths_of "$id")"; false; }; done <"$BATS_TEST_TMPDIR/ids"
  [ "$(wc -l <"$BATS_TEST_TMPDIR/ids")" -eq "$n" ]
  settles mounts "$mounts0" our_mounts || { echo "mounts: $mounts0 before, $mounts after"; false; }
  settles procs "$procs0" our_processes || { echo "processes: $procs0 before, $procs after"; pgrep -af -- "$BERTH_RUN_ROOT"; false; }
  settles fds "$fds0" server_fds || { echo "server fds: $fds0 before, $fds after"; ls -l "/proc/$SERVE_PID/fd"; false; }
  db_fds_bounded
  settles threads "$threads0" server_threads || { echo "server threads: $threads0 before, $threads after"; false; }
  settles children "$children0" server_children || { echo "server children: $children0 before, $children after"; ps -o pid,stat,args --ppid "$SERVE_PID"; false; }
  settles entries "$entries0" our_entries || { echo "state entries: $entries0 before, $entries after"; false; }
  cgroups=$(cgroups_of "$BATS_TEST_TMPDIR/ids")
  [ -z "$cgroups" ] || { echo "cgroups left: $cgroups"; false; }
  while read -r id; do [ ! -e "$BERTH_RUN_ROOT/netns/$id" ] || { echo "netns left: $id"; false; }; done <"$BATS_TEST_TMPDIR/ids"
}

@test "api soak: 100 clients at once are all answered, and the server's fds come back" {
  d run -d --name busy busybox sleep 300
  [ "$status" -eq 0 ]
  cat >"$BATS_TEST_TMPDIR/burst.py" <<'PY'
import sys, threading
import docker
sock = sys.argv[1]
errors, done = [], []
def client(i):
    try:
        c = docker.APIClient(base_url="unix://" + sock, timeout=60)
        assert c.ping()
        assert any(x["Names"] == ["/busy"] for x in c.containers())
        assert c.inspect_container("busy")["State"]["Running"]
        c.close()
        done.append(i)
    except Exception as e:
        errors.append(f"{i}: {e!r}")
threads = [threading.Thread(target=client, args=(i,)) for i in range(100)]
for t in threads: t.start()
for t in threads: t.join()
print(len(done), "answered;", errors[:3])
sys.exit(1 if errors else 0)
PY
  # A first burst warms the server up (its threads' event loops); the second must leave nothing.
  run timeout 120 /usr/bin/python3 "$BATS_TEST_TMPDIR/burst.py" "$SOCK"
  [ "$status" -eq 0 ]
  fds0=$(server_fds)
  run timeout 120 /usr/bin/python3 "$BATS_TEST_TMPDIR/burst.py" "$SOCK"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ $output == "100 answered"* ]]
  settles fds "$fds0" server_fds || { echo "server fds: $fds0 before, $fds after"; false; }
  db_fds_bounded
}

@test "api soak: clients that vanish mid-attach, mid-exec, mid-log and mid-pull leave the server serving, without leaks" {
  reg_start "$BATS_TEST_TMPDIR/reg"
  b push busybox "$REG/gone/box:1"
  [ "$status" -eq 0 ]
  d run -dit --name term busybox sh
  [ "$status" -eq 0 ]
  d run -di --name pipe busybox sh -c 'while read l; do echo "got $l"; done'
  [ "$status" -eq 0 ]
  # Neither a terminal nor stdin: attach follows its log.
  d run -d --name quiet busybox sleep 300
  [ "$status" -eq 0 ]
  d ps -q
  processes() { for c in term pipe quiet; do $DOCKER top "$c" | tail -n +2; done | wc -l; }
  fds0=$(server_fds) threads0=$(server_threads) children0=$(live_children) procs0=$(processes)
  entries0=$(our_entries)
  run timeout 120 /usr/bin/python3 - "$SOCK" "$REG/gone/box" <<'PY'
import json, socket, sys
sock_path, repo = sys.argv[1], sys.argv[2]
def request(head, body=b""):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock_path)
    s.sendall(head.encode() + body)
    return s
def post_json(path, doc):
    body = json.dumps(doc).encode()
    s = request(f"POST {path} HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n", body)
    answer = b""
    while chunk := s.recv(4096):
        answer += chunk
    s.close()
    return json.loads(answer.split(b"\r\n\r\n", 1)[1])
upgrade = "Connection: Upgrade\r\nUpgrade: tcp\r\n"
for round in range(10):
    # An exec's shell, with a terminal and without, whose client goes mid-stream.
    for tty in (True, False):
        exec_id = post_json("/v1.41/containers/pipe/exec", {"AttachStdin": True, "AttachStdout": True,
                            "AttachStderr": True, "Tty": tty, "Cmd": ["sh"]})["Id"]
        body = json.dumps({"Detach": False, "Tty": tty}).encode()
        s = request(f"POST /v1.41/exec/{exec_id}/start HTTP/1.1\r\nHost: d\r\n{upgrade}"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n", body)
        head = s.recv(4096)
        assert head.startswith(b"HTTP/1.1 101"), head
        s.sendall(b"echo hello\n")
        if round % 2:
            s.recv(1)
        s.close()
    # Attached to a quiet container's log, and following its log: gone before any output.
    s = request(f"POST /v1.41/containers/quiet/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\n"
                f"Host: d\r\n{upgrade}Content-Length: 0\r\n\r\n")
    assert s.recv(4096).startswith(b"HTTP/1.1 101")
    s.close()
    s = request("GET /v1.41/containers/quiet/logs?follow=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: d\r\n\r\n")
    assert s.recv(4096).startswith(b"HTTP/1.1 200")
    s.close()
    for name in ("term", "pipe"):
        s = request(f"POST /v1.41/containers/{name}/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\n"
                    "Host: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n")
        head = s.recv(4096)
        assert head.startswith(b"HTTP/1.1 101"), head
        s.sendall(b"echo hello\n")
        if round % 2:
            s.recv(1)          # mid-stream: something came back
        s.close()              # gone without a word
    s = request(f"POST /v1.41/images/create?fromImage={repo}&tag=1 HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n")
    if round % 2:
        s.recv(64)             # mid-pull: the progress stream had begun
    s.close()
print("vanished 80 times")
PY
  echo "$output"
  [ "$status" -eq 0 ]
  # Still serving, and the attached containers still run (a client that leaves does not end them).
  api GET /_ping
  [ "$body" = OK ]
  d ps --format '{{.Names}}'
  [[ $output == *term* && $output == *pipe* ]]
  run bash -c "(printf 'still\n'; sleep 2) | timeout -k 2 5 $DOCKER attach --sig-proxy=false pipe"
  [[ $output == *"got still"* ]]
  d run --rm busybox echo serving
  [ "$output" = serving ]
  settles fds "$fds0" server_fds || { echo "server fds: $fds0 before, $fds after"; ls -l "/proc/$SERVE_PID/fd"; false; }
  db_fds_bounded
  settles threads "$threads0" server_threads || { echo "server threads: $threads0 before, $threads after"; false; }
  settles children "$children0" server_children || { echo "server children: $children0 before, $children after"; ps -o pid,stat,args --ppid "$SERVE_PID"; false; }
  # A pull cut short leaves nothing in ingest/ (nor anything else in the state's directories).
  settles entries "$entries0" our_entries || { echo "state entries: $entries0 before, $entries after"; ls -A "$BERTH_ROOT/ingest"; false; }
  # The execs' shells ended with their clients (a terminal's hung up).
  settles procs "$procs0" processes || { echo "processes in the containers: $procs0 before, $procs after"; $DOCKER top pipe; false; }
}
