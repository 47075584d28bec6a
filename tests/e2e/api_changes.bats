#!/usr/bin/env bats
# `berth serve`: docker update (limits and restart policy of a running container) and docker
# commit through the Docker Engine API, and the `berth update`/`berth commit` verbs.

load ../lib/api

setup() { api_setup; }
teardown() { api_teardown; }

# update_refused CONTAINER JSON TEXT: POST /update with that body is a 400 saying TEXT.
update_refused() {
  api POST "/v1.41/containers/$1/update" -H 'Content-Type: application/json' -d "$2"
  [ "$code" = 400 ] || { echo "update $2 answered $code: $body"; return 1; }
  [[ $body == *"$3"* ]] || { echo "update $2: the answer lacks '$3': $body"; return 1; }
}

# The container's own limit file (cgroup v2 or v1), read on the host.
cgroup_file() {
  local id=$1 v2=$2 v1=$3
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then cat "/sys/fs/cgroup/berth/$id/$v2"; else cat "/sys/fs/cgroup/$v1"; fi
}

@test "api update: docker update changes a running container's cgroup limits and its inspect" {
  d run -d --name u busybox sleep 300
  [ "$status" -eq 0 ]
  id=$output
  d update --memory 64m --cpus 0.5 --pids-limit 50 u
  [ "$status" -eq 0 ] || { echo "$stderr"; false; }
  [ "$(cgroup_file "$id" memory.max "memory/berth/$id/memory.limit_in_bytes")" = 67108864 ]
  [ "$(cgroup_file "$id" pids.max "pids/berth/$id/pids.max")" = 50 ]
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
    [ "$(cat "/sys/fs/cgroup/berth/$id/cpu.max")" = "50000 100000" ]
  else
    [ "$(cat "/sys/fs/cgroup/cpu/berth/$id/cpu.cfs_quota_us")" = 50000 ]
  fi
  d inspect -f '{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}' u
  [ "$output" = "67108864 500000000 50" ]
  # The limits survive a restart (they are in the bundle, not only in the cgroup).
  d restart -t 0 u
  [ "$status" -eq 0 ]
  [ "$(cgroup_file "$id" pids.max "pids/berth/$id/pids.max")" = 50 ]
}

@test "api update: cpu shares, cpusets, swap and block I/O weight reach the cgroup, the inspect and the next start" {
  d run -d --name t busybox sleep 300
  [ "$status" -eq 0 ]
  id=$output
  d update --cpu-shares 512 --cpuset-cpus 0 --cpuset-mems 0 --memory 64m --memory-swap 128m t
  [ "$status" -eq 0 ] || { echo "$stderr"; false; }
  check_knobs() {
    [ "$(cgroup_file "$id" cpuset.cpus "cpuset/berth/$id/cpuset.cpus")" = 0 ]
    [ "$(cgroup_file "$id" cpuset.mems "cpuset/berth/$id/cpuset.mems")" = 0 ]
    if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
      # v2: shares 512 are cpu.weight 20 (runc's formula); swap.max counts the swap alone.
      [ "$(cat "/sys/fs/cgroup/berth/$id/cpu.weight")" = 20 ]
      [ "$(cat "/sys/fs/cgroup/berth/$id/memory.swap.max")" = 67108864 ]
    else
      [ "$(cat "/sys/fs/cgroup/cpu/berth/$id/cpu.shares")" = 512 ]
      [ "$(cat "/sys/fs/cgroup/memory/berth/$id/memory.memsw.limit_in_bytes")" = 134217728 ]
    fi
  }
  check_knobs
  d inspect -f '{{.HostConfig.CpuShares}} {{.HostConfig.CpusetCpus}} {{.HostConfig.CpusetMems}} {{.HostConfig.MemorySwap}} {{.HostConfig.Memory}}' t
  [ "$output" = "512 0 0 134217728 67108864" ]
  # Block I/O weight: BFQ's file on v1 (blkio.bfq.weight), io.weight or io.bfq.weight on v2.
  d update --blkio-weight 300 t
  [ "$status" -eq 0 ] || { echo "$stderr"; false; }
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
    [[ $(cat /sys/fs/cgroup/berth/$id/io.bfq.weight 2>/dev/null || cat /sys/fs/cgroup/berth/$id/io.weight) == *[0-9]* ]]
  else
    [ "$(cat /sys/fs/cgroup/blkio/berth/$id/blkio.bfq.weight 2>/dev/null || cat /sys/fs/cgroup/blkio/berth/$id/blkio.weight)" = 300 ]
  fi
  d inspect -f '{{.HostConfig.BlkioWeight}}' t
  [ "$output" = 300 ]
  # In the bundle too: a restart starts with them, the quota kept alongside the new shares.
  d update --cpus 0.5 t
  d restart -t 0 t
  [ "$status" -eq 0 ]
  check_knobs
  if [[ ! -f /sys/fs/cgroup/cgroup.controllers ]]; then
    [ "$(cat "/sys/fs/cgroup/cpu/berth/$id/cpu.cfs_quota_us")" = 50000 ]
  fi
}

@test "api update: swap and cpuset values dockerd refuses are refused with its words" {
  d run -d --name t busybox sleep 300
  [ "$status" -eq 0 ]
  d update --memory 64m --memory-swap 32m t
  [ "$status" -ne 0 ]
  [[ $stderr == *"Minimum memoryswap limit should be larger than memory limit"* ]]
  d update --memory 64m --memory-swap 128m t
  [ "$status" -eq 0 ]
  d update --memory 256m t
  [ "$status" -ne 0 ]
  [[ $stderr == *"Memory limit should be smaller than already set memoryswap limit"* ]]
  d update --cpuset-cpus 4096 t
  [ "$status" -ne 0 ]
  [[ $stderr == *"Requested CPUs are not available - requested 4096, available: "* ]]
  d update --cpuset-cpus 0-x t
  [ "$status" -ne 0 ]
  [[ $stderr == *"Invalid value 0-x for cpuset CPUs"* ]]
  update_refused t '{"CpuShares":1}' "cpu shares 1: give a weight from 2 to 262144"
  update_refused t '{"BlkioWeight":5}' "Range of blkio weight is from 10 to 1000"
  # Nothing of the refused updates was applied.
  d inspect -f '{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.CpusetCpus}} {{.HostConfig.CpuShares}}' t
  [ "$output" = "67108864 134217728  0" ]
  b update --cpu-shares 300 --memory-swap -1 t
  [ "$status" -eq 0 ]
  d inspect -f '{{.HostConfig.MemorySwap}} {{.HostConfig.CpuShares}}' t
  [ "$output" = "-1 300" ]
}

@test "api update: a new restart policy applies to a running container's next exit" {
  d run -d --name r busybox sh -c 'while [ ! -f /go ]; do sleep 0.1; done; exit 3'
  [ "$status" -eq 0 ]
  d update --restart on-failure:1 r
  [ "$status" -eq 0 ]
  d exec r touch /go
  # Restarted once (the file stays: it exits at once again), then left exited.
  for i in $(seq 100); do
    d inspect -f '{{.State.Status}} {{.RestartCount}}' r
    [ "$output" = "exited 1" ] && break
    sleep 0.1
  done
  [ "$output" = "exited 1" ]
  d inspect -f '{{.HostConfig.RestartPolicy.Name}}' r
  [[ $output == on-failure* ]]
}

@test "api update: an unsupported field is a 400 naming it; bad values and unknown containers are refused" {
  d run -d --name u busybox sleep 300
  [ "$status" -eq 0 ]
  update_refused u '{"CpuQuota":50000}' "UpdateConfig.CpuQuota is not supported by berth"
  update_refused u '{"Memory":1024}' "Minimum memory limit allowed is 6MB"
  update_refused u '{"Memory":' "malformed JSON"
  api POST /v1.41/containers/nosuch/update -H 'Content-Type: application/json' -d '{"Memory":67108864}'
  [ "$code" = 404 ]
  d run -d --rm --name gone busybox sleep 300
  d update --restart always gone
  [ "$status" -ne 0 ]
  [[ $stderr == *"AutoRemove is enabled"* ]]
}

@test "api commit: docker commit makes an image of the container's changes and its command" {
  d run --name c busybox sh -c 'echo committed >/data.txt; rm /bin/vi'
  [ "$status" -eq 0 ]
  d commit -a tester -m "add data" -c 'ENV STAGE=two' -c 'CMD ["cat", "/data.txt"]' c snap:1
  [ "$status" -eq 0 ] || { echo "$stderr"; false; }
  [[ $output == sha256:* ]]
  d run --rm snap:1
  [ "$status" -eq 0 ]
  [ "$output" = committed ]
  d run --rm snap:1 sh -c 'echo $STAGE; [ -e /bin/vi ] && echo vi || echo no-vi'
  [ "$output" = "$(printf 'two\nno-vi')" ]
  d inspect -f '{{.Author}} {{.Comment}}' snap:1
  [ "$output" = "tester add data" ]
  d history --format '{{.CreatedBy}}' snap:1
  [[ ${lines[0]} == "berth commit c" ]]
  # berth sees the same image.
  b images --format '{{.Repository}}:{{.Tag}}'
  [[ $output == *"snap:1"* ]]
}

@test "api commit: a running container is paused while committed; bad changes and containers are refused" {
  d run -d --name live busybox sh -c 'echo x >/live; sleep 300'
  [ "$status" -eq 0 ]
  for i in $(seq 50); do d exec live cat /live; [ "$output" = x ] && break; sleep 0.1; done
  d commit live livesnap
  [ "$status" -eq 0 ]
  d inspect -f '{{.State.Status}}' live
  [ "$output" = running ]
  d run --rm --entrypoint cat livesnap /live
  [ "$output" = x ]
  d commit -c 'ONBUILD RUN x' live bad
  [ "$status" -ne 0 ]
  [[ $stderr == *"ONBUILD is not supported by commit"* ]]
  api POST "/v1.41/commit?container=nosuch&repo=x"
  [ "$code" = 404 ]
  [[ $body == *"No such container: nosuch"* ]]
}

@test "api commit: a Config body sets the new image's command, environment, labels and ports" {
  d run --name cb -e FROM_RUN=1 -l keep=me busybox sh -c 'echo body >/f'
  [ "$status" -eq 0 ]
  api POST '/v1.41/commit?container=cb&repo=withbody&tag=1&changes=ENV%20FROM_CHANGE%3D3' \
    -H 'Content-Type: application/json' \
    -d '{"Cmd":["cat","/f"],"Env":["FROM_BODY=2"],"Labels":{"by":"body"},"ExposedPorts":{"8080/tcp":{}},"WorkingDir":"/tmp","StopSignal":"SIGINT"}'
  [ "$code" = 201 ] || { echo "$body"; false; }
  d image inspect -f '{{json .Config.Cmd}} {{.Config.WorkingDir}} {{.Config.StopSignal}} {{json .Config.ExposedPorts}} {{json .Config.Labels}}' withbody:1
  [ "$output" = '["cat","/f"] /tmp SIGINT {"8080/tcp":{}} {"by":"body","keep":"me"}' ]
  # The body's and the change's variables, and the container's (merged by name).
  d run --rm withbody:1 sh -c 'echo $FROM_BODY $FROM_CHANGE $FROM_RUN'
  [ "$output" = "2 3 1" ]
  d run --rm withbody:1
  [ "$output" = body ]
  # An entrypoint in the body drops the container's command, as dockerd.
  api POST '/v1.41/commit?container=cb&repo=withentry' -H 'Content-Type: application/json' \
    -d '{"Entrypoint":["cat"]}'
  [ "$code" = 201 ]
  d image inspect -f '{{json .Config.Entrypoint}} {{json .Config.Cmd}}' withentry
  [ "$output" = '["cat"] null' ]
  # A container's runtime settings have no place in an image: refused by name.
  api POST '/v1.41/commit?container=cb&repo=bad' -H 'Content-Type: application/json' -d '{"Tty":true}'
  [ "$code" = 400 ]
  [[ $body == *"Config.Tty is not supported by berth"* ]]
  api POST '/v1.41/commit?container=cb&repo=bad' -H 'Content-Type: application/json' -d '{"Env":"A=1","Cmd":7}'
  [ "$code" = 400 ]
  [[ $body == *"Config.Cmd: expected a list of strings"* ]]
}

@test "berth commit and berth update: the same through the CLI" {
  b run --name cl busybox sh -c 'echo cli >/f'
  [ "$status" -eq 0 ]
  b commit -c 'CMD cat /f' cl clisnap:2
  [ "$status" -eq 0 ]
  [[ $output == sha256:* ]]
  b run --rm clisnap:2
  [ "$output" = cli ]
  b run -d --name lim busybox sleep 300
  id=$output
  b update --pids-limit 40 lim
  [ "$status" -eq 0 ]
  [ "$(cgroup_file "$id" pids.max "pids/berth/$id/pids.max")" = 40 ]
  b update lim
  [ "$status" -ne 0 ]
  [[ $stderr == *"give something to change"* ]]
  b update --restart sometimes lim
  [ "$status" -ne 0 ]
  [[ $stderr == *"sometimes"* ]]
}
