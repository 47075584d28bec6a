# Helpers for tests of `berth registry serve` (tests/e2e/registry_server.bats,
# tests/integration/registry_*.bats).
#
#   reg_start DIR [SERVE ARGS...]  starts a server on 127.0.0.1 with a free port, storage DIR/storage;
#                                  sets REG_PID, REG (host:port), REG_URL and REG_LOG;
#                                  REG_DEBUG=1 logs each request (berth --debug)
#   reg_stop                       stops it (SIGTERM, by pid) and waits
#   req METHOD PATH [CURL ARGS...] one request: sets $code, $body, $headers (files in REQ_DIR)
#   hdr NAME                       a header of the last response
#   push_blob REPO FILE            monolithic upload; prints the digest

reg_start() {
  local dir=$1
  shift
  mkdir -p "$dir"
  REG_LOG=$dir/server.log
  rm -f "$REG_LOG"  # a restart must not read the last server's line
  local debug=()
  [[ -z ${REG_DEBUG:-} ]] || debug=(--debug)
  "$BERTH" "${debug[@]}" registry serve --root "$dir/storage" --addr 127.0.0.1:0 "$@" 2>"$REG_LOG" </dev/null 3>&- &
  REG_PID=$!
  local i line
  for ((i = 0; i < 100; i++)); do
    line=$(grep -s -m1 'listening on' "$REG_LOG" || true)
    if [[ -n $line ]]; then
      REG=$(sed -n 's|.*listening on https\?://\([^ ]*\) .*|\1|p' <<<"$line")
      if [[ $line == *'listening on https'* ]]; then REG_URL=https://$REG; else REG_URL=http://$REG; fi
      return 0
    fi
    kill -0 "$REG_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "registry did not start:" >&2
  cat "$REG_LOG" >&2
  return 1
}

reg_stop() {
  [[ -n ${REG_PID:-} ]] || return 0
  kill "$REG_PID" 2>/dev/null || true
  wait "$REG_PID" 2>/dev/null || true
  REG_PID=
}

req() {
  local method=$1 path=$2
  shift 2
  REQ_DIR=${REQ_DIR:-$BATS_TEST_TMPDIR}
  code=$(curl -sk --path-as-is -X "$method" -D "$REQ_DIR/headers" -o "$REQ_DIR/body" -w '%{http_code}' \
    "$@" "$REG_URL$path")
  body=$(tr -d '\0' <"$REQ_DIR/body")
  headers=$(cat "$REQ_DIR/headers")
}

hdr() {
  grep -i "^$1:" "$REQ_DIR/headers" | head -1 | cut -d' ' -f2- | tr -d '\r'
}

# blobs_verified STORAGE: every blob in a server's storage has the digest of its name.
blobs_verified() {
  local f
  for f in "$1"/blobs/sha256/*; do
    [[ -e $f ]] || continue
    [[ $(sha256sum "$f" | cut -d' ' -f1) == "$(basename "$f")" ]] || { echo "corrupt blob $f" >&2; return 1; }
  done
}

sha() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }

push_blob() {
  local repo=$1 file=$2 digest
  digest=$(sha "$file")
  req POST "/v2/$repo/blobs/uploads/?digest=$digest" --data-binary "@$file" -H 'Content-Type: application/octet-stream'
  [[ $code == 201 ]] || { echo "push $file to $repo: $code $body" >&2; return 1; }
  echo "$digest"
}

# An OCI image manifest for a config and one layer blob (both already pushed), written to FILE.
make_manifest() {
  local file=$1 config=$2 layer=$3
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
    "$(sha "$config")" "$(stat -c %s "$config")" "$(sha "$layer")" "$(stat -c %s "$layer")" >"$file"
}

# put_manifest REPO REF FILE [MEDIA TYPE [CURL ARGS...]]: PUT a manifest (OCI by default).
put_manifest() {
  local repo=$1 ref=$2 file=$3 type=${4:-application/vnd.oci.image.manifest.v1+json}
  shift 4 2>/dev/null || shift $#
  req PUT "/v2/$repo/manifests/$ref" -H "Content-Type: $type" --data-binary "@$file" "$@"
}

# push_image REPO REF CONFIG LAYER MANIFEST: both blobs, then a manifest of them (written to
# MANIFEST) tagged REF; $code is the manifest PUT's status.
push_image() {
  push_blob "$1" "$3" >/dev/null && push_blob "$1" "$4" >/dev/null || return 1
  make_manifest "$5" "$3" "$4"
  put_manifest "$1" "$2" "$5"
}
