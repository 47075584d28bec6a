#!/usr/bin/env bats
# Each part of config.json, checked from inside a real container.

load ../lib/bundle

setup() { bundle_setup; }
teardown() { bundle_teardown; }

# in_container JQ_FILTER COMMAND: runs COMMAND (sh -c) in a fresh container patched by the filter.
in_container() {
  local id b
  id=$(unique_id cfg); b=$(make_bundle "$id")
  patch_config "$b" "$1"
  patch_config "$b" '.process.args = ["/bin/sh", "-c", $cmd]' --arg cmd "$2"
  rt run --bundle "$b" "$id"
}

@test "hostname, domainname, env, cwd and umask" {
  in_container '.hostname = "web-1" | .domainname = "example.org" | .process.env += ["GREETING=hi there"] | .process.cwd = "/tmp/work" | .process.user.umask = 63' \
    'hostname; cat /proc/sys/kernel/domainname; echo "$GREETING"; pwd; umask'
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = web-1 ]
  [ "${lines[1]}" = example.org ]
  [ "${lines[2]}" = "hi there" ]
  [ "${lines[3]}" = /tmp/work ]
  [ "${lines[4]}" = 0077 ]
}

@test "user: uid, gid and additional groups" {
  in_container '.process.user = {"uid": 1000, "gid": 1000, "additionalGids": [10, 20]}' 'id -u; id -g; id -G'
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = 1000 ]
  [ "${lines[1]}" = 1000 ]
  [ "${lines[2]}" = "1000 10 20" ]
}

@test "capabilities and noNewPrivileges as /proc/self/status shows them" {
  in_container '.process.capabilities = {"bounding": ["CAP_CHOWN","CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_CHOWN","CAP_KILL"], "inheritable": [], "ambient": []} | .process.noNewPrivileges = true' \
    'grep -E "^(CapEff|CapPrm|CapBnd|NoNewPrivs)" /proc/self/status'
  [ "$status" -eq 0 ]
  [[ $output == *"CapPrm:"*"0000000000000021"* ]]
  # exec as uid 0 makes the effective set equal the permitted one (kernel rule for root)
  [[ $output == *"CapEff:"*"0000000000000021"* ]]
  [[ $output == *"CapBnd:"*"0000000000000021"* ]]
  [[ $output == *"NoNewPrivs:"*"1"* ]]
  in_container '.process.noNewPrivileges = false' 'grep NoNewPrivs /proc/self/status'
  [[ $output == *"NoNewPrivs:"*"0"* ]]
}

@test "ambient capabilities survive for a non-root user" {
  in_container '.process.user = {"uid": 1000, "gid": 1000} | .process.capabilities = {"bounding": ["CAP_NET_BIND_SERVICE"], "effective": ["CAP_NET_BIND_SERVICE"], "permitted": ["CAP_NET_BIND_SERVICE"], "inheritable": ["CAP_NET_BIND_SERVICE"], "ambient": ["CAP_NET_BIND_SERVICE"]}' \
    'grep -E "^(CapEff|CapAmb)" /proc/self/status'
  [ "$status" -eq 0 ]
  [[ $output == *"CapEff:"*"0000000000000400"* ]]
  [[ $output == *"CapAmb:"*"0000000000000400"* ]]
}

@test "rlimits are applied, and asking above the host's hard limit says so" {
  in_container '.process.rlimits = [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1000}, {"type": "RLIMIT_NPROC", "soft": 300, "hard": 300}]' \
    'ulimit -n; ulimit -Hn; ulimit -u'
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = 512 ]
  [ "${lines[1]}" = 1000 ]
  [ "${lines[2]}" = 300 ]
  hard=$(ulimit -Hn)
  if grep -q 'CapEff:.*' /proc/self/status && ! capsh --has-p=cap_sys_resource 2>/dev/null; then
    in_container ".process.rlimits = [{\"type\": \"RLIMIT_NOFILE\", \"soft\": $((hard + 1)), \"hard\": $((hard + 1))}]" 'true'
    [ "$status" -ne 0 ]
    [[ $output == *"RLIMIT_NOFILE"*"host's hard limit is $hard"* ]]
    [[ $output == *"ask for at most $hard"* ]]
  fi
}

@test "a read-only root refuses writes; masked and read-only paths hold" {
  in_container '.root.readonly = true' \
    'touch /newfile 2>&1; echo rc=$?; cat /proc/timer_list | wc -l; cat /proc/keys | wc -l; echo 1 >/proc/sys/kernel/ns_last_pid 2>&1; ls /sys/firmware | wc -l; touch /dev/shm/ok && echo shm-writable'
  [[ $output == *"Read-only file system"* ]]
  [[ $output == *"rc=1"* ]]
  [ "${lines[2]}" = 0 ]
  [ "${lines[3]}" = 0 ]
  [[ ${lines[4]} == *"Read-only file system"* ]]
  [ "${lines[5]}" = 0 ]
  [ "${lines[6]}" = shm-writable ]
}

@test "default devices, /dev symlinks and linux.devices" {
  in_container '.linux.devices = [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 432, "uid": 0, "gid": 0}] | .linux.resources.devices += [{"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"}]' \
    'echo x >/dev/null && echo null-ok; head -c 4 /dev/zero | wc -c; ls -l /dev/fuse; readlink /dev/fd; readlink /dev/ptmx; ls /dev/pts/ptmx'
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = null-ok ]
  [ "${lines[1]}" = 4 ]
  [[ ${lines[2]} == "crw-rw----"*"10,"*"229"*"/dev/fuse" ]]
  [ "${lines[3]}" = /proc/self/fd ]
  [ "${lines[4]}" = pts/ptmx ]
}

@test "the device cgroup denies what the rules deny" {
  in_container '.linux.devices = [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438}]' \
    'cat /dev/fuse 2>&1; echo x > /dev/null && echo null-ok'
  [[ $output == *"/dev/fuse"*"Operation not permitted"* ]]
  [[ $output == *null-ok* ]]
}

@test "seccomp: a denied syscall fails with the configured errno, arguments are matched" {
  in_container '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}, {"names": ["unshare"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1073741824, "op": "SCMP_CMP_EQ"}]}]}' \
    'mkdir /tmp/x 2>&1; touch /tmp/file && echo touch-ok'
  [[ ${lines[0]} == *"Function not implemented"* ]]
  [ "${lines[1]}" = touch-ok ]
  grep -q Seccomp <<<"$(in_container '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW"}' 'grep Seccomp: /proc/self/status'; echo "$output")"
}

@test "sysctl and oomScoreAdj" {
  in_container '.linux.sysctl = {"net.ipv4.ip_forward": "1", "kernel.msgmax": "4096"} | .process.oomScoreAdj = 123' \
    'cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax /proc/self/oom_score_adj'
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = 1 ]
  [ "${lines[1]}" = 4096 ]
  [ "${lines[2]}" = 123 ]
}

@test "mounts: bind (read-only), tmpfs with options, propagation, and a cgroup mount" {
  mkdir -p "$BATS_TEST_TMPDIR/share" && echo from-host >"$BATS_TEST_TMPDIR/share/file"
  in_container '.mounts += [{"destination": "/data", "type": "bind", "source": "'"$BATS_TEST_TMPDIR/share"'", "options": ["rbind", "ro", "rprivate"]}, {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "mode=700", "noexec"]}, {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"]}] | .linux.namespaces += [{"type": "cgroup"}]' \
    'cat /data/file; touch /data/x 2>&1; stat -c %a /scratch; grep " /scratch " /proc/mounts; ls /sys/fs/cgroup/memory/memory.limit_in_bytes; cat /proc/self/cgroup | grep memory'
  [ "$status" -eq 0 ] || true
  [ "${lines[0]}" = from-host ]
  [[ ${lines[1]} == *"Read-only file system"* ]]
  [ "${lines[2]}" = 700 ]
  [[ ${lines[3]} == *"size=1024k"*"noexec"* || ${lines[3]} == *"noexec"*"size=1024k"* ]]
  [ "${lines[4]}" = /sys/fs/cgroup/memory/memory.limit_in_bytes ]
  [[ ${lines[5]} == *":memory:/" ]]
} 

@test "cgroup resources: memory, pids and cpu limits are written where the kernel reads them" {
  id=$(unique_id cg); b=$(make_bundle "$id")
  patch_config "$b" '.process.args = ["/bin/sleep", "1000"] | .linux.cgroupsPath = $p | .linux.resources += {"memory": {"limit": 67108864}, "pids": {"limit": 42}, "cpu": {"shares": 512, "quota": 50000, "period": 100000}}' --arg p "/berth-test/$id"
  rt run -d --bundle "$b" "$id"
  [ "$status" -eq 0 ]
  pid=$(jq -r .pid <<<"$("$BERTH_RUNTIME" --root "$RT_ROOT" state "$id")")
  grep -q ":memory:/berth-test/$id\$" "/proc/$pid/cgroup"
  [ "$(cat /sys/fs/cgroup/memory/berth-test/$id/memory.limit_in_bytes)" = 67108864 ]
  [ "$(cat /sys/fs/cgroup/pids/berth-test/$id/pids.max)" = 42 ]
  [ "$(cat /sys/fs/cgroup/cpu/berth-test/$id/cpu.shares)" = 512 ]
  [ "$(cat /sys/fs/cgroup/cpu/berth-test/$id/cpu.cfs_quota_us)" = 50000 ]
  rt delete -f "$id"
  [ "$status" -eq 0 ]
  [ ! -e "/sys/fs/cgroup/memory/berth-test/$id" ]
  rmdir /sys/fs/cgroup/*/berth-test 2>/dev/null || true
}

@test "pids limit is enforced inside the container" {
  in_container '.linux.resources.pids = {"limit": 5}' \
    'for i in 1 2 3 4 5 6 7 8; do sleep 5 & done 2>&1; wait 2>/dev/null; echo done'
  [[ $output == *"Resource temporarily unavailable"* || $output == *"can't fork"* ]]
}

@test "user namespace with uid/gid mappings" {
  in_container '.linux.namespaces += [{"type": "user"}] | .linux.uidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}] | .linux.gidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}] | .linux.resources = {}' \
    'id -u; cat /proc/self/uid_map; cat /proc/self/gid_map; echo x >/dev/null && echo null-ok'
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = 0 ]
  [[ $(echo ${lines[1]}) == "0 100000 65536" ]]
  [[ $(echo ${lines[2]}) == "0 100000 65536" ]]
  [ "${lines[3]}" = null-ok ]
}

@test "joining an existing namespace by path" {
  a=$(unique_id ns); ba=$(make_bundle "$a")
  patch_config "$ba" '.process.args = ["/bin/sleep", "1000"]'
  rt run -d --bundle "$ba" "$a"
  pid=$(jq -r .pid <<<"$("$BERTH_RUNTIME" --root "$RT_ROOT" state "$a")")
  want=$(readlink "/proc/$pid/ns/net")
  in_container '.linux.namespaces = (.linux.namespaces | map(if .type == "network" then .path = $ns else . end))' "readlink /proc/self/ns/net" 2>/dev/null || true
  id=$(unique_id ns); b=$(make_bundle "$id")
  patch_config "$b" '.linux.namespaces = (.linux.namespaces | map(if .type == "network" then .path = $ns else . end)) | .process.args = ["/bin/readlink", "/proc/self/ns/net"]' --arg ns "/proc/$pid/ns/net"
  rt run --bundle "$b" "$id"
  [ "$status" -eq 0 ]
  [ "$output" = "$want" ]
  rt delete -f "$a"
}

@test "hooks run at their phases with the state on stdin" {
  id=$(unique_id hooks); b=$(make_bundle "$id")
  log=$BATS_TEST_TMPDIR/hooks.log
  hook() { jq -n --arg p "$1" --arg log "$log" '{"path": "/bin/sh", "args": ["sh", "-c", "echo \($p) $(cat | tr -d \"\\n\") >> \($log)"], "timeout": 5}'; }
  patch_config "$b" '.process.args = ["/bin/true"] | .hooks = {"prestart": [$a], "createRuntime": [$b], "createContainer": [$c], "poststart": [$d], "poststop": [$e]}' \
    --argjson a "$(hook prestart)" --argjson b "$(hook createRuntime)" --argjson c "$(hook createContainer)" --argjson d "$(hook poststart)" --argjson e "$(hook poststop)"
  rt run --bundle "$b" "$id"
  [ "$status" -eq 0 ]
  cat "$log"
  [ "$(cut -d' ' -f1 "$log" | tr '\n' ' ')" = "prestart createRuntime createContainer poststart poststop " ]
  grep -q "^createRuntime .*\"id\":\"$id\".*\"status\":\"created\"" "$log"
  grep -q "^poststop .*\"status\":\"stopped\"" "$log"
  grep -q "^createRuntime .*\"pid\":[1-9]" "$log"
}

@test "startContainer hooks run inside the container before the process" {
  id=$(unique_id hooks); b=$(make_bundle "$id")
  patch_config "$b" '.process.args = ["/bin/cat", "/tmp/started"] | .hooks.startContainer = [{"path": "/bin/sh", "args": ["sh", "-c", "hostname > /tmp/started"]}] | .hostname = "inside"'
  rt run --bundle "$b" "$id"
  [ "$status" -eq 0 ]
  [ "$output" = inside ]
}

@test "a failing hook stops create, names the hook, and leaves nothing behind" {
  id=$(unique_id hooks); b=$(make_bundle "$id")
  patch_config "$b" '.hooks.createRuntime = [{"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}] | .linux.cgroupsPath = $p' --arg p "/berth-test/$id"
  rt create --bundle "$b" "$id"
  [ "$status" -ne 0 ]
  [[ $output == *"createRuntime hook #0 '/bin/sh' exited with status 3"* ]]
  [ ! -e "$RT_ROOT/$id" ]
  [ ! -e "/sys/fs/cgroup/memory/berth-test/$id" ]
  id2=$(unique_id hooks); b2=$(make_bundle "$id2")
  patch_config "$b2" '.hooks.prestart = [{"path": "/bin/sleep", "args": ["sleep", "5"], "timeout": 1}]'
  rt create --bundle "$b2" "$id2"
  [ "$status" -ne 0 ]
  [[ $output == *"ran past its timeout of 1s"* ]]
  [ ! -e "$RT_ROOT/$id2" ]
  rmdir /sys/fs/cgroup/*/berth-test 2>/dev/null || true
}

@test "a new time namespace" {
  in_container '.linux.namespaces += [{"type": "time"}]' 'readlink /proc/self/ns/time'
  [ "$status" -eq 0 ]
  [ "$output" != "$(readlink /proc/self/ns/time)" ]
}
