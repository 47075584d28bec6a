#!/usr/bin/env bats
# `berth build` as a user drives it: tags, progress, the cache across builds, stdin contexts,
# targets, parallel stages, failures and kills that leave nothing behind, prune, --flat, history,
# secrets, and a push that a third-party client reads. The Dockerfile corpus (every instruction
# and flag, checked by config and file tree) is tests/build/.

bats_require_minimum_version 1.5.0
load ../lib/berth
load ../lib/registry_server

setup() {
  berth_setup
  CTX=$BATS_TEST_TMPDIR/ctx
  mkdir -p "$CTX"
}
teardown() {
  reg_stop
  berth_teardown
}

# nothing_left: no mount, work directory or runtime container of any build remains.
nothing_left() {
  ! grep -q " $BERTH_ROOT/build/" /proc/self/mountinfo || false
  [ -z "$(find "$BERTH_ROOT/build" -mindepth 1 -maxdepth 1 -type d 2>/dev/null)" ]
  [ -z "$(ls "$BERTH_RUN_ROOT/build-runtime" 2>/dev/null)" ]
}

@test "build: a tagged image that runs; plain progress names each step; a rebuild is all CACHED with the same id" {
  echo hello >"$CTX/hello.txt"
  cat >"$CTX/Dockerfile" <<'DF'
FROM busybox
WORKDIR /app
COPY hello.txt .
RUN cat hello.txt > copy.txt
CMD ["cat", "/app/copy.txt"]
DF
  b build --progress plain -t app:1 "$CTX"
  [ "$status" -eq 0 ]
  id=$output
  [[ $id =~ ^sha256:[0-9a-f]{64}$ ]]
  [[ $stderr == *"[stage-0 4/5] RUN cat hello.txt > copy.txt"* ]]
  [[ $stderr == *"DONE"* ]]
  [[ $stderr != *CACHED* ]]
  b run --rm app:1
  [ "$output" = hello ]
  b build --progress plain -t app:1 "$CTX"
  [ "$output" = "$id" ]
  [ "$(grep -c CACHED <<<"$stderr")" -eq 3 ]
  nothing_left
}

@test "build: a changed file re-runs its COPY and the steps after it, not the ones before" {
  echo one >"$CTX/a"
  printf 'FROM busybox\nRUN echo first > /first\nCOPY a /a\nRUN cat /a > /b\n' >"$CTX/Dockerfile"
  b build -q -t app "$CTX"
  echo two >"$CTX/a"
  b build --progress plain -t app "$CTX"
  [ "$status" -eq 0 ]
  [ "$(grep -c CACHED <<<"$stderr")" -eq 1 ]
  b run --rm app cat /b
  [ "$output" = two ]
}

@test "build: a rebuild reads only the context files that changed (their digests outlive each build)" {
  mkdir -p "$CTX/data"
  for i in 1 2 3 4 5; do echo "file $i" >"$CTX/data/f$i"; done
  printf 'FROM busybox\nCOPY data /data\n' >"$CTX/Dockerfile"
  b build -q -t hashed "$CTX"
  [ "$status" -eq 0 ]
  [ "$(wc -l <"$BERTH_ROOT/build/context-hashes")" -eq 5 ]
  echo changed >"$CTX/data/f3"
  strace -f -qq -e trace=openat -o "$BATS_TEST_TMPDIR/opens" "$BERTH" build -q -t hashed "$CTX" 3>&-
  # Read for its digest (and again to copy it): f3 only; the others are known by their stat.
  grep -q "\"$CTX/data/f3\"" "$BATS_TEST_TMPDIR/opens"
  # The COPY runs again and opens each once to copy it: 4 opens, where re-hashing makes 8.
  [ "$(grep -cE "\"$CTX/data/f[1245]\"" "$BATS_TEST_TMPDIR/opens")" -eq 4 ]
  b run --rm hashed cat /data/f3 /data/f5
  [ "$output" = "changed
file 5" ]
}

@test "build -q prints only the id; --iidfile writes it; Containerfile is found" {
  printf 'FROM busybox\nENV A=1\n' >"$CTX/Containerfile"
  b build -q --iidfile "$BATS_TEST_TMPDIR/iid" "$CTX"
  [ "$status" -eq 0 ]
  [ "$stderr" = "" ]
  [ "$output" = "$(cat "$BATS_TEST_TMPDIR/iid")" ]
}

@test "build -f - reads the Dockerfile from stdin; - reads a tar context or a lone Dockerfile" {
  echo data >"$CTX/file"
  run --separate-stderr bash -c "printf 'FROM busybox\nCOPY file /file\n' | '$BERTH' build -q -t fromstdin -f - '$CTX'"
  [ "$status" -eq 0 ]
  b run --rm fromstdin cat /file
  [ "$output" = data ]
  printf 'FROM busybox\nCOPY file /file\n' >"$CTX/Dockerfile"
  run --separate-stderr bash -c "tar -C '$CTX' -cf - . | '$BERTH' build -q -t fromtar -"
  [ "$status" -eq 0 ]
  b run --rm fromtar cat /file
  [ "$output" = data ]
  run --separate-stderr bash -c "printf 'FROM busybox\nENV ONLY=dockerfile\n' | '$BERTH' build -q -t lone -"
  [ "$status" -eq 0 ]
  b image inspect -f '{{json .Config.Env}}' lone
  [[ $output == *ONLY=dockerfile* ]]
  # A lone Dockerfile has no context to copy from.
  run --separate-stderr bash -c "printf 'FROM busybox\nCOPY file /file\n' | '$BERTH' build -q -"
  [ "$status" -ne 0 ]
  [[ $stderr == *"'file' not found in the build context"* ]]
  [ -z "$(ls "$BERTH_ROOT/build" | grep "context-[0-9]" || true)" ]
}

@test "build --target builds only the stages the target needs; --build-arg reaches ARG" {
  cat >"$CTX/Dockerfile" <<'DF'
ARG BASE=busybox
FROM $BASE AS base
ARG GREETING=hi
RUN echo "$GREETING" > /greeting
FROM base AS broken
RUN exit 3
FROM base AS final
RUN cat /greeting
DF
  b build -q --target final --build-arg GREETING=hello -t t "$CTX"
  [ "$status" -eq 0 ]
  b run --rm t cat /greeting
  [ "$output" = hello ]
  b build -q -t t "$CTX" --target broken
  [ "$status" -ne 0 ]
  [[ $stderr == *"exit code: 3"* ]]
  b build -q --target nosuch "$CTX"
  [ "$status" -ne 0 ]
  [[ $stderr == *"target stage 'nosuch' could not be found"* ]]
}

@test "build runs independent stages at the same time" {
  # Each stage waits (up to 20 s) for the other to have started: built one after the other, the
  # first would give up and the build fail.
  cat >"$CTX/Dockerfile" <<'DF'
FROM busybox AS one
RUN --mount=type=cache,id=rendezvous,target=/meet touch /meet/one && echo one > /one && \
    for i in $(seq 200); do [ -e /meet/two ] && exit 0; sleep 0.1; done; exit 1
FROM busybox AS two
RUN --mount=type=cache,id=rendezvous,target=/meet touch /meet/two && echo two > /two && \
    for i in $(seq 200); do [ -e /meet/one ] && exit 0; sleep 0.1; done; exit 1
FROM busybox
COPY --from=one /one /one
COPY --from=two /two /two
DF
  b build -q -t parallel "$CTX"
  [ "$status" -eq 0 ]
}

@test "a failing RUN names the step, the command, its exit code and last output, and leaves nothing" {
  printf 'FROM busybox\nRUN echo preparing\nRUN echo bad thing happened >&2; exit 7\n' >"$CTX/Dockerfile"
  b build -t fail "$CTX"
  [ "$status" -eq 1 ]
  [[ $stderr == *"Dockerfile:3"* ]]
  [[ $stderr == *"exit code: 7"* ]]
  [[ $stderr == *"bad thing happened"* ]]
  b image inspect fail
  [ "$status" -ne 0 ]
  nothing_left
}

@test "a build killed with SIGKILL half-way leaves nothing once the next build runs, which reuses the complete steps" {
  local token=berth-build-kill-$$-$RANDOM
  printf 'FROM busybox\nRUN echo done > /done\nRUN sleep 60; echo %s\n' "$token" >"$CTX/Dockerfile"
  "$BERTH" build -q -t killed "$CTX" >/dev/null 2>&1 3>&- &
  local pid=$! i
  # Wait for the second RUN: its shell names the token.
  for ((i = 0; i < 200; i++)); do
    pgrep -f "$token" >/dev/null && break
    sleep 0.1
  done
  pgrep -f "$token" >/dev/null
  kill -9 "$pid"
  wait "$pid" || true
  # The RUN's container outlived its build; the next build removes it and everything else.
  printf 'FROM busybox\nRUN echo done > /done\nRUN echo after\n' >"$CTX/Dockerfile"
  b build --progress plain -t next "$CTX"
  [ "$status" -eq 0 ]
  [ "$(grep -c CACHED <<<"$stderr")" -eq 1 ]
  nothing_left
  ! pgrep -f "$token" || false
}

@test "builder prune empties the cache; builder du shows it" {
  printf 'FROM busybox\nRUN echo x > /x\n' >"$CTX/Dockerfile"
  b build -q "$CTX"
  b builder du
  [[ $output == *"1 "* ]]
  b builder prune -f
  [ "$status" -eq 0 ]
  [[ $output == *"Deleted build cache objects: 1"* ]]
  b builder du
  [[ $(tail -1 <<<"$output") == "0 "* ]]
  b build --progress plain "$CTX"
  [[ $stderr != *CACHED* ]]
}

@test "build --flat: one layer, the installer gone from every layer, history still lists each step" {
  head -c 4000000 /dev/urandom >"$CTX/installer"
  cat >"$CTX/Dockerfile" <<'DF'
FROM busybox
COPY installer /tmp/installer
RUN head -c 1000 /tmp/installer > /app && rm /tmp/installer
DF
  b build -q -t layered "$CTX"
  b build -q --flat -t flat "$CTX"
  [ "$status" -eq 0 ]
  b image inspect -f '{{len .RootFS.Layers}}' flat
  [ "$output" = 1 ]
  layered=$(bq image inspect -f '{{.Size}}' layered)
  flat=$(bq image inspect -f '{{.Size}}' flat)
  ((flat < layered - 3500000))
  b run --rm flat sh -c 'test -f /app && ! test -e /tmp/installer && echo ok'
  [ "$output" = ok ]
  b history flat
  [[ $output == *"COPY installer /tmp/installer"* ]]
  [[ $output == *"berth build --flat"* ]]
}

@test "history lists the steps newest first with their sizes" {
  printf 'FROM busybox\nRUN head -c 5000 /dev/zero > /z\nENV A=1\n' >"$CTX/Dockerfile"
  b build -q -t h "$CTX"
  b history h
  [ "$status" -eq 0 ]
  [[ ${lines[0]} == IMAGE* ]]
  [[ ${lines[1]} == *"ENV A=1"*"0B"* ]]
  [[ ${lines[2]} == *"RUN /bin/sh -c head -c 5000"* ]]
  b history --format '{{.CreatedBy}}' --no-trunc h
  [[ ${lines[1]} == "RUN /bin/sh -c head -c 5000 /dev/zero > /z # buildkit" ]]
}

@test "a secret reaches RUN and no layer keeps it" {
  echo s3cr3t >"$BATS_TEST_TMPDIR/token"
  printf 'FROM busybox\nRUN --mount=type=secret,id=token cat /run/secrets/token > /seen\n' >"$CTX/Dockerfile"
  b build -q -t sec --secret "id=token,src=$BATS_TEST_TMPDIR/token" "$CTX"
  [ "$status" -eq 0 ]
  b run --rm sec sh -c 'cat /seen; ls /run/secrets 2>&1 || true'
  [[ ${lines[0]} == s3cr3t ]]
  ! grep -rq s3cr3t "$BERTH_ROOT/blobs" || { tar -tf "$(grep -rl s3cr3t "$BERTH_ROOT/blobs" | head -1)" | grep -q seen; }
  [ ! -e "$BERTH_ROOT/layers/$(bq image inspect -f '{{index .RootFS.Layers 1}}' sec | cut -d: -f2)/run/secrets/token" ]
}

@test ".dockerignore keeps files out of the context, with ! exceptions" {
  mkdir -p "$CTX/logs" "$CTX/src"
  echo a >"$CTX/logs/a.log"
  echo keep >"$CTX/logs/keep.log"
  echo code >"$CTX/src/main.c"
  printf 'logs/*.log\n!logs/keep.log\n**/*.o\n' >"$CTX/.dockerignore"
  touch "$CTX/src/main.o"
  printf 'FROM busybox\nCOPY . /ctx\n' >"$CTX/Dockerfile"
  b build -q -t ign "$CTX"
  b run --rm ign find /ctx -type f
  [[ $output == *"/ctx/logs/keep.log"* ]]
  [[ $output == *"/ctx/src/main.c"* ]]
  [[ $output != *"a.log"* ]]
  [[ $output != *"main.o"* ]]
}

@test "bad input names the file, line and problem and changes nothing" {
  printf 'FROM busybox\nRUNN echo\n' >"$CTX/Dockerfile"
  b build "$CTX"
  [ "$status" -ne 0 ]
  [[ $stderr == *"Dockerfile:2"*"unknown instruction"* ]]
  printf 'FROM busybox\nCOPY ../outside /x\n' >"$CTX/Dockerfile"
  b build "$CTX"
  [ "$status" -ne 0 ]
  [[ $stderr == *"outside the build context"* ]]
  b build "$BATS_TEST_TMPDIR/nope"
  [ "$status" -ne 0 ]
  [[ $stderr == *"nope"* ]]
  b images -q
  [ "$(wc -l <<<"$output")" -eq 1 ]
  nothing_left
}

@test "a built image pushed to berth's registry is read by skopeo and runs after a pull" {
  printf 'FROM busybox\nRUN echo pushed > /p\nCMD ["cat", "/p"]\n' >"$CTX/Dockerfile"
  b build -q -t built "$CTX"
  reg_start "$BATS_TEST_TMPDIR/reg"
  b push --tls-verify=false built "$REG/team/built:1"
  [ "$status" -eq 0 ]
  run skopeo inspect --tls-verify=false "docker://$REG/team/built:1"
  [ "$status" -eq 0 ]
  [[ $output == *'"Layers"'* ]]
  other_root
  b pull --tls-verify=false "$REG/team/built:1"
  [ "$status" -eq 0 ]
  b run --rm "$REG/team/built:1"
  [ "$output" = pushed ]
  leave_other_root
}

@test "Ctrl-C (SIGINT) stops the running step and the build cleans up before it exits" {
  local token=berth-build-int-$$-$RANDOM
  printf 'FROM busybox\nRUN sleep 60; echo %s\n' "$token" >"$CTX/Dockerfile"
  "$BERTH" build -q "$CTX" >/dev/null 2>"$BATS_TEST_TMPDIR/err" 3>&- &
  local pid=$! i rc=0
  for ((i = 0; i < 200; i++)); do
    pgrep -f "$token" >/dev/null && break
    sleep 0.1
  done
  kill -INT "$pid"
  wait "$pid" || rc=$?
  [ "$rc" -eq 130 ]
  grep -q "interrupted" "$BATS_TEST_TMPDIR/err"
  ! pgrep -f "$token" || false
  nothing_left
}

@test "a built image's layers are written as blobs when it is saved: the archive loads and runs elsewhere" {
  printf 'FROM busybox\nRUN echo saved > /s\nCMD ["cat", "/s"]\n' >"$CTX/Dockerfile"
  b build -q -t tosave "$CTX"
  layer=$(bq image inspect -f '{{index .RootFS.Layers 1}}' tosave)
  # Built layers are kept as directories; their blob is written when asked for.
  [ ! -e "$BERTH_ROOT/blobs/sha256/${layer#sha256:}" ]
  b save -o "$BATS_TEST_TMPDIR/img.tar" tosave
  [ "$status" -eq 0 ]
  [ -e "$BERTH_ROOT/blobs/sha256/${layer#sha256:}" ]
  other_root
  b load -i "$BATS_TEST_TMPDIR/img.tar"
  [ "$status" -eq 0 ]
  b run --rm tosave
  [ "$output" = saved ]
  leave_other_root
}
