#!/usr/bin/env bats
# Bundles that crun and runc accept run the same under berth-runtime (issue 15): the spec
# templates, no or joined mount and uts namespaces, every rootfsPropagation, settings the host
# cannot honour, the state hooks see. Where crun is installed, its result is checked beside ours.

load ../lib/bundle

setup() {
  bundle_setup
  HOLDERS=()
}

teardown() {
  local pid
  for pid in "${HOLDERS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for pid in "${HOLDERS[@]}"; do wait "$pid" 2>/dev/null || true; done
  bundle_teardown
  if [[ -n ${CRUN_ROOT:-} ]]; then
    local id
    for id in $(crun_rt list -q 2>/dev/null); do crun_rt delete --force "$id" >/dev/null 2>&1 || true; done
    rm -rf "$CRUN_ROOT"
  fi
}

# crun_rt ARGS...: crun with its own --root. crun 1.8 refuses a host with v1 controllers beside a
# cgroup2 mount ("cgroups in hybrid mode not supported"): it runs in a private mount namespace
# without the cgroup2 mount, which changes nothing else it sees.
crun_rt() {
  CRUN_ROOT=${CRUN_ROOT:-$BATS_TEST_TMPDIR/crun-state}
  unshare -m --propagation private sh -c \
    'umount /sys/fs/cgroup/unified 2>/dev/null; exec crun --root "$0" "$@"' "$CRUN_ROOT" "$@"
}

need_crun() {
  command -v crun >/dev/null || skip "crun is not installed"
}

# wait_stopped ID: until the container's state is "stopped".
wait_stopped() {
  for _ in $(seq 200); do
    rt state "$1"
    [[ $(jq -r .status <<<"$output") == stopped ]] && return 0
    sleep 0.02
  done
  return 1
}

spec_bundle() {  # spec_bundle RUNTIME DIR: RUNTIME's own template, made to run echo hi
  mkdir -p "$2"
  (cd "$2" && "$1" spec)
  patch_config "$2" '.root.path = $r | .process.terminal = false | .process.args = ["echo", "hi"]' \
    --arg r "$BERTH_ROOTFS"
}

@test "berth-runtime's own spec template runs as written, without warnings" {
  id=$(unique_id spec); b=$BATS_TEST_TMPDIR/spec
  spec_bundle "$BERTH_RUNTIME" "$b"
  # the template lists ambient capabilities without an inheritable set
  [ "$(jq -c '.process.capabilities.ambient | length' "$b/config.json")" -gt 0 ]
  [ "$(jq -c '.process.capabilities.inheritable // [] | length' "$b/config.json")" -eq 0 ]
  rt run --bundle "$b" "$id"
  [ "$status" -eq 0 ]
  [ "$output" = hi ]
}

@test "crun's and runc's spec templates run under berth-runtime" {
  command -v crun >/dev/null || command -v runc >/dev/null || skip "neither crun nor runc is installed"
  for tool in crun runc; do
    command -v $tool >/dev/null || continue
    id=$(unique_id $tool); b=$BATS_TEST_TMPDIR/$tool
    spec_bundle $tool "$b"
    rt run --bundle "$b" "$id"
    echo "$tool: $output"
    [ "$status" -eq 0 ]
    [ "$output" = hi ]
  done
}

@test "ambient capabilities the kernel cannot raise are left out, with a warning for non-root" {
  id=$(unique_id amb); b=$(make_bundle "$id")
  caps='["CAP_KILL", "CAP_NET_BIND_SERVICE"]'
  patch_config "$b" '.process.user = {uid: 1000, gid: 1000}
    | .process.capabilities = {bounding: $c, effective: $c, permitted: $c, ambient: $c}
    | .process.args = ["/bin/sh", "-c", "grep CapAmb /proc/self/status"]' --argjson c "$caps"
  rt run --bundle "$b" "$id"
  [ "$status" -eq 0 ]
  [[ $output == *"CapAmb:	0000000000000000"* ]]
  [[ $output == *"warning: process.capabilities.ambient: leaving out CAP_KILL, CAP_NET_BIND_SERVICE: an ambient capability must also be permitted and inheritable, so the program (uid 1000) runs without it"* ]]
  # with them inheritable, they are raised (CAP_KILL is 5, CAP_NET_BIND_SERVICE 10)
  id2=$(unique_id amb)
  patch_config "$b" '.process.capabilities.inheritable = $c' --argjson c "$caps"
  rt run --bundle "$b" "$id2"
  [ "$status" -eq 0 ]
  [ "$output" = "CapAmb:	0000000000000420" ]
}

@test "the README's runtime tour runs as written" {
  # The first sh block of the section, in a copy of the repository layout pointing at the
  # binaries under test; its directory and container names made unique to this test.
  repo=$BATS_TEST_TMPDIR/repo
  mkdir -p "$repo/build/src"
  ln -s "$BERTH" "$repo/build/src/berth"
  ln -s "$BERTH_RUNTIME" "$repo/build/src/berth-runtime"
  ln -s "$BERTH_FIXTURES" "$repo/build/fixtures"
  awk '/^## `berth runtime`, the OCI runtime/ { section = 1 }
       section && /^```/ { if (inside) exit; if (/^```sh/) { inside = 1; next } }
       inside' "$BERTH_SOURCE/README.md" >"$BATS_TEST_TMPDIR/tour.sh"
  grep -q 'berth runtime run' "$BATS_TEST_TMPDIR/tour.sh"
  tag=tour-$$-$RANDOM
  sed -i "s|/tmp/demo|$BATS_TEST_TMPDIR/demo|g; s/\bdemo2\b/$tag-b/g; s/\bdemo\b/$tag-a/g" \
    "$BATS_TEST_TMPDIR/tour.sh"
  run bash -c "cd '$repo' && bash -e '$BATS_TEST_TMPDIR/tour.sh'"
  echo "$output"
  # as the default --root is used, remove what a failure left there
  for c in "$tag-a" "$tag-b"; do "$BERTH_RUNTIME" delete --force "$c" >/dev/null 2>&1 || true; done
  [ "$status" -eq 0 ]
  [[ $output == *'"status": "created"'* ]]
  [[ $output == *"$tag-a"*running* ]]
  [[ ${lines[-1]} == hello ]]
}

# A container without a mount namespace of its own: chroot, no /proc inside.
no_mount_ns_case() {  # no_mount_ns_case JQ_NAMESPACES_FILTER
  id=$(unique_id nomnt); b=$(make_bundle "$id")
  patch_config "$b" ".linux.namespaces |= $1 | del(.hostname) | .mounts = [] | del(.linux.maskedPaths, .linux.readonlyPaths)
    | .process.args = [\"/bin/sh\", \"-c\", \"echo started; ls /proc | wc -l\"]"
  "$BERTH_RUNTIME" --root "$RT_ROOT" create --bundle "$b" --pid-file "$BATS_TEST_TMPDIR/pid" "$id" \
    >"$BATS_TEST_TMPDIR/out" 2>&1
  cat "$BATS_TEST_TMPDIR/out"
  rt state "$id"
  [ "$(jq -r .status <<<"$output")" = created ]
  [ "$(jq -r .pid <<<"$output")" = "$(cat "$BATS_TEST_TMPDIR/pid")" ]
  rt start "$id"
  [ "$status" -eq 0 ]
  wait_stopped "$id"
  run cat "$BATS_TEST_TMPDIR/out"
  [ "${lines[0]}" = started ]
  [ "$(echo "${lines[1]}" | tr -d ' ')" = 0 ]  # an empty /proc: nothing is mounted
  [ "${#lines[@]}" -eq 2 ]
  rt delete "$id"
  [ "$status" -eq 0 ]
}

@test "create, start without a mount namespace (linux.namespaces empty)" {
  no_mount_ns_case '[]'
}

@test "create, start with every namespace but mount" {
  no_mount_ns_case 'map(select(.type != "mount"))'
}

@test "without a mount namespace, run works and says which settings are not applied" {
  id=$(unique_id nomnt); b=$(make_bundle "$id")
  patch_config "$b" '.linux.namespaces = [] | del(.hostname) | .process.args = ["/bin/echo", "hi"]'
  rt run --bundle "$b" "$id"
  [ "$status" -eq 0 ]
  [ "${lines[-1]}" = hi ]
  [[ ${lines[0]} == *"warning: the container has no mount namespace of its own: mounts, linux.maskedPaths, linux.readonlyPaths not applied"* ]]
}

@test "a failure in the container process before it is ready fails create and leaves no state" {
  id=$(unique_id fail); b=$(make_bundle "$id")
  patch_config "$b" '.linux.namespaces = [] | del(.hostname) | .mounts = []
    | del(.linux.maskedPaths, .linux.readonlyPaths) | .process.args = ["no-such-program"]'
  rt create --bundle "$b" "$id"
  [ "$status" -ne 0 ]
  [[ $output == *"exec 'no-such-program': executable file not found in \$PATH"* ]]
  rt state "$id"
  [ "$status" -ne 0 ]
  [[ $output == *"container '$id' does not exist"* ]]
}

@test "joining a mount namespace by path: the container sees that namespace's mounts" {
  # a holder with a private mount namespace, where a tmpfs with a marker covers the rootfs's /tmp
  unshare -m --propagation private sh -c \
    'mount -t tmpfs holder "$0/tmp" && echo joined >"$0/tmp/marker" && exec sleep 1000' \
    "$BERTH_ROOTFS" &
  HOLDERS+=($!)
  holder=$!
  for _ in $(seq 100); do [[ $(cat "/proc/$holder/comm") == sleep ]] && break; sleep 0.02; done
  [ ! -e "$BERTH_ROOTFS/tmp/marker" ]

  id=$(unique_id joinmnt); b=$(make_bundle "$id")
  patch_config "$b" '.linux.namespaces |= map(select(.type != "mount")) + [{type: "mount", path: $p}]
    | .mounts = [] | del(.linux.maskedPaths, .linux.readonlyPaths)
    | .process.args = ["/bin/cat", "/tmp/marker"]' --arg p "/proc/$holder/ns/mnt"
  "$BERTH_RUNTIME" --root "$RT_ROOT" create --bundle "$b" --pid-file "$BATS_TEST_TMPDIR/pid" "$id" \
    >"$BATS_TEST_TMPDIR/out" 2>&1
  rt state "$id"
  [ "$(jq -r .status <<<"$output")" = created ]
  [ "$(readlink "/proc/$(cat "$BATS_TEST_TMPDIR/pid")/ns/mnt")" = "$(readlink "/proc/$holder/ns/mnt")" ]
  rt start "$id"
  [ "$status" -eq 0 ]
  wait_stopped "$id"
  [ "$(cat "$BATS_TEST_TMPDIR/out")" = joined ]
}

@test "hostname and domainname go to a uts namespace joined by path" {
  unshare -u sleep 1000 &
  HOLDERS+=($!)
  holder=$!
  for _ in $(seq 100); do
    [[ $(readlink "/proc/$holder/ns/uts") != "$(readlink /proc/self/ns/uts)" ]] && break
    sleep 0.02
  done
  host_name=$(hostname)
  id=$(unique_id joinuts); b=$(make_bundle "$id")
  patch_config "$b" '.linux.namespaces |= map(select(.type != "uts")) + [{type: "uts", path: $p}]
    | .hostname = $h | .domainname = "joined.example"
    | .process.args = ["/bin/sh", "-c", "hostname; cat /proc/sys/kernel/domainname"]' \
    --arg p "/proc/$holder/ns/uts" --arg h "joined-$$"
  rt run --bundle "$b" "$id"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "joined-$$" ]
  [ "${lines[1]}" = joined.example ]
  [ "$(nsenter -t "$holder" -u hostname)" = "joined-$$" ]
  [ "$(hostname)" = "$host_name" ]
  if command -v crun >/dev/null; then  # crun does the same
    patch_config "$b" '.hostname = $h' --arg h "crun-$$"
    run crun_rt run --bundle "$b" "crun-$id"
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "crun-$$" ]
    [ "$(nsenter -t "$holder" -u hostname)" = "crun-$$" ]
  fi
}

@test "hostname without any uts namespace is refused" {
  id=$(unique_id nouts); b=$(make_bundle "$id")
  patch_config "$b" '.linux.namespaces |= map(select(.type != "uts")) | .hostname = "h"'
  rt run --bundle "$b" "$id"
  [ "$status" -eq 1 ]
  [[ $output == *"config.json: hostname: setting a hostname needs a uts namespace (new, or joined by path)"* ]]
}

# The propagation of the container's / and /proc, as "ROOT_TAGS;PROC_TAGS" with mountinfo's
# optional fields without their group numbers ("shared master", "unbindable", "" for private).
propagation_probe='for m in / /proc; do
  awk -v m="$m" '"'"'$5 == m { s = ""; for (i = 7; $i != "-"; i++) { sub(/:.*/, "", $i); s = s (s == "" ? "" : " ") $i } print s }'"'"' /proc/self/mountinfo
done | paste -sd ";"'

@test "every rootfsPropagation value is applied to the container's root" {
  # Run where the host's mounts are shared (a private namespace made shared), so that slave is
  # visible as master:N; as the default, slave and rslave receive the host's mounts.
  declare -A want=([shared]="shared;" [slave]="master;" [private]=";" [unbindable]="unbindable;"
    [rshared]="shared;shared" [rslave]="master;" [rprivate]=";" [runbindable]="unbindable;unbindable"
    [none]="master;")
  for p in none shared slave private unbindable rshared rslave rprivate runbindable; do
    id=$(unique_id prop); b=$(make_bundle "$id")
    patch_config "$b" '(if $p != "none" then .linux.rootfsPropagation = $p else . end)
      | .process.args = ["/bin/sh", "-c", $probe]' --arg p "$p" --arg probe "$propagation_probe"
    rt_root
    run unshare -m --propagation shared "$BERTH_RUNTIME" --root "$RT_ROOT" run --bundle "$b" "$id"
    echo "$p: $status $output (want ${want[$p]})"
    [ "$status" -eq 0 ]
    [ "$output" = "${want[$p]}" ]
  done
}

@test "rootfsPropagation: the same as crun's, where crun can run it" {
  need_crun
  # crun makes the root private before it applies a slave propagation (so it has no master),
  # and fails on runbindable (it cannot then bind /dev/null over masked files): not compared.
  for p in shared private unbindable rshared rprivate; do
    id=$(unique_id prop); b=$(make_bundle "$id")
    patch_config "$b" '.linux.rootfsPropagation = $p | .process.args = ["/bin/sh", "-c", $probe]' \
      --arg p "$p" --arg probe "$propagation_probe"
    rt_root
    run unshare -m --propagation shared "$BERTH_RUNTIME" --root "$RT_ROOT" run --bundle "$b" "$id"
    [ "$status" -eq 0 ]
    ours=$output
    run unshare -m --propagation shared sh -c \
      'umount /sys/fs/cgroup/unified 2>/dev/null; exec crun --root "$0" run --bundle "$1" "$2"' \
      "$BATS_TEST_TMPDIR/crun-state" "$b" "crun-$id"
    echo "$p: berth '$ours', crun '$output'"
    [ "$status" -eq 0 ]
    [ "$output" = "$ours" ]
  done
}

@test "prestart, createRuntime and createContainer hooks get the state with status created" {
  id=$(unique_id hookstate); b=$(make_bundle "$id")
  out=$BATS_TEST_TMPDIR
  hook() { jq -n --arg f "$out/$1.json" '{path: "/bin/sh", args: ["sh", "-c", "cat > \"$0\"", $f]}'; }
  patch_config "$b" '.hooks = {prestart: [$p], createRuntime: [$r], createContainer: [$c]}
    | .process.args = ["/bin/true"]' \
    --argjson p "$(hook prestart)" --argjson r "$(hook createRuntime)" --argjson c "$(hook createContainer)"
  rt create --bundle "$b" --pid-file "$out/pid" "$id"
  [ "$status" -eq 0 ]
  for phase in prestart createRuntime createContainer; do
    echo "$phase: $(cat "$out/$phase.json")"
    [ "$(jq -r .status "$out/$phase.json")" = created ]
    [ "$(jq -r .id "$out/$phase.json")" = "$id" ]
    [ "$(jq -r .pid "$out/$phase.json")" = "$(cat "$out/pid")" ]
    [ "$(jq -r .bundle "$out/$phase.json")" = "$b" ]
  done
}

# cgroup_v1_mounted CONTROLLER: whether a v1 hierarchy with CONTROLLER is mounted.
cgroup_v1_mounted() {
  awk -v c="$1" '$9 == "cgroup" { n = split($NF, o, ","); for (i = 1; i <= n; i++) if (o[i] == c) f = 1 } END { exit !f }' \
    /proc/self/mountinfo
}

@test "linux.resources.network is refused where its controller is not mounted, applied where it is" {
  for case in "classID net_cls" "priorities net_prio"; do
    set -- $case
    id=$(unique_id net); b=$(make_bundle "$id")
    if [ "$1" = classID ]; then
      patch_config "$b" '.linux.resources.network = {classID: 1048577} | .process.args = ["/bin/true"]'
    else
      patch_config "$b" '.linux.resources.network = {priorities: [{name: "lo", priority: 5}]}
        | .process.args = ["/bin/true"]'
    fi
    rt create --bundle "$b" "$id"
    echo "$1: $status $output"
    if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then
      [ "$status" -eq 1 ]
      [[ $output == *"apply network: cgroup v2 has no net_cls or net_prio controller"* ]]
    elif cgroup_v1_mounted "$2"; then
      [ "$status" -eq 0 ]
      dir=$(awk -v c="$2" '$9 == "cgroup" && $NF ~ c { print $5; exit }' /proc/self/mountinfo)/berth/$id
      if [ "$1" = classID ]; then [ "$(cat "$dir/net_cls.classid")" = 1048577 ]; else grep -qx "lo 5" "$dir/net_prio.ifpriomap"; fi
    else
      # this project's test machines: the kernel has the controller, no hierarchy mounts it
      [ "$status" -eq 1 ]
      [[ ${lines[0]} == *"linux.resources: apply network.$1: the cgroup v1 controller '$2' is not mounted" ]]
      [[ ${lines[1]} == "hint: mount its hierarchy (if /proc/cgroups lists it: mkdir /sys/fs/cgroup/$2 && mount -t cgroup -o $2 cgroup /sys/fs/cgroup/$2), or leave network.$1 out of linux.resources" ]]
      rt state "$id"
      [[ $output == *"container '$id' does not exist"* ]]
      if command -v crun >/dev/null; then  # crun refuses it too
        run crun_rt run --bundle "$b" "crun-$id"
        [ "$status" -ne 0 ]
        [[ $output == *"open \`/sys/fs/cgroup/net_cls/crun-$id\`: No such file or directory"* ]]
      fi
    fi
  done
}

@test "process.apparmorProfile is refused on a host without AppArmor; unconfined runs" {
  id=$(unique_id aa); b=$(make_bundle "$id")
  patch_config "$b" '.process.apparmorProfile = "unconfined" | .process.args = ["/bin/echo", "ran"]'
  rt run --bundle "$b" "$id"
  [ "$status" -eq 0 ]
  [ "$output" = ran ]
  if [[ -d /sys/kernel/security/apparmor && $(cat /sys/module/apparmor/parameters/enabled 2>/dev/null) == Y* ]]; then
    # with AppArmor, the process is in the profile it asked for
    patch_config "$b" '.process.args = ["/bin/cat", "/proc/self/attr/current"]'
    rt run --bundle "$b" "$id-2"
    [ "$status" -eq 0 ]
    [[ $output == unconfined* ]]
    return
  fi
  patch_config "$b" '.process.apparmorProfile = "berth-test-profile"'
  rt run --bundle "$b" "$id-3"
  [ "$status" -eq 1 ]
  [[ ${lines[0]} == *"config.json: process.apparmorProfile 'berth-test-profile': AppArmor is not enabled on this host (/sys/module/apparmor/parameters/enabled), and the container would run unconfined" ]]
  [[ ${lines[1]} == "hint: leave process.apparmorProfile out (or set it to \"unconfined\") to run without AppArmor, or boot the host with AppArmor enabled" ]]
  if command -v crun >/dev/null; then  # crun refuses it too
    run crun_rt run --bundle "$b" "crun-$id"
    [ "$status" -ne 0 ]
    [[ $output == *"AppArmor is not initialized correctly"* ]]
  fi
  # exec --apparmor, into a container that runs without a profile, is refused the same way
  patch_config "$b" 'del(.process.apparmorProfile) | .process.args = ["/bin/sleep", "100"]'
  rt run --detach --bundle "$b" "$id-4"
  [ "$status" -eq 0 ]
  rt exec --apparmor berth-test-profile "$id-4" /bin/true
  [ "$status" -eq 1 ]
  [[ ${lines[0]} == *"process.apparmorProfile 'berth-test-profile': AppArmor is not enabled on this host"* ]]
}
