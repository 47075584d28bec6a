#!/usr/bin/env bats
# Access control of `berth registry serve`: htpasswd users (bcrypt), rules, anonymous pull, Basic on
# every request and the bearer-token flow; the permission matrix (anonymous / read-only user /
# read-write user × pull / push / delete) both ways, and skopeo with credentials and tokens.

load ../lib/berth
load ../lib/registry_server

setup() {
  T=$(mktemp -d /tmp/berth-test-registry-auth.XXXXXX)
  REQ_DIR=$T
  htpasswd -cbB -C 5 "$T/htpasswd" alice wonderland 2>/dev/null  # read-write on team/*
  htpasswd -bB -C 5 "$T/htpasswd" bob builder 2>/dev/null        # read-only on team/*
  head -c 4096 /dev/urandom >"$T/layer"
  echo '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$T/config"
  head -c 32 /dev/urandom >"$T/token.key"
}

teardown() {
  reg_stop
  berth_teardown
  rm -rf "$T"
}

# write_config [TOKEN]: the rules every test here uses; with TOKEN, the bearer flow too.
write_config() {
  local token=
  [[ -z ${1:-} ]] || token=", \"token\": {\"realm\": \"$1\", \"service\": \"berth-test\", \"issuer\": \"berth-test\", \"key_file\": \"token.key\", \"ttl\": 120}"
  cat >"$T/config.json" <<JSON
{ "htpasswd": "htpasswd",
  "anonymous_pull": ["public/*"],
  "rules": [
    {"repository": "team/*", "users": ["alice"], "actions": ["pull", "push", "delete"]},
    {"repository": "team/*", "users": ["bob"], "actions": ["pull"]},
    {"repository": "public/*", "users": ["alice"], "actions": ["*"]}
  ]$token }
JSON
}

# start_with_token: a token-flow server whose realm is its own /token (port known after start).
start_with_token() {
  write_config "http://127.0.0.1:1/token"
  reg_start "$T/reg" --config "$T/config.json"
  local addr=$REG
  reg_stop
  write_config "http://$addr/token"
  "$BERTH" registry serve --root "$T/reg/storage" --addr "$addr" --config "$T/config.json" 2>"$T/reg/server2.log" </dev/null 3>&- &
  REG_PID=$!
  for _ in $(seq 100); do grep -q 'listening on' "$T/reg/server2.log" && return 0; sleep 0.1; done
  cat "$T/reg/server2.log" >&2
  return 1
}

# seed: a blob in team/app and a manifest tagged v1, pushed by alice; $LAYER, $MANIFEST.
seed() {
  local auth=("$@")
  LAYER=$(sha "$T/layer")
  req POST "/v2/team/app/blobs/uploads/?digest=$LAYER" --data-binary "@$T/layer" "${auth[@]}"
  [ "$code" = 201 ]
  req POST "/v2/team/app/blobs/uploads/?digest=$(sha "$T/config")" --data-binary "@$T/config" "${auth[@]}"
  [ "$code" = 201 ]
  make_manifest "$T/m.json" "$T/config" "$T/layer"
  MANIFEST=$(sha "$T/m.json")
  put_manifest team/app v1 "$T/m.json" application/vnd.oci.image.manifest.v1+json "${auth[@]}"
  [ "$code" = 201 ]
}

# try ACTION AUTH...: one request of that kind on team/app ($code, $body as req sets them).
try() {
  local action=$1
  shift
  case $action in
    pull) req GET /v2/team/app/manifests/v1 "$@" ;;
    push) req POST /v2/team/app/blobs/uploads/ "$@" ;;
    delete) req DELETE "/v2/team/app/blobs/$LAYER" "$@" ;;
  esac
}

@test "registry auth: the permission matrix with Basic credentials, and what a refusal says" {
  write_config
  reg_start "$T/reg" --config "$T/config.json"
  seed -u alice:wonderland
  try pull; [ "$code" = 401 ]
  [ "$(hdr WWW-Authenticate)" = 'Basic realm="berth-registry"' ]
  try push; [ "$code" = 401 ]
  try delete; [ "$code" = 401 ]
  try pull -u bob:builder; [ "$code" = 200 ]
  try push -u bob:builder; [ "$code" = 403 ]
  [[ $body == *DENIED* ]]
  [[ $body == *"user 'bob' may not push to 'team/app' (needs push)"* ]]
  try delete -u bob:builder; [ "$code" = 403 ]
  [[ $body == *"needs delete"* ]]
  try pull -u alice:wonderland; [ "$code" = 200 ]
  try push -u alice:wonderland; [ "$code" = 202 ]
  try delete -u alice:wonderland; [ "$code" = 202 ]
  # A wrong password or an unknown user is 401, whatever the action.
  try pull -u bob:wrong; [ "$code" = 401 ]
  [[ $body == *UNAUTHORIZED* ]]
  try pull -u mallory:builder; [ "$code" = 401 ]
  # The ping wants credentials (so clients learn the scheme) and accepts good ones.
  req GET /v2/
  [ "$code" = 401 ]
  req GET /v2/ -u bob:builder
  [ "$code" = 200 ]
  # anonymous_pull: public/* for anyone, pushing there still needs a user with the right.
  req POST "/v2/public/x/blobs/uploads/?digest=$LAYER" --data-binary "@$T/layer" -u alice:wonderland
  [ "$code" = 201 ]
  req GET "/v2/public/x/blobs/$LAYER"
  [ "$code" = 200 ]
  req POST /v2/public/x/blobs/uploads/ -u bob:builder
  [ "$code" = 403 ]
  # The catalog lists what the caller may pull.
  req GET /v2/_catalog -u bob:builder
  [ "$body" = '{"repositories":["public/x","team/app"]}' ]
  # Mounting: from where the blob was deleted falls back to an upload session; from where it is,
  # it links it; bob may pull team/app but not push to public/*.
  req POST "/v2/public/y/blobs/uploads/?mount=$LAYER&from=team/app" -u alice:wonderland
  [ "$code" = 202 ]
  req POST "/v2/public/y/blobs/uploads/?mount=$LAYER&from=public/x" -u alice:wonderland
  [ "$code" = 201 ]
  req POST "/v2/public/z/blobs/uploads/?mount=$LAYER&from=public/x" -u bob:builder
  [ "$code" = 403 ]
}

@test "registry auth: the bearer token flow and the same matrix with tokens" {
  start_with_token
  seed -u alice:wonderland  # Basic still works on every request
  req GET /v2/team/app/manifests/v1
  [ "$code" = 401 ]
  [ "$(hdr WWW-Authenticate)" = "Bearer realm=\"http://$REG/token\",service=\"berth-test\",scope=\"repository:team/app:pull\"" ]
  token() {  # token USER:PASS|'' SCOPE → prints the token
    local auth=()
    [[ -z $1 ]] || auth=(-u "$1")
    curl -s "${auth[@]}" "http://$REG/token?service=berth-test&scope=$2" |
      python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["expires_in"] == 120; print(d["token"])'
  }
  scope='repository:team/app:pull,push,delete'
  anon=$(token '' "$scope")
  bob=$(token bob:builder "$scope")
  alice=$(token alice:wonderland "$scope")
  try pull -H "Authorization: Bearer $anon"; [ "$code" = 401 ]
  [[ $(hdr WWW-Authenticate) == *'error="insufficient_scope"'* ]]
  try push -H "Authorization: Bearer $anon"; [ "$code" = 401 ]
  try delete -H "Authorization: Bearer $anon"; [ "$code" = 401 ]
  try pull -H "Authorization: Bearer $bob"; [ "$code" = 200 ]
  try push -H "Authorization: Bearer $bob"; [ "$code" = 403 ]
  [[ $body == *"user 'bob' may not push to 'team/app' (needs push)"* ]]
  try delete -H "Authorization: Bearer $bob"; [ "$code" = 403 ]
  try pull -H "Authorization: Bearer $alice"; [ "$code" = 200 ]
  try push -H "Authorization: Bearer $alice"; [ "$code" = 202 ]
  try delete -H "Authorization: Bearer $alice"; [ "$code" = 202 ]
  # A token for one repository does not open another; a tampered one is refused.
  req GET /v2/public/x/tags/list -H "Authorization: Bearer $alice"
  [ "$code" = 401 ]
  # A signature with one character changed (one in the middle: the last one also holds padding
  # bits, and could be changed to itself).
  local at=$((${#alice} - 10)) c
  c=${alice:at:1}
  [[ $c == A ]] && c=B || c=A
  try pull -H "Authorization: Bearer ${alice:0:at}$c${alice:at+1}"; [ "$code" = 401 ]
  [[ $body == *"bad signature"* ]] || [[ $body == *"base64"* ]]
  # Wrong credentials at the token endpoint.
  code=$(curl -s -o /dev/null -w '%{http_code}' -u bob:wrong "http://$REG/token?service=berth-test&scope=$scope")
  [ "$code" = 401 ]
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://$REG/token?service=other&scope=$scope")
  [ "$code" = 400 ]
}

@test "registry auth: skopeo pushes and pulls with Basic credentials and is refused without them" {
  write_config
  reg_start "$T/reg" --config "$T/config.json"
  berth_setup
  b save -o "$T/busybox.tar" busybox
  run skopeo copy --dest-tls-verify=false "docker-archive:$T/busybox.tar" "docker://$REG/team/busybox:1"
  [ "$status" -ne 0 ]
  run skopeo copy --dest-tls-verify=false --dest-creds bob:builder "docker-archive:$T/busybox.tar" "docker://$REG/team/busybox:1"
  [ "$status" -ne 0 ]
  [[ $output == *denied* ]] || [[ $output == *"may not push"* ]] || { echo "$output"; false; }
  run skopeo copy --dest-tls-verify=false --dest-creds alice:wonderland "docker-archive:$T/busybox.tar" "docker://$REG/team/busybox:1"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  run skopeo inspect --tls-verify=false --creds bob:builder "docker://$REG/team/busybox:1"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  run skopeo copy --src-tls-verify=false --src-creds bob:builder "docker://$REG/team/busybox:1" "oci:$T/out:x"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  run skopeo inspect --tls-verify=false "docker://$REG/team/busybox:1"
  [ "$status" -ne 0 ]
  run skopeo delete --tls-verify=false --creds bob:builder "docker://$REG/team/busybox:1"
  [ "$status" -ne 0 ]
  run skopeo delete --tls-verify=false --creds alice:wonderland "docker://$REG/team/busybox:1"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
}

@test "registry auth: skopeo through the token endpoint (signed in, and anonymous on public/*)" {
  start_with_token
  berth_setup
  b save -o "$T/busybox.tar" busybox
  run skopeo copy --dest-tls-verify=false --dest-creds alice:wonderland "docker-archive:$T/busybox.tar" "docker://$REG/public/busybox:1"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  run skopeo copy --dest-tls-verify=false --dest-creds bob:builder "docker-archive:$T/busybox.tar" "docker://$REG/team/busybox:1"
  [ "$status" -ne 0 ]
  run skopeo copy --src-tls-verify=false "docker://$REG/public/busybox:1" "oci:$T/anon:x"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  run skopeo list-tags --tls-verify=false --creds bob:builder "docker://$REG/public/busybox"
  [ "$status" -eq 0 ]
  [[ $output == *'"1"'* ]]
  run skopeo inspect --tls-verify=false "docker://$REG/team/busybox:1"
  [ "$status" -ne 0 ]
}

@test "registry auth: a bad config file is refused at start, naming the problem" {
  echo '{"htpasswd": "htpasswd", "rules": [{"repository": "x/*", "users": ["a"], "actions": ["write"]}]}' >"$T/bad.json"
  run "$BERTH" registry serve --root "$T/s" --addr 127.0.0.1:0 --config "$T/bad.json"
  [ "$status" -eq 1 ]
  [[ $output == *"rules[0].actions[0]: 'write'"* ]]
  write_config "http://127.0.0.1:1/token"
  rm "$T/token.key"
  run "$BERTH" registry serve --root "$T/s" --addr 127.0.0.1:0 --config "$T/config.json"
  [ "$status" -eq 1 ]
  [[ $output == *"token.key"* ]]
  [[ $output == *"head -c 32 /dev/urandom"* ]]
}

@test "registry auth: podman signs in through the token flow to push, and is refused as a reader" {
  start_with_token
  image=localhost/berth-test-regsrv-auth-$$
  podman import "$BERTH_FIXTURES/busybox-rootfs.tar" "$image" >/dev/null
  run podman push --tls-verify=false --creds bob:builder "$image" "$REG/team/pod:1"
  bob_status=$status
  run podman push --tls-verify=false --creds alice:wonderland "$image" "$REG/team/pod:1"
  podman rmi -f "$image" >/dev/null 2>&1 || true
  [ "$bob_status" -ne 0 ]
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  run podman pull --tls-verify=false --creds bob:builder "$REG/team/pod:1"
  podman rmi -f "$REG/team/pod:1" >/dev/null 2>&1 || true
  [ "$status" -eq 0 ] || { echo "$output"; false; }
}
