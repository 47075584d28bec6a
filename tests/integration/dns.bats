#!/usr/bin/env bats
# berth-dns on a real kernel: it listens in one network namespace, clients (dig, busybox
# nslookup) ask from another through a veth pair. Both namespaces, the veth and the addresses
# (10.253.N.0/30) belong to this test (names carry its pid); teardown removes them on every path.
# Root only.

setup() {
  [[ $(id -u) -eq 0 ]] || { echo "dns.bats needs root" >&2; return 1; }
  DNS=${BERTH_DNS:-$(dirname "$BERTH")/berth-dns}
  [[ -x $DNS ]] || { echo "no berth-dns at $DNS (build the berth-dns target)" >&2; return 1; }
  local n=$(($$ % 250 + 1))
  NSA=bdns$$a NSB=bdns$$b
  ADDR=10.253.$n.1 CLIENT=10.253.$n.2
  WORK=$(mktemp -d /tmp/berth-test-dns.XXXXXX)
  ip netns add "$NSA"
  ip netns add "$NSB"
  # Created inside the namespaces: the host's links and routes are never touched.
  ip link add "bdv$$a" netns "$NSA" type veth peer name "bdv$$b" netns "$NSB"
  ip -n "$NSA" addr add "$ADDR/30" dev "bdv$$a"
  ip -n "$NSB" addr add "$CLIENT/30" dev "bdv$$b"
  for ns in "$NSA" "$NSB"; do ip -n "$ns" link set lo up; done
  ip -n "$NSA" link set "bdv$$a" up
  ip -n "$NSB" link set "bdv$$b" up
  printf 'web 10.89.0.2\n' >"$WORK/names"
  : >"$WORK/resolv.conf"
  PIDS=()
}

teardown() {
  local p
  # Only our berth-dns processes: a pid from a lock file is checked before it is killed.
  for p in $(cat "$WORK"/*.lock 2>/dev/null) "${PIDS[@]}"; do
    grep -qF "$WORK" "/proc/$p/cmdline" 2>/dev/null && kill -KILL "$p" 2>/dev/null
  done
  ip netns del "$NSA" 2>/dev/null || true
  ip netns del "$NSB" 2>/dev/null || true
  rm -rf "$WORK"
}

# responder ADDRESS NAMES LOCK LOG [OPTIONS...]: berth-dns in $NSA, detached; returns once it
# listens (the ready byte comes through a pipe) and has written its pid into LOCK.
responder() {
  local byte=
  read -r -n1 byte < <(ip netns exec "$NSA" "$DNS" --listen "$1" --names "$2" --lock "$3" \
    --detach --log "$4" --ready-fd 3 "${@:5}" 3>&1 >/dev/null 2>>"$4")
  [ "$byte" = 1 ]
  [ -s "$3" ]
}

# start_dns [OPTIONS...]: the berth-dns under test on $ADDR; its pid in DNS_PID.
start_dns() {
  responder "$ADDR" "$WORK/names" "$WORK/dns.lock" "$WORK/dns.log" \
    --resolv-conf "$WORK/resolv.conf" "$@"
  DNS_PID=$(cat "$WORK/dns.lock")
}

# start_upstream ADDRESS NAME IPV4: another berth-dns in $NSA on ADDRESS:53 knowing one name (an
# upstream nameserver for the one under test); forwards nothing.
start_upstream() {
  mkdir -p "$WORK/up-$1"
  printf '%s %s\n' "$2" "$3" >"$WORK/up-$1/names"
  responder "$1" "$WORK/up-$1/names" "$WORK/up-$1.lock" "$WORK/up-$1/log" --resolv-conf ''
}

# ask ARGS...: dig from the client namespace; one try, answers only.
ask() { ip netns exec "$NSB" dig +short +tries=1 +time=3 @"$ADDR" "$@"; }
# status ARGS...: the rcode dig reports ("NOERROR", "SERVFAIL", ...).
status_of() {
  ip netns exec "$NSB" dig +tries=1 +time=5 @"$ADDR" "$@" |
    sed -n 's/.*status: \([A-Z]*\),.*/\1/p'
}

# names_file LINES...: replaces the names file the way the engine does (temp file, rename).
names_file() {
  printf '%s\n' "$@" >"$WORK/names.tmp"
  mv "$WORK/names.tmp" "$WORK/names"
}

# gone PID [TENTHS]: true once the process has exited (waits up to TENTHS/10 s).
gone() {
  local i
  for ((i = 0; i < ${2:-50}; i++)); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  return 1
}

@test "A records for names in the file, any case, with or without the dot, to dig and nslookup" {
  names_file "web 10.89.0.2" "Db.Backend 10.89.0.3" "# a comment" ""
  start_dns
  [ "$(ask web)" = 10.89.0.2 ]
  [ "$(ask WEB.)" = 10.89.0.2 ]
  [ "$(ask db.backend)" = 10.89.0.3 ]
  [ "$(ask DB.BACKEND.)" = 10.89.0.3 ]
  run ip netns exec "$NSB" busybox nslookup db.backend "$ADDR"
  [[ $output == *"Address: 10.89.0.3"* ]]
  # Other types of a known name: NOERROR and no answer, so resolvers do not look elsewhere.
  [ "$(status_of web AAAA)" = NOERROR ]
  [ -z "$(ask web AAAA)" ]
  # The address names its first name.
  [ "$(ask -x 10.89.0.3)" = Db.Backend. ]
}

@test "glibc's resolver, as a container has it, finds names and other addresses through it" {
  names_file "web 10.89.0.2" "db 10.89.0.3"
  start_dns
  printf 'nameserver %s\noptions attempts:1 timeout:2\n' "$ADDR" >"$WORK/client-resolv.conf"
  # A private mount namespace gives the client its own /etc/resolv.conf, as a container's.
  run ip netns exec "$NSB" unshare -m sh -c \
    "mount --bind '$WORK/client-resolv.conf' /etc/resolv.conf && getent hosts web && getent ahostsv4 db"
  [ "$status" -eq 0 ]
  [[ ${lines[0]} == "10.89.0.2 "*web ]]
  [[ $output == *"10.89.0.3 "*"STREAM db"* ]]
  run ip netns exec "$NSB" unshare -m sh -c \
    "mount --bind '$WORK/client-resolv.conf' /etc/resolv.conf && getent hosts no-such-name"
  [ "$status" -eq 2 ]
}

@test "several records for one name are answered together, in rotating order" {
  names_file "web 10.89.0.2" "web 10.89.0.3" "web 10.89.0.4" "other 10.89.0.9"
  start_dns
  first=$(ask web | paste -sd,)
  second=$(ask web | paste -sd,)
  third=$(ask web | paste -sd,)
  fourth=$(ask web | paste -sd,)
  [ "$first" = 10.89.0.2,10.89.0.3,10.89.0.4 ]
  [ "$second" = 10.89.0.3,10.89.0.4,10.89.0.2 ]
  [ "$third" = 10.89.0.4,10.89.0.2,10.89.0.3 ]
  [ "$fourth" = "$first" ]
}

@test "a change of the names file is answered at once (inotify, no polling)" {
  start_dns
  for i in $(seq 1 20); do
    names_file "web 10.89.1.$i" "new$i 10.89.2.$i"
    # No sleep: the very next query sees the file renamed into place before it.
    [ "$(ask web)" = "10.89.1.$i" ]
    [ "$(ask "new$i")" = "10.89.2.$i" ]
  done
  names_file "other 10.89.0.7"
  [ "$(status_of web)" = REFUSED ]  # not in the file, no upstream
}

@test "SIGHUP rereads the names file (for a change inotify cannot see)" {
  start_dns
  # A write through a hard link in another directory raises no event in the watched one.
  mkdir "$WORK/elsewhere"
  ln "$WORK/names" "$WORK/elsewhere/names"
  printf 'web 10.89.0.9\n' >"$WORK/elsewhere/names"
  [ "$(ask web)" = 10.89.0.2 ]
  kill -HUP "$DNS_PID"
  # Signals are handled before packets that arrive with them: no wait needed.
  [ "$(ask web)" = 10.89.0.9 ]
}

@test "bad lines are reported with file and line and skipped; the rest is answered" {
  names_file "web 10.89.0.2" "web" "db 10.89.0.300" "cache 10.89.0.4"
  start_dns
  [ "$(ask cache)" = 10.89.0.4 ]
  grep -F "$WORK/names:2: expected 'NAME IPV4', got 1 field; line skipped" "$WORK/dns.log"
  grep -F "$WORK/names:3: '10.89.0.300' is not an IPv4 address; line skipped" "$WORK/dns.log"
}

@test "unknown names go to the upstreams: unreachable and silent ones are passed over" {
  start_upstream 127.0.0.2 external.example 192.0.2.7
  # A silent one: stopped, its socket takes queries and nothing answers.
  start_upstream 127.0.0.4 external.example 192.0.2.7
  kill -STOP "$(cat "$WORK/up-127.0.0.4.lock")"
  printf 'nameserver 127.0.0.2\n' >"$WORK/resolv.conf"
  start_dns
  [ "$(ask external.example)" = 192.0.2.7 ]
  [ "$(ask web)" = 10.89.0.2 ]
  # Nothing listens on 127.0.0.3: its port-unreachable error moves on to the next at once.
  printf 'nameserver 127.0.0.3\nnameserver 127.0.0.2\n' >"$WORK/resolv.conf"
  start=$(date +%s%N)
  [ "$(ask external.example)" = 192.0.2.7 ]
  echo "# past an unreachable server in $((($(date +%s%N) - start) / 1000000)) ms" >&3
  # 127.0.0.4 never answers: after the 2 s timeout the next server does.
  printf 'nameserver 127.0.0.4\nnameserver 127.0.0.2\n' >"$WORK/resolv.conf"
  [ "$(ask +time=5 external.example)" = 192.0.2.7 ]
  # resolv.conf is replaced the engine's way too: with no server that answers, SERVFAIL.
  printf 'nameserver 127.0.0.3\nnameserver 127.0.0.4\n' >"$WORK/resolv.conf.tmp"
  mv "$WORK/resolv.conf.tmp" "$WORK/resolv.conf"
  [ "$(status_of external.example)" = SERVFAIL ]
}

@test "a resolv.conf symlink is followed: a change of its target is seen at once" {
  start_upstream 127.0.0.2 external.example 192.0.2.7
  # As on hosts with systemd-resolved: /etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf
  mkdir "$WORK/etc" "$WORK/run"
  printf 'nameserver 127.0.0.3\n' >"$WORK/run/stub-resolv.conf"
  ln -s ../run/stub-resolv.conf "$WORK/etc/resolv.conf"
  start_dns --resolv-conf "$WORK/etc/resolv.conf"
  [ "$(status_of external.example)" = SERVFAIL ]  # 127.0.0.3: nobody there
  printf 'nameserver 127.0.0.2\n' >"$WORK/run/stub-resolv.conf.tmp"
  mv "$WORK/run/stub-resolv.conf.tmp" "$WORK/run/stub-resolv.conf"
  [ "$(ask external.example)" = 192.0.2.7 ]
}

@test "a large forwarded answer: TC over UDP, then relayed whole over TCP" {
  start_upstream 127.0.0.2 many.example 192.0.2.1
  for i in $(seq 1 80); do echo "many.example 192.0.2.$i"; done >"$WORK/up-127.0.0.2/names"
  printf 'nameserver 127.0.0.2\n' >"$WORK/resolv.conf"
  start_dns
  run ip netns exec "$NSB" dig +noedns +ignore +tries=1 @"$ADDR" many.example
  [[ $output == *"flags: qr aa tc rd"* ]]
  [ "$(ask +tcp many.example | wc -l)" -eq 80 ]
  # Over TCP too, a server nobody listens on (connection refused) is passed over.
  printf 'nameserver 127.0.0.3\nnameserver 127.0.0.2\n' >"$WORK/resolv.conf"
  [ "$(ask +tcp +time=5 many.example | wc -l)" -eq 80 ]
}

@test "answers too large for UDP set TC; TCP on the same port carries them all" {
  for i in $(seq 1 100); do echo "big 10.89.3.$i"; done >"$WORK/names.tmp"
  mv "$WORK/names.tmp" "$WORK/names"
  start_dns
  run ip netns exec "$NSB" dig +noedns +ignore +tries=1 @"$ADDR" big
  [[ $output == *"flags: qr aa tc rd"* ]]
  [ "$(ask +tcp big | wc -l)" -eq 100 ]
  # dig falls back to TCP by itself when it sees TC.
  [ "$(ask big | wc -l)" -eq 100 ]
}

@test "a malformed query gets FORMERR; a response or a short packet gets nothing" {
  start_dns
  run ip netns exec "$NSB" python3 - "$ADDR" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
# id 0x1234, RD, two questions but only a header: FORMERR with the id echoed.
s.sendto(bytes.fromhex("1234010000020000000000000377656200"), (sys.argv[1], 53))
reply = s.recv(512)
print(reply[:2].hex(), reply[3] & 0xF)
for junk in (b"\x12\x34\x81", bytes.fromhex("123481800001000000000000")):
    s.sendto(junk, (sys.argv[1], 53))
    try:
        s.recv(512)
        print("answered junk")
    except socket.timeout:
        print("silent")
PY
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "1234 1" ]
  [ "${lines[1]}" = silent ]
  [ "${lines[2]}" = silent ]
}

@test "TCP: pipelined queries, frames split across writes; random UDP garbage changes nothing" {
  names_file "web 10.89.0.2" "db 10.89.0.3"
  start_dns
  run ip netns exec "$NSB" python3 - "$ADDR" <<'PY'
import random, socket, struct, sys

def query(qid, name):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return q + struct.pack(">HH", 1, 1)

def framed(m):
    return struct.pack(">H", len(m)) + m

def read_answer(s):
    head = b""
    while len(head) < 2:
        head += s.recv(2 - len(head))
    size = struct.unpack(">H", head)[0]
    body = b""
    while len(body) < size:
        body += s.recv(size - len(body))
    return struct.unpack(">H", body[:2])[0], socket.inet_ntoa(body[-4:])

s = socket.create_connection((sys.argv[1], 53), timeout=3)
s.sendall(framed(query(1, "web")) + framed(query(2, "db")))  # two in one write
print(*read_answer(s), *read_answer(s))
whole = framed(query(3, "web"))
s.sendall(whole[:1]); s.sendall(whole[1:7]); s.sendall(whole[7:])  # one split in three
print(*read_answer(s))
# Random bytes over UDP: the server keeps answering.
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rng = random.Random(7)
for _ in range(2000):
    u.sendto(bytes(rng.randrange(256) for _ in range(rng.randrange(60))), (sys.argv[1], 53))
s.sendall(framed(query(4, "db")))
print(*read_answer(s))
PY
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "1 10.89.0.2 2 10.89.0.3" ]
  [ "${lines[1]}" = "3 10.89.0.2" ]
  [ "${lines[2]}" = "4 10.89.0.3" ]
  [ "$(ask web)" = 10.89.0.2 ]
}

@test "TCP: a slowloris client is cut off and cannot take every connection; others are answered" {
  start_dns
  local slow="python3 $BATS_TEST_DIRNAME/../lib/slow_clients.py"
  # 12 connections from the client, each with one byte of a query: 8 are held (its share of
  # the 64), the rest closed at once.
  ip netns exec "$NSB" $slow dns-slowloris "$ADDR" 53 12 >"$WORK/slow.out" 2>&1 &
  PIDS+=($!)
  local slow_pid=$!
  for _ in $(seq 100); do grep -q held "$WORK/slow.out" && break; sleep 0.1; done
  grep -qx 'held 8' "$WORK/slow.out"
  # Another address is answered over TCP meanwhile.
  run ip netns exec "$NSA" $slow dns-query "$ADDR" 53 web
  [ "$output" = "answer 0 1" ]
  # The stalled queries are dropped (kTcpQueryMs), then the client is answered over TCP again.
  wait "$slow_pid"
  grep -qx 'closed 8' "$WORK/slow.out"
  run ip netns exec "$NSB" $slow dns-query "$ADDR" 53 web
  [ "$output" = "answer 0 1" ]
}

@test "it exits when the names file is removed" {
  start_dns
  [ "$(ask web)" = 10.89.0.2 ]
  rm "$WORK/names"
  gone "$DNS_PID"
  grep -F "exiting: the names file was removed" "$WORK/dns.log"
}

@test "it exits after --idle-exit seconds without records, and not while it has some" {
  start_dns --idle-exit 1
  sleep 1.5
  kill -0 "$DNS_PID"  # it has a record
  names_file "# nothing left"
  gone "$DNS_PID" 30
  grep -F "exiting: no records left for the idle time" "$WORK/dns.log"
}

@test "a second instance for the same lock exits at once with status 0" {
  start_dns
  run ip netns exec "$NSA" "$DNS" --listen "$ADDR" --names "$WORK/names" --lock "$WORK/dns.lock"
  [ "$status" -eq 0 ]
  [[ $output == *"already running for '$WORK/dns.lock'"* ]]
  kill -0 "$DNS_PID"
  [ "$(ask web)" = 10.89.0.2 ]
}

@test "SIGTERM ends it cleanly with status 0" {
  # In the foreground: `ip netns exec` execs berth-dns, so $! is its pid and `wait` its status.
  ip netns exec "$NSA" "$DNS" --listen "$ADDR" --names "$WORK/names" --lock "$WORK/dns.lock" \
    --resolv-conf "$WORK/resolv.conf" 2>"$WORK/fg.log" 3>&- &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 50); do [ -s "$WORK/dns.lock" ] && break; sleep 0.1; done
  [ "$(ask web)" = 10.89.0.2 ]
  kill -TERM "$pid"
  wait "$pid"
  grep -F "exiting: terminated by a signal" "$WORK/fg.log"
  [ -e "$WORK/names" ]
}

@test "it answers on an IPv6 address as well" {
  ip -n "$NSA" addr add "fd53::1/64" dev "bdv$$a" nodad
  ip -n "$NSB" addr add "fd53::2/64" dev "bdv$$b" nodad
  responder fd53::1 "$WORK/names" "$WORK/dns.lock" "$WORK/dns.log" --resolv-conf ''
  [ "$(ip netns exec "$NSB" dig +short +tries=1 +time=3 @fd53::1 web)" = 10.89.0.2 ]
  [ "$(ip netns exec "$NSB" dig +short +tcp +tries=1 +time=3 @fd53::1 web)" = 10.89.0.2 ]
  grep -F "answering on fd53::1 port 53" "$WORK/dns.log"
}

@test "errors name the problem: missing names file, address not on this host, bad options" {
  run ip netns exec "$NSA" "$DNS" --listen "$ADDR" --names "$WORK/nope" --lock "$WORK/dns.lock"
  [ "$status" -eq 1 ]
  [[ $output == *"names file '$WORK/nope' does not exist"* ]]
  run ip netns exec "$NSA" "$DNS" --listen 10.254.0.1 --names "$WORK/names" --lock "$WORK/l2.lock"
  [ "$status" -eq 1 ]
  [[ $output == *"bind UDP on 10.254.0.1:53: cannot assign requested address"* ]]
  [[ $output == *"hint: the address must be on an interface"* ]]
  run "$DNS" --names "$WORK/names" --lock "$WORK/l3.lock"
  [ "$status" -eq 2 ]
  [[ $output == *"--listen is required"* ]]
  run "$DNS" --listen "$ADDR" --port 99999 --names "$WORK/names" --lock "$WORK/l3.lock"
  [ "$status" -eq 2 ]
  [[ $output == *"--port '99999' is not a number from 0 to 65535"* ]]
}
