#!/bin/bash
# Remakes the busy-path block of src/monitor/idle_layout.ld: runs berth-monitor under callgrind on
# a container that writes to stdout and stderr (short and long lines, partial ones), stays quiet
# for more than a second (so the monitor releases its pages) and is health-checked every 2 s;
# profiles 15 s of that steady state (not the start-up) and lists, with bench/monitor-layout.py,
# the sections of the code it ran, in order. After a change to the monitor's loop, the log writer
# or what they call: run it, rebuild, and check `bash bench/run.sh --quick` and docs/monitor.md.
#
# Usage: bench/monitor-profile.sh [--write]     (as root, valgrind installed)
#   --write  replace the block in src/monitor/idle_layout.ld (else print it)
# Environment: BUILD  the build directory (default build): berth-monitor and berth-runtime in
#                     BUILD/src, the busybox fixture in BUILD/fixtures (made if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
SRC=$PWD
WRITE=0
for arg in "$@"; do
  case $arg in
    --write) WRITE=1 ;;
    *) echo "bench/monitor-profile.sh: unknown argument '$arg' (usage: bench/monitor-profile.sh [--write])" >&2; exit 2 ;;
  esac
done
BUILD=$(cd "${BUILD:-build}" && pwd -P)
RUNTIME=$BUILD/src/berth-runtime
[[ $(id -u) -eq 0 ]] || die "run as root (the container needs it)"
if ! command -v valgrind >/dev/null || ! command -v callgrind_control >/dev/null; then
  die "valgrind missing: apt-get install valgrind"
fi
[[ -x $RUNTIME && -x $BUILD/src/berth-monitor ]] || die "build berth-monitor and berth-runtime in $BUILD first"
"$SRC/tests/fixtures/make-busybox-bundle.sh" "$BUILD/fixtures" >/dev/null

WORK=/tmp/berth-monitor-profile-$$
ID=berth-monitor-profile-$$
MON_PID=""
cleanup() {
  set +e
  "$RUNTIME" --root "$WORK/state" kill "$ID" KILL >/dev/null 2>&1
  [[ -n $MON_PID ]] && wait "$MON_PID" 2>/dev/null
  "$RUNTIME" --root "$WORK/state" delete --force "$ID" >/dev/null 2>&1
  [[ -n ${KEEP_WORK:-} ]] || rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/ctr"

# The monitor as the build links it, plus a map of where each input section went.
link=$(ninja -C "$BUILD" -t commands src/berth-monitor | tail -1)
link=${link#: && }
link=${link% && :}
(cd "$BUILD" && eval "${link/-o src\/berth-monitor/-o $WORK/berth-monitor} -Wl,-Map,$WORK/berth-monitor.map")

script='while :; do echo out-line; echo err-line >&2; printf partial; sleep 1.5; echo; head -c 20000 /bin/busybox | od | head -300; done'
jq --arg root "$BUILD/fixtures/rootfs" --arg s "$script" '.root.path = $root | .process.args = ["/bin/sh", "-c", $s]' \
  "$BUILD/fixtures/bundle/config.json" >"$WORK/config.json"
valgrind --tool=callgrind --demangle=no --callgrind-out-file="$WORK/callgrind.%p" "$WORK/berth-monitor" \
  --runtime "$RUNTIME" --runtime-root "$WORK/state" --bundle "$WORK" --dir "$WORK/ctr" \
  --health-arg /bin/true --health-interval 2000 "$ID" </dev/null >/dev/null 2>"$WORK/monitor.log" &
MON_PID=$!
sleep 10  # start-up under valgrind, and a few rounds of output
callgrind_control -z "$MON_PID" >/dev/null 2>&1
sleep 15
callgrind_control -d "$MON_PID" >/dev/null 2>&1
sleep 1
dumps=("$WORK"/callgrind.*.1)
[[ -s ${dumps[0]} ]] || die "no callgrind dump (monitor log: $(head -c 400 "$WORK/monitor.log"))"
grep -q err-line "$WORK/ctr/log.jsonl" || die "the container wrote nothing to the log"

block=$(python3 "$SRC/bench/monitor-layout.py" "$WORK/berth-monitor" "$WORK/berth-monitor.map" "${dumps[@]}")
# The log writer runs on every line the container writes: without it the profile missed the
# steady state (valgrind too slow on a loaded machine?). Better nothing than a wrong layout.
grep -q LogWriter <<<"$block" || die "the profile holds no log writing: run it again"
if ((WRITE)); then
  ld=$SRC/src/monitor/idle_layout.ld
  python3 - "$ld" "$block" <<'EOF'
import sys
path, block = sys.argv[1], sys.argv[2]
text = open(path).read()
begin, end = "    /* busy: begin */\n", "    /* busy: end */\n"
i, j = text.index(begin) + len(begin), text.index(end)
open(path, "w").write(text[:i] + block + "\n" + text[j:])
EOF
  echo "bench/monitor-profile.sh: $(wc -l <<<"$block") lines written to $ld; rebuild berth-monitor"
else
  echo "$block"
fi
