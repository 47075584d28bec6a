#!/usr/bin/env bats
# The docker CLI tour against `berth serve` and against a real dockerd (20.10, started here by
# hand with its own roots and socket: tests/lib/dockerd.bash), with the same busybox image in both
# (imported into dockerd, saved, loaded into berth: the same image id). Each step's stdout, stderr
# and exit status are recorded, ids, times and pids normalised, and the two transcripts must be
# equal; the inspect documents must carry every key dockerd's carry. What differs by design is
# left out here and listed in docs/api.md ("What differs from Docker").

load ../lib/api
load ../lib/dockerd

setup() {
  api_setup
  dockerd_start || skip "$DOCKERD_WHY"
  dk import "$BERTH_FIXTURES/busybox-rootfs.tar" busybox
  "$DOCKER" -H "unix://$DK_SOCK" save -o "$BATS_TEST_TMPDIR/busybox.tar" busybox </dev/null 3>&-
  # berth_setup's localhost/busybox would make "busybox" ambiguous: the loaded one only.
  b rmi localhost/busybox
  d load -i "$BATS_TEST_TMPDIR/busybox.tar"
  [ "$status" -eq 0 ]
}

teardown() {
  dockerd_stop
  api_teardown
}

# on SOCKET: the docker CLI of the steps below talks to that socket.
on() { TARGET=(-H "unix://$1"); }

# step ARGS...: one docker command; its stdout, its stderr ("!! " lines) and "-> STATUS".
step() {
  local out=$BATS_TEST_TMPDIR/step.out err=$BATS_TEST_TMPDIR/step.err s=0
  timeout 60 "$DOCKER" "${TARGET[@]}" "$@" >"$out" 2>"$err" </dev/null 3>&- || s=$?
  echo "## $*"
  cat "$out"
  sed 's/^/!! /' "$err"
  echo "-> $s"
}

# until_logs TEXT CONTAINER: waits (30 s at most) until the container's log holds TEXT.
until_logs() {
  local i
  for ((i = 0; i < 300; i++)); do
    "$DOCKER" "${TARGET[@]}" logs "$2" 2>&1 </dev/null 3>&- | grep -qx "$1" && return 0
    sleep 0.1
  done
  return 1
}

normalise() {
  sed -E -e "s|$BATS_TEST_TMPDIR|TMP|g" \
    -e 's/[0-9a-f]{64}/<id>/g; s/\b[0-9a-f]{12}\b/<id12>/g' \
    -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z/<time>/g' \
    -e 's/(Up|Exited \([0-9]+\)) (Less than a second|About a minute|[0-9]+ [a-z]+)( ago)?/\1 <since>/g'
}

tour() {
  step run -d --network none --name tour-web -l app=tour -e FOO=bar -w /tmp busybox \
    sh -c 'echo warn >&2; while [ ! -f /go ]; do sleep 0.1; done; echo one; echo two; exec sleep 300'
  until_logs warn tour-web
  step exec tour-web touch /go
  until_logs two tour-web
  step ps --format '{{.Names}} {{.Image}} {{.Command}} {{.Labels}} {{.Ports}} {{.Status}}'
  step ps -a -s --format '{{.Names}}|{{.Networks}}|{{.Mounts}}|{{.State}}|{{.Size}}' | sed -E 's/virtual [0-9.]+[kMG]?B/virtual <size>/'
  step inspect --format '{{.Name}} {{.State.Status}} {{.State.Running}} {{.State.ExitCode}} {{.Config.Image}} {{.Config.Cmd}} {{.Config.Entrypoint}} {{.Config.WorkingDir}} {{.Config.Env}} {{.Config.Labels}} {{.HostConfig.NetworkMode}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}} {{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.AutoRemove}} {{.RestartCount}} {{.Driver}} {{.Platform}} {{.Path}} {{.Args}} {{.Config.Tty}} {{.Config.OpenStdin}} {{.Config.User}} {{.HostConfig.Privileged}} {{.HostConfig.ReadonlyRootfs}} {{.State.Paused}} {{.State.OOMKilled}} {{.Image}} {{.HostConfig.CpuShares}} {{.HostConfig.CpusetCpus}} {{.HostConfig.MemorySwap}} {{.HostConfig.BlkioWeight}} {{.HostConfig.ShmSize}} {{.ExecIDs}}' tour-web
  step inspect --format '{{json .Mounts}} {{json .HostConfig.Binds}} {{json .HostConfig.PortBindings}} {{json .Config.Volumes}} {{.HostConfig.LogConfig.Type}} {{json .HostConfig.CapAdd}} {{json .HostConfig.CapDrop}} {{json .Config.StopSignal}} {{json .HostConfig.ExtraHosts}} {{json .HostConfig.Dns}} {{len .NetworkSettings.Networks}} {{.NetworkSettings.IPAddress}}' tour-web
  step logs tour-web
  step logs --tail 1 tour-web
  step exec tour-web sh -c 'echo $FOO; pwd; id -u'
  step exec -w / -e X=1 tour-web sh -c 'echo $X; pwd'
  step exec tour-web sh -c 'exit 5'
  step exec -u 1234 tour-web id -u
  echo hello >"$BATS_TEST_TMPDIR/in.txt"
  step cp "$BATS_TEST_TMPDIR/in.txt" tour-web:/tmp/in.txt
  step exec tour-web cat /tmp/in.txt
  rm -f "$BATS_TEST_TMPDIR/out.txt"
  step cp tour-web:/tmp/in.txt "$BATS_TEST_TMPDIR/out.txt"
  cat "$BATS_TEST_TMPDIR/out.txt"
  step cp tour-web:/nosuch "$BATS_TEST_TMPDIR/x"
  step cp "$BATS_TEST_TMPDIR/in.txt" tour-web:/nosuchdir/x
  step top tour-web | sed -E 's/[0-9]+/N/g; s/ +/ /g'
  step port tour-web
  step exec tour-web sh -c 'echo out; echo err >&2'
  step container ls -a --filter name=tour --filter status=running --format '{{.Names}}'
  step inspect --type container -f '{{.Name}}' tour-web
  step update --restart on-failure:3 tour-web
  step inspect -f '{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}' tour-web
  step update --restart no tour-web
  step rm tour-web
  step commit tour-web tour-img
  step image inspect -f '{{.Config.Env}} {{.Config.Cmd}} {{len .RootFS.Layers}}' tour-img
  # dockerd also lists the layers it deleted (docs/api.md): one Deleted line kept.
  step rmi tour-img | sed 's|localhost/||; s/^Deleted: sha256:[0-9a-f]*/Deleted: sha256:<id>/' | uniq
  step pause tour-web
  step exec tour-web true
  step unpause tour-web
  step rename tour-web tour-web2
  step rename tour-web2 tour-web
  step stop -t 1 tour-web
  step stop tour-web
  step ps -a --format '{{.Names}} {{.Status}} {{.State}}'
  step inspect --format '{{.State.Status}} {{.State.Running}} {{.State.ExitCode}} {{.State.Pid}} {{.State.Error}}' tour-web
  step start tour-web
  step kill tour-web
  step kill tour-web
  step wait tour-web
  step exec tour-web true
  step rm tour-web
  step rm tour-web
  step run --rm --network none busybox sh -c 'exit 3'
  step run --network none --name tour-once busybox echo once
  step run --network none --name tour-once busybox echo twice
  step rm tour-once
  # The runtime's words differ (docs/api.md); the rest of stderr and the status must not.
  step run --rm --network none busybox nosuchcmd | grep -v '^!! docker: Error response from daemon: '
  step run --rm --network none busybox /etc/passwd | grep -v '^!! docker: Error response from daemon: '
  step ps -aq
  step run --rm --network none nosuchimage true 2>&1 | grep -v '^!! latest: Pulling from\|^!! docker: '
  step run --network none --name tour-e --entrypoint "" busybox echo x
  step inspect -f '{{json .Config.Entrypoint}} {{json .Config.Cmd}} {{.Path}} {{.Args}}' tour-e
  step rm tour-e
  step run --rm --network none busybox sh -c 'id; wc -c </etc/hostname; echo $HOME'
  step run --rm --network none -u 1000:1000 busybox id
  step run --rm --network none -e TOUR_UNSET_VARIABLE busybox sh -c 'echo "[$TOUR_UNSET_VARIABLE]"'
  step run --rm --network none --read-only busybox touch /x
  step run --rm --network none -w /nonexist busybox pwd
  # dockerd's words, then berth's reason.
  step create --network none --name tour-n busybox | sed 's/No command specified: .*/No command specified/'
  step create --network none --name tour-c busybox true
  step ps -a --format '{{.Names}} {{.Status}} {{.State}}'
  step rm tour-c
  step inspect nosuch
  step container inspect nosuch
  step image inspect nosuch
  step logs nosuch
  step stop nosuch
  step start nosuch
  step rm nosuch
  step rm -f nosuch
  step exec nosuch true
  step rmi nosuch
  step rename nosuch x
  step pause nosuch
  step wait nosuch
  step top nosuch
  step cp nosuch:/x "$BATS_TEST_TMPDIR/x"
  step images --format '{{.Repository}} {{.Tag}} {{.ID}}'
  step image inspect --format '{{.Os}} {{.Architecture}} {{.RepoTags}} {{.Config.Cmd}} {{.Config.Env}} {{.RootFS.Type}} {{len .RootFS.Layers}} {{.Parent}} {{.Comment}} {{.Author}} {{.DockerVersion}} {{.Variant}}' busybox
  # berth keeps short names under localhost/ (docs/api.md): the tag's name without it.
  step tag busybox tour/box:1
  # dockerd lists an image's tags in no fixed order (a Go map): sorted.
  step images --format '{{.Repository}} {{.Tag}}' | sed 's|localhost/||' | sort
  step rmi tour/box:1 | sed 's|localhost/||'
  step rmi tour/box:1
  step volume create --label k=v tourvol
  step volume create tourvol
  step volume ls --format '{{.Name}} {{.Driver}} {{.Labels}} {{.Scope}}'
  step volume ls --filter name=nosuch --format '{{.Name}}'
  step volume inspect --format '{{.Name}} {{.Driver}} {{.Labels}} {{.Scope}} {{.Options}}' tourvol
  step volume inspect nosuchvol
  step run --rm --network none -v tourvol:/data busybox sh -c 'echo kept > /data/f; cat /data/f'
  step volume rm tourvol
  step volume rm tourvol
  step network create --internal tournet
  step network create --internal tournet
  step network ls --filter name=tournet --format '{{.Name}} {{.Driver}} {{.Scope}} {{.Internal}} {{.IPv6}}'
  step network inspect --format '{{.Name}} {{.Driver}} {{.Scope}} {{.Internal}} {{.Attachable}} {{.EnableIPv6}} {{.Labels}} {{len .IPAM.Config}}' tournet
  step network inspect nosuchnet
  step network rm tournet
  step network rm tournet
  step version --format '{{.Server.APIVersion}} {{.Server.Os}} {{.Server.Arch}}'
  step info --format '{{.Driver}} {{.OSType}} {{.CgroupVersion}} {{.CgroupDriver}} {{.SwapLimit}}'
  step history --format '{{.CreatedBy}}|{{.Comment}}' busybox
}

@test "api vs dockerd: the docker CLI tour prints the same against berth serve and a real dockerd" {
  on "$DK_SOCK"
  tour >"$BATS_TEST_TMPDIR/dockerd.raw"
  on "$SOCK"
  tour >"$BATS_TEST_TMPDIR/berth.raw"
  normalise <"$BATS_TEST_TMPDIR/dockerd.raw" >"$BATS_TEST_TMPDIR/dockerd.txt"
  normalise <"$BATS_TEST_TMPDIR/berth.raw" >"$BATS_TEST_TMPDIR/berth.txt"
  # The tour ran: the detached container's output went through both.
  grep -qx two "$BATS_TEST_TMPDIR/dockerd.txt"
  diff -u "$BATS_TEST_TMPDIR/dockerd.txt" "$BATS_TEST_TMPDIR/berth.txt"
}

# keys FILE: the object keys of a JSON document, as dotted paths (array elements left out: their
# number depends on the daemon's settings).
keys() {
  jq -r '[paths | select(all(.[]; type == "string")) | join(".")] | unique[]' "$1"
}

# inspect_docs SOCKET DIR: container, image, volume and network inspect documents into DIR.
inspect_docs() {
  on "$1"
  mkdir -p "$2"
  local D=("$DOCKER" "${TARGET[@]}")
  "${D[@]}" run -d --network none --name shape -v shapevol:/data busybox sleep 300 >/dev/null 3>&-
  "${D[@]}" network create --internal shapenet >/dev/null 3>&-
  "${D[@]}" inspect shape | jq '.[0]' >"$2/container.json"
  "${D[@]}" image inspect busybox | jq '.[0]' >"$2/image.json"
  "${D[@]}" volume inspect shapevol | jq '.[0]' >"$2/volume.json"
  "${D[@]}" network inspect shapenet | jq '.[0]' >"$2/network.json"
  "${D[@]}" ps -a --no-trunc --format '{{json .}}' | jq -s '.[0]' >"$2/ps.json"
  "${D[@]}" rm -f shape >/dev/null 3>&-
  "${D[@]}" volume rm shapevol >/dev/null 3>&-
  "${D[@]}" network rm shapenet >/dev/null 3>&-
}

@test "api vs dockerd: inspect documents carry every key dockerd's do" {
  inspect_docs "$DK_SOCK" "$BATS_TEST_TMPDIR/dockerd"
  inspect_docs "$SOCK" "$BATS_TEST_TMPDIR/berth"
  local doc missing=0
  for doc in container image volume network ps; do
    [ -s "$BATS_TEST_TMPDIR/berth/$doc.json" ]
    # GraphDriver.Data is the storage driver's own map.
    comm -23 <(keys "$BATS_TEST_TMPDIR/dockerd/$doc.json" | grep -v '^GraphDriver\.Data\.') \
      <(keys "$BATS_TEST_TMPDIR/berth/$doc.json") >"$BATS_TEST_TMPDIR/missing-$doc"
    if [[ -s $BATS_TEST_TMPDIR/missing-$doc ]]; then
      echo "berth's $doc inspect lacks: $(tr '\n' ' ' <"$BATS_TEST_TMPDIR/missing-$doc")"
      missing=1
    fi
  done
  [ "$missing" -eq 0 ]
}

@test "api vs dockerd: the private dockerd is gone after the test, with its mounts" {
  local dir=$DK_DIR pid=$DK_PID
  [ -S "$DK_SOCK" ]
  dockerd_stop
  gone "$pid"
  ! grep -qF "$dir/" /proc/self/mountinfo || false
  [ ! -e "$dir" ]
}
