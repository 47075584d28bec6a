#!/bin/bash
# Fails, listing each one, if berth's tests left anything behind on the host:
#   mounts whose path contains "berth-test" or the fixture rootfs path (/proc/self/mountinfo),
#   cgroups named berth-test* or under /berth/ in any cgroup hierarchy,
#   processes whose command line contains "berth-test",
#   state directories /run/berth-test-*,
#   network links bth-*, vth* and vbp<pid>*, namespaces bthprx<pid>, nftables tables berth_*.
# Only what the tests made counts: `--baseline FILE`, run before the tests (ctest's fixture set-up),
# records what is already there (say the default `bridge` network of the README's tour, or a
# user's own containers); a later `--since FILE` ignores those.
# Usage: leak-check.sh [--clean] [--baseline FILE | --since FILE] [FIXTURE_DIR]
#        (--clean also removes what it finds, best effort)
# FIXTURE_DIR defaults to $BERTH_FIXTURES, else the fixtures directory of the build tree.
set -uo pipefail

clean=false baseline_out= baseline_in=
while (($#)); do
  case $1 in
    --clean) clean=true; shift ;;
    --baseline) baseline_out=$2; shift 2 ;;
    --since) baseline_in=$2; shift 2 ;;
    *) break ;;
  esac
done
known=()
if [[ -n $baseline_in && -f $baseline_in ]]; then mapfile -t known <"$baseline_in"; fi
fixtures=${1:-${BERTH_FIXTURES:-}}
if [[ -z $fixtures ]]; then
  # ctest runs this from <build>/tests; a manual run from the source tree uses build/.
  for d in "$PWD/../fixtures" "$(dirname "$0")/../../build/fixtures"; do
    [[ -d $d ]] && { fixtures=$d; break; }
  done
fi
rootfs=
[[ -n $fixtures && -d $fixtures/rootfs ]] && rootfs=$(cd "$fixtures/rootfs" && pwd -P)

leaks=0 found=()
# Reports a leak unless the baseline had it; returns 1 for a known one so callers skip it.
leak() {
  local what="$*" k
  for k in "${known[@]}"; do [[ $k == "$what" ]] && return 1; done
  found+=("$what")
  [[ -n $baseline_out ]] || printf 'leak: %s\n' "$what"
  leaks=$((leaks + 1))
}

# mountinfo escapes space, tab, newline and backslash as octal.
unescape() { printf '%b' "${1//\\/\\0}"; }

# Mounts, and the cgroup hierarchies (every cgroup/cgroup2 mount) for the next check.
mounts=() hierarchies=()
while read -r _ _ _ _ mnt _ rest; do
  mnt=$(unescape "$mnt")
  fstype=" $rest"; fstype=${fstype#* - }; fstype=${fstype%% *}
  [[ $fstype == cgroup || $fstype == cgroup2 ]] && hierarchies+=("$mnt")
  if [[ $mnt == *berth-test* || ( -n $rootfs && $mnt == "$rootfs"* ) ]]; then
    leak "mount $mnt ($fstype)" && mounts+=("$mnt")
  fi
done </proc/self/mountinfo

cgroups=()
for h in "${hierarchies[@]}"; do
  while IFS= read -r cg; do
    [[ -n $cg ]] || continue
    leak "cgroup ${cg#"$h"} in $h" && cgroups+=("$cg")
  done < <(
    { find "$h" -mindepth 1 -type d -name 'berth-test*' 2>/dev/null
      [[ -d $h/berth ]] && find "$h/berth" -mindepth 1 -type d 2>/dev/null; } | sort -u
  )
done

pids=()
for f in /proc/[0-9]*/cmdline; do
  pid=${f#/proc/}; pid=${pid%/cmdline}
  [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
  { cmd=$(tr '\0' ' ' <"$f"); } 2>/dev/null || continue
  [[ $cmd == *berth-test* ]] || continue
  # Our own pipelines (their parent is this script) are not leaks.
  ppid=$(awk '/^PPid:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
  [[ $ppid == "$$" ]] && continue
  leak "process $pid: ${cmd% }" && pids+=("$pid")
done

dirs=()
for d in /run/berth-test-*; do
  [[ -e $d ]] || continue
  leak "state directory $d" && dirs+=("$d")
done

# Network wiring: berth's bridges (bth-*) and container veths (vth*), and nftables tables of
# test roots (berth_<hash>; the default root's table is "berth" and is not a test's).
links=()
while read -r link; do
  [[ -n $link ]] || continue
  leak "network link $link" && links+=("$link")
done < <(ip -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | grep -E '^(bth-|vth|vbp[0-9])')
# Namespaces the proxy tests make (tests/e2e/registry_proxy.bats).
namespaces=()
while read -r ns; do
  [[ -n $ns ]] || continue
  leak "network namespace $ns" && namespaces+=("$ns")
done < <(ip netns list 2>/dev/null | awk '$1 ~ /^bthprx[0-9]/ {print $1}')
tables=()
while read -r table; do
  [[ -n $table ]] || continue
  leak "nftables table ip $table" && tables+=("$table")
done < <(nft list tables ip 2>/dev/null | awk '$3 ~ /^berth_/ {print $3}')

if [[ -n $baseline_out ]]; then
  printf '%s\n' "${found[@]}" >"$baseline_out"
  echo "leak check: baseline of ${#found[@]} item(s) already on the host, in $baseline_out"
  exit 0
fi
if ((leaks == 0)); then
  echo "leak check: nothing left behind${rootfs:+ (fixture rootfs $rootfs)}"
  exit 0
fi
echo "leak check: $leaks leak(s) found"
if $clean; then
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  # Deepest first: a mount inside another mount, a cgroup inside another cgroup.
  printf '%s\n' "${mounts[@]}" | sort -r | while IFS= read -r m; do
    [[ -n $m ]] && umount -l "$m" 2>/dev/null
  done
  printf '%s\n' "${cgroups[@]}" | awk '{ print length, $0 }' | sort -rn | cut -d' ' -f2- |
    while IFS= read -r c; do [[ -n $c ]] && rmdir "$c" 2>/dev/null; done
  for d in "${dirs[@]}"; do rm -rf --one-file-system "$d"; done
  for l in "${links[@]}"; do ip link delete "$l" 2>/dev/null; done
  for t in "${tables[@]}"; do nft delete table ip "$t" 2>/dev/null; done
  for n in "${namespaces[@]}"; do ip netns delete "$n" 2>/dev/null; done
  echo "leak check: cleaned what could be cleaned; run again to see what is left"
fi
exit 1
