#!/bin/bash
# `berth compose up -d` and `down` of a 10-service project against podman-compose on the same
# file, side by side in one run (docs/compose.md, "Speed"). Each round brings the project up and
# takes it down with each tool, alternating; the figures are medians over the rounds and the
# ratio is berth's median over podman-compose's. Goal: ≤ 0.2× for both up and down.
#
# The services are busybox shells that exit on SIGTERM (so neither tool waits out a stop
# timeout), each on the project's network with its DNS names, no health checks, no ports.
#
# Safety: both tools run inside a network namespace of this script's (nsenter --net), so
# netavark's bridge and firewall rules and berth's bridges never reach the host's; podman uses a
# private store under the work directory (a wrapper passes --root/--runroot), berth a private
# root. Everything lives under /tmp/berth-bench-compose-PID and is removed on every exit path.
#
# Usage: bench/compose.sh [--quick]     (as root; --quick: one round)
# Environment: BERTH           berth's CLI (default build/src/berth)
#              PODMAN_COMPOSE  the peer (default podman-compose)
#              ROUNDS          rounds (default 3, --quick 1)
#              SERVICES        services in the project (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD

source bench/lib.sh
bench_args "$@"
ROUNDS=${ROUNDS:-$((QUICK ? 1 : 3))}
SERVICES=${SERVICES:-10}
BERTH=${BERTH:-$SRC/build/src/berth}
PODMAN_COMPOSE=${PODMAN_COMPOSE:-podman-compose}

[[ $(id -u) -eq 0 ]] || die "run as root"
for tool in podman "$PODMAN_COMPOSE" nsenter ip python3; do
  command -v "$tool" >/dev/null || die "'$tool' missing: run scripts/setup"
done
[[ -x $BERTH ]] || die "no berth at '$BERTH' (build it, or set BERTH=...)"
BERTH=$(cd "$(dirname "$BERTH")" && pwd -P)/$(basename "$BERTH")

WORK=/tmp/berth-bench-compose-$$
NS=bcmp$$
BROOT=$WORK/berth/root BRUN=$WORK/berth/run PW=$WORK/podman
B=("$BERTH" --root "$BROOT" --run-root "$BRUN")
PROJECT=bench$$

cleanup() {
  local rc=$? f d ids=()
  set +e
  trap - EXIT INT TERM
  if [[ -d $BROOT && -e /run/netns/$NS ]]; then
    mapfile -t ids < <("${B[@]}" ps -aq 2>/dev/null)
    ((${#ids[@]})) && nsenter --net="/run/netns/$NS" "${B[@]}" rm -f "${ids[@]}" >/dev/null 2>&1
    nsenter --net="/run/netns/$NS" "${B[@]}" system reset --force >/dev/null 2>&1
  fi
  if [[ -x $WORK/bin/podman && -e /run/netns/$NS ]]; then
    nsenter --net="/run/netns/$NS" "$WORK/bin/podman" rm -f -t 0 -a >/dev/null 2>&1
    nsenter --net="/run/netns/$NS" "$WORK/bin/podman" system reset -f >/dev/null 2>&1
  fi
  for f in "$BRUN/runtime"/*/; do
    [[ -d $f ]] && "$(dirname "$BERTH")/berth-runtime" --root "$BRUN/runtime" delete --force "$(basename "$f")" >/dev/null 2>&1
  done
  ip netns del "$NS" 2>/dev/null
  awk -v w="$WORK/" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null; done
  rm -rf --one-file-system "$WORK"
  [[ -e $WORK ]] && echo "cleanup: could not delete $WORK" >&2
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$WORK/berth" "$PW" "$WORK/bin" "$WORK/project"
ip netns add "$NS"
ip -n "$NS" link set lo up
in_ns() { nsenter --net="/run/netns/$NS" "$@"; }

"$SRC/tests/fixtures/make-busybox-bundle.sh" "$WORK/fixture" >/dev/null
TAR=$WORK/fixture/busybox-rootfs.tar
cat >"$WORK/bin/podman" <<EOF
#!/bin/sh
exec podman --root "$PW/root" --runroot "$PW/runroot" --tmpdir "$PW/tmp" --storage-driver overlay \\
  --events-backend none --network-config-dir "$PW/net" --runtime-flag "root=$PW/runc" "\$@"
EOF
chmod +x "$WORK/bin/podman"

"${B[@]}" image import "$TAR" localhost/composebench:latest >/dev/null
"$WORK/bin/podman" import -q "$TAR" localhost/composebench:latest >/dev/null

{
  echo "services:"
  for i in $(seq 1 "$SERVICES"); do
    cat <<EOF
  svc$i:
    image: localhost/composebench:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"]
EOF
    ((i > 1)) && echo "    depends_on: [svc$((i - 1))]"
  done
} >"$WORK/project/compose.yaml"

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
spread() { sort -n | awk '{ v[NR] = $1 } END { printf "%.3f-%.3f", v[1], v[NR] }'; }  # min-max

bt() { local f=$1; shift; timed "$f" in_ns "${B[@]}" compose -f "$WORK/project/compose.yaml" -p "$PROJECT" "$@"; }
pt() {
  local f=$1; shift
  timed "$f" in_ns "$PODMAN_COMPOSE" --podman-path "$WORK/bin/podman" -f "$WORK/project/compose.yaml" -p "$PROJECT" "$@"
}
timed() {  # timed FILE COMMAND...: appends the seconds COMMAND took to FILE; fails with it
  local file=$1 start end
  shift
  start=$(now)
  "$@" >/dev/null 2>"$WORK/last.err" || { cat "$WORK/last.err" >&2; die "failed: $*"; }
  end=$(now)
  elapsed "$start" "$end" >>"$file"
}

echo "berth $("$BERTH" version | awk "{print \$3}"), podman-compose $("$PODMAN_COMPOSE" version 2>/dev/null | awk "/podman-compose(r)? version/ {print \$NF; exit}") with podman $(podman --version | awk "{print \$3}")"
echo "$SERVICES services in a chain of depends_on, $ROUNDS round(s), load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
  bt "$WORK/berth-up" up -d
  bt "$WORK/berth-down" down -t 2
  pt "$WORK/podman-up" up -d
  pt "$WORK/podman-down" down -t 2
  echo "round $r: berth up $(tail -1 "$WORK/berth-up") s, down $(tail -1 "$WORK/berth-down") s;" \
    "podman-compose up $(tail -1 "$WORK/podman-up") s, down $(tail -1 "$WORK/podman-down") s"
done
status=0
for what in up down; do
  b=$(median <"$WORK/berth-$what") p=$(median <"$WORK/podman-$what")
  r=$(ratio "$b" "$p")
  verdict=$(at_most "$r" 0.2)
  [[ $verdict == met ]] || status=1
  printf '%-5s berth %6.3f s (%s)   podman-compose %6.3f s (%s)   ratio %s (goal <= 0.2: %s)\n' "$what" \
    "$b" "$(spread <"$WORK/berth-$what")" "$p" "$(spread <"$WORK/podman-$what")" "$r" "$verdict"
done
exit "$status"
