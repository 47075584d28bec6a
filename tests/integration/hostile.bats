#!/usr/bin/env bats
# Hostile containers (docs/hardening.md): containers that try to hurt the host with berth's
# default settings. Each attempt is blocked or contained, and each test proves that the host and
# a neighbour container were unaffected (host_and_neighbour_fine).
#
# The machine is shared: every hostile container runs with CPU and memory limits on top of the
# defaults under test (LIMITS), and the floods are small. BERTH_HOSTILE_LONG=1 runs the long
# mode: the fork bomb against the default pids limit itself, larger floods and more race rounds.

bats_require_minimum_version 1.5.0
load ../lib/berth
load ../lib/network

setup() {
  [[ $(id -u) -eq 0 ]] || { echo "the hostile-container tests need root" >&2; return 1; }
  berth_setup
  MARK=$((800000 + RANDOM))
  LONG=${BERTH_HOSTILE_LONG:-0}
  # Never a hostile container without limits: half a CPU and 128 MiB unless a test says otherwise.
  LIMITS=(--cpus 0.5 -m 128m)
  HELPER_DIR=$BATS_TEST_TMPDIR/helper
  HOST_DIR=/tmp/berth-hostile-$$-$BATS_TEST_NUMBER
  mkdir -p "$HOST_DIR"
  echo "host secret $MARK" >"$HOST_DIR/secret"
  detach neighbour --cpus 0.5 -m 64m busybox sleep "$MARK" >/dev/null
}

teardown() {
  [[ -z ${TMPFS_ROOT:-} ]] || leave_tmpfs_root
  rm -rf "$HOST_DIR"
  berth_teardown
}

# The host and the neighbour after an attack: berth answers, the neighbour still runs and
# execs, the host forks and its marker file is as it was, no new mount appeared on the host.
host_and_neighbour_fine() {
  b ps
  [ "$status" -eq 0 ]
  [ "$(state_of neighbour)" = running ]
  b exec neighbour sh -c 'echo alive'
  [ "$output" = alive ]
  [ "$(/bin/sh -c 'echo forked')" = forked ]
  [ "$(cat "$HOST_DIR/secret")" = "host secret $MARK" ]
  [ "$(ls -A "$HOST_DIR")" = secret ]
  ! grep -q " $HOST_DIR" /proc/self/mountinfo || false
}

# hostile_helper: the static helper (tests/integration/hostile-helper.c) in $HELPER_DIR, to bind
# into containers read-only at /h.
hostile_helper() {
  [[ -x $HELPER_DIR/hostile ]] && return 0
  mkdir -p "$HELPER_DIR"
  gcc -static -O1 -o "$HELPER_DIR/hostile" "$BERTH_SOURCE/tests/integration/hostile-helper.c"
}

# try CALL...: runs the helper in a hostile container with the default settings (+ LIMITS and
# any options in EXTRA); $output has one "<call>: <result>" line per call.
try() {
  hostile_helper
  local script="" call
  for call in "$@"; do script+="/h/hostile $call; "; done
  b run --rm "${LIMITS[@]}" "${EXTRA[@]}" -v "$HELPER_DIR:/h:ro" busybox sh -c "$script"
  [ "$status" -eq 0 ]
}

# cgroup_file CONTROLLER FILE ID: the path of a container's cgroup file (v1 or v2).
cgroup_file() {
  if [[ -d /sys/fs/cgroup/$1/berth/$3 ]]; then echo "/sys/fs/cgroup/$1/berth/$3/$2"; else echo "/sys/fs/cgroup/berth/$3/$2"; fi
}

# use_tmpfs_root SIZE: the rest of the test runs on a state of its own on a tmpfs of SIZE, so a
# container can fill berth's file system without touching the machine's disk.
use_tmpfs_root() {
  TMPFS_ROOT=$BATS_TEST_TMPDIR/small
  mkdir -p "$TMPFS_ROOT"
  mount -t tmpfs -o "size=$1" berth-hostile "$TMPFS_ROOT"
  FIRST_ROOT=$BERTH_ROOT FIRST_RUN_ROOT=$BERTH_RUN_ROOT
  export BERTH_ROOT=$TMPFS_ROOT/root BERTH_RUN_ROOT=$BATS_TEST_TMPDIR/small-run
  mkdir -p "$BERTH_ROOT" "$BERTH_RUN_ROOT"
  bq image import "$BERTH_FIXTURES/busybox-rootfs.tar" busybox >/dev/null
}

leave_tmpfs_root() {
  berth_clean_roots "$BERTH_ROOT" "$BERTH_RUN_ROOT" || true
  export BERTH_ROOT=$FIRST_ROOT BERTH_RUN_ROOT=$FIRST_RUN_ROOT
  umount -l "$TMPFS_ROOT" 2>/dev/null || true
  TMPFS_ROOT=
}

@test "fork bomb: stopped by the pids limit (default 2048 per container), host and neighbour keep forking" {
  # The default limit is in the kernel for a container started without --pids-limit.
  detach plain "${LIMITS[@]}" busybox sleep "$MARK" >/dev/null
  id=$(bq inspect -f '{{.Id}}' plain)
  [ "$(cat "$(cgroup_file pids pids.max "$id")")" = 2048 ]
  [ "$(bq inspect -f '{{.HostConfig.PidsLimit}}' plain)" = 2048 ]
  b rm -f plain
  # The bomb: short mode against a small explicit limit, long mode against the default.
  local limit=(--pids-limit 64) max=64
  if [[ $LONG == 1 ]]; then limit=() max=2048; fi
  detach bomb "${LIMITS[@]}" "${limit[@]}" busybox sh -c 'bomb() { bomb | bomb & }; bomb; exec sleep '"$MARK" >/dev/null
  id=$(bq inspect -f '{{.Id}}' bomb)
  events=$(cgroup_file pids pids.events "$id")
  # The kernel refused forks at the limit ("max N" counts them), and never let more run.
  wait_for 60 sh -c "[ \$(awk '/^max/ {print \$2}' $events) -gt 0 ]"
  (( $(cat "$(cgroup_file pids pids.current "$id")") <= max ))
  host_and_neighbour_fine
  b rm -f bomb
  [ "$status" -eq 0 ]
  ! [ -d "$(dirname "$events")" ] || false
  host_and_neighbour_fine
}

@test "memory hog with -m: OOM-killed, recorded in inspect and ps, host untouched" {
  local size=64
  [[ $LONG == 1 ]] && size=512
  b run --name hog --cpus 0.5 -m 32m busybox sh -c "dd if=/dev/zero of=/dev/null bs=${size}M count=1"
  [ "$status" -eq 137 ]
  [ "$(bq inspect -f '{{.State.OOMKilled}}' hog)" = true ]
  [ "$(bq inspect -f '{{.State.ExitCode}}' hog)" = 137 ]
  b ps -a --format json --filter name=hog
  [[ $output == *'"State":"exited"'* ]]
  [[ $output == *'Exited (137)'* ]]
  # The same attached to a terminal (`run -t`, which the runtime relays in the foreground).
  run timeout 60 script -qec "$BERTH run -t --name hog-tty --cpus 0.5 -m 32m busybox sh -c 'dd if=/dev/zero of=/dev/null bs=${size}M count=1'" /dev/null
  [ "$(bq inspect -f '{{.State.OOMKilled}}' hog-tty)" = true ]
  [ "$(bq inspect -f '{{.State.ExitCode}}' hog-tty)" = 137 ]
  host_and_neighbour_fine
}

@test "CPU hog: its --cpus quota is enforced by the kernel and the neighbour keeps running" {
  detach hog --cpus 0.2 -m 32m busybox sh -c 'while :; do :; done' >/dev/null
  id=$(bq inspect -f '{{.Id}}' hog)
  stat=$(cgroup_file cpu cpu.stat "$id")
  [ -f "$stat" ]
  # Throttled: the kernel stopped it at its quota, period after period.
  wait_for 30 sh -c "[ \$(awk '/^nr_throttled/ {print \$2}' $stat) -gt 2 ]"
  # The neighbour gets CPU time meanwhile: a loop of work finishes.
  b exec neighbour sh -c 'i=0; while [ $i -lt 20000 ]; do i=$((i + 1)); done; echo $i'
  [ "$output" = 20000 ]
  host_and_neighbour_fine
  b rm -f hog
}

@test "disk filler in the writable layer and in a volume: berth keeps working on a full disk" {
  use_tmpfs_root 48m
  detach neighbour --cpus 0.5 -m 64m busybox sleep "$MARK" >/dev/null
  b volume create filled
  b create --name late busybox true >/dev/null
  # Both start and wait for a signal from the host (a start needs a little space), then both
  # fill berth's file system to the last block.
  local go=$BATS_TEST_TMPDIR/go fill='while [ ! -e /go/now ]; do sleep 0.1; done; dd if=/dev/zero of=$0 bs=1M'
  mkdir -p "$go"
  detach layer "${LIMITS[@]}" -v "$go:/go:ro" busybox sh -c "$fill" /fill >/dev/null
  detach vol "${LIMITS[@]}" -v "$go:/go:ro" -v filled:/data busybox sh -c "$fill" /data/fill >/dev/null
  touch "$go/now"
  wait_for 60 state_is layer exited
  wait_for 60 state_is vol exited
  [ "$(df --output=avail "$TMPFS_ROOT" | tail -1)" -lt 1024 ]
  # With the disk full: listing, inspecting, logs, exec and removal work.
  host_and_neighbour_fine
  b inspect layer
  [ "$status" -eq 0 ]
  b logs layer
  [ "$status" -eq 0 ]
  # A container that cannot start for want of space says why and what to do, and one whose
  # program is missing names it (the runtime's message comes on a pipe, not through a file).
  b start late
  [ "$status" -ne 0 ]
  [[ $stderr == *"no space left on device"* && $stderr == *"hint: a file system berth writes to is full"* ]]
  b run --rm busybox /no/such/program
  [ "$status" -eq 127 ]
  [[ $stderr == *"exec '/no/such/program': no such file or directory"* ]]
  b rm layer vol late
  [ "$status" -eq 0 ]
  b volume rm filled
  [ "$status" -eq 0 ]
  # The space is back and the next container runs; nothing needs repair.
  b run --rm busybox echo ok
  [ "$output" = ok ]
  b system check
  [ "$output" = "nothing to repair" ]
}

@test "mount, kexec, kernel modules, keyctl and unshare -U are refused by the default profile" {
  EXTRA=()
  try mount unshare_mount unshare_user kexec init_module finit_module delete_module keyctl add_key
  [ "${lines[0]}" = "mount: EPERM" ]
  [ "${lines[1]}" = "unshare(CLONE_NEWNS): EPERM" ]
  [ "${lines[2]}" = "unshare(CLONE_NEWUSER): EPERM" ]
  [ "${lines[3]}" = "kexec_load: EPERM" ]
  [ "${lines[4]}" = "kexec_file_load: EPERM" ]
  [ "${lines[5]}" = "init_module: EPERM" ]
  [ "${lines[6]}" = "finit_module: EPERM" ]
  [ "${lines[7]}" = "delete_module: EPERM" ]
  [ "${lines[8]}" = "keyctl: EPERM" ]
  [ "${lines[9]}" = "add_key: EPERM" ]
  # busybox's own mount and unshare say the same.
  b run --rm "${LIMITS[@]}" busybox sh -c 'mount -t tmpfs none /mnt 2>&1; unshare -U true 2>&1; echo done'
  [[ $output == *"Operation not permitted"* ]]
  [[ ${lines[-1]} == done ]]
  host_and_neighbour_fine
}

@test "ptrace of another container's process: not even visible (pid namespace), attach refused" {
  local pid
  pid=$(bq inspect -f '{{.State.Pid}}' neighbour)
  [ "$pid" -gt 1 ]
  EXTRA=()
  try "ptrace $pid"
  [[ ${lines[0]} == "ptrace(PTRACE_ATTACH): ESRCH" || ${lines[0]} == "ptrace(PTRACE_ATTACH): EPERM" ]]
  # Nobody else's process is in its /proc.
  b run --rm "${LIMITS[@]}" busybox sh -c "for p in /proc/[0-9]*; do
    [ \"\$(tr '\\0' ' ' <\$p/cmdline 2>/dev/null)\" != 'sleep $MARK ' ] || echo \$p; done | wc -l"
  [ "$output" = 0 ]
  host_and_neighbour_fine
}

@test "raw sockets: refused without NET_RAW; with the default NET_RAW only the container's own links" {
  EXTRA=(--cap-drop NET_RAW)
  try raw_socket packet_socket
  [ "${lines[0]}" = "socket(AF_INET, SOCK_RAW): EPERM" ]
  [ "${lines[1]}" = "socket(AF_PACKET): EPERM" ]
  # Docker's default keeps NET_RAW (ping): such a socket sees the container's namespace only.
  b run --rm "${LIMITS[@]}" busybox ls /sys/class/net
  [ "$(echo "$output" | sort | tr '\n' ' ')" = "eth0 lo " ]
  host_and_neighbour_fine
}

@test "writes to /proc/sys, /proc/sysrq-trigger and /sys are refused; the host's values stay" {
  local panic thp
  panic=$(cat /proc/sys/kernel/panic)
  thp=$(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null | sed 's/.*\[\(.*\)\].*/\1/')
  # Each write puts back the value the host has, so even a write that got through would change
  # nothing; the test wants it refused. (kernel.panic is global, not per namespace.)
  b run --rm "${LIMITS[@]}" busybox sh -c "
    echo $panic >/proc/sys/kernel/panic 2>&1 || echo refused-sysctl
    [ ! -e /proc/sysrq-trigger ] || echo h >/proc/sysrq-trigger 2>&1 || echo refused-sysrq
    [ -z '$thp' ] || echo $thp >/sys/kernel/mm/transparent_hugepage/enabled 2>&1 || echo refused-sysfs
    [ -n '$thp' ] || touch /sys/hostile 2>&1 || echo refused-sysfs
    if [ -e /proc/kcore ]; then cat /proc/kcore 2>/dev/null | head -c 1 | wc -c; else echo 0; fi"
  [[ $output == *refused-sysctl* ]]
  [[ ! -e /proc/sysrq-trigger || $output == *refused-sysrq* ]]
  [[ $output == *refused-sysfs* ]]
  [ "$(echo ${lines[-1]})" = 0 ]  # /proc/kcore is masked (or absent)
  [ "$(cat /proc/sys/kernel/panic)" = "$panic" ]
  host_and_neighbour_fine
}

@test "/dev: no host device nodes; mknod of the host's disk and of /dev/mem gives nothing to open" {
  local disk major minor
  # The host's first real disk (vda, sda, nvme0n1...), else sda's numbers.
  for disk in /sys/block/*; do
    case $(basename "$disk") in loop* | ram* | zram* | dm-* | md* | sr*) continue ;; esac
    IFS=: read -r major minor <"$disk/dev"
    break
  done
  major=${major:-8} minor=${minor:-0}
  b run --rm "${LIMITS[@]}" busybox sh -c "
    ls /dev
    for n in mem kmem port sda vda nvme0n1; do [ ! -e /dev/\$n ] || echo present-\$n; done
    mknod /tmp/disk b $major $minor && dd if=/tmp/disk of=/dev/null bs=512 count=1 2>&1
    mknod /tmp/mem c 1 1 && dd if=/tmp/mem of=/dev/null bs=1 count=1 2>&1
    echo end"
  [[ $output != *present-* ]]
  # The node can be made (CAP_MKNOD, as Docker), but the device cgroup refuses to open it.
  [ "$(grep -c 'Operation not permitted' <<<"$output")" -eq 2 ]
  [[ $output != *"records in"* ]]
  host_and_neighbour_fine
}

@test "berth cp: a symlink at the destination or a path swapped for a symlink to / never leaves the container" {
  detach target "${LIMITS[@]}" busybox sh -c "mkdir -p /victim; ln -s $HOST_DIR/planted /victim/file;
    ln -s $HOST_DIR /victim/dir; ln -s / /victim/root; exec sleep $MARK" >/dev/null
  wait_for 10 bq exec target test -L /victim/root
  echo payload >"$BATS_TEST_TMPDIR/file"
  # Into a name that is a symlink to a host path: the symlink is replaced, the host untouched.
  b cp "$BATS_TEST_TMPDIR/file" target:/victim/
  [ "$status" -eq 0 ]
  [ ! -e "$HOST_DIR/planted" ]
  [ "$(bq exec target cat /victim/file)" = payload ]
  # Through directory symlinks: they resolve inside the container.
  b cp "$BATS_TEST_TMPDIR/file" target:/victim/dir/
  [ ! -e "$HOST_DIR/file" ]
  b cp "$BATS_TEST_TMPDIR/file" target:/victim/root/tmp/
  [ "$(bq exec target cat /tmp/file)" = payload ]
  b cp target:/victim/root/victim/file "$BATS_TEST_TMPDIR/back"
  [ "$(cat "$BATS_TEST_TMPDIR/back")" = payload ]
  b cp "target:/victim/dir/secret" "$BATS_TEST_TMPDIR/stolen"
  [ "$status" -ne 0 ]
  [ ! -e "$BATS_TEST_TMPDIR/stolen" ]
  b rm -f target
  # The race: the container swaps /d between a directory and a symlink to the host's directory
  # while berth copies out of and into it, round after round.
  local rounds=20 i
  [[ $LONG == 1 ]] && rounds=500
  detach racer "${LIMITS[@]}" busybox sh -c "while :; do
      rm -rf /d; mkdir /d; echo container >/d/secret; rm -rf /d; ln -s $HOST_DIR /d; done" >/dev/null
  for i in $(seq "$rounds"); do
    "$BERTH" cp racer:/d/secret "$BATS_TEST_TMPDIR/got" >/dev/null 2>&1 </dev/null 3>&- || true
    if [[ -e $BATS_TEST_TMPDIR/got ]]; then
      # The container's file (empty when caught between its create and its write), never the host's.
      [[ $(cat "$BATS_TEST_TMPDIR/got") == container || ! -s $BATS_TEST_TMPDIR/got ]]
      rm -f "$BATS_TEST_TMPDIR/got"
    fi
    "$BERTH" cp "$BATS_TEST_TMPDIR/file" racer:/d/ >/dev/null 2>&1 </dev/null 3>&- || true
  done
  b rm -f racer
  host_and_neighbour_fine
}

@test "volume paths: a mount destination or a volume holding symlinks to the host stays inside" {
  # The destination of a volume is a symlink to a host directory: the volume is mounted on the
  # path inside the container, never on the host's directory.
  b create --name dest "${LIMITS[@]}" -v vol1:/evil busybox sh -c 'echo in-volume >/evil/f; ls /evil'
  ln -s "$HOST_DIR" "$BATS_TEST_TMPDIR/evil"
  b cp "$BATS_TEST_TMPDIR/evil" dest:/evil
  [ "$status" -eq 0 ]
  b start -a dest
  [ "$status" -eq 0 ]
  [ "$output" = f ]
  host_and_neighbour_fine
  # A volume full of symlinks to / and to the host: removing it removes the links, not their
  # targets.
  b run --rm "${LIMITS[@]}" -v vol2:/data busybox sh -c "ln -s / /data/root; ln -s $HOST_DIR /data/host;
    ln -s $HOST_DIR/secret /data/secret"
  b volume rm vol2
  [ "$status" -eq 0 ]
  b rm dest
  b volume rm vol1
  [ "$status" -eq 0 ]
  host_and_neighbour_fine
}

@test "volume paths: a container swapping a component of another's volume destination never makes berth create or mount outside" {
  # The racer shares volume `shared` with the victims and swaps /v/d between a directory and a
  # symlink to a host directory (renameat2 RENAME_EXCHANGE in a loop), while victims start with
  # a second volume mounted at /v/d/x.
  # A mount point resolved first and created or mounted on by name afterwards (runc's
  # CVE-2021-30465) would land in the host directory: berth resolves it once, to a descriptor.
  hostile_helper
  b volume create shared
  b volume create other
  detach racer "${LIMITS[@]}" -v shared:/v -v "$HELPER_DIR:/h:ro" busybox sh -c \
    "mkdir /v/d && ln -s $HOST_DIR /v/link && exec /h/hostile swap /v/d /v/link" >/dev/null
  local rounds=20 i started=0 refused=0
  [[ $LONG == 1 ]] && rounds=300
  for i in $(seq "$rounds"); do
    if "$BERTH" run --rm "${LIMITS[@]}" -v shared:/v -v other:/v/d/x busybox true \
        >"$BATS_TEST_TMPDIR/out" 2>&1 </dev/null 3>&-; then
      started=$((started + 1))
    else
      # Failing closed is allowed, with the message that says why.
      grep -q "changed while it was being mounted" "$BATS_TEST_TMPDIR/out" ||
        { cat "$BATS_TEST_TMPDIR/out"; false; }
      refused=$((refused + 1))
    fi
    # Nothing was created in the host directory, and nothing is mounted there.
    [ "$(ls -A "$HOST_DIR")" = secret ]
  done
  echo "# $rounds rounds: $started started, $refused refused" >&3
  b rm -f racer
  ! grep -q "$HOST_DIR" /proc/self/mountinfo
  host_and_neighbour_fine
}

@test "log flood: rotated at 10 MiB into 3 files, whatever the container writes" {
  local mib=48
  [[ $LONG == 1 ]] && mib=400
  b run --name flood "${LIMITS[@]}" busybox sh -c "head -c $((mib << 20)) /dev/zero | tr '\\0' x"
  [ "$status" -eq 0 ]
  id=$(bq inspect -f '{{.Id}}' flood)
  local total=0 n=0 f size
  for f in "$BERTH_ROOT/containers/$id"/log.jsonl*; do
    size=$(stat -c %s "$f")
    # A file passes 10 MiB by less than one record (a 16 KiB line, JSON-escaped).
    (( size <= 10 * 1024 * 1024 + 64 * 1024 ))
    total=$((total + size))
    n=$((n + 1))
  done
  [ "$n" -le 3 ]
  (( total <= 3 * (10 * 1024 * 1024 + 64 * 1024) ))
  # The newest lines are there, and berth reads the log.
  b logs --tail 1 flood
  [ "$status" -eq 0 ]
  [[ $output == x* ]]
  host_and_neighbour_fine
}

@test "DNS flood: one container's queries beyond its rate are dropped before berth-dns; the others still resolve" {
  hostile_helper
  net=flood$$
  b network create "$net"
  [ "$status" -eq 0 ]
  detach target --network "$net" busybox sleep "$MARK" >/dev/null
  b run --rm --network "$net" busybox awk '/^nameserver/ { print $2; exit }' /etc/resolv.conf
  [ "$status" -eq 0 ]
  dns=$output
  # Far over the limit (2000 a second, a burst of 4000), fast enough to fill berth-dns's socket.
  b run -d --name flooder "${LIMITS[@]}" --network "$net" -v "$HELPER_DIR:/h:ro" busybox /h/hostile udpflood "$dns" 300000
  [ "$status" -eq 0 ]
  resolved=0
  for _ in $(seq 10); do
    b run --rm --network "$net" busybox nslookup target "$dns"
    [[ $status -eq 0 && $output == *"Name:"*"target"* ]] && resolved=$((resolved + 1))
  done
  b wait flooder
  b logs flooder
  [[ $output == "udpflood: sent 300000" ]]
  # Every lookup of the others was answered, and the rule dropped the flood's excess.
  [ "$resolved" -eq 10 ]
  dropped=$(nft list chain ip "$(fw_table)" input | grep -o 'counter packets [0-9]*' | awk '{ print $3 }')
  [ "${dropped:-0}" -gt 1000 ]
  host_and_neighbour_fine
}
