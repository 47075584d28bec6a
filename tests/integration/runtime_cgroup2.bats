#!/usr/bin/env bats
# Whole containers on cgroup v2. The test hosts have v1 controllers and an empty cgroup2 beside
# them; inside a private mount namespace with that cgroup2 mounted on /sys/fs/cgroup, berth
# sees a v2 host: the cgroup, the eBPF device filter, cgroup.freeze and the cgroup2 mount are
# the real v2 ones (the hierarchy has no controllers, so resource limits cannot be shown here:
# the unit tests cover their files).

load ../lib/bundle

setup() { bundle_setup; }
teardown() { bundle_teardown; }

@test "v2: run puts the container in its cgroup and the device filter allows the defaults" {
  id=$(unique_id v2); b=$(make_bundle "$id")
  patch_config "$b" '.process.args = ["/bin/sh", "-c", "grep ^0:: /proc/self/cgroup; echo x > /dev/null && echo null-ok; cat /dev/fuse 2>&1; true"] | .linux.devices = [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438}]'
  on_v2 "\$R run --bundle $b $id"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "0::/berth/$id" ]
  [ "${lines[1]}" = null-ok ]
  [[ ${lines[2]} == *"Operation not permitted"* ]]
  [ ! -e "/sys/fs/cgroup/unified/berth/$id" ]
}

@test "v2: a cgroup namespace and a cgroup2 mount inside the container" {
  id=$(unique_id v2); b=$(make_bundle "$id")
  patch_config "$b" '.process.args = ["/bin/sh", "-c", "grep ^0:: /proc/self/cgroup; ls /sys/fs/cgroup/cgroup.procs; grep cgroup2 /proc/mounts"] | .linux.namespaces += [{"type": "cgroup"}] | .mounts += [{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"]}]'
  on_v2 "\$R run --bundle $b $id"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "0::/" ]
  [ "${lines[1]}" = /sys/fs/cgroup/cgroup.procs ]
  [[ ${lines[2]} == "cgroup2 /sys/fs/cgroup cgroup2 ro"* ]]
}

@test "v2: create, start, pause, resume, kill --all, delete" {
  id=$(unique_id v2); b=$(make_bundle "$id")
  patch_config "$b" '.process.args = ["/bin/sh", "-c", "sleep 1000 & sleep 1000"]'
  on_v2 "set -e
    \$R create --bundle $b $id >/dev/null 2>&1
    \$R start $id
    \$R pause $id; \$R state $id | jq -r .status
    cat /sys/fs/cgroup/berth/$id/cgroup.freeze
    \$R resume $id; \$R state $id | jq -r .status
    \$R ps --format json $id | jq length
    \$R kill --all $id KILL
    \$R delete --force $id
    test ! -e /sys/fs/cgroup/berth/$id && echo removed"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = paused ]
  [ "${lines[1]}" = 1 ]
  [ "${lines[2]}" = running ]
  [ "${lines[3]}" -ge 2 ]
  [ "${lines[4]}" = removed ]
}

@test "v2: a limit the host cannot enforce is a clear error and nothing is left" {
  id=$(unique_id v2); b=$(make_bundle "$id")
  patch_config "$b" '.linux.resources.memory = {"limit": 67108864}'
  on_v2 "\$R create --bundle $b $id; echo rc=\$?; test ! -e /sys/fs/cgroup/berth/$id && echo no-cgroup"
  [[ $output == *"linux.resources"*"memory"* ]]
  [[ $output == *"rc=1"* ]]
  [[ $output == *"no-cgroup"* ]]
  [ ! -e "$RT_ROOT/$id" ]
}
