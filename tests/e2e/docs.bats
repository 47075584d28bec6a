#!/usr/bin/env bats
# The copy-pasteable examples in the docs are run as written.

load ../lib/berth

# code_block FILE HEADING: the first ```sh block after the line "HEADING".
code_block() {
  awk -v h="$2" '$0 == h {found=1; next} found && /^```sh/ {inside=1; next} inside && /^```/ {exit} inside {print}' "$1"
}

teardown() {
  "$BERTH_RUNTIME" --root /tmp/rt-demo/state delete --force demo-1 >/dev/null 2>&1 || true
  rm -rf /tmp/rt-demo
}

@test "docs/runtime.md: the example runs and prints what it says" {
  script=$(code_block "$BERTH_SOURCE/docs/runtime.md" "## Example")
  [ -n "$script" ]
  cd "$BERTH_SOURCE"
  run env PATH="$(dirname "$BERTH_RUNTIME"):$PATH" bash -euo pipefail -c "$script"
  [ "$status" -eq 0 ]
  [ "${lines[-3]}" = demo ]
  [ "${lines[-2]}" = 0 ]
  [ "${lines[-1]}" = 1024 ]
}

@test "docs/monitor.md: the example runs and prints what it says" {
  script=$(code_block "$BERTH_SOURCE/docs/monitor.md" "## Example")
  [ -n "$script" ]
  cd "$BERTH_SOURCE"
  rm -rf /tmp/mon-demo
  run bash -euo pipefail -c "$script"
  rm -rf /tmp/mon-demo
  [ "$status" -eq 0 ]
  [ "$(grep -c hello <<<"$output")" -eq 2 ]
  [ "${lines[-2]}" = 3 ]
  [ "${lines[-1]}" = 1 ]
}

# berth_doc_example PAGE [HEADING]: runs the page's "## Example" (or HEADING's block) with berth
# on PATH; cleans up after it.
berth_doc_example() {
  local page=$1 dir=/tmp/berth-test-docs-${1%.md} script
  script=$(code_block "$BERTH_SOURCE/docs/$page" "${2:-## Example}")
  [ -n "$script" ]
  cd "$BERTH_SOURCE"
  rm -rf "$dir"
  run env PATH="$(dirname "$BERTH"):$PATH" bash -euo pipefail -c "$script"
  berth_clean_roots "$dir/root" "$dir/run" || true
  rm -rf --one-file-system "$dir"
}

@test "docs/containers.md: the example runs and prints what it says" {
  berth_doc_example containers.md
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = hello ]
  [ "${lines[1]}" = "exit 3" ]
  [[ ${lines[2]} =~ ^"hi from "[0-9a-f]{12}$ ]]
  [ "${lines[3]}" = running ]
  [[ ${lines[4]} == "Exited (0) "* ]]
  [ "${#lines[@]}" -eq 5 ]
}

@test "docs/containers.md: the Formatting output example prints what it says" {
  berth_doc_example containers.md "## Formatting output"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "web running" ]
  [ "${lines[1]}" = "NAMES     STATE     LABEL" ]
  [ "${lines[2]}" = "web       running   front" ]
  [ "${lines[3]}" = "tier=front" ]
  [ "${lines[4]}" = "/web <sleep><600>" ]
  [ "${lines[5]}" = "up front" ]
  [ "${lines[6]}" = "localhost/busybox:latest" ]
  [[ ${lines[7]} == "berth: --format '{{.Nmae}}': template: no field 'Nmae' (ps has: ID, Image, "* ]]
  [ "${#lines[@]}" -eq 8 ]
}

@test "docs/volumes.md: the example runs and prints what it says" {
  berth_doc_example volumes.md
  [ "$status" -eq 0 ]
  [ "${lines[*]}" = "notes kept local notes" ]
}

@test "docs/images.md: the example runs and prints what it says" {
  berth_doc_example images.md
  [ "$status" -eq 0 ]
  [ "${lines[*]}" = "hi 1 latest Loaded image: localhost/demo:1 0" ]
}

@test "docs/networking.md: the example runs and prints what it says" {
  berth_doc_example networking.md
  [ "$status" -eq 0 ]
  [ "${lines[*]}" = "10.89.250.2 hello hello 80/tcp -> 127.0.0.1:28080 app" ]
}

@test "docs/build.md: the example runs and prints what it says" {
  berth_doc_example build.md
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "HELLO FROM THE CONTEXT" ]
  [ "${lines[1]}" = 4 ]
  [ "${lines[2]}" = 'CMD ["cat" "/shout.txt"]' ]
}

@test "docs/compose.md: the example runs and prints what it says" {
  berth_doc_example compose.md
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "hello from web" ]
  [ "${lines[1]}" = "api  2 from 2 running, 2 healthy  busybox" ]
  [ "${lines[2]}" = "web  1 from 1 running  busybox" ]
  [ "${lines[3]}" = shop-api-1 ]
  [ "${lines[4]}" = shop-web-1 ]
}

@test "docs/projects.md: the example runs and prints what it says" {
  berth_doc_example projects.md
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = 'berth: berth.json: unknown variables $api_port, $domain' ]
  [ "${lines[1]}" = "http://api.backend.shop:9000" ]
  [ "${lines[2]}" = "api.backend  1 from 1 running, 1 healthy  busybox" ]
  [ "${lines[3]}" = "broken.backend  0 from 1 running  busybox" ]
  [ "${lines[4]}" = "    why: exited 3: starting" ]
  [ "${lines[5]}" = "web.frontend  2 from 2 running  busybox" ]
}

@test "docs/proxy.md: the example runs and prints what it says" {
  [[ -x $(dirname "$BERTH")/berth-proxy ]] || { echo "no berth-proxy next to $BERTH" >&2; return 1; }
  berth_doc_example proxy.md
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = hello ]
  [ "${lines[1]}" = up ]
  [ "${lines[2]}" = up ]
  [ "${lines[3]}" = draining ]
  [ "${lines[4]}" = 200 ]
  [ "${#lines[@]}" -eq 5 ]
}
