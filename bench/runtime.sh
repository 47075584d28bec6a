#!/bin/bash
# The whole OCI lifecycle (`RUNTIME run ID`: create, start, wait, delete) of a busybox container
# running /bin/true, for berth-runtime, crun and runc side by side in one hyperfine run.
#
# Every runtime runs through the same wrapper: a private mount namespace with the empty cgroup2
# at /sys/fs/cgroup/unified unmounted, because crun 1.8 refuses "hybrid" cgroup hosts. The
# wrapper alone is timed too. Installs nothing: run scripts/setup first. Run as root.
#
# Environment: RUNTIMES   which to compare (default "berth crun runc"; names or paths)
#              WARMUP RUNS hyperfine's --warmup and --runs (default 5 and 50)
#              BERTH_RUNTIME  berth's runtime (default build/src/berth-runtime)
#              OUT        the hyperfine JSON (default build/bench/runtime.json)
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD

RUNTIMES=${RUNTIMES:-berth crun runc}
WARMUP=${WARMUP:-5}
RUNS=${RUNS:-50}
BERTH_RUNTIME=${BERTH_RUNTIME:-$SRC/build/src/berth-runtime}
OUT=${OUT:-$SRC/build/bench/runtime.json}
FIXTURES=${BERTH_FIXTURES:-$SRC/build/fixtures}

[[ $(id -u) -eq 0 ]] || { echo "bench/runtime.sh: run as root" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "bench/runtime.sh: hyperfine missing: run scripts/setup" >&2; exit 1; }

"$SRC/tests/fixtures/make-busybox-bundle.sh" "$FIXTURES" >/dev/null

WORK=$(mktemp -d "/tmp/berth-bench-$$.XXXX")
STATE=/run/berth-bench-$$
cleanup() {
  # `run` deletes its container; anything left means a failed iteration: force-delete it.
  for r in "${!BIN[@]}"; do
    for d in "$STATE/$r"/*/; do
      [[ -d $d ]] && "${BIN[$r]}" --root "$STATE/$r" delete --force "$(basename "$d")" >/dev/null 2>&1
    done
  done
  rm -rf --one-file-system "$WORK" "$STATE"
}
declare -A BIN=()
trap cleanup EXIT

# The same bundle for all three: the fixture's default config (pid, network, ipc, uts and mount
# namespaces; /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys; no terminal) running /bin/true.
BUNDLE=$WORK/bundle
mkdir -p "$BUNDLE"
jq '.process.args = ["/bin/true"] | .process.terminal = false' "$FIXTURES/bundle/config.json" \
  >"$BUNDLE/config.json"

# A check bundle that prints a token, so that a runtime which exits 0 without running the
# container is not timed.
CHECK=$WORK/check
mkdir -p "$CHECK"
jq '.process.args = ["/bin/echo", "berth-bench-ok"]' "$BUNDLE/config.json" >"$CHECK/config.json"

wrap() { # wrap NAME BIN BUNDLE -> the command line hyperfine runs (sh's $$ makes each id unique)
  echo "unshare -m sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec $2 --root $STATE/$1 run --bundle $3 bench-$1-\$\$'"
}

names=() cmds=() failed=()
for r in $RUNTIMES; do
  case $r in
    berth | berth-runtime) name=berth; bin=$BERTH_RUNTIME ;;
    */*) name=$(basename "$r"); bin=$r ;;
    *) name=$r; bin=$(command -v "$r" || true) ;;
  esac
  if [[ -z $bin || ! -x $bin ]]; then
    echo "skip $name: no executable '${bin:-$r}'" >&2
    failed+=("$name")
    continue
  fi
  mkdir -p "$STATE/$name"
  BIN[$name]=$bin
  cmd=$(wrap "$name" "$bin" "$BUNDLE")
  # One checked run first: a runtime that fails would only time its error path.
  if ! out=$(eval "$(wrap "$name" "$bin" "$CHECK")" 2>&1 </dev/null) || [[ $out != *berth-bench-ok* ]]; then
    echo "skip $name: the lifecycle does not run the container: $(head -c 400 <<<"${out:-no output}")" >&2
    failed+=("$name")
    continue
  fi
  names+=("$name")
  cmds+=("$cmd")
done
((${#names[@]})) || { echo "bench/runtime.sh: no runtime to measure" >&2; exit 1; }

mkdir -p "$(dirname "$OUT")"
args=(-N --warmup "$WARMUP" --runs "$RUNS" --export-json "$OUT")
for i in "${!names[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
args+=(-n wrapper "unshare -m sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec /bin/true'")
echo "==> hyperfine --warmup $WARMUP --runs $RUNS: ${names[*]} wrapper"
hyperfine "${args[@]}"

median() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .median * 1000' "$OUT"; }
declare -A MED=()
echo
echo "medians (ms, wrapper included; $RUNS runs, $(nproc) cores):"
for n in "${names[@]}" wrapper; do
  MED[$n]=$(median "$n")
  printf '  %-8s %7.2f ms\n' "$n" "${MED[$n]}"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
if [[ -n ${MED[berth]:-} ]]; then
  for peer in crun runc; do
    [[ -n ${MED[$peer]:-} ]] && printf '  berth/%s = %s×\n' "$peer" "$(ratio "${MED[berth]}" "${MED[$peer]}")"
  done
fi
echo "goal: berth ≤ 0.8× crun"
echo "results: $OUT"
if ((${#failed[@]})); then
  echo "not measured: ${failed[*]}" >&2
  exit 1
fi
