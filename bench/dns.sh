#!/bin/bash
# berth-dns against dnsmasq on the same path: answers per second (dnsperf, UDP, A queries for
# the network's names) from a client network namespace through a veth pair to a server
# namespace where both listen on one address (berth-dns on port 53, dnsmasq on 5300, fed the
# same names through --addn-hosts; --no-resolv and --no-hosts, so it never reads host config).
# The namespaces, veth and 10.253.251.0/30 are this script's own; removed on every exit path.
# A second table relays names berth-dns does not know to an upstream (a second dnsmasq on
# 127.0.0.1:53 in the server namespace) and compares with asking that dnsmasq directly.
# Goal: berth-dns >= 20,000 answers/s. Rounds alternate berth and dnsmasq; the best round of
# each counts (the machine is shared). Also prints each responder's resident memory.
#
# Environment: BERTH_DNS  the binary (default build/src/berth-dns)
#              NAMES      names in the file (default 200; each has 1-3 addresses)
#              SECONDS_PER_RUN  dnsperf -l (default 10)   ROUNDS (default 2)
#              CLIENTS    dnsperf -c (default 4)          OUTSTANDING  dnsperf -q (default 200)
# Run as root; installs nothing (scripts/setup installs dnsperf and dnsmasq-base).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
SRC=$PWD

BERTH_DNS=${BERTH_DNS:-$SRC/build/src/berth-dns}
NAMES=${NAMES:-200}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
ROUNDS=${ROUNDS:-2}
CLIENTS=${CLIENTS:-4}
OUTSTANDING=${OUTSTANDING:-200}

[[ $(id -u) -eq 0 ]] || die "run as root"
[[ -x $BERTH_DNS ]] || die "no berth-dns at $BERTH_DNS (ninja berth-dns, or set BERTH_DNS)"
for tool in dnsperf dnsmasq ip; do
  command -v "$tool" >/dev/null || die "$tool missing: run scripts/setup"
done

NSS=bdnsb$$s NSC=bdnsb$$c
SERVER=10.253.251.1 CLIENT=10.253.251.2
WORK=$(mktemp -d /tmp/berth-bench-dns.XXXXXX)
DNS_PID= DNSMASQ_PID= UPSTREAM_PID=
cleanup() {
  [[ -n $DNS_PID ]] && kill "$DNS_PID" 2>/dev/null
  [[ -n $DNSMASQ_PID ]] && kill "$DNSMASQ_PID" 2>/dev/null
  [[ -n $UPSTREAM_PID ]] && kill "$UPSTREAM_PID" 2>/dev/null
  ip netns del "$NSS" 2>/dev/null
  ip netns del "$NSC" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$NSS"
ip netns add "$NSC"
ip link add "bdb$$s" netns "$NSS" type veth peer name "bdb$$c" netns "$NSC"
ip -n "$NSS" addr add "$SERVER/30" dev "bdb$$s"
ip -n "$NSC" addr add "$CLIENT/30" dev "bdb$$c"
for ns in "$NSS" "$NSC"; do ip -n "$ns" link set lo up; done
ip -n "$NSS" link set "bdb$$s" up
ip -n "$NSC" link set "bdb$$c" up

# The same records for both: berth's names file and a hosts file for dnsmasq.
for ((i = 0; i < NAMES; i++)); do
  for ((j = 0; j <= i % 3; j++)); do
    echo "svc$i 10.88.$((i / 250)).$((i % 250 + 1 + j))"
  done
done >"$WORK/names"
awk '{print $2, $1}' "$WORK/names" >"$WORK/hosts"
for ((i = 0; i < 10000; i++)); do echo "svc$((RANDOM % NAMES)) A"; done >"$WORK/queries"
# Names only the upstream knows, for the relay table.
sed 's/svc/ext/' "$WORK/hosts" >"$WORK/upstream-hosts"
sed 's/svc/ext/' "$WORK/queries" >"$WORK/forward-queries"
echo "nameserver 127.0.0.1" >"$WORK/resolv.conf"

byte=
read -r -n1 byte < <(ip netns exec "$NSS" "$BERTH_DNS" --listen "$SERVER" --names "$WORK/names" \
  --lock "$WORK/dns.lock" --resolv-conf "$WORK/resolv.conf" --idle-exit 0 --detach \
  --log "$WORK/dns.log" --ready-fd 3 3>&1 >/dev/null)
[[ $byte == 1 ]] || die "berth-dns did not start: $(cat "$WORK/dns.log")"
DNS_PID=$(cat "$WORK/dns.lock")

ip netns exec "$NSS" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
  --addn-hosts="$WORK/hosts" --listen-address="$SERVER" --bind-interfaces --port=5300 \
  --local-ttl=0 --pid-file= --user=root --log-facility=- 2>"$WORK/dnsmasq.log" &
DNSMASQ_PID=$!
ip netns exec "$NSS" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
  --addn-hosts="$WORK/upstream-hosts" --listen-address=127.0.0.1 --bind-interfaces --port=53 \
  --local-ttl=0 --pid-file= --user=root --log-facility=- 2>"$WORK/upstream.log" &
UPSTREAM_PID=$!
for _ in $(seq 50); do
  ip netns exec "$NSC" dig +short +tries=1 +time=1 -p 5300 @"$SERVER" svc0 >/dev/null 2>&1 && break
  sleep 0.1
done

# Both must give the same answer before their speed counts.
a=$(ip netns exec "$NSC" dig +short @"$SERVER" svc5 | sort | paste -sd,)
b=$(ip netns exec "$NSC" dig +short -p 5300 @"$SERVER" svc5 | sort | paste -sd,)
[[ -n $a && $a == "$b" ]] || die "berth-dns answered '$a', dnsmasq '$b' for svc5"

# qps PORT [QUERIES [NETNS SERVER]]: answers per second of one dnsperf run (NOERROR only).
qps() {
  ip netns exec "${3:-$NSC}" dnsperf -s "${4:-$SERVER}" -p "$1" -d "${2:-$WORK/queries}" \
    -l "$SECONDS_PER_RUN" \
    -c "$CLIENTS" -q "$OUTSTANDING" >"$WORK/perf.out" 2>&1 || true
  local completed noerror
  completed=$(sed -n 's/.*Queries per second: *\([0-9.]*\).*/\1/p' "$WORK/perf.out")
  noerror=$(sed -n 's/.*NOERROR \([0-9]*\) (\([0-9.]*\)%).*/\2/p' "$WORK/perf.out")
  [[ -n $completed && -n $noerror ]] || die "dnsperf failed: $(cat "$WORK/perf.out")"
  awk -v q="$completed" -v p="$noerror" 'BEGIN {printf "%d", q * p / 100}'
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

best_berth=0 best_dnsmasq=0
for ((r = 1; r <= ROUNDS; r++)); do
  x=$(qps 53)
  y=$(qps 5300)
  printf 'round %d: berth-dns %s answers/s, dnsmasq %s answers/s\n' "$r" "$x" "$y"
  ((x > best_berth)) && best_berth=$x
  ((y > best_dnsmasq)) && best_dnsmasq=$y
done

echo
printf '%-10s %14s %12s\n' RESPONDER "ANSWERS/S" "RSS (KiB)"
printf '%-10s %14s %12s\n' berth-dns "$best_berth" "$(rss_kib "$DNS_PID")"
printf '%-10s %14s %12s\n' dnsmasq "$best_dnsmasq" "$(rss_kib "$DNSMASQ_PID")"
awk -v b="$best_berth" -v d="$best_dnsmasq" \
  'BEGIN {printf "ratio berth-dns/dnsmasq: %.2f\n", d ? b / d : 0}'

# Relayed: berth-dns -> dnsmasq on 127.0.0.1:53, against that dnsmasq asked directly (from the
# server namespace, the path berth-dns itself uses).
x=$(qps 53 "$WORK/forward-queries")
y=$(qps 53 "$WORK/forward-queries" "$NSS" 127.0.0.1)
printf '\nrelayed through berth-dns: %s answers/s; the upstream asked directly: %s answers/s\n' "$x" "$y"
awk -v b="$x" -v d="$y" 'BEGIN {printf "ratio relayed/direct: %.2f\n", d ? b / d : 0}'
echo
if ((best_berth >= 20000)); then
  echo "goal >= 20,000 answers/s: met ($best_berth)"
else
  echo "goal >= 20,000 answers/s: NOT met ($best_berth)"
fi
