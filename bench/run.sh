#!/bin/bash
# berth against podman (and docker, if a dockerd is already reachable), side by side in one run,
# on the same busybox image (tests/fixtures/make-busybox-bundle.sh's rootfs tar, imported by each):
#
#   1. startup: `run --rm --network none IMG /bin/true`, the whole docker-style life of a container
#      (create, start, wait, remove) from the CLI, timed by hyperfine; medians and berth/podman.
#      Goal: berth ≤ 0.08× podman. Then berth's phases (BERTH_TRACE) for its median run.
#   2. memory of the helper of ONE idle container (`run -d IMG sleep 1000`): berth-monitor against
#      podman's conmon, PSS and RSS from /proc/PID/smaps_rollup. PSS (proportional set size) is
#      what the process really costs: pages shared with other processes are divided among them.
#      RSS counts shared pages in full. Goal: berth-monitor's PSS ≤ 0.5× conmon's.
#   3. N idle containers (default 200), started one after another by the CLI: the time to start
#      them all, then the total PSS/RSS of every helper process left running (berth: the
#      berth-monitors and any other process naming berth's state directory; podman: the conmons
#      and any other process naming its private store), then the time to remove them all
#      (`berth rm -f`, `podman rm -f -t 0`: SIGKILL at once, as docker's rm -f; podman's own
#      default would wait 10 s per container for a SIGTERM that sleep as pid 1 ignores).
#      The containers' own processes (busybox sleep) are the same for both and not counted.
#
# Reading it: every "berth/peer" ratio below 1 means berth is faster or smaller. Timings are
# medians of the same machine in the same run; never compare with an old absolute figure.
# With many containers PSS per helper falls (shared pages are split among more processes), so
# part 3's per-container figure is below part 2's.
#
# podman runs with a PRIVATE store and state under this run's temp directory (--root, --runroot,
# --tmpdir, --network-config-dir, its runtime's --root; overlay storage, vfs if overlay fails):
# the machine's podman images and containers are untouched. Networking: none only.
# Each engine's run-time state (berth's --run-root; podman's --runroot, --tmpdir and its runtime's
# --root) is on a tmpfs of its own, as /run is on any systemd host where their defaults
# (/run/berth, /run/containers/storage, /run/libpod, /run/crun) live; RUN_TMPFS=0 keeps it on
# /tmp's file system instead. The stores (images, layers, containers' writable layers) stay on
# /tmp's file system, as /var/lib is on disk.
# Everything lives under /tmp/berth-bench-run-PID; on every exit the script removes its
# containers, unmounts what is left under that directory and deletes it.
#
# Usage: bench/run.sh [--quick]     (as root; --quick: N=20 and fewer hyperfine runs)
# Environment: BERTH          berth's CLI (default build/src/berth; berth-runtime and
#                             berth-monitor are taken from beside it)
#              PODMAN DOCKER  the peers' CLIs (default podman, docker)
#              N              containers in part 3 (default 200, --quick 20)
#              WARMUP RUNS    hyperfine's --warmup and --runs (default 3 and 50; --quick 1 and 10)
#              PODMAN_DRIVER  podman's storage driver (default overlay)
#              OUT            the hyperfine JSON (default build/bench/run.json)
#              RUN_TMPFS      1 (default): the run-time state on tmpfs; 0: on /tmp's file system
# shellcheck disable=SC2086 # container ids are split on purpose
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD

source bench/lib.sh
bench_args "$@"
if ((QUICK)); then
  N=${N:-20} WARMUP=${WARMUP:-1} RUNS=${RUNS:-10}
else
  N=${N:-200} WARMUP=${WARMUP:-3} RUNS=${RUNS:-50}
fi
BERTH=${BERTH:-$SRC/build/src/berth}
PODMAN=${PODMAN:-podman}
DOCKER=${DOCKER:-docker}
PODMAN_DRIVER=${PODMAN_DRIVER:-overlay}
OUT=${OUT:-$SRC/build/bench/run.json}
RUN_TMPFS=${RUN_TMPFS:-1}

[[ $(id -u) -eq 0 ]] || die "run as root"
for tool in hyperfine jq pgrep "$PODMAN"; do
  command -v "$tool" >/dev/null || die "'$tool' missing: run scripts/setup"
done
[[ -x $BERTH ]] || die "no berth at '$BERTH' (build it, or set BERTH=...)"
BERTH=$(cd "$(dirname "$BERTH")" && pwd -P)/$(basename "$BERTH")
BERTH_RUNTIME=$(dirname "$BERTH")/berth-runtime
for b in "$BERTH_RUNTIME" "$(dirname "$BERTH")/berth-monitor"; do
  [[ -x $b ]] || die "berth needs '$b' beside it: build berth-runtime and berth-monitor"
done
[[ $N =~ ^[1-9][0-9]*$ ]] || die "N must be a positive number, not '$N'"

WORK=/tmp/berth-bench-run-$$
BROOT=$WORK/berth/root
BRUN=$WORK/berth/run
PW=$WORK/podman
TOKEN=berth-bench-ok
BIMG=berthbench:latest
PIMG=localhost/berthbench:latest
DIMG=berth-bench-$$:latest
B=("$BERTH" --root "$BROOT" --run-root "$BRUN")
P=() # set by podman_setup
DOCKER_OK=0 PODMAN_RUNTIME=""

cleanup() {
  local rc=$? pids=() ids=() d
  set +e
  trap - EXIT INT TERM
  if [[ -d $BROOT ]]; then
    mapfile -t ids < <("${B[@]}" ps -aq 2>/dev/null)
    ((${#ids[@]})) && "${B[@]}" rm -f "${ids[@]}" >/dev/null 2>&1
  fi
  if ((${#P[@]})) && [[ -d $PW/root ]]; then
    "${P[@]}" rm -f -t 0 -a >/dev/null 2>&1
    "${P[@]}" system reset -f >/dev/null 2>&1
  fi
  if ((DOCKER_OK)); then
    mapfile -t ids < <("$DOCKER" ps -aq --filter "label=berth-bench=$$" 2>/dev/null)
    ((${#ids[@]})) && "$DOCKER" rm -f "${ids[@]}" >/dev/null 2>&1
    "$DOCKER" rmi -f "$DIMG" >/dev/null 2>&1
  fi
  # Containers that rm could not delete: force-delete them through each runtime's private root.
  for d in "$BRUN/runtime"/*/; do
    [[ -d $d ]] && "$BERTH_RUNTIME" --root "$BRUN/runtime" delete --force "$(basename "$d")" >/dev/null 2>&1
  done
  if [[ -n $PODMAN_RUNTIME ]]; then
    for d in "$PW/run/runc"/*/; do
      [[ -d $d ]] && "$PODMAN_RUNTIME" --root "$PW/run/runc" delete --force "$(basename "$d")" >/dev/null 2>&1
    done
  fi
  # Helpers still running from this run (found by this run's directory in their command line).
  mapfile -t pids < <(pgrep -f -- "$WORK/")
  if ((${#pids[@]})); then
    echo "cleanup: killing leftover processes of this run: ${pids[*]}" >&2
    kill -KILL "${pids[@]}" 2>/dev/null
    sleep 0.5
  fi
  # Mounts left under the work directory (overlay rootfs, podman's shm and storage root), deepest first.
  awk -v w="$WORK/" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null; done
  rm -rf --one-file-system "$WORK"
  [[ -e $WORK ]] && echo "cleanup: could not delete $WORK" >&2
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir "$WORK" "$WORK/berth" "$PW" "$BRUN" "$PW/run"
if [[ $RUN_TMPFS == 1 ]]; then
  mount -t tmpfs -o size=256m,mode=0700 berth-bench "$BRUN"
  mount -t tmpfs -o size=256m,mode=0700 berth-bench "$PW/run"
fi
"$SRC/tests/fixtures/make-busybox-bundle.sh" "$WORK/fixture" >/dev/null
TAR=$WORK/fixture/busybox-rootfs.tar

# ---- setup: the same image in each engine -----------------------------------------------------
out=$("${B[@]}" image import "$TAR" "$BIMG" 2>&1) || die "berth image import failed: $out"
out=$("${B[@]}" run --rm --network none "$BIMG" /bin/echo "$TOKEN" 2>&1 </dev/null) || true
[[ $out == *"$TOKEN"* ]] || die "berth run does not run the container: $(head -c 600 <<<"${out:-no output}")"

podman_setup() { # DRIVER: a private podman that imported the image and runs it
  P=("$PODMAN" --root "$PW/root" --runroot "$PW/run/root" --tmpdir "$PW/run/tmp" --storage-driver "$1"
    --events-backend none --network-config-dir "$PW/net" --runtime-flag "root=$PW/run/runc")
  out=$("${P[@]}" import "$TAR" "$PIMG" 2>&1) || return 1
  out=$("${P[@]}" run --rm --network none "$PIMG" /bin/echo "$TOKEN" 2>&1 </dev/null) || true
  [[ $out == *"$TOKEN"* ]]
}
if ! podman_setup "$PODMAN_DRIVER"; then
  first=$out
  "${P[@]}" system reset -f >/dev/null 2>&1 || true
  [[ $PODMAN_DRIVER == vfs ]] || podman_setup vfs ||
    die "podman cannot run the image: $(head -c 600 <<<"$first")"
  echo "podman: storage driver $PODMAN_DRIVER failed ($(head -c 200 <<<"$first")); using vfs" >&2
  PODMAN_DRIVER=vfs
fi
PODMAN_RUNTIME=$("${P[@]}" info --format '{{.Host.OCIRuntime.Path}}' 2>/dev/null) || PODMAN_RUNTIME=""

docker_note="no dockerd reachable (not started by this script)"
if command -v "$DOCKER" >/dev/null && timeout 5 "$DOCKER" version >/dev/null 2>&1; then
  if out=$("$DOCKER" import "$TAR" "$DIMG" 2>&1); then
    DOCKER_OK=1
    out=$("$DOCKER" run --rm --network none --label "berth-bench=$$" "$DIMG" /bin/echo "$TOKEN" 2>&1 </dev/null) || true
    if [[ $out == *"$TOKEN"* ]]; then docker_note=""; else docker_note="docker run fails: $(head -c 200 <<<"$out")"; fi
  else
    docker_note="docker import fails: $(head -c 200 <<<"$out")"
  fi
fi

now_ms() { echo $(($(date +%s%N) / 1000000)); }

echo "berth  $("$BERTH" version 2>/dev/null | head -1)  ($BERTH)"
echo "podman $("$PODMAN" --version | awk '{print $3}'), storage $PODMAN_DRIVER, runtime ${PODMAN_RUNTIME:-?}, private store under $PW"
echo "docker: ${docker_note:-$("$DOCKER" version --format '{{.Server.Version}}' 2>/dev/null)}"
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
echo "machine: $(nproc) cores, $(uname -r), load average $(loadavg) (other work on the machine slows both)"
echo "N=$N, hyperfine --warmup $WARMUP --runs $RUNS; run-time state on $(stat -f -c %T "$BRUN") (stores on $(stat -f -c %T "$WORK"))"

# ---- 1. run --rm /bin/true ----------------------------------------------------------------------
echo
echo "==> 1. run --rm --network none IMG /bin/true"
mkdir -p "$(dirname "$OUT")"
# The imports above left dirty pages: written back during the first timed runs, they would slow
# whichever engine runs first. Both are timed with the disk at rest.
sync
args=(-N --warmup "$WARMUP" --runs "$RUNS" --export-json "$OUT"
  -n berth "${B[*]} run --rm --network none $BIMG /bin/true"
  -n podman "${P[*]} run --rm --network none $PIMG /bin/true")
[[ -z $docker_note ]] &&
  args+=(-n docker "$DOCKER run --rm --network none --label berth-bench=$$ $DIMG /bin/true")
hyperfine "${args[@]}"
median() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .median * 1000' "$OUT"; }
MB=$(median berth) MP=$(median podman)
echo
echo "medians ($RUNS runs):"
printf '  %-7s %8.1f ms\n' berth "$MB" podman "$MP"
if [[ -z $docker_note ]]; then
  MD=$(median docker)
  printf '  %-7s %8.1f ms\n' docker "$MD"
fi
R1=$(ratio "$MB" "$MP")
printf '  berth/podman = %s×' "$R1"
[[ -z $docker_note ]] && printf '   berth/docker = %s×' "$(ratio "$MB" "$MD")"
echo
echo "  goal: berth ≤ 0.08× podman: $(at_most "$R1" 0.08)"

# Where berth's time goes: the same command with BERTH_TRACE, the phases of its median run.
TRACE=$WORK/trace.jsonl
for ((i = 0; i < RUNS; i++)); do
  BERTH_TRACE=$TRACE "${B[@]}" run --rm --network none "$BIMG" /bin/true </dev/null
done
echo
echo "berth's median traced run ($RUNS runs with BERTH_TRACE; docs/containers.md, \"Where the time goes\"):"
jq -s -r 'sort_by(.total_ms) | .[(length - 1) / 2 | floor] as $m
  | ($m.phases[] | "  \(.ms * 100 | round / 100 | tostring | (" " * (8 - length)) + .) ms  \(.name)"),
    "  total \($m.total_ms * 10 | round / 10) ms"' "$TRACE"

# ---- helpers for parts 2 and 3 -----------------------------------------------------------------
# Processes whose command line names DIR (an engine's private state): its helpers. The
# containers' own processes (sleep 1000) do not name it.
procs_of() { pgrep -f -- "$1" || true; }
# mem PIDS... -> "COUNT PSS_KB RSS_KB" (a process that vanished counts 0)
mem() {
  local pid n=0 pss=0 rss=0 p r
  for pid in "$@"; do
    read -r p r < <(awk '/^Pss:/ { p = $2 } /^Rss:/ { r = $2 } END { print p + 0, r + 0 }' \
      "/proc/$pid/smaps_rollup" 2>/dev/null || echo "0 0")
    ((p > 0)) || continue
    n=$((n + 1)) pss=$((pss + p)) rss=$((rss + r))
  done
  echo "$n $pss $rss"
}
# find_helpers DIR COMM -> sets HELPERS (pids named COMM) and OTHERS (the rest naming DIR)
find_helpers() {
  local pid
  HELPERS=() OTHERS=()
  for pid in $(procs_of "$1"); do
    [[ -r /proc/$pid/comm ]] || continue
    if [[ $(<"/proc/$pid/comm") == "$2" ]]; then HELPERS+=("$pid"); else OTHERS+=("$pid"); fi
  done
}
describe_others() { local pid; for pid in "$@"; do echo "    pid $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-150)"; done; }
berth_rm_all() {
  local ids
  ids=$("${B[@]}" ps -aq) || return 1
  [[ -z $ids ]] || "${B[@]}" rm -f $ids >/dev/null # one word per id
}
podman_rm_all() {
  local ids
  ids=$("${P[@]}" ps -aq) || return 1
  [[ -z $ids ]] || "${P[@]}" rm -f -t 0 $ids >/dev/null
}

# ---- 2. one idle container's helper -------------------------------------------------------------
echo
echo "==> 2. the helper of one idle container (run -d IMG sleep 1000)"
out=$("${B[@]}" run -d --network none "$BIMG" sleep 1000 2>&1) || die "berth run -d failed: $out"
out=$("${P[@]}" run -d --network none "$PIMG" sleep 1000 2>&1) || die "podman run -d failed: $out"
sleep 1 # let both settle
find_helpers "$BROOT/" berth-monitor
((${#HELPERS[@]} == 1)) || echo "  berth: expected 1 berth-monitor, found ${#HELPERS[@]}: ${HELPERS[*]}" >&2
read -r _ B2PSS B2RSS < <(mem "${HELPERS[@]}")
BMON=${HELPERS[*]} BOTHERS=("${OTHERS[@]}")
find_helpers "$PW/" conmon
((${#HELPERS[@]} == 1)) || echo "  podman: expected 1 conmon, found ${#HELPERS[@]}: ${HELPERS[*]}" >&2
read -r _ P2PSS P2RSS < <(mem "${HELPERS[@]}")
printf '  %-14s pid %-8s PSS %6d kB   RSS %6d kB\n' berth-monitor "$BMON" "$B2PSS" "$B2RSS" \
  conmon "${HELPERS[*]}" "$P2PSS" "$P2RSS"
# where_pss PID: the PSS of PID's mappings by kind, to see what the figure is made of
where_pss() {
  awk -v exe="$(readlink -f "/proc/$1/exe" 2>/dev/null)" '
    /^[0-9a-f]+-[0-9a-f]+ / { kind = $6 == exe ? ($2 ~ /x/ ? "own code" : "own data") : $6 == "[heap]" ? "heap" : \
      $6 == "[stack]" ? "stack" : $6 ~ /^\// ? "shared libraries" : "other anonymous" }
    /^Pss:/ { kb[kind] += $2 }
    END { n = split("own code,own data,other anonymous,heap,stack,shared libraries", k, ",")
          for (i = 1; i <= n; i++) printf "%s%s %d", (i > 1 ? ", " : ""), k[i], kb[k[i]]; print " (kB)" }' \
    "/proc/$1/smaps" 2>/dev/null
}
echo "  berth-monitor's PSS: $(where_pss "$BMON")"
echo "  conmon's PSS:        $(where_pss "${HELPERS[0]}")"
((${#BOTHERS[@]})) && { echo "  other berth processes running (not in the figure above):"; describe_others "${BOTHERS[@]}"; }
R2=$(ratio "$B2PSS" "$P2PSS")
echo "  PSS berth-monitor/conmon = ${R2}×   (RSS $(ratio "$B2RSS" "$P2RSS")×)"
echo "  goal: berth-monitor's PSS ≤ 0.50× conmon's: $(at_most "$R2" 0.50)"
berth_rm_all || die "berth rm -f failed"
podman_rm_all || die "podman rm -f failed"

# ---- 3. N idle containers -----------------------------------------------------------------------
start_n() { # NAME IMAGE CLI... : starts N containers, sets T_START (ms) and FAILS
  local name=$1 img=$2 i t0 out
  shift 2
  FAILS=0
  t0=$(now_ms)
  for ((i = 0; i < N; i++)); do
    if ! out=$("$@" run -d --network none "$img" sleep 1000 2>&1 </dev/null); then
      ((FAILS++ == 0)) && echo "  $name: container $((i + 1)) failed to start: $(head -c 400 <<<"$out")" >&2
    fi
  done
  T_START=$(($(now_ms) - t0))
  ((FAILS == 0)) || echo "  $name: $FAILS of $N starts failed" >&2
}
rm_n() { # NAME RM-FUNCTION : sets T_RM (ms)
  local t0
  t0=$(now_ms)
  "$2" || echo "  $1: removing the containers failed" >&2
  T_RM=$(($(now_ms) - t0))
}
echo
echo "==> 3. $N idle containers (run -d IMG sleep 1000, one after another)"

start_n berth "$BIMG" "${B[@]}"
BT=$T_START BF=$FAILS
sleep 1
BRUNNING=$("${B[@]}" ps -q | wc -l)
find_helpers "$BROOT/" berth-monitor
read -r BN BPSS BRSS < <(mem "${HELPERS[@]}")
read -r BON BOPSS BORSS < <(mem "${OTHERS[@]}")
((BON)) && { echo "  other berth processes running (counted below):"; describe_others "${OTHERS[@]}"; }
rm_n berth berth_rm_all
BRM=$T_RM
left=$("${B[@]}" ps -aq | wc -l)
((left == 0)) || echo "  berth: $left containers left after rm -f" >&2

start_n podman "$PIMG" "${P[@]}"
PT=$T_START PF=$FAILS
sleep 1
PRUNNING=$("${P[@]}" ps -q | wc -l)
find_helpers "$PW/" conmon
read -r PN PPSS PRSS < <(mem "${HELPERS[@]}")
read -r PON POPSS PORSS < <(mem "${OTHERS[@]}")
((PON)) && { echo "  other podman processes running (counted below):"; describe_others "${OTHERS[@]}"; }
rm_n podman podman_rm_all
PRM=$T_RM
left=$("${P[@]}" ps -aq | wc -l)
((left == 0)) || echo "  podman: $left containers left after rm -f" >&2

per() { awk -v a="$1" -v n="$2" 'BEGIN { printf "%.1f", (n > 0 ? a / n : 0) }'; }
printf '  %-7s %9s %9s %10s %10s %12s %11s %11s %11s\n' "" running helpers "start s" "ms/ctr" \
  "PSS total" "PSS/ctr" "RSS/ctr" "rm -f s"
row() { # NAME RUNNING HELPERS OTHERS START_MS PSS RSS RM_MS
  printf '  %-7s %9s %9s %10.2f %10s %9d kB %8s kB %8s kB %11.2f\n' "$1" "$2" "$3+$4" \
    "$(awk -v t="$5" 'BEGIN { print t / 1000 }')" "$(per "$5" "$N")" "$6" "$(per "$6" "$2")" \
    "$(per "$7" "$2")" "$(awk -v t="$8" 'BEGIN { print t / 1000 }')"
}
row berth "$BRUNNING" "$BN" "$BON" "$BT" $((BPSS + BOPSS)) $((BRSS + BORSS)) "$BRM"
row podman "$PRUNNING" "$PN" "$PON" "$PT" $((PPSS + POPSS)) $((PRSS + PORSS)) "$PRM"
echo "  (helpers: berth-monitor / conmon + other processes naming the engine's state directory)"
R3T=$(ratio "$BT" "$PT") R3M=$(ratio $((BPSS + BOPSS)) $((PPSS + POPSS))) R3R=$(ratio "$BRM" "$PRM")
echo "  berth/podman: start ${R3T}×, total PSS ${R3M}×, rm -f ${R3R}×"

echo
echo "summary (berth/podman; below 1 is better for berth):"
echo "  1. run --rm /bin/true, median:        ${R1}×  (goal ≤ 0.08×: $(at_most "$R1" 0.08))"
echo "  2. one idle helper's PSS:             ${R2}×  (goal ≤ 0.50×: $(at_most "$R2" 0.50))"
echo "  3. $N containers: start ${R3T}×, helpers' PSS ${R3M}×, rm -f ${R3R}×"
echo "load average at the end: $(loadavg); hyperfine's JSON: $OUT"
((BF + PF == 0)) || die "some containers failed to start (berth $BF, podman $PF)"
