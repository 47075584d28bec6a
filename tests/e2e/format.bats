#!/usr/bin/env bats
# Docker's Go-template --format, driven through the real `berth` with real containers: ps,
# images, inspect, image/network/volume inspect, network ls, volume ls, events and stats. The
# expected outputs are what docker prints for the same templates. Each test has its own
# BERTH_ROOT and BERTH_RUN_ROOT; networks are named after the test's pid and removed by
# berth_teardown (system reset) on every path.

bats_require_minimum_version 1.5.0
load ../lib/berth

setup() { berth_setup; }
teardown() { berth_teardown; }

# Two containers: web (running, labelled) and idle (created).
two_containers() {
  b run -d --name web --network none -l tier=front -l owner=ops busybox sleep 1000
  [ "$status" -eq 0 ]
  web=$output
  b create --name idle --network none busybox true
  [ "$status" -eq 0 ]
  idle=$output
}

# --- ps ------------------------------------------------------------------------------------

@test "ps --format prints one line per container from the template" {
  two_containers
  b ps --format '{{.Names}} {{.State}} {{.Label "tier"}}|{{.Labels}}'
  [ "$status" -eq 0 ]
  [ "$output" = "web running front|owner=ops,tier=front" ]
  b ps -a --format '{{.ID}} {{.Names}}'
  [ "${#lines[@]}" -eq 2 ]
  [[ " ${lines[*]} " == *" ${web:0:12} web "* ]]
  [[ " ${lines[*]} " == *" ${idle:0:12} idle "* ]]
  b ps -a --no-trunc --format '{{.ID}}' --filter name=web
  [ "$output" = "$web" ]
  b ps --format '{{.Status}}'
  [[ $output == "Up "* ]]
  b ps --format '{{.Command}} {{.Image}} {{.Networks}} {{.RunningFor}}'
  [[ $output == '"sleep 1000" busybox none '*' ago' ]]
  b ps --format '{{if eq .State "running"}}{{upper .Names}}{{else}}-{{end}}'
  [ "$output" = WEB ]
  b ps -a --format '{{.Names}}\t{{.State}}' --filter name=idle
  [ "$output" = "$(printf 'idle\tcreated')" ]
}

@test "ps --format 'table …' prints docker's headers and aligns the columns as docker does" {
  two_containers
  b ps -a --format 'table {{.Names}}\t{{.State}}\t{{.Label "tier"}}' --filter name=web
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "NAMES     STATE     LABEL" ]
  [ "${lines[1]}" = "web       running   front" ]
  b ps -a --format 'table {{.ID}}\t{{.Names}}'
  [ "${lines[0]}" = "CONTAINER ID   NAMES" ]
  [ "${#lines[@]}" -eq 3 ]
  # No containers: the header alone.
  b ps --format 'table {{.Names}}\t{{.Status}}' --filter name=nothing-is-called-this
  [ "$output" = "NAMES     STATUS" ]
  # table and json are still berth's own outputs.
  b ps -a --format table
  [[ ${lines[0]} == "CONTAINER ID"*IMAGE*COMMAND*CREATED*STATUS*PORTS*NAMES ]]
  b ps -a --format json
  [ "$(jq -s length <<<"$output")" -eq 2 ]
}

@test "ps --format '{{json .}}' prints docker's fields as JSON" {
  two_containers
  b ps --format '{{json .}}'
  [ "$status" -eq 0 ]
  [ "$(jq -r .Names <<<"$output")" = web ]
  [ "$(jq -r .ID <<<"$output")" = "${web:0:12}" ]
  [ "$(jq -r .Labels <<<"$output")" = "owner=ops,tier=front" ]
  [ "$(jq -r .State <<<"$output")" = running ]
  [ "$(jq -r 'keys | join(",")' <<<"$output")" = \
    "Command,CreatedAt,ID,Image,Labels,LocalVolumes,Mounts,Names,Networks,Ports,RunningFor,Size,State,Status" ]
}

@test "ps --format errors: an unknown field is named with the fields ps has, a syntax error with its place" {
  two_containers
  fails_with "--format '{{.Nmae}}': template: no field 'Nmae' (ps has: ID, Image, Command," ps --format '{{.Nmae}}'
  [ -z "$output" ]
  # Even with nothing to list.
  fails_with "no field 'Nmae'" ps --format '{{.Nmae}}' --filter name=nothing-is-called-this
  fails_with "--format '{{.Names': template: 1:1: unclosed action" ps --format '{{.Names'
  fails_with 'function "nosuch" not defined' ps --format '{{nosuch .Names}}'
  fails_with "--format 'yaml': use table, json or a Go template" ps --format yaml
}

# --- images --------------------------------------------------------------------------------

@test "images --format prints templates and docker's table headers" {
  b tag busybox other:2
  id=$(bq image inspect -f '{{.Id}}' busybox)
  b images --format '{{.Repository}}:{{.Tag}} {{.ID}}'
  [ "$status" -eq 0 ]
  [[ " ${lines[*]} " == *" localhost/busybox:latest ${id:7:12} "* ]]
  [[ " ${lines[*]} " == *" localhost/other:2 ${id:7:12} "* ]]
  b images --format 'table {{.Repository}}\t{{.Tag}}' other
  [ "${lines[0]}" = "REPOSITORY        TAG" ]
  [ "${lines[1]}" = "localhost/other   2" ]
  b images --format '{{.Size}} {{.CreatedSince}}' busybox
  [[ $output =~ ^[0-9.]+[kMG]?B\ .*ago$ ]]
  fails_with "no field 'Repo' (images has: ID, Repository, Tag," images --format '{{.Repo}}'
}

# --- inspect -------------------------------------------------------------------------------

@test "inspect --format runs the template on each container's document, a line each" {
  two_containers
  b inspect -f '{{.Name}} {{.State.Status}} {{.State.Running}}' web idle
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "/web running true" ]
  [ "${lines[1]}" = "/idle created false" ]
  b inspect -f '{{.Config.Cmd}}|{{json .Config.Cmd}}|{{join .Config.Cmd ","}}' web
  [ "$output" = '[sleep 1000]|["sleep","1000"]|sleep,1000' ]
  b inspect -f '{{index .Config.Labels "tier"}} {{.Config.Labels.owner}} {{len .Config.Labels}}' web
  [ "$output" = "front ops 2" ]
  b inspect -f '{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}' web
  [ "$output" = "owner=ops;tier=front;" ]
  b inspect -f '{{with .State}}{{if .Running}}up since {{.StartedAt}}{{end}}{{end}}' web
  [[ $output == "up since 20"* ]]
  # docker's Go field names work as well as the JSON's: .ID is .Id.
  [ "$(bq inspect -f '{{.ID}}' web)" = "$web" ]
  [ "$(bq inspect -f '{{.Id}}' web)" = "$web" ]
}

@test "inspect --format errors name the field and say nothing else" {
  two_containers
  fails_with "--format '{{.State.Stauts}}': template: no field 'Stauts' in .State (State has:" \
    inspect -f '{{.State.Stauts}}' web idle
  [ -z "$output" ]
  fails_with "no field 'Nmae' (inspect has: " inspect -f '{{.Nmae}}' web
  fails_with "template: 1:10: unexpected {{end}}" inspect -f '{{.Id}}{{end}}' web
}

@test "image inspect --format" {
  b image inspect -f '{{.Os}}/{{.Architecture}} {{len .RootFS.Layers}} {{.RootFS.Type}}' busybox
  [ "$status" -eq 0 ]
  [[ $output =~ ^linux/[a-z0-9]+\ [1-9][0-9]*\ layers$ ]]
  b image inspect -f '{{range .RepoTags}}{{.}} {{end}}' busybox
  [ "$output" = "localhost/busybox:latest " ]
}

# --- networks and volumes ------------------------------------------------------------------

@test "network ls and network inspect --format" {
  net=fmt-$$
  b network create --label team=blue --subnet 10.251.$((RANDOM % 200)).0/24 "$net"
  [ "$status" -eq 0 ]
  id=$output
  b network ls --filter name="$net" --format '{{.Name}} {{.Driver}} {{.Scope}} {{.Internal}} {{.Label "team"}} {{.ID}}'
  [ "$output" = "$net bridge local false blue ${id:0:12}" ]
  b network ls --filter name="$net" --format 'table {{.Name}}\t{{.Driver}}\t{{.Labels}}'
  [ "${lines[0]}" = "$(printf '%-*s%-10s%s' $(( ${#net} + 3 > 10 ? ${#net} + 3 : 10 )) NAME DRIVER LABELS)" ]
  [[ ${lines[1]} == "$net "*"bridge    team=blue" ]]
  b network inspect -f '{{.Name}} {{range .IPAM.Config}}{{.Subnet}}{{end}} {{.Containers}} {{.Labels.team}}' "$net"
  [[ $output =~ ^$net\ 10\.251\.[0-9]+\.0/24\ map\[\]\ blue$ ]]
  fails_with "no field 'Nmae' (network ls has: ID, Name," network ls --format '{{.Nmae}}'
  b network rm "$net"
  [ "$status" -eq 0 ]
}

@test "volume ls and volume inspect --format" {
  b volume create --label team=a data1
  b volume create data2
  b volume ls --format '{{.Name}} {{.Driver}} {{.Label "team"}}'
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "data1 local a" ]
  [ "${lines[1]}" = "data2 local " ]
  b volume ls --format 'table {{.Name}}\t{{.Driver}}\t{{.Labels}}'
  [ "${lines[0]}" = "VOLUME NAME   DRIVER    LABELS" ]
  [ "${lines[1]}" = "data1         local     team=a" ]
  b volume inspect -f '{{.Name}}:{{.Mountpoint}}' data1 data2
  [ "${lines[0]}" = "data1:$BERTH_ROOT/volumes/data1/data" ]
  [ "${lines[1]}" = "data2:$BERTH_ROOT/volumes/data2/data" ]
  fails_with "no field 'Mountpont' (volume inspect has:" volume inspect -f '{{.Mountpont}}' data1
}

# --- events and stats ----------------------------------------------------------------------

@test "events --format reads docker's message fields" {
  b run --name once --network none busybox true
  b events --since 1m --until 0s --filter container=once --filter event=die \
    --format '{{.Type}} {{.Action}} {{.Status}} {{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}} {{.From}}'
  [ "$status" -eq 0 ]
  [ "$output" = "container die die once 0 busybox" ]
  b events --since 1m --until 0s --filter type=volume --filter type=container --filter event=create \
    --format '{{.Type}}:{{.Actor.Attributes.name}}:{{.Status}}:{{if gt .TimeNano 0}}ok{{end}}:{{.Scope}}'
  [ "$output" = "container:once:create:ok:local" ]
  b events --since 1m --until 0s --filter container=once --filter event=die --format '{{json .}}'
  [ "$(jq -r .Actor.Attributes.name <<<"$output")" = once ]
  [ "$(jq -r .status <<<"$output")" = die ]
  fails_with "no field 'Acton' (events has: Type, Action," events --since 1m --until 0s --format '{{.Acton}}'
}

@test "stats --format" {
  b run -d --name busy --network none busybox sleep 1000
  b stats --no-stream --format '{{.Name}} {{.ID}} {{.PIDs}}'
  [ "$status" -eq 0 ]
  [ "$output" = "busy ${output:5:12} 1" ]
  b stats --no-stream --format 'table {{.Name}}\t{{.PIDs}}'
  [ "${lines[0]}" = "NAME      PIDS" ]
  [ "${lines[1]}" = "busy      1" ]
}
