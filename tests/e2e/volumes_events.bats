#!/usr/bin/env bats
# `berth volume` verbs and `berth events` as a user drives them. Each test has its own
# BERTH_ROOT and BERTH_RUN_ROOT, with the fixture imported as busybox.

bats_require_minimum_version 1.5.0
load ../lib/berth

setup() { berth_setup; }
teardown() { berth_teardown; }

# --- volumes ------------------------------------------------------------------------------

@test "volume create, ls, inspect, rm" {
  b volume create --label team=a data1
  [ "$status" -eq 0 ]
  [ "$output" = data1 ]
  b volume create
  [ "$status" -eq 0 ]
  [[ $output =~ ^[0-9a-f]{64}$ ]]
  anon=$output
  b volume ls
  [[ ${lines[0]} == DRIVER*"VOLUME NAME" ]]
  [[ $output == *"local"*data1* ]]
  [ "${#lines[@]}" -eq 3 ]
  b volume ls -q --filter label=team=a
  [ "$output" = data1 ]
  b volume ls -q --filter name=dat
  [ "$output" = data1 ]
  b volume ls --format json
  [ "$(jq -s length <<<"$output")" -eq 2 ]
  b volume inspect data1
  [ "$status" -eq 0 ]
  [ "$(jq -r '.[0].Name' <<<"$output")" = data1 ]
  [ "$(jq -r '.[0].Driver' <<<"$output")" = local ]
  [ "$(jq -r '.[0].Labels.team' <<<"$output")" = a ]
  mountpoint=$(jq -r '.[0].Mountpoint' <<<"$output")
  [ -d "$mountpoint" ]
  [[ $mountpoint == "$BERTH_ROOT"/* ]]
  # Creating an existing volume is not an error (Docker's behaviour).
  b volume create data1
  [ "$status" -eq 0 ]
  b volume rm data1 "$anon"
  [ "$status" -eq 0 ]
  [ "${lines[*]}" = "data1 $anon" ]
  [ ! -e "$mountpoint" ]
  b volume ls -q
  [ -z "$output" ]
  b volume rm data1
  [ "$status" -eq 1 ]
  [[ $stderr == *"volume 'data1' not found"* ]]
  b volume rm -f data1
  [ "$status" -eq 0 ]
  fails_with "volume 'data1' not found" volume inspect data1
  fails_with "'bad name'" volume create 'bad name'
  fails_with "type" volume create -o type=nfs v
}

@test "a named volume outlives its container" {
  b run --rm -v keep:/data busybox sh -c 'echo survived >/data/f'
  [ "$status" -eq 0 ]
  [ "$(container_count)" -eq 0 ]
  b volume inspect keep
  [ "$status" -eq 0 ]
  b run --rm -v keep:/other busybox cat /other/f
  [ "$output" = survived ]
}

@test "a new named volume is first filled from the image's directory, as Docker's" {
  b run --rm -v etcvol:/etc busybox cat /etc/passwd
  [ "$status" -eq 0 ]
  [[ $output == root:* ]]
  # Only a new, empty volume is filled: what a container wrote stays.
  b run --rm -v etcvol:/etc busybox sh -c 'echo mine > /etc/passwd'
  b run --rm -v etcvol:/etc busybox cat /etc/passwd
  [ "$output" = mine ]
}

@test "two containers share a volume at once: one writes, the other reads" {
  detach reader -v shared:/data busybox sh -c \
    'while [ ! -f /data/msg ]; do sleep 0.1; done; cat /data/msg; sleep 1000' >/dev/null
  detach writer -v shared:/data busybox sh -c 'echo hello-from-writer >/data/msg; sleep 1000' >/dev/null
  wait_for 10 sh -c '"$BERTH" logs reader | grep -q hello-from-writer'
  [ "$(state_of reader)" = running ]
  [ "$(state_of writer)" = running ]
  b volume inspect shared
  [ "$(jq -r '.[0].UsedBy | length' <<<"$output")" -eq 2 ]
}

@test "volume rm refuses a volume in use; it goes once its containers do" {
  detach user -v busyvol:/data busybox sleep 1000 >/dev/null
  b volume rm busyvol
  [ "$status" -eq 1 ]
  [[ $stderr == *"volume 'busyvol' is in use"* ]]
  b volume rm -f busyvol
  [ "$status" -eq 1 ]
  b stop -t 0 user
  # A stopped container still holds it (as Docker does).
  b volume rm busyvol
  [ "$status" -eq 1 ]
  b rm user
  b volume rm busyvol
  [ "$status" -eq 0 ]
}

@test "volume prune removes unused anonymous volumes; -a named ones too" {
  b volume create named
  b run --name a -v /anon busybox true
  anon_in_use=$(bq volume ls -q | grep -v named)
  b volume create
  anon_free=$output
  b volume prune -f
  [ "$status" -eq 0 ]
  [[ $output == *"Deleted Volumes:"*"$anon_free"* ]]
  [[ $output == *"Total reclaimed space:"* ]]
  run -0 bq volume ls -q
  [ "${lines[*]}" = "$(printf '%s\n' "$anon_in_use" named | sort | tr '\n' ' ' | sed 's/ $//')" ]
  b volume prune -a -f
  [[ $output == *named* ]]
  run -0 bq volume ls -q
  [ "$output" = "$anon_in_use" ]
  b volume ls -q --filter dangling=false
  [ "$output" = "$anon_in_use" ]
}

# --- events -------------------------------------------------------------------------------

@test "events over a finite window show a container's create, start, die and destroy" {
  b run --rm --name ev --label app=demo busybox sh -c 'exit 3'
  [ "$status" -eq 3 ]
  b events --since 1m --until 0s
  [ "$status" -eq 0 ]
  container_lines=$(grep ' container ' <<<"$output")
  [ "$(awk '{print $3}' <<<"$container_lines" | tr '\n' ' ')" = "create start die destroy " ]
  [[ $(grep ' die ' <<<"$output") == *exitCode=3* ]]
  [[ $(grep ' die ' <<<"$output") == *name=ev* ]]

  b events --since 1m --until 0s --format json --filter type=container --filter event=die
  [ "$status" -eq 0 ]
  [ "$(jq -s length <<<"$output")" -eq 1 ]
  [ "$(jq -r .Type <<<"$output")" = container ]
  [ "$(jq -r .Action <<<"$output")" = die ]
  [ "$(jq -r .Actor.Attributes.exitCode <<<"$output")" = 3 ]
  [ "$(jq -r .Actor.Attributes.name <<<"$output")" = ev ]
  [ "$(jq -r .Actor.Attributes.app <<<"$output")" = demo ]
}

@test "events --filter by container, label and image; volumes and images have events too" {
  b run --rm --name one busybox true
  b run --rm --name two --label keep=yes busybox true
  b volume create evvol
  b tag busybox tagged:1
  b events --since 1m --until 0s --filter container=one --format json
  [ "$(jq -r .Actor.Attributes.name <<<"$output" | sort -u)" = one ]
  [ "$(jq -s length <<<"$output")" -eq 4 ]
  b events --since 1m --until 0s --filter label=keep=yes --format json
  [ "$(jq -r .Actor.Attributes.name <<<"$output" | sort -u)" = two ]
  b events --since 1m --until 0s --filter type=volume --format json
  [ "$(jq -r 'select(.Action == "create") | .Actor.ID' <<<"$output")" = evvol ]
  b events --since 1m --until 0s --filter type=image --filter event=tag --format json
  [[ $(jq -r .Actor.Attributes.name <<<"$output") == *tagged:1* ]]
  # A window in the future is empty; a bad filter names itself.
  b events --since 0s --until 0s
  [ "$status" -eq 0 ]
  fails_with "color=blue" events --since 1m --until 0s --filter color=blue
  fails_with "yesterday" events --since yesterday --until 0s
}

@test "events without --until follows new events until interrupted" {
  out=$BATS_TEST_TMPDIR/events
  "$BERTH" events --filter event=start --format json >"$out" 2>&1 3>&- &
  follower=$!
  sleep 0.5
  b run --rm --name followed busybox true
  wait_for 10 grep -q followed "$out"
  kill "$follower"
  wait "$follower" || true
  [ "$(jq -r .Actor.Attributes.name "$out")" = followed ]
}
