#!/bin/bash
# `berth build` against `buildah bud --layers` (and `docker build` when a dockerd is reachable),
# side by side in one run, from the same busybox base image:
#
#   a. a 4-step Dockerfile (RUN, COPY, RUN, ENV);
#   b. 3 stages, two of them independent (each RUN sleeps 0.5 s), the last copying from both;
#   c. a 200 MB context (200 files of 1 MB) copied whole, one file changed between builds.
# For each: "cold" is a build with --no-cache, "cached" a rebuild with the cache (for c: after
# changing one file, so COPY runs again). Each figure is the median of RUNS builds (default 3).
# Goals: cold ≤ 0.5× buildah's time, cached ≤ 0.2× buildah's.
#   d. image size: a Dockerfile that copies a 20 MB installer, uses it, then deletes it, built
#      layered and --flat. Goal: flat ≤ 0.6× layered.
#
# buildah runs with a PRIVATE store under this run's directory (--root/--runroot); the machine's
# images are untouched. Everything lives under /tmp/berth-bench-build-PID, removed on exit.
#
# Usage: bench/build.sh [--quick]     (as root; --quick: 1 build per figure)
# Environment: BERTH (default build/src/berth), BUILDAH (default buildah), RUNS (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
source bench/lib.sh
bench_args "$@"
RUNS=${RUNS:-3}
((QUICK)) && RUNS=1
BERTH=${BERTH:-$SRC/build/src/berth}
BUILDAH=${BUILDAH:-buildah}
[[ $(id -u) -eq 0 ]] || die "run as root"
command -v "$BUILDAH" >/dev/null || die "'$BUILDAH' missing: apt-get install buildah"
[[ -f $SRC/build/fixtures/busybox-rootfs.tar ]] || bash tests/fixtures/make-busybox-bundle.sh "$SRC/build/fixtures" >/dev/null

DIR=/tmp/berth-bench-build-$$
cleanup() {
  "$BERTH" --root "$DIR/berth" --run-root "$DIR/berth-run" system reset --force >/dev/null 2>&1 || true
  "$BUILDAH" --root "$DIR/buildah" --runroot "$DIR/buildah-run" rm --all >/dev/null 2>&1 || true
  for m in $(awk -v d="$DIR/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r); do umount -l "$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$DIR"
}
trap cleanup EXIT
mkdir -p "$DIR"
B() { "$BERTH" --root "$DIR/berth" --run-root "$DIR/berth-run" "$@"; }
BA() { "$BUILDAH" --root "$DIR/buildah" --runroot "$DIR/buildah-run" --storage-driver overlay "$@"; }

B image import "$SRC/build/fixtures/busybox-rootfs.tar" busybox >/dev/null
B save --format oci-archive -o "$DIR/busybox.tar" busybox
BA pull -q "oci-archive:$DIR/busybox.tar" >/dev/null
BA tag "$(BA images -q | head -1)" localhost/busybox >/dev/null 2>&1 || true

# Contexts.
mkdir -p "$DIR/a" "$DIR/b" "$DIR/c/data" "$DIR/d"
echo hello >"$DIR/a/f"
cat >"$DIR/a/Dockerfile" <<'DF'
FROM localhost/busybox
RUN echo a > /a
COPY f /f
RUN cat /f /a > /g
ENV X=1
DF
cat >"$DIR/b/Dockerfile" <<'DF'
FROM localhost/busybox AS one
RUN sleep 0.5 && echo one > /one
FROM localhost/busybox AS two
RUN sleep 0.5 && echo two > /two
FROM localhost/busybox
COPY --from=one /one /one
COPY --from=two /two /two
DF
for i in $(seq 1 200); do head -c 1048576 /dev/urandom >"$DIR/c/data/f$i"; done
printf 'FROM localhost/busybox\nCOPY data /data\n' >"$DIR/c/Dockerfile"
head -c 20971520 /dev/urandom >"$DIR/d/installer.bin"
cat >"$DIR/d/Dockerfile" <<'DF'
FROM localhost/busybox
COPY installer.bin /tmp/installer.bin
RUN head -c 1048576 /tmp/installer.bin > /opt-app && rm /tmp/installer.bin
DF

# time_it CMD...: seconds the command took (its output discarded).
time_it() {
  local t0 t1
  t0=$(now)
  "$@" >/dev/null 2>&1 || { echo "$BENCH_NAME: failed: $*" >&2; "$@" >&2 || true; exit 1; }
  t1=$(now)
  elapsed "$t0" "$t1"
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }

printf '%-34s %9s %9s %8s %6s\n' "case" "berth" "buildah" "ratio" "goal"
measure() {  # measure NAME CONTEXT GOAL PREPARE
  local name=$1 ctx=$2 goal=$3 prepare=$4 kind
  for kind in cold cached; do
    local bt=() ht=() i
    for ((i = 0; i < RUNS; i++)); do
      if [[ $kind == cold ]]; then
        bt+=("$(time_it B build --no-cache -q -t bench "$ctx")")
        ht+=("$(time_it BA bud --layers --no-cache -q -t bench "$ctx")")
      else
        B build -q -t bench "$ctx" >/dev/null
        BA bud --layers -q -t bench "$ctx" >/dev/null 2>&1
        $prepare
        bt+=("$(time_it B build -q -t bench "$ctx")")
        $prepare
        ht+=("$(time_it BA bud --layers -q -t bench "$ctx")")
      fi
    done
    local bm hm
    bm=$(median "${bt[@]}")
    hm=$(median "${ht[@]}")
    local g=$goal
    [[ $kind == cached ]] && g=0.2
    printf '%-34s %8ss %8ss %7sx %5sx   berth [%s] buildah [%s]\n' "$name $kind" "$bm" "$hm" "$(ratio "$bm" "$hm")" "$g" \
      "$(echo "${bt[*]}" | tr ' ' ,)" "$(echo "${ht[*]}" | tr ' ' ,)"
  done
}
nothing() { :; }
touch_one() { head -c 1048576 /dev/urandom >"$DIR/c/data/f100"; }
measure "a. 4 steps" "$DIR/a" 0.5 nothing
measure "b. 3 stages (2 parallel)" "$DIR/b" 0.5 nothing
measure "c. 200 MB context" "$DIR/c" 0.5 touch_one

B build -q -t layered "$DIR/d" >/dev/null
B build -q --flat -t flat "$DIR/d" >/dev/null
layered=$(B image inspect -f '{{.Size}}' layered)
flat=$(B image inspect -f '{{.Size}}' flat)
printf '%-34s %9s %9s %7sx %5sx\n' "d. --flat size vs layered" "$((flat / 1024))kB" "$((layered / 1024))kB" "$(ratio "$flat" "$layered")" 0.6
