# Helpers for the crash tests (tests/integration/crash.bats, crash_walk.bats): what must hold after
# berth was killed anywhere. Load after ../lib/berth; tests set MARK (a number in their
# containers' command lines, so a leftover process of theirs is found).

# kill_after SECONDS ARGS...: starts berth ARGS and SIGKILLs it after SECONDS (if still running).
kill_after() {
  local delay=$1 pid
  shift
  "$BERTH" "$@" >/dev/null 2>&1 </dev/null 3>&- &
  pid=$!
  sleep "$delay"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# Full ids of the containers berth lists as running.
running_ids() {
  "$BERTH" ps -q --no-trunc </dev/null 3>&-
}

# Ids of every container berth has files, runtime state or a cgroup for (also those without a row).
seen_ids() {
  { ls "$BERTH_ROOT/containers" "$BERTH_RUN_ROOT/containers" "$BERTH_RUN_ROOT/runtime" 2>/dev/null; } |
    grep -E '^[0-9a-f]{64}$' | sort -u
}

# leftovers SEEN_IDS: prints what must not exist for a container that does not run. Only the
# running ones may have a mount, runtime state, a monitor and processes.
leftovers() {
  local seen=$1 running all m id p cmd
  running=$(running_ids)
  all=$("$BERTH" ps -aq --no-trunc </dev/null 3>&-)
  while read -r m; do
    [[ -n $m ]] || continue
    id=${m#"$BERTH_ROOT/containers/"}
    id=${id#"$BERTH_RUN_ROOT/containers/"}
    id=${id#"$BERTH_RUN_ROOT/netns/"}
    id=${id%%/*}
    # A running container's rootfs (under the run root for a --rm one), and its network
    # namespace (bound while it runs).
    [[ ( $m == "$BERTH_ROOT/containers/$id/rootfs" || $m == "$BERTH_RUN_ROOT/containers/$id/rootfs" ||
         $m == "$BERTH_RUN_ROOT/netns/$id" ) && $running == *"$id"* ]] || echo "mount $m"
  done < <(awk -v a="$BERTH_ROOT/" -v b="$BERTH_RUN_ROOT/" \
    'index($5, a) == 1 || index($5, b) == 1 {print $5}' /proc/self/mountinfo)
  # Files of a container berth does not list: its layer on disk, its bundle under the run root.
  for p in "$BERTH_ROOT"/containers/* "$BERTH_RUN_ROOT"/containers/*; do
    [[ -e $p ]] || continue
    [[ $all == *"$(basename "$p")"* ]] || echo "files $p"
  done
  for p in "$BERTH_RUN_ROOT"/runtime/*; do
    [[ -e $p ]] || continue
    [[ $running == *"$(basename "$p")"* ]] || echo "runtime state $p"
  done
  for p in /proc/[0-9]*; do
    cmd=$({ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null) || continue
    if [[ $cmd == *berth-monitor*"--dir $BERTH_ROOT/containers/"* ||
          $cmd == *berth-monitor*"--dir $BERTH_RUN_ROOT/containers/"* ]]; then
      id=${cmd#*"--dir "}
      id=${id%% *}
      id=${id##*/}
      [[ $running == *"$id"* ]] || echo "monitor ${p#/proc/} of $id"
    fi
    for id in $seen; do
      [[ $running != *"$id"* ]] || continue
      grep -qs "/berth/$id" "$p/cgroup" && echo "process ${p#/proc/} in the cgroup of $id: $cmd"
    done
    if [[ $cmd == *"sleep $MARK"* && -z $running ]]; then echo "container process ${p#/proc/}: $cmd"; fi
  done
  local links
  links=$(ip -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print $2}')
  for id in $seen; do
    [[ $running != *"$id"* ]] || continue
    # The unified hierarchy (v2) or any v1 controller's.
    for p in /sys/fs/cgroup/berth/"$id" /sys/fs/cgroup/*/berth/"$id"; do
      [[ ! -d $p ]] || echo "cgroup $p"
    done
    grep "^vth${id:0:11}" <<<"$links" | sed 's/^/veth /' || true
  done
  for p in "$BERTH_ROOT"/layers/*.tmp-* "$BERTH_ROOT"/ingest/* "$BERTH_ROOT"/*.tmp-*; do
    [[ -e $p ]] && echo "half-written $p"
  done
  # A build's work directory (12 hex digits) while no build runs.
  for p in "$BERTH_ROOT"/build/*; do
    [[ $(basename "$p") =~ ^[0-9a-f]{12}$ ]] && echo "build work directory $p"
  done
  # Port forwarding rules in this root's nftables table while nothing runs.
  if [[ -z $running ]] && declare -F dnat_rules >/dev/null; then
    dnat_rules | sed 's/^/nftables rule /'
  fi
  return 0
}

# assert_no_leftovers SEEN_IDS: leftovers finds nothing (monitors take a moment to go).
assert_no_leftovers() {
  local left i
  for i in $(seq 50); do
    left=$(leftovers "$1")
    [[ -n $left ]] || return 0
    sleep 0.1
  done
  echo "left behind:" >&2
  echo "$left" >&2
  return 1
}

# after_crash [WANTED]: the next commands work, `system check` repairs (its report contains
# WANTED, if given), a second check finds nothing, and nothing is left behind.
after_crash() {
  local wanted=${1:-} seen
  seen=$(seen_ids)
  b ps -a
  [ "$status" -eq 0 ]
  b images
  [ "$status" -eq 0 ]
  b volume ls
  [ "$status" -eq 0 ]
  b run --rm busybox true
  [ "$status" -eq 0 ]
  b system check
  [ "$status" -eq 0 ]
  [[ -z $wanted || $output == *"$wanted"* ]] || { echo "check did not report '$wanted'" >&2; return 1; }
  b system check
  [ "$status" -eq 0 ]
  [ "$output" = "nothing to repair" ]
  assert_no_leftovers "$seen"
}

# A docker-archive of three layers (busybox, 2000 files and 16 MiB, a marker) in the test's tmp.
layered_archive() {
  local out=$BATS_TEST_TMPDIR/layered.tar
  [[ -f $out ]] || python3 "$BERTH_SOURCE/tests/lib/make-archive.py" layered "$out" \
    "$BERTH_FIXTURES/busybox-rootfs.tar" crash/layered:1
  echo "$out"
}
