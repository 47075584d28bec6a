#!/bin/bash
# `docker run --rm --network none IMG /bin/true` through three Docker Engine API servers, in one
# run, with the same docker CLI pointed at each (DOCKER_HOST): `berth serve`, podman's
# `podman system service`, and a dockerd started by hand (../shared/peers/dockerd.sh's flags: no
# bridge, no iptables, so every engine runs with --network none). Each imports the same busybox
# rootfs tar (tests/fixtures/make-busybox-bundle.sh). hyperfine times the whole docker command:
# the CLI's own start (~the same for all three) is in every figure.
#
# Prints median, mean ± σ and min–max per server, then berth/podman and berth/dockerd of the
# medians. Goals: ≤ 0.2× podman's service, ≤ 0.1× dockerd.
#
# A fourth "server", bench/api-floor.py, answers every request at once with canned answers and
# does no work: `docker run` through it is the CLI alone (its start, five requests, its exit),
# the floor under every server's figure. The ratios of what each server adds above that floor
# are printed too.
#
# Every server's state is private, under /tmp/berth-bench-api-PID (removed on exit, servers
# stopped by pid): the machine's berth, podman and docker state are untouched.
#
# Usage: bench/api.sh [--quick]     (as root; --quick: fewer runs)
# Environment: BERTH    berth's CLI (default build/src/berth)
#              DOCKER   the docker CLI (default /usr/bin/docker, Debian's 20.10)
#              PODMAN   podman (default podman)
#              WARMUP RUNS  hyperfine's --warmup and --runs (default 3 and 30; --quick 1 and 10)
#              OUT      the hyperfine JSON (default build/bench/api.json)
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD

source bench/lib.sh
bench_args "$@"
if ((QUICK)); then WARMUP=${WARMUP:-1} RUNS=${RUNS:-10}; else WARMUP=${WARMUP:-3} RUNS=${RUNS:-30}; fi
BERTH=${BERTH:-$SRC/build/src/berth}
DOCKER=${DOCKER:-/usr/bin/docker}
PODMAN=${PODMAN:-podman}
OUT=${OUT:-$SRC/build/bench/api.json}

[[ $(id -u) -eq 0 ]] || die "run as root"
for tool in hyperfine jq dockerd "$DOCKER" "$PODMAN"; do
  command -v "$tool" >/dev/null || die "'$tool' missing: run ../shared/peers/setup.sh"
done
[[ -x $BERTH ]] || die "no berth at '$BERTH' (build it, or set BERTH=...)"
BERTH=$(cd "$(dirname "$BERTH")" && pwd -P)/$(basename "$BERTH")

WORK=/tmp/berth-bench-api-$$
IMG=apibench:latest
TOKEN=berth-bench-ok
BERTH_PID="" PODMAN_PID="" DOCKERD_PID="" FLOOR_PID=""
P=("$PODMAN" --root "$WORK/podman/root" --runroot "$WORK/podman/run" --tmpdir "$WORK/podman/tmp"
  --events-backend none --network-config-dir "$WORK/podman/net" --runtime-flag "root=$WORK/podman/runc")

stop_pid() { # PID: SIGTERM, then SIGKILL after 10 s
  local pid=$1 i
  [[ -n $pid ]] || return 0
  kill "$pid" 2>/dev/null || return 0
  for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  [[ -S $WORK/berth.sock ]] && DOCKER_HOST=unix://$WORK/berth.sock "$DOCKER" rm -f $(DOCKER_HOST=unix://$WORK/berth.sock "$DOCKER" ps -aq) >/dev/null 2>&1
  stop_pid "$BERTH_PID"
  stop_pid "$FLOOR_PID"
  stop_pid "$PODMAN_PID"
  [[ -d $WORK/podman/root ]] && "${P[@]}" rm -f -t 0 -a >/dev/null 2>&1
  [[ -d $WORK/podman/root ]] && "${P[@]}" system reset -f >/dev/null 2>&1
  [[ -f $WORK/dockerd/pid ]] && DOCKERD_PID=$(cat "$WORK/dockerd/pid")
  stop_pid "$DOCKERD_PID"
  [[ -d $WORK/berth-root ]] && "$BERTH" --root "$WORK/berth-root" --run-root "$WORK/berth-run" system reset --force >/dev/null 2>&1
  awk -v w="$WORK/" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null; done
  rm -rf --one-file-system "${WORK:?}"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$WORK/podman" "$(dirname "$OUT")"
"$SRC/tests/fixtures/make-busybox-bundle.sh" "$WORK/fixture" >/dev/null
TAR=$WORK/fixture/busybox-rootfs.tar

wait_socket() { # SOCK NAME LOG
  local i
  for i in $(seq 150); do
    [[ -S $1 ]] && DOCKER_HOST=unix://$1 "$DOCKER" version >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  die "$2 does not answer on $1: $(tail -c 600 "$3" 2>/dev/null)"
}

# ---- the three servers, each with the image ------------------------------------------------------
"$BERTH" --root "$WORK/berth-root" --run-root "$WORK/berth-run" serve --socket "$WORK/berth.sock" \
  2>"$WORK/berth.log" </dev/null &
BERTH_PID=$!
wait_socket "$WORK/berth.sock" "berth serve" "$WORK/berth.log"
"${P[@]}" system service --time 0 "unix://$WORK/podman.sock" 2>"$WORK/podman.log" </dev/null &
PODMAN_PID=$!
wait_socket "$WORK/podman.sock" "podman system service" "$WORK/podman.log"
bash /work/shared/peers/dockerd.sh "$WORK/dockerd" >/dev/null
DOCKERD_PID=$(cat "$WORK/dockerd/pid")
wait_socket "$WORK/dockerd/sock" dockerd "$WORK/dockerd/log"

/usr/bin/python3 "$SRC/bench/api-floor.py" "$WORK/floor.sock" 2>"$WORK/floor.log" </dev/null &
FLOOR_PID=$!
for _ in $(seq 50); do [[ -S $WORK/floor.sock ]] && break; sleep 0.1; done
[[ -S $WORK/floor.sock ]] || die "bench/api-floor.py does not listen: $(tail -c 600 "$WORK/floor.log")"

declare -A SOCK=([berth]=$WORK/berth.sock [podman]=$WORK/podman.sock [dockerd]=$WORK/dockerd/sock
  [floor]=$WORK/floor.sock)
for name in berth podman dockerd; do
  export DOCKER_HOST=unix://${SOCK[$name]}
  # berth's API does not import (docker import's fromSrc): its CLI does, into the same state.
  if [[ $name == berth ]]; then
    out=$("$BERTH" --root "$WORK/berth-root" --run-root "$WORK/berth-run" image import "$TAR" "$IMG" 2>&1) ||
      die "berth image import failed: $out"
  else
    out=$("$DOCKER" import "$TAR" "$IMG" 2>&1) || die "$name: docker import failed: $out"
  fi
  out=$("$DOCKER" run --rm --network none "$IMG" /bin/echo "$TOKEN" 2>&1 </dev/null) || true
  [[ $out == *"$TOKEN"* ]] || die "$name: docker run does not run the container: $(head -c 600 <<<"$out")"
done
unset DOCKER_HOST

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
echo "docker CLI $("$DOCKER" --version | awk '{print $3}' | tr -d ,); berth $("$BERTH" version 2>/dev/null | head -1)"
echo "podman $("$PODMAN" --version | awk '{print $3}'); dockerd $(DOCKER_HOST=unix://${SOCK[dockerd]} "$DOCKER" version --format '{{.Server.Version}}')"
echo "machine: $(nproc) cores, $(uname -r), load average $(loadavg)"
echo
echo "==> docker run --rm --network none $IMG /bin/true, through each server's API"
args=(-N --warmup "$WARMUP" --runs "$RUNS" --export-json "$OUT")
for name in berth podman dockerd floor; do
  args+=(-n "$name" "env DOCKER_HOST=unix://${SOCK[$name]} $DOCKER run --rm --network none $IMG /bin/true")
done
hyperfine "${args[@]}"

stat_of() { jq -r --arg n "$1" --arg f "$2" '.results[] | select(.command == $n) | .[$f] * 1000' "$OUT"; }
echo
echo "medians of $RUNS runs (mean ± σ, min–max), ms:"
for name in berth podman dockerd floor; do
  printf '  %-8s %7.1f   (%.1f ± %.1f, %.1f–%.1f)\n' "$name" "$(stat_of "$name" median)" "$(stat_of "$name" mean)" \
    "$(stat_of "$name" stddev)" "$(stat_of "$name" min)" "$(stat_of "$name" max)"
done
RP=$(ratio "$(stat_of berth median)" "$(stat_of podman median)")
RD=$(ratio "$(stat_of berth median)" "$(stat_of dockerd median)")
echo "  berth/podman  ${RP}×  (goal ≤ 0.2×: $(at_most "$RP" 0.2))"
echo "  berth/dockerd ${RD}×  (goal ≤ 0.1×: $(at_most "$RD" 0.1))"
F=$(printf "%.1f" "$(stat_of floor median)")
above() { awk -v a="$1" -v f="$F" 'BEGIN { printf "%.1f", a - f }'; }
echo "  floor (the docker CLI alone, a server that does nothing): ${F} ms = $(ratio "$F" "$(stat_of dockerd median)")× dockerd"
echo "  above the floor: berth $(above "$(stat_of berth median)") ms, podman $(above "$(stat_of podman median)") ms," \
  "dockerd $(above "$(stat_of dockerd median)") ms; berth/podman" \
  "$(ratio "$(above "$(stat_of berth median)")" "$(above "$(stat_of podman median)")")×, berth/dockerd" \
  "$(ratio "$(above "$(stat_of berth median)")" "$(above "$(stat_of dockerd median)")")×"
echo "load average at the end: $(loadavg); hyperfine's JSON: $OUT"
