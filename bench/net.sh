#!/bin/bash
# berth's bridge networking against the plain kernel path and against podman, side by side in one
# run (docs/networking.md, "Speed"):
#
#   1. container -> container throughput: iperf3 from one container to another by address on one
#      berth network, against two plain network namespaces joined by veths through a plain Linux
#      bridge this script makes. Goal: berth ≥ 0.95× plain.
#   2. host -> published port throughput: iperf3 from the host to a container published with -p,
#      at 127.0.0.1:PORT and at the network's gateway address:PORT (both DNAT), against the host
#      to a plain namespace through one veth, no NAT. Goal: berth ≥ 0.95× plain.
#   3. `run --rm IMG /bin/true` on a bridge network: berth against `podman run --rm` on podman's
#      default bridge (netavark), hyperfine medians. Goal: berth ≤ 0.08× podman. Also shown:
#      berth with the network's DNS responder already running (a neighbour on the network), and
#      berth with --network none (what the network itself costs).
#   4. DNS answers per second from inside a container: dnsperf in a container's network
#      namespace against berth-dns on the network's gateway, asking for the containers' names
#      (as bench/dns.sh, through berth's real wiring). Goal: ≥ 20,000 answers/s.
#
# iperf3 and dnsperf are host binaries run in the containers' network namespaces with nsenter
# (berth bind-mounts each at $BERTH_RUN_ROOT/netns/<id>): the packets take the container's path.
# Rounds alternate berth and plain, and each round's berth/plain ratio pairs runs made seconds
# apart: the goal is judged on the median of those ratios (the machine is shared, and its load
# drifts more between rounds than within one). The ratio of the medians is shown beside it.
#
# Network safety: parts 1, 2 and 4 use berth's own bridge and nftables table under a private
# root, plus this script's namespaces, bridge and veths (names with the pid, 10.253.249.0/30 and
# 10.253.250.0/24). Part 3 runs berth and podman inside a network namespace of this script's
# (nsenter --net), so netavark's bridge and iptables rules never reach the host's. Everything
# lives under /tmp/berth-bench-net-PID and is removed on every exit path.
#
# Usage: bench/net.sh [--quick]     (as root; --quick: shorter runs, one round)
# Environment: BERTH       berth's CLI (default build/src/berth; the runtime, monitor and
#                          berth-dns are taken from beside it)
#              PODMAN      the peer's CLI (default podman)
#              SECONDS_PER_RUN  iperf3 -t and dnsperf -l (default 10, --quick 3)
#              ROUNDS      iperf3 rounds per path (default 3, --quick 1)
#              WARMUP RUNS hyperfine's --warmup and --runs (default 3 and 30; --quick 1 and 10)
#              NAMES       containers whose names dnsperf asks for (default 20, --quick 5)
#              OUT         the hyperfine JSON (default build/bench/net.json)
# shellcheck disable=SC2086 # container ids are split on purpose
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD

source bench/lib.sh
bench_args "$@"
if ((QUICK)); then
  SECONDS_PER_RUN=${SECONDS_PER_RUN:-3} ROUNDS=${ROUNDS:-1} WARMUP=${WARMUP:-1} RUNS=${RUNS:-10} NAMES=${NAMES:-5}
else
  SECONDS_PER_RUN=${SECONDS_PER_RUN:-10} ROUNDS=${ROUNDS:-3} WARMUP=${WARMUP:-3} RUNS=${RUNS:-30} NAMES=${NAMES:-20}
fi
BERTH=${BERTH:-$SRC/build/src/berth}
PODMAN=${PODMAN:-podman}
OUT=${OUT:-$SRC/build/bench/net.json}

[[ $(id -u) -eq 0 ]] || die "run as root"
for tool in hyperfine jq iperf3 dnsperf nsenter ip "$PODMAN"; do
  command -v "$tool" >/dev/null || die "'$tool' missing: run scripts/setup"
done
[[ -x $BERTH ]] || die "no berth at '$BERTH' (build it, or set BERTH=...)"
BERTH=$(cd "$(dirname "$BERTH")" && pwd -P)/$(basename "$BERTH")
for b in berth-runtime berth-monitor berth-dns; do
  [[ -x $(dirname "$BERTH")/$b ]] || die "berth needs '$(dirname "$BERTH")/$b' beside it: build $b"
done
for s in 10.253.249. 10.253.250.; do
  ! ip -o -4 addr | grep -q " inet $s" || die "$s* is already used on this host; this script needs it"
done

WORK=/tmp/berth-bench-net-$$
BROOT=$WORK/berth/root BRUN=$WORK/berth/run      # parts 1, 2, 4: the host's network namespace
PROOT=$WORK/berth3/root PRUN=$WORK/berth3/run    # part 3: inside NS_P, with podman
PW=$WORK/podman
B=("$BERTH" --root "$BROOT" --run-root "$BRUN")
B3=("$BERTH" --root "$PROOT" --run-root "$PRUN")
P=("$PODMAN" --root "$PW/root" --runroot "$PW/runroot" --tmpdir "$PW/tmp" --storage-driver overlay
  --events-backend none --network-config-dir "$PW/net" --runtime-flag "root=$PW/runc")
IMG=netbench:latest PIMG=localhost/netbench:latest
# The plain path: namespaces A and B on bridge BR; namespace H on one veth from the host.
NS_A=bnet$$a NS_B=bnet$$b NS_H=bnet$$h NS_P=bnet$$p
BR=bnbr$$ VA=bnva$$ VB=bnvb$$ VH=bnvh$$
PLAIN_A=10.253.250.2 PLAIN_B=10.253.250.3 HOST_H=10.253.249.1 PLAIN_H=10.253.249.2
HOST_PORT=$((20000 + $$ % 12000))  # below the ephemeral range: no client's TIME-WAIT holds it
PIDFILES=()

cleanup() {
  local rc=$? ids=() f d
  set +e
  trap - EXIT INT TERM
  for f in "${PIDFILES[@]}"; do [[ -s $f ]] && kill "$(<"$f")" 2>/dev/null; done
  # Each berth root in the network namespace it wired its containers in.
  for x in "$BROOT $BRUN /proc/self/ns/net" "$PROOT $PRUN /run/netns/$NS_P"; do
    read -r root run ns <<<"$x"
    [[ -d $root && -e $ns ]] || continue
    mapfile -t ids < <("$BERTH" --root "$root" --run-root "$run" ps -aq 2>/dev/null)
    ((${#ids[@]})) && nsenter --net="$ns" "$BERTH" --root "$root" --run-root "$run" rm -f "${ids[@]}" >/dev/null 2>&1
    nsenter --net="$ns" "$BERTH" --root "$root" --run-root "$run" system reset --force >/dev/null 2>&1
  done
  if [[ -d $PW/root ]]; then
    nsenter --net="/run/netns/$NS_P" "${P[@]}" rm -f -t 0 -a >/dev/null 2>&1
    nsenter --net="/run/netns/$NS_P" "${P[@]}" system reset -f >/dev/null 2>&1
  fi
  for d in "$BRUN/runtime" "$PRUN/runtime"; do
    for f in "$d"/*/; do
      [[ -d $f ]] && "$(dirname "$BERTH")/berth-runtime" --root "$d" delete --force "$(basename "$f")" >/dev/null 2>&1
    done
  done
  for f in $NS_A $NS_B $NS_H $NS_P; do ip netns del "$f" 2>/dev/null; done
  for f in $BR $VA $VB $VH; do ip link del "$f" 2>/dev/null; done
  awk -v w="$WORK/" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null; done
  rm -rf --one-file-system "$WORK"
  [[ -e $WORK ]] && echo "cleanup: could not delete $WORK" >&2
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$WORK/berth" "$WORK/berth3" "$PW" "$(dirname "$OUT")"
"$SRC/tests/fixtures/make-busybox-bundle.sh" "$WORK/fixture" >/dev/null
TAR=$WORK/fixture/busybox-rootfs.tar

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
gbit() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1e9 }'; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# ---- the plain path --------------------------------------------------------------------------
for ns in $NS_A $NS_B $NS_H $NS_P; do
  ip netns add "$ns"
  ip -n "$ns" link set lo up
done
ip link add "$BR" type bridge
ip link set "$BR" up
for x in "A $NS_A $VA $PLAIN_A" "B $NS_B $VB $PLAIN_B"; do
  read -r _ ns veth addr <<<"$x"
  ip link add "$veth" type veth peer name eth0 netns "$ns"
  ip link set "$veth" master "$BR" up
  ip -n "$ns" addr add "$addr/24" dev eth0
  ip -n "$ns" link set eth0 up
done
ip link add "$VH" type veth peer name eth0 netns "$NS_H"
ip addr add "$HOST_H/30" dev "$VH"
ip link set "$VH" up
ip -n "$NS_H" addr add "$PLAIN_H/30" dev eth0
ip -n "$NS_H" link set eth0 up

# ---- berth: a network with a server and a client container -----------------------------------
"${B[@]}" image import "$TAR" "$IMG" >/dev/null
"${B[@]}" network create benchnet >/dev/null
SRV=$("${B[@]}" run -d --name srv --network benchnet -p "$HOST_PORT:5201" "$IMG" sleep 100000 </dev/null)
CLI=$("${B[@]}" run -d --name cli --network benchnet "$IMG" sleep 100000 </dev/null)
SRV_IP=$("${B[@]}" inspect -f '{{.NetworkSettings.IPAddress}}' srv)
GW=$("${B[@]}" inspect -f '{{.NetworkSettings.Gateway}}' srv)
in_srv() { nsenter --net="$BRUN/netns/$SRV" "$@"; }
in_cli() { nsenter --net="$BRUN/netns/$CLI" "$@"; }

# iperf3 servers (daemons, pid files of this run) on 5201 in srv, A and H.
start_iperf() { # NAME COMMAND-PREFIX...
  local name=$1
  shift
  PIDFILES+=("$WORK/iperf-$name.pid")
  "$@" iperf3 -s -D -p 5201 -I "$WORK/iperf-$name.pid" >/dev/null
}
start_iperf srv in_srv
start_iperf a ip netns exec "$NS_A"
start_iperf h ip netns exec "$NS_H"
sleep 0.5

# throughput COMMAND-PREFIX... -- ADDRESS [PORT]: received bits/s of one iperf3 run.
throughput() {
  local prefix=() out
  while [[ $1 != -- ]]; do prefix+=("$1"); shift; done
  shift
  out=$("${prefix[@]}" iperf3 -c "$1" -p "${2:-5201}" -t "$SECONDS_PER_RUN" -J 2>&1) ||
    die "iperf3 to $1:${2:-5201} failed: $(jq -r '.error // empty' <<<"$out" 2>/dev/null || head -c 300 <<<"$out")"
  jq -r '.end.sum_received.bits_per_second' <<<"$out"
}

echo "berth  $("$BERTH" version 2>/dev/null | head -1)  ($BERTH)"
echo "podman $("$PODMAN" --version | awk '{print $3}'), netavark in a network namespace of this run, private store under $PW"
echo "machine: $(nproc) cores, $(uname -r), load average $(loadavg) (other work on the machine slows every path)"
echo "iperf3 -t $SECONDS_PER_RUN, $ROUNDS round(s) per path; hyperfine --warmup $WARMUP --runs $RUNS"

# ---- 1. container -> container --------------------------------------------------------------
echo
echo "==> 1. throughput container -> container (iperf3 by address on one network)"
: >"$WORK/t1b" && : >"$WORK/t1p" && : >"$WORK/r1"
for ((r = 1; r <= ROUNDS; r++)); do
  x=$(throughput in_cli -- "$SRV_IP")
  y=$(throughput ip netns exec "$NS_B" -- "$PLAIN_A")
  echo "$x" >>"$WORK/t1b"
  echo "$y" >>"$WORK/t1p"
  { ratio "$x" "$y"; echo; } >>"$WORK/r1"
  printf '  round %d: berth %s Gbit/s, plain bridge %s Gbit/s (%s×)\n' "$r" "$(gbit "$x")" "$(gbit "$y")" \
    "$(ratio "$x" "$y")"
done
T1B=$(median <"$WORK/t1b") T1P=$(median <"$WORK/t1p")
R1=$(median <"$WORK/r1" | xargs printf '%.3f')
printf '  medians: berth %s Gbit/s, plain %s Gbit/s (%s×)\n' "$(gbit "$T1B")" "$(gbit "$T1P")" "$(ratio "$T1B" "$T1P")"
printf '  berth/plain, median of the rounds: %s×  (goal ≥ 0.95×: %s)\n' "$R1" "$(at_least "$R1" 0.95)"

# ---- 2. host -> published port --------------------------------------------------------------
echo
echo "==> 2. throughput host -> published port (-p $HOST_PORT:5201) against host -> plain veth"
: >"$WORK/t2l" && : >"$WORK/t2g" && : >"$WORK/t2p" && : >"$WORK/r2l" && : >"$WORK/r2g"
for ((r = 1; r <= ROUNDS; r++)); do
  x=$(throughput -- 127.0.0.1 "$HOST_PORT")
  y=$(throughput -- "$PLAIN_H")
  g=$(throughput -- "$GW" "$HOST_PORT")
  echo "$x" >>"$WORK/t2l"
  echo "$g" >>"$WORK/t2g"
  echo "$y" >>"$WORK/t2p"
  { ratio "$x" "$y"; echo; } >>"$WORK/r2l"
  { ratio "$g" "$y"; echo; } >>"$WORK/r2g"
  printf '  round %d: berth 127.0.0.1 %s Gbit/s, berth %s %s Gbit/s, plain veth %s Gbit/s (%s×, %s×)\n' "$r" \
    "$(gbit "$x")" "$GW" "$(gbit "$g")" "$(gbit "$y")" "$(ratio "$x" "$y")" "$(ratio "$g" "$y")"
done
T2L=$(median <"$WORK/t2l") T2G=$(median <"$WORK/t2g") T2P=$(median <"$WORK/t2p")
R2L=$(median <"$WORK/r2l" | xargs printf '%.3f') R2G=$(median <"$WORK/r2g" | xargs printf '%.3f')
printf '  medians: 127.0.0.1 %s, gateway %s, plain %s Gbit/s (%s×, %s×)\n' "$(gbit "$T2L")" "$(gbit "$T2G")" \
  "$(gbit "$T2P")" "$(ratio "$T2L" "$T2P")" "$(ratio "$T2G" "$T2P")"
printf '  berth/plain, median of the rounds: 127.0.0.1 %s×, gateway %s×  (goal ≥ 0.95×: %s, %s)\n' "$R2L" "$R2G" \
  "$(at_least "$R2L" 0.95)" "$(at_least "$R2G" 0.95)"

# ---- 4 (before 3: it uses this network). DNS from inside a container ----------------------------
echo
echo "==> 4. DNS answers/s from inside a container (dnsperf in cli's netns -> berth-dns on $GW)"
for ((i = 0; i < NAMES; i++)); do
  "${B[@]}" run -d --name "svc$i" --network benchnet "$IMG" sleep 100000 </dev/null >/dev/null
done
for ((i = 0; i < 10000; i++)); do echo "svc$((RANDOM % NAMES)) A"; done >"$WORK/queries"
want=$("${B[@]}" inspect -f '{{.NetworkSettings.IPAddress}}' svc0)
got=$(in_cli dig +short +tries=1 +time=2 @"$GW" svc0 2>/dev/null) || true
[[ $got == "$want" ]] || die "berth-dns on $GW answered '$got' for svc0, not $want"
: >"$WORK/t4"
for ((r = 1; r <= ROUNDS; r++)); do
  in_cli dnsperf -s "$GW" -d "$WORK/queries" -l "$SECONDS_PER_RUN" -c 4 -q 200 >"$WORK/perf.out" 2>&1 || true
  completed=$(sed -n 's/.*Queries per second: *\([0-9.]*\).*/\1/p' "$WORK/perf.out")
  noerror=$(sed -n 's/.*NOERROR \([0-9]*\) (\([0-9.]*\)%).*/\2/p' "$WORK/perf.out")
  [[ -n $completed && -n $noerror ]] || die "dnsperf failed: $(cat "$WORK/perf.out")"
  q=$(awk -v q="$completed" -v p="$noerror" 'BEGIN {printf "%d", q * p / 100}')
  echo "$q" >>"$WORK/t4"
  printf '  round %d: %s answers/s (NOERROR %s%%)\n' "$r" "$q" "$noerror"
done
T4=$(median <"$WORK/t4")
printf '  median: %s answers/s  (goal ≥ 20,000/s: %s)\n' "$T4" "$(at_least "$T4" 20000)"
"${B[@]}" rm -f $("${B[@]}" ps -aq) >/dev/null

# ---- 3. run --rm on a bridge, berth and podman in NS_P ---------------------------------------
echo
echo "==> 3. run --rm IMG /bin/true on a bridge network (berth and podman in one network namespace)"
in_p() { nsenter --net="/run/netns/$NS_P" "$@"; }
in_p "${B3[@]}" image import "$TAR" "$IMG" >/dev/null
in_p "${B3[@]}" network create benchnet3 >/dev/null
out=$(in_p "${B3[@]}" run --rm --network benchnet3 "$IMG" ip -4 -o addr show eth0 2>&1 </dev/null) ||
  die "berth run on a bridge failed: $out"
out=$(in_p "${P[@]}" import "$TAR" "$PIMG" 2>&1) || die "podman import failed: $out"
out=$(in_p "${P[@]}" run --rm "$PIMG" ip -4 -o addr show eth0 2>&1 </dev/null) ||
  die "podman run on its default bridge failed: $(head -c 600 <<<"$out")"
[[ $out == *inet* ]] || die "podman's container has no address on its bridge: $out"
echo "  podman's container: $(awk '{print $4}' <<<"$out") on its default network"
# A second berth network with a neighbour: its berth-dns stays up between the runs.
in_p "${B3[@]}" network create benchnet3dns >/dev/null
in_p "${B3[@]}" run -d --name neighbour --network benchnet3dns "$IMG" sleep 100000 </dev/null >/dev/null
sync  # the imports' dirty pages, written back during the first timed runs, would slow those
in_p hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$OUT" \
  -n berth "${B3[*]} run --rm --network benchnet3 $IMG /bin/true" \
  -n berth-dns-up "${B3[*]} run --rm --network benchnet3dns $IMG /bin/true" \
  -n berth-none "${B3[*]} run --rm --network none $IMG /bin/true" \
  -n podman "${P[*]} run --rm $PIMG /bin/true"
hmedian() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .median * 1000' "$OUT"; }
M3B=$(hmedian berth) M3D=$(hmedian berth-dns-up) M3N=$(hmedian berth-none) M3P=$(hmedian podman)
R3=$(ratio "$M3B" "$M3P") R3D=$(ratio "$M3D" "$M3P")
echo
echo "  medians ($RUNS runs):"
printf '    %-13s %8.1f ms\n' "berth bridge" "$M3B" "berth, DNS up" "$M3D" "berth none" "$M3N" "podman bridge" "$M3P"
printf '  berth/podman = %s× (%s× with DNS up); the bridge costs berth %.1f ms over --network none\n' \
  "$R3" "$R3D" "$(awk -v a="$M3B" -v b="$M3N" 'BEGIN { print a - b }')"
echo "  goal: berth ≤ 0.08× podman: $(at_most "$R3" 0.08)"

echo
echo "summary:"
echo "  1. container -> container, berth/plain:        ${R1}×  (goal ≥ 0.95×: $(at_least "$R1" 0.95))"
echo "  2. host -> published port, berth/plain:        127.0.0.1 ${R2L}×, gateway ${R2G}×  (goal ≥ 0.95×: $(at_least "$R2L" 0.95), $(at_least "$R2G" 0.95))"
echo "  3. run --rm on a bridge, berth/podman:         ${R3}×  (goal ≤ 0.08×: $(at_most "$R3" 0.08))"
echo "  4. DNS answers/s from a container:             ${T4}  (goal ≥ 20,000: $(at_least "$T4" 20000))"
echo "load average at the end: $(loadavg); hyperfine's JSON: $OUT"
