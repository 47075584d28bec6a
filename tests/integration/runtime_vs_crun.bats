#!/usr/bin/env bats
# berth-runtime against crun, field by field: every value of every row of the support table in
# docs/runtime.md runs in a real container under both runtimes, from the same bundle, and what
# the container sees must be the same (see `probe` for what is compared). One @test per field;
# inside it, each value is a case, and a failure names every differing field=value with a diff.
#
# Both runtimes run in the same private mount namespace in which the host's cgroup2 beside the
# v1 controllers (/sys/fs/cgroup/unified) is unmounted: crun 1.8 refuses such "hybrid" hosts
# ("cgroups in hybrid mode not supported"), and berth treats them as v1 anyway. Private, so that
# nothing a runtime mounts or unmounts there reaches the host. Their stdin is a copy of the null
# device: crun gives its stdin, stdout and stderr to the container's user, and would give it the
# host's /dev/null (docs/runtime.md, "Differences from crun").
#
# Differences kept on purpose are listed in docs/runtime.md, "Differences from crun"; `known`
# runs such a case and fails if the difference is gone (then move the case to `same` and drop the
# docs entry). Cases another branch fixes are skipped with the fix named.

load ../lib/bundle

setup_file() {
  command -v crun >/dev/null ||
    { echo "crun is not installed: scripts/setup installs it; this test compares with it" >&2; return 1; }
}

setup() {
  bundle_setup
  mknod -m 666 "$BATS_TEST_TMPDIR/null" c 1 3
  CRUN_ROOT=/run/berth-test-crun-$$-$BATS_TEST_NUMBER
  mkdir -p "$CRUN_ROOT"
  differences=() holders=()
}

teardown() {
  local dir pid
  for dir in "$CRUN_ROOT"/*/; do
    [[ -d $dir ]] && crun_rt delete --force "$(basename "$dir")" >/dev/null 2>&1
  done
  rm -rf --one-file-system "$CRUN_ROOT"
  for pid in "${holders[@]}"; do kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  bundle_teardown
  [[ $(stat -c %u:%g /dev/null) == 0:0 ]] ||
    { echo "the host's /dev/null changed owner: $(stat -c %u:%g /dev/null)" >&2; return 1; }
}

# in_test_ns CMD...: CMD in a private mount namespace without the hybrid cgroup2 (see above).
in_test_ns() {
  unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$@"' \
    sh "$@" <"$BATS_TEST_TMPDIR/null"
}
crun_rt() { in_test_ns crun --root "$CRUN_ROOT" "$@"; }
berth_rt() { in_test_ns "$BERTH_RUNTIME" --root "$RT_ROOT" "$@"; }

# What the container shows of itself. Mount ids, peer group numbers and device numbers of
# anonymous file systems are left out; mounts are sorted by mount point.
# shellcheck disable=SC2016
probe='echo "== pid 1?"; [ $$ = 1 ] && echo yes || echo no
echo "== hostname"; hostname
echo "== domainname"; cat /proc/sys/kernel/domainname
echo "== id"; id
echo "== umask cwd"; umask; pwd
echo "== env"; env | sort
echo "== status"; grep -E "^(Cap|NoNewPrivs|Seccomp|Groups)" /proc/self/status
echo "== oom_score_adj"; cat /proc/self/oom_score_adj
echo "== limits"; cat /proc/self/limits
echo "== personality"; cat /proc/self/personality; uname -m
echo "== cgroup"; cat /proc/self/cgroup
echo "== mounts"; awk "{o=\"\"; for(i=7;\$i!=\"-\";i++){f=\$i; sub(/:[0-9]+\$/,\"\",f); o=o f \" \"}; print \$5, \$4, \$6, o \"-\", \$(i+1), \$(i+2), \$(i+3)}" /proc/self/mountinfo | sort
echo "== dev"; for f in /dev/* /dev/pts/*; do stat -c "%n %F %t:%T %a %u:%g" $f; done 2>&1
echo "== namespaces"; for f in /proc/self/ns/*; do echo "${f##*/} $(readlink $f)"; done
echo "== extra"'

# normalise ID CGROUP: what legitimately differs between two runs (ids, the cgroup, this test's
# temporary directory) and what docs/runtime.md lists as an accepted difference.
normalise() {
  local id=$1 cg=$2 ns_names=() f v
  # Namespaces: the host's and the holder's by name, any other one is "new".
  for f in /proc/$$/ns/* ${HOLDER:+/proc/$HOLDER/ns/*}; do
    v=$(readlink "$f") && v=${v//[/\\[} && v=${v//]/\\]}
    ns_names+=(-e "s/ $v\$/ <$([[ $f == /proc/$$/* ]] && echo host || echo holder)>/")
  done
  sed -e "s|$id|<id>|g" -e "s|$cg|<cg>|g" -e "s|$BATS_TEST_TMPDIR|<tmp>|g" "${ns_names[@]}" \
    -e "s|$(cd "$BATS_TEST_TMPDIR" && pwd -P)|<tmp>|g" \
    -E -e 's/:\[[0-9]+\]$/:<new>/' |
    # Differences from crun 1: a read-only mount of a new file system (tmpfs, proc, sysfs, masked
    # directories) is read-only in its super block too under berth; crun makes only the mount so.
    sed -E -e 's/^(\S+ \S+ ro(,\S+)? (\S+ )*- \S+ \S+) ro(,|$)/\1 rw\4/' |
    # 3: a masked file is the container's /dev/null under berth (as runc), the host's under crun.
    sed -E -e 's/^(\S+) \/null .*/\1 \/null <dev-null>/' |
    # 5: crun gives its stdin, stdout and stderr to the process's user, and its stdin is the
    # container's /dev/null.
    sed -E -e 's/^(\/dev\/null character special file 1:3 666) .*/\1 <owner>/' |
    # 4: /dev/core links to /proc/kcore only where the host kernel has one (crun: always).
    { if [[ -e /proc/kcore ]]; then cat; else grep -v '^/dev/core symbolic link'; fi; }
}

# run_case RUNTIME BUNDLE ID: runs the container in the foreground; sets <runtime>_status,
# <runtime>_out (stdout, normalised) and <runtime>_err.
run_case() {
  local rt=$1 bundle=$2 id=$3 cg status out err
  cg=$(jq -r '.linux.cgroupsPath // "none"' "$bundle/config.json")
  cg=${cg##*/}
  out=$BATS_TEST_TMPDIR/$id.out err=$BATS_TEST_TMPDIR/$id.err
  "${rt}_rt" run --bundle "$bundle" "$id" >"$out" 2>"$err" && status=0 || status=$?
  # crun 1.8.1 sometimes leaves the cgroup of a container that has exited (seen with a few bind
  # options): remove what is left, so the leak check counts only real leaks.
  local cgpath dir
  cgpath=$(jq -r '.linux.cgroupsPath // ""' "$bundle/config.json")
  if [[ $rt == crun && -n $cgpath ]]; then
    for _ in 1 2 3 4 5; do
      for dir in /sys/fs/cgroup/*/"${cgpath#/}"; do [[ -d $dir ]] && rmdir "$dir" 2>/dev/null; done
      compgen -G "/sys/fs/cgroup/*/${cgpath#/}" >/dev/null || break
      sleep 0.1
    done
  fi
  printf -v "${rt}_status" %s "$status"
  printf -v "${rt}_out" %s "$(normalise "$id" "$cg" <"$out")"
  printf -v "${rt}_err" %s "$(cat "$err")"
}

# compare NAME FILTER [CMD [JQ_ARGS...]]: the config is the fixture's, a cgroupsPath of its own,
# then FILTER (a jq filter; $tmp is this test's temporary directory, $bundle the bundle, JQ_ARGS
# may add more), and the process runs the probe then CMD (its exit status is the container's).
# Sets berth_* and crun_*; returns 1 if they differ.
compare() {
  local name=$1 filter=$2 cmd=${3:-true} rt id bundle
  [[ -n $cmd ]] || cmd=true
  case_name=$name
  for rt in berth crun; do
    id=$(unique_id "berth-test-vs-${rt:0:1}")
    bundle=$(make_bundle "$id")
    # A rootfs of its own: what one run writes (mount points, files) must not reach the other's.
    cp -a "$BERTH_ROOTFS" "$bundle/rootfs"
    patch_config "$bundle" '.root.path = $bundle + "/rootfs" | .linux.cgroupsPath = "/" + $id | .process.args = ["/bin/sh", "-c", $probe + "\n" + $cmd]' \
      --arg id "$id" --arg probe "$probe" --arg cmd "$cmd" --arg bundle "$bundle"
    patch_config "$bundle" "$filter" --arg tmp "$BATS_TEST_TMPDIR" --arg bundle "$bundle" "${@:4}" ||
      { echo "$name: bad filter" >&2; return 2; }
    run_case "$rt" "$bundle" "$id"
  done
  if [[ -n ${drop_re:-} ]]; then
    berth_out=$(grep -vE "$drop_re" <<<"$berth_out") crun_out=$(grep -vE "$drop_re" <<<"$crun_out")
  fi
  # Error messages (stderr) are each runtime's own: only the status and stdout are compared.
  [[ $berth_status == "$crun_status" && $berth_out == "$crun_out" ]]
}

# show: what differs in the last case.
show() {
  echo "--- $case_name: berth exit $berth_status, crun exit $crun_status"
  diff <(echo "$crun_out") <(echo "$berth_out") | sed 's/^</crun: /; s/^>/berth:/' | grep -v '^---' | head -20 || true
  [[ -n $berth_err ]] && echo "berth stderr: $berth_err"
  [[ -n $crun_err ]] && echo "crun stderr: $crun_err"
  return 0
}

# same NAME FILTER [CMD]: the case must look the same under both runtimes.
same() {
  if ! compare "$@"; then
    differences+=("$1")
    show
  fi
}

# known REASON NAME FILTER [CMD]: a difference docs/runtime.md lists; it must still be there.
known() {
  local reason=$1
  shift
  if compare "$@"; then
    differences+=("$1 (listed as a difference, now the same: update docs/runtime.md)")
  else
    echo "# known difference, $1: $reason" >&3
  fi
}

# verdict: fails naming every differing case of this test.
verdict() {
  if ((${#differences[@]})); then
    printf 'differs from crun: %s\n' "${differences[@]}"
    return 1
  fi
}

# holder ARGS...: a process in new namespaces made by `unshare ARGS` (-u -i -n ...), hostname
# "holder", for cases that join namespaces by path; sets HOLDER to its pid (the forked child with
# --fork). Killed by teardown.
holder() {
  local ready=$BATS_TEST_TMPDIR/holder.ready pid
  rm -f "$ready"
  unshare "$@" sh -c 'hostname holder 2>/dev/null; touch "$0"; exec sleep 300' "$ready" &
  pid=$!
  holders+=("$pid")
  for _ in $(seq 100); do [[ -e $ready ]] && break; sleep 0.05; done
  HOLDER=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null)
  HOLDER=${HOLDER%% *}
  [[ -n $HOLDER ]] && holders+=("$HOLDER") || HOLDER=$pid
}

@test "baseline: the fixture's config" {
  same "fixture" '.'
  verdict
}

@test "linux.namespaces: each type new, absent, or joined by path" {
  same "pid=absent" 'del(.linux.namespaces[] | select(.type == "pid"))'
  same "network=absent" 'del(.linux.namespaces[] | select(.type == "network"))'
  same "ipc=absent" 'del(.linux.namespaces[] | select(.type == "ipc"))'
  same "uts=absent (no hostname)" 'del(.linux.namespaces[] | select(.type == "uts")) | del(.hostname)'
  same "uts=absent with a hostname" 'del(.linux.namespaces[] | select(.type == "uts"))'
  same "cgroup=new" '.linux.namespaces += [{"type": "cgroup"}]'
  known "crun 1.8.1 fails: write to sync socket" \
    "time=new" '.linux.namespaces += [{"type": "time"}]' 'cat /proc/self/timens_offsets'
  same "user=new, mapped" '.linux.namespaces += [{"type": "user"}] | .linux.uidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}] | .linux.gidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]' \
    'cat /proc/self/uid_map /proc/self/gid_map; ls -ln /etc/passwd | cut -d" " -f3-'
  holder -u -i -n
  same "uts,ipc,network=path (no hostname)" 'del(.hostname) | .linux.namespaces |= map(if .type == "uts" or .type == "ipc" or .type == "network" then .path = "/proc/\($h)/ns/\(if .type == "network" then "net" else .type end)" else . end)' \
    '' --arg h "$HOLDER"
  holder -p --fork
  same "pid=path" '.linux.namespaces |= map(if .type == "pid" then .path = "/proc/\($h)/ns/pid" else . end)' '' --arg h "$HOLDER"
  holder -U -r
  same "user=path" '.linux.namespaces += [{"type": "user", "path": "/proc/\($h)/ns/user"}]' 'cat /proc/self/uid_map' --arg h "$HOLDER"
  verdict
}

@test "linux.namespaces: mount absent or joined, hostname in a joined uts namespace" {
  # crun makes the spec's mounts in a namespace that is not the container's (the host's, or the
  # holder's) and leaves them there; berth mounts nothing there and warns (docs/runtime.md).
  known "berth does not mount into a mount namespace that is not the container's own" \
    "mount=absent" 'del(.linux.namespaces[] | select(.type == "mount"))'
  holder -m -u
  known "berth does not mount into a mount namespace that is not the container's own" \
    "mount=path" '.linux.namespaces |= map(if .type == "mount" then .path = "/proc/\($h)/ns/mnt" else . end)' '' --arg h "$HOLDER"
  same "uts=path with a hostname" '.linux.namespaces |= map(if .type == "uts" then .path = "/proc/\($h)/ns/uts" else . end)' '' --arg h "$HOLDER"
  verdict
}

@test "root: path and readonly" {
  same "path=relative (to the bundle)" '.root.path = "rootfs"'
  same "readonly=true" '.root.readonly = true' 'touch /x 2>&1; touch /tmp/x 2>&1'
  same "readonly=false" '.root.readonly = false'
  verdict
}

# A mount at /mnt of TYPE with OPTIONS (a JSON list), then CMD.
mount_case() {
  local type=$1 source=$2 options=$3 cmd=${4:-}
  same "mounts: $type $options" '.mounts += [{"destination": "/mnt", "type": $t, "source": $s, "options": $o}]' \
    "$cmd" --arg t "$type" --arg s "$source" --argjson o "$options"
}

@test "mounts: bind and rbind, each option" {
  mkdir -p "$BATS_TEST_TMPDIR/src/sub" && echo hi >"$BATS_TEST_TMPDIR/src/file"
  mount -t tmpfs berth-test-vs "$BATS_TEST_TMPDIR/src/sub"
  local src=$BATS_TEST_TMPDIR/src o
  for o in '["bind"]' '["rbind"]' '["bind","ro"]' '["rbind","ro"]' '["bind","rw"]' '["bind","nosuid"]' \
    '["bind","suid"]' '["bind","nodev"]' '["bind","dev"]' '["bind","noexec"]' '["bind","exec"]' \
    '["bind","noatime"]' '["bind","atime"]' '["bind","nodiratime"]' '["bind","diratime"]' \
    '["bind","relatime"]' '["bind","norelatime"]' '["bind","strictatime"]' '["bind","nostrictatime"]' \
    '["bind","sync"]' '["bind","async"]' '["bind","dirsync"]' '["bind","lazytime"]' '["bind","nolazytime"]' \
    '["bind","mand"]' '["bind","nomand"]' '["bind","silent"]' '["bind","loud"]' '["bind","defaults"]' \
    '["bind","ro","nosuid","nodev","noexec"]' '["rbind","rprivate"]' '["rbind","private"]' \
    '["rbind","rshared"]' '["rbind","shared"]' '["rbind","rslave"]' '["rbind","slave"]' \
    '["rbind","runbindable"]' '["rbind","unbindable"]'; do
    case $o in
      *shared* | *unbindable*)
        known "crun 1.8.1 ignores propagation options of a bind mount" \
          "mounts: bind $o" '.mounts += [{"destination": "/mnt", "type": "bind", "source": $s, "options": $o}]' \
          '' --arg s "$src" --argjson o "$o" ;;
      *) mount_case bind "$src" "$o" 'cat /mnt/file; touch /mnt/new 2>&1; rm -f /mnt/new' ;;
    esac
  done
  same "mounts: bind of a file" '.mounts += [{"destination": "/etc/hostfile", "type": "bind", "source": ($tmp + "/src/file"), "options": ["bind", "ro"]}]' 'cat /etc/hostfile'
  same "mounts: bind without a type" '.mounts += [{"destination": "/mnt", "source": ($tmp + "/src"), "options": ["rbind"]}]'
  same "mounts: bind of a missing source" '.mounts += [{"destination": "/mnt", "type": "bind", "source": ($tmp + "/missing"), "options": ["bind"]}]'
  umount "$BATS_TEST_TMPDIR/src/sub"
  verdict
}

@test "mounts: tmpfs, proc, sysfs, devpts, mqueue with their options" {
  local o
  for o in '[]' '["size=1m"]' '["mode=700"]' '["uid=1000","gid=1000"]' '["ro"]' '["nosuid","nodev","noexec"]' \
    '["noatime"]' '["strictatime"]' '["nr_inodes=100"]' '["remount"]' '["rprivate"]' '["tmpcopyup"]'; do
    mount_case tmpfs tmpfs "$o" 'stat -c "%a %u:%g" /mnt'
  done
  mount_case proc proc '[]' 'ls /mnt/self/ >/dev/null && echo proc-ok'
  mount_case proc proc '["ro","nosuid"]'
  known "berth's read-only /sys makes the sysfs super block read-only, so a second sysfs mount is too" \
    "mounts: sysfs []" '.mounts += [{"destination": "/mnt", "type": "sysfs", "source": "sysfs"}]'
  mount_case sysfs sysfs '["ro"]'
  mount_case devpts devpts '["newinstance","ptmxmode=0600","mode=0600"]'
  mount_case mqueue mqueue '["ro"]'
  same "mounts: an unknown file system type" '.mounts += [{"destination": "/mnt", "type": "nosuchfs", "source": "x"}]'
  same "mounts: an unknown option" '.mounts += [{"destination": "/mnt", "type": "tmpfs", "source": "tmpfs", "options": ["nosuchoption"]}]'
  same "mounts: destination through a symlink" '.mounts += [{"destination": "/var/run/x", "type": "tmpfs", "source": "tmpfs"}]' 'ls -ld /run/x | cut -c1-10'
  verdict
}

@test "mounts: cgroup, with and without a cgroup namespace" {
  local m='.mounts += [{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": $o}]'
  local ls='ls /sys/fs/cgroup; ls /sys/fs/cgroup/memory | grep -c memory'
  local r="cgroup v1: berth's tmpfs is read-only with the mount, hierarchies are mounted, not bound from the host; crun lists unmounted controllers"
  known "$r" 'cgroup ["ro"]' "$m" "$ls" --argjson o '["nosuid","noexec","nodev","relatime","ro"]'
  known "$r" 'cgroup ["rw"]' "$m" "$ls" --argjson o '["nosuid","noexec","nodev","relatime","rw"]'
  known "$r" 'cgroup ["ro"], cgroupns' "$m"' | .linux.namespaces += [{"type": "cgroup"}]' "$ls" --argjson o '["ro"]'
  known "$r" 'cgroup ["rw"], cgroupns' "$m"' | .linux.namespaces += [{"type": "cgroup"}]' "$ls" --argjson o '["rw"]'
  verdict
}

@test "linux.rootfsPropagation: each value" {
  local p
  for p in shared rshared slave rslave private rprivate unbindable; do
    same "rootfsPropagation=$p" '.linux.rootfsPropagation = $p' '' --arg p "$p"
  done
  known "crun 1.8.1 fails: mount /dev/null to proc/keys" \
    "rootfsPropagation=runbindable" '.linux.rootfsPropagation = "runbindable"'
  verdict
}

@test "linux.devices and the device cgroup" {
  local d='.linux.devices = [$dev]'
  local look='stat -c "%F %t:%T %a %u:%g" /dev/x; head -c 1 /dev/x >/dev/null && echo read-ok'
  same "devices: c fuse" "$d" "$look" --argjson dev '{"path": "/dev/x", "type": "c", "major": 1, "minor": 5}'
  same "devices: c with fileMode, uid, gid" "$d" "$look" --argjson dev '{"path": "/dev/x", "type": "c", "major": 1, "minor": 5, "fileMode": 384, "uid": 1000, "gid": 1000}'
  same "devices: u" "$d" "$look" --argjson dev '{"path": "/dev/x", "type": "u", "major": 1, "minor": 5}'
  same "devices: b" "$d" "$look" --argjson dev '{"path": "/dev/x", "type": "b", "major": 7, "minor": 0}'
  same "devices: p" "$d" 'stat -c "%F %a" /dev/x' --argjson dev '{"path": "/dev/x", "type": "p", "major": 0, "minor": 0}'
  same "devices: in a subdirectory" '.linux.devices = [{"path": "/dev/sub/x", "type": "c", "major": 1, "minor": 5}]' 'stat -c "%F" /dev/sub/x'
  same "resources.devices: allow c 1:5 rw" "$d"' | .linux.resources.devices += [{"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rw"}]' "$look" \
    --argjson dev '{"path": "/dev/x", "type": "c", "major": 1, "minor": 5}'
  same "resources.devices: deny c 1:5" "$d"' | .linux.resources.devices += [{"allow": false, "type": "c", "major": 1, "minor": 5, "access": "rwm"}]' "$look" \
    --argjson dev '{"path": "/dev/x", "type": "c", "major": 1, "minor": 5}'
  same "resources.devices: allow all" '.linux.resources.devices = [{"allow": true, "access": "rwm"}]' 'head -c 1 /dev/zero >/dev/null && echo ok'
  same "resources.devices: deny null" '.linux.resources.devices += [{"allow": false, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]' 'echo x >/dev/null && echo null-ok'
  verdict
}

@test "linux.maskedPaths and linux.readonlyPaths" {
  same "maskedPaths: a directory" '.linux.maskedPaths = ["/etc"]' 'ls /etc | wc -l; touch /etc/x 2>&1'
  known "HOME of a user not in /etc/passwd: / (as runc); crun leaves it unset" \
    "maskedPaths: a file" '.linux.maskedPaths = ["/etc/passwd"]' 'cat /etc/passwd | wc -c'
  same "maskedPaths: missing" '.linux.maskedPaths = ["/nonexistent"]'
  same "maskedPaths: none" '.linux.maskedPaths = []'
  same "readonlyPaths: a directory" '.linux.readonlyPaths = ["/etc"]' 'touch /etc/x 2>&1'
  same "readonlyPaths: a file" '.linux.readonlyPaths = ["/etc/passwd"]' 'echo >> /etc/passwd 2>&1'
  same "readonlyPaths: missing" '.linux.readonlyPaths = ["/nonexistent"]'
  same "readonlyPaths: none" '.linux.readonlyPaths = []'
  verdict
}

@test "hostname, domainname, sysctl" {
  same "hostname=web-1" '.hostname = "web-1"'
  same "hostname=empty" '.hostname = ""'
  same "hostname=absent" 'del(.hostname)'
  same "domainname=example.org" '.domainname = "example.org"'
  local k
  for k in kernel.shmmax=4096 kernel.msgmax=4096 kernel.sem="250 256000 32 128" fs.mqueue.msg_max=20 \
    net.ipv4.ip_forward=1 net.ipv4.ping_group_range="0 1000" net.core.somaxconn=256; do
    same "sysctl $k" '.linux.sysctl = {($k): $v}' "sysctl ${k%%=*}" --arg k "${k%%=*}" --arg v "${k#*=}"
  done
  # Both must refuse these; the values are the host's own, so that a runtime that wrongly writes
  # them to the host changes nothing.
  same "sysctl net.* without a network namespace" 'del(.linux.namespaces[] | select(.type == "network")) | .linux.sysctl = {"net.core.somaxconn": $v}' \
    '' --arg v "$(cat /proc/sys/net/core/somaxconn)"
  same "sysctl kernel.shmmax without an ipc namespace" 'del(.linux.namespaces[] | select(.type == "ipc")) | .linux.sysctl = {"kernel.shmmax": $v}' \
    '' --arg v "$(cat /proc/sys/kernel/shmmax)"
  same "sysctl fs.mqueue.* without an ipc namespace" 'del(.linux.namespaces[] | select(.type == "ipc")) | .linux.sysctl = {"fs.mqueue.msg_max": $v}' \
    '' --arg v "$(cat /proc/sys/fs/mqueue/msg_max)"
  same "sysctl not namespaced" '.linux.sysctl = {"vm.swappiness": $v}' '' --arg v "$(cat /proc/sys/vm/swappiness)"
  same "sysctl kernel.hostname" '.linux.sysctl = {"kernel.hostname": "x"}'
  same "sysctl kernel.domainname against domainname" '.domainname = "a" | .linux.sysctl = {"kernel.domainname": "b"}'
  same "sysctl unknown" '.linux.sysctl = {"kernel.nosuchthing": "1"}'
  verdict
}

@test "process: args and exit status, env, cwd, user, umask" {
  same "args: exit 3" '.' 'exit 3'
  same "args: killed by SIGTERM" '.' 'kill -TERM $$; sleep 5'
  same "args: looked up in PATH" '.process.args = ["true"]'
  same "args: not found" '.process.args = ["/nonexistent"]'
  same "args: not executable" '.process.args = ["/etc/passwd"]'
  same "env: HOME given" '.process.env += ["HOME=/data", "A=b c"]'
  same "env: without PATH" '.process.env = ["TERM=xterm"] | .process.args[0] = "/bin/sh"'
  same "cwd: existing" '.process.cwd = "/etc"'
  same "cwd: missing" '.process.cwd = "/tmp/a/b"'
  same "cwd: a file" '.process.cwd = "/etc/passwd"'
  same "user: 1000:1000" '.process.user = {"uid": 1000, "gid": 1000}' 'cat /etc/shadow 2>&1'
  known "HOME of a user not in /etc/passwd: / (as runc); crun leaves it unset" \
    "user: uid not in /etc/passwd" '.process.user = {"uid": 4242, "gid": 4242}'
  same "user: additionalGids" '.process.user = {"uid": 1000, "gid": 1000, "additionalGids": [10, 20, 1000]}'
  same "user: umask 0" '.process.user.umask = 0'
  same "user: umask 077" '.process.user.umask = 63'
  same "user: the container may reopen its stdout" '.process.user = {"uid": 1000, "gid": 1000}' 'echo reopened >/proc/self/fd/1'
  known "berth refuses process.user.username (Windows only), crun ignores it" \
    "user: username (Windows only)" '.process.user.username = "root"'
  verdict
}

@test "process.rlimits: each type, and above the host's hard limit" {
  local t
  local t limits=(RLIMIT_AS:1073741824:2147483648 RLIMIT_CORE:0:1048576 RLIMIT_CPU:100:200
    RLIMIT_DATA:1073741824:2147483648 RLIMIT_FSIZE:1073741824:2147483648 RLIMIT_LOCKS:100:200
    RLIMIT_MEMLOCK:65536:131072 RLIMIT_MSGQUEUE:8192:16384 RLIMIT_NICE:10:20 RLIMIT_NOFILE:512:1000
    RLIMIT_NPROC:300:300 RLIMIT_RSS:1073741824:2147483648 RLIMIT_RTPRIO:5:10
    RLIMIT_RTTIME:1000000:2000000 RLIMIT_SIGPENDING:100:200 RLIMIT_STACK:1048576:16777216)
  for t in "${limits[@]}"; do
    IFS=: read -r t soft hard <<<"$t"
    same "rlimits: $t" '.process.rlimits = [{"type": $t, "soft": $s, "hard": $h}]' '' \
      --arg t "$t" --argjson s "$soft" --argjson h "$hard"
  done
  same "rlimits: none" 'del(.process.rlimits)'
  same "rlimits: NOFILE above the host's hard limit" '.process.rlimits = [{"type": "RLIMIT_NOFILE", "soft": $h, "hard": $h}]' '' \
    --argjson h "$(( $(cat /proc/sys/fs/nr_open) * 2 ))"
  same "rlimits: soft above hard" '.process.rlimits = [{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 10}]'
  same "rlimits: unknown type" '.process.rlimits = [{"type": "RLIMIT_NOSUCH", "soft": 1, "hard": 1}]'
  verdict
}

@test "process.capabilities and noNewPrivileges" {
  local all
  all=$(crun features 2>/dev/null | jq -c '.linux.capabilities' 2>/dev/null) || true
  [[ $all == \[* ]] || all=$("$BERTH_RUNTIME" features | jq -c '.linux.capabilities')
  same "capabilities: all five sets empty" '.process.capabilities = {"bounding": [], "effective": [], "permitted": [], "inheritable": [], "ambient": []}'
  known "without process.capabilities crun runs with none, berth (as runc) leaves root's" \
    "capabilities: absent" 'del(.process.capabilities)'
  same "capabilities: every capability" '.process.capabilities = {"bounding": $a, "effective": $a, "permitted": $a, "inheritable": $a, "ambient": $a}' '' --argjson a "$all"
  same "capabilities: bounding only" '.process.capabilities = {"bounding": ["CAP_CHOWN"]}'
  same "capabilities: effective not in permitted" '.process.capabilities = {"bounding": ["CAP_CHOWN","CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_CHOWN"]}'
  same "capabilities: inheritable and ambient, uid 1000" '.process.user = {"uid": 1000, "gid": 1000} | .process.capabilities = {"bounding": ["CAP_NET_BIND_SERVICE"], "effective": ["CAP_NET_BIND_SERVICE"], "permitted": ["CAP_NET_BIND_SERVICE"], "inheritable": ["CAP_NET_BIND_SERVICE"], "ambient": ["CAP_NET_BIND_SERVICE"]}'
  same "capabilities: uid 1000 without ambient" '.process.user = {"uid": 1000, "gid": 1000}'
  known "berth refuses an unknown capability, crun ignores it" \
    "capabilities: an unknown name" '.process.capabilities.bounding += ["CAP_NOSUCH"]'
  same "noNewPrivileges=false" '.process.noNewPrivileges = false'
  same "noNewPrivileges=true" '.process.noNewPrivileges = true'
  verdict
}

@test "process: ambient capabilities without the inheritable set (the spec template's)" {
  same "capabilities: ambient without inheritable" '.process.capabilities.ambient = .process.capabilities.bounding'
  verdict
}

@test "process: oomScoreAdj, selinuxLabel, mountLabel" {
  local v
  for v in -1000 -500 0 500 1000; do
    same "oomScoreAdj=$v" '.process.oomScoreAdj = $v' '' --argjson v "$v"
  done
  same "oomScoreAdj=1001" '.process.oomScoreAdj = 1001'
  # No SELinux on the test hosts: both ignore the labels, as crun does wherever SELinux is off.
  known "crun 1.8.1 fails: write to /proc/self/attr/keycreate: invalid argument" \
    "selinuxLabel" '.process.selinuxLabel = "system_u:system_r:container_t:s0"'
  same "mountLabel" '.linux.mountLabel = "system_u:object_r:container_file_t:s0"'
  verdict
}

@test "process.apparmorProfile" {
  same "apparmorProfile" '.process.apparmorProfile = "berth-default"'
  verdict
}

# res NAME RESOURCES_JSON FILES...: linux.resources = the fixture's + RESOURCES, and the container
# prints each cgroup FILE (controller/file) of its own cgroup, seen through a cgroup mount.
res() {
  local name=$1 resources=$2 cmd='' f drop_re='^/sys/fs/cgroup[ /]'  # the cgroup mount test has them
  for f in "${@:3}"; do cmd+="echo $f: \$(cat /sys/fs/cgroup/$f 2>&1); "; done
  same "resources: $name" '.linux.resources += $r | .mounts += [{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro"]}]' \
    "$cmd" --argjson r "$resources"
}

@test "linux.resources: each controller's fields (cgroup v1)" {
  local mem=memory/memory
  res "memory.limit" '{"memory": {"limit": 67108864}}' $mem.limit_in_bytes
  res "memory.limit+swap" '{"memory": {"limit": 67108864, "swap": 134217728}}' $mem.limit_in_bytes $mem.memsw.limit_in_bytes
  res "memory.swap=-1" '{"memory": {"limit": 67108864, "swap": -1}}' $mem.limit_in_bytes $mem.memsw.limit_in_bytes
  res "memory.reservation" '{"memory": {"reservation": 33554432}}' $mem.soft_limit_in_bytes
  res "memory.swappiness" '{"memory": {"swappiness": 10}}' $mem.swappiness
  res "memory.disableOOMKiller" '{"memory": {"disableOOMKiller": true}}' $mem.oom_control
  res "memory.kernel" '{"memory": {"kernel": 67108864}}' $mem.kmem.limit_in_bytes
  res "memory.kernelTCP" '{"memory": {"kernelTCP": 67108864}}' $mem.kmem.tcp.limit_in_bytes
  res "memory.limit below usage" '{"memory": {"limit": 4096}}'
  res "cpu.shares" '{"cpu": {"shares": 512}}' cpu/cpu.shares
  res "cpu.quota+period" '{"cpu": {"quota": 50000, "period": 100000}}' cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us
  res "cpu.period" '{"cpu": {"period": 50000}}' cpu/cpu.cfs_period_us
  res "cpu.realtime" '{"cpu": {"realtimeRuntime": 0, "realtimePeriod": 1000000}}' cpu/cpu.rt_runtime_us cpu/cpu.rt_period_us
  res "cpu.cpus" '{"cpu": {"cpus": "0"}}' cpuset/cpuset.cpus cpuset/cpuset.mems
  res "cpu.mems" '{"cpu": {"mems": "0"}}' cpuset/cpuset.mems
  res "cpu.idle" '{"cpu": {"idle": 1}}'
  res "pids.limit" '{"pids": {"limit": 100}}' pids/pids.max
  known "crun 1.8.1 writes -1 to pids.max and fails; berth writes max" \
    "resources: pids.limit=-1" '.linux.resources += {"pids": {"limit": -1}}'
  known "without blkio.weight (bfq), crun fails, berth writes blkio.bfq.weight" \
    "resources: blockIO.weight" '.linux.resources += {"blockIO": {"weight": 500}}'
  res "blockIO.weightDevice" '{"blockIO": {"weightDevice": [{"major": 254, "minor": 0, "weight": 500}]}}' blkio/blkio.bfq.weight_device
  res "blockIO.throttle" '{"blockIO": {"throttleReadBpsDevice": [{"major": 254, "minor": 0, "rate": 1048576}], "throttleWriteBpsDevice": [{"major": 254, "minor": 0, "rate": 2097152}], "throttleReadIOPSDevice": [{"major": 254, "minor": 0, "rate": 100}], "throttleWriteIOPSDevice": [{"major": 254, "minor": 0, "rate": 200}]}}' \
    blkio/blkio.throttle.read_bps_device blkio/blkio.throttle.write_bps_device blkio/blkio.throttle.read_iops_device blkio/blkio.throttle.write_iops_device
  res "hugepageLimits" '{"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}'
  res "unified on v1" '{"unified": {"memory.max": "67108864"}}'
  res "rdma" '{"rdma": {"mlx5_0": {"hcaHandles": 3}}}'
  verdict
}

@test "linux.resources.network" {
  res "network" '{"network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]}}'
  verdict
}

@test "linux.cgroupsPath" {
  same "cgroupsPath absolute, nested" '.linux.cgroupsPath = "/berth-test-vs-\($pid)/nested/" + (.linux.cgroupsPath | ltrimstr("/"))' '' --arg pid "$$"
  rmdir /sys/fs/cgroup/*/berth-test-vs-$$/nested /sys/fs/cgroup/*/berth-test-vs-$$ 2>/dev/null || true
  known "without cgroupsPath berth uses /berth/<id>, crun /<id>" "cgroupsPath absent" 'del(.linux.cgroupsPath)'
  verdict
}

@test "linux.seccomp: actions, errno, arguments, flags" {
  local allow='{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [$rule]}'
  local try='mkdir /tmp/d 2>&1; echo mkdir=$?'
  same "seccomp: ERRNO (EPERM default)" ".linux.seccomp = $allow" "$try" --argjson rule '{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}'
  same "seccomp: ERRNO errnoRet" ".linux.seccomp = $allow" "$try" --argjson rule '{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 28}'
  same "seccomp: KILL" ".linux.seccomp = $allow" "$try" --argjson rule '{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL"}'
  same "seccomp: KILL_PROCESS" ".linux.seccomp = $allow" "$try" --argjson rule '{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL_PROCESS"}'
  same "seccomp: TRAP" ".linux.seccomp = $allow" "$try" --argjson rule '{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_TRAP"}'
  same "seccomp: TRACE without a tracer" ".linux.seccomp = $allow" "$try" --argjson rule '{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_TRACE"}'
  same "seccomp: LOG" ".linux.seccomp = $allow" "$try" --argjson rule '{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_LOG"}'
  same "seccomp: argument filter" ".linux.seccomp = $allow" 'mkdir -m 700 /tmp/a 2>&1; mkdir -m 755 /tmp/b 2>&1; echo done' \
    --argjson rule '{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 448, "op": "SCMP_CMP_EQ"}]}'
  same "seccomp: MASKED_EQ" ".linux.seccomp = $allow" 'mkdir -m 700 /tmp/a 2>&1; mkdir -m 755 /tmp/b 2>&1; echo done' \
    --argjson rule '{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}'
  same "seccomp: defaultAction ERRNO, defaultErrnoRet" '.linux.seccomp = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "syscalls": [{"names": ["mkdir", "mkdirat", "uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}' \
    '' # the shell cannot even start: both must fail the same way
  same "seccomp: architectures and flags" ".linux.seccomp = ($allow + {\"architectures\": [\"SCMP_ARCH_X86_64\", \"SCMP_ARCH_X86\", \"SCMP_ARCH_X32\"], \"flags\": [\"SECCOMP_FILTER_FLAG_LOG\", \"SECCOMP_FILTER_FLAG_SPEC_ALLOW\"]})" "$try" \
    --argjson rule '{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}'
  same "seccomp: an unknown syscall name" ".linux.seccomp = $allow" "$try" --argjson rule '{"names": ["nosuchsyscall", "mkdirat", "mkdir"], "action": "SCMP_ACT_ERRNO"}'
  same "seccomp: without noNewPrivileges" ".process.noNewPrivileges = false | .linux.seccomp = $allow" "$try" --argjson rule '{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}'
  same "seccomp: an unknown action" ".linux.seccomp = $allow" "$try" --argjson rule '{"names": ["mkdir"], "action": "SCMP_ACT_NOSUCH"}'
  verdict
}

# hook_case NAME HOOK_KIND [SCRIPT]: a hook of that kind that records its stdin (the state, with
# ids and pids normalised), argv and working directory in a file the test then compares.
@test "hooks: each kind, arguments, env, failing" {
  local kind rec=$BATS_TEST_TMPDIR/hook.sh
  cat >"$rec" <<'SH'
#!/bin/sh
out=$1; shift
{ echo "argv: $*"; echo "env: $(env | grep ^HOOK_ | sort | tr '\n' ' ')"; echo "cwd-is-bundle: $([ "$(pwd)" = "$(jq -r .bundle)" ] && echo yes || echo no)"; } >>"$out" 2>&1
SH
  chmod +x "$rec"
  for kind in createContainer startContainer poststart poststop; do
    hook_compare "$kind" '.hooks[$k] = [{"path": $p, "args": ["rec", ($tmp + "/hook-" + $rt + ".out"), "a", "b"], "env": ["HOOK_X=1"]}]'
  done
  hook_compare "poststart failing" '.hooks.poststart = [{"path": "/bin/false"}]'
  hook_compare "poststop failing" '.hooks.poststop = [{"path": "/bin/false"}]'
  known "a failing createRuntime hook: berth exits 1 as for any error, crun 255" \
    "hooks: createRuntime failing" '.hooks.createRuntime = [{"path": "/bin/false"}]'
  hook_compare "createContainer failing" '.hooks.createContainer = [{"path": "/bin/false"}]'
  hook_compare "startContainer failing" '.hooks.startContainer = [{"path": "/bin/false"}]'
  hook_compare "prestart timeout" '.hooks.prestart = [{"path": "/bin/sleep", "args": ["sleep", "5"], "timeout": 1}]'
  verdict
}

@test "hooks: prestart and createRuntime see status created" {
  local kind
  for kind in prestart createRuntime; do
    hook_compare "$kind" '.hooks[$k] = [{"path": "/bin/sh", "args": ["sh", "-c", "jq -r .status >> \($tmp)/hook-\($rt).out"]}]'
  done
  verdict
}

# hook_compare NAME FILTER: like `same`, and the hook's record file must be the same too.
hook_compare() {
  local name=$1 k=${1%% *}
  rm -f "$BATS_TEST_TMPDIR"/hook-*.out
  # The record file's name holds the runtime: give each run its own through $rt.
  local filter=$2
  same "hooks: $name" "$filter | .hooks |= walk(if type == \"string\" then gsub(\"@RT@\"; \"x\") else . end)" '' \
    --arg k "$k" --arg p "$BATS_TEST_TMPDIR/hook.sh" --arg rt both
  if [[ -f $BATS_TEST_TMPDIR/hook-both.out ]]; then
    local lines
    lines=$(sort "$BATS_TEST_TMPDIR/hook-both.out" | uniq -c | awk '$1 != 2')
    [[ -z $lines ]] || { differences+=("hooks: $name (hook records)"); sort "$BATS_TEST_TMPDIR/hook-both.out"; }
  fi
}

@test "fields berth does not apply: personality, intelRdt, timeOffsets" {
  known "crun sets linux.personality, berth ignores it" "personality LINUX32" '.linux.personality = {"domain": "LINUX32"}'
  same "personality LINUX" '.linux.personality = {"domain": "LINUX"}'
  same "intelRdt" '.linux.intelRdt = {"closID": "berth-test"}'
  known "crun 1.8.1 fails with a time namespace; neither applies timeOffsets" \
    "timeOffsets" '.linux.namespaces += [{"type": "time"}] | .linux.timeOffsets = {"monotonic": {"secs": 3600}}' 'cat /proc/self/timens_offsets'
  verdict
}
