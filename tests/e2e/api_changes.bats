#!/usr/bin/env bats
# `berth serve`: docker update (limits and restart policy of a running container) and docker
# commit through the Docker Engine API, and the `berth update`/`berth commit` verbs.

load ../lib/api

setup() { api_setup; }
teardown() { api_teardown; }

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
  api POST /v1.41/containers/u/update -H 'Content-Type: application/json' -d '{"CpuShares":512}'
  [ "$code" = 400 ]
  [[ $body == *"UpdateConfig.CpuShares is not supported by berth"* ]]
  api POST /v1.41/containers/u/update -H 'Content-Type: application/json' -d '{"Memory":1024}'
  [ "$code" = 400 ]
  [[ $body == *"Minimum memory limit allowed is 6MB"* ]]
  api POST /v1.41/containers/u/update -H 'Content-Type: application/json' -d '{"Memory":'
  [ "$code" = 400 ]
  [[ $body == *"malformed JSON"* ]]
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
