#!/usr/bin/env bats
# `berth registry serve` speaking the OCI distribution spec: curl at the protocol level, skopeo as a
# real client, TLS with a self-signed certificate. Every server listens on 127.0.0.1 with a port
# the kernel picks, and is stopped by pid.

load ../lib/berth
load ../lib/registry_server

setup() {
  T=$(mktemp -d /tmp/berth-test-registry.XXXXXX)
  REQ_DIR=$T
  reg_start "$T/reg"
  head -c 100000 /dev/urandom >"$T/layer"
  echo '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$T/config"
}

teardown() {
  reg_stop
  berth_teardown
  rm -rf "$T"
}

@test "registry: /v2/ answers 200 with the API version header" {
  req GET /v2/
  [ "$code" = 200 ]
  [ "$(hdr Docker-Distribution-API-Version)" = registry/2.0 ]
}

@test "registry: a monolithic upload becomes a blob served whole, by HEAD and by range" {
  digest=$(push_blob app/one "$T/layer")
  [ "$(hdr Location)" = "/v2/app/one/blobs/$digest" ]
  [ "$(hdr Docker-Content-Digest)" = "$digest" ]
  req HEAD "/v2/app/one/blobs/$digest" -I
  [ "$code" = 200 ]
  [ "$(hdr Content-Length)" = 100000 ]
  req GET "/v2/app/one/blobs/$digest"
  [ "$code" = 200 ]
  cmp "$T/body" "$T/layer"
  req GET "/v2/app/one/blobs/$digest" -H 'Range: bytes=10-19'
  [ "$code" = 206 ]
  [ "$(hdr Content-Range)" = "bytes 10-19/100000" ]
  cmp "$T/body" <(tail -c +11 "$T/layer" | head -c 10)
  req GET "/v2/app/one/blobs/$digest" -H 'Range: bytes=100000-'
  [ "$code" = 416 ]
  # Not linked into another repository.
  req GET "/v2/app/two/blobs/$digest"
  [ "$code" = 404 ]
  [[ $body == *BLOB_UNKNOWN* ]]
}

@test "registry: a wrong digest is refused and nothing becomes visible" {
  wrong=sha256:$(printf '0%.0s' {1..64})
  req POST "/v2/app/one/blobs/uploads/?digest=$wrong" --data-binary "@$T/layer"
  [ "$code" = 400 ]
  [[ $body == *DIGEST_INVALID* ]]
  [[ $body == *"$(sha "$T/layer")"* ]]  # the message names the digest the bytes have
  req HEAD "/v2/app/one/blobs/$wrong" -I
  [ "$code" = 404 ]
  req HEAD "/v2/app/one/blobs/$(sha "$T/layer")" -I
  [ "$code" = 404 ]
  [ -z "$(ls "$T/reg/storage/blobs/sha256")" ]
  [ -z "$(ls "$T/reg/storage/uploads")" ]
  req GET "/v2/app/one/blobs/sha256:xyz"
  [ "$code" = 400 ]
  [[ $body == *DIGEST_INVALID* ]]
}

@test "registry: chunked upload with Content-Range, status, out-of-order and malformed chunks, final PUT" {
  head -c 50000 "$T/layer" >"$T/a"
  tail -c 50000 "$T/layer" >"$T/b"
  req POST /v2/app/one/blobs/uploads/
  [ "$code" = 202 ]
  loc=$(hdr Location)
  [ "$(hdr Range)" = 0-0 ]
  req PATCH "$loc" --data-binary "@$T/a" -H 'Content-Range: 0-49999' -H 'Content-Type: application/octet-stream'
  [ "$code" = 202 ]
  [ "$(hdr Range)" = 0-49999 ]
  req GET "$loc"
  [ "$code" = 204 ]
  [ "$(hdr Range)" = 0-49999 ]
  # A chunk that does not start where the upload ends.
  req PATCH "$loc" --data-binary "@$T/b" -H 'Content-Range: 40000-89999'
  [ "$code" = 416 ]
  [ "$(hdr Range)" = 0-49999 ]
  [[ $body == *"resume at 50000"* ]]
  req PATCH "$loc" --data-binary "@$T/b" -H 'Content-Range: nonsense'
  [ "$code" = 416 ]
  req PATCH "$loc" --data-binary "@$T/b" -H 'Content-Range: 50000-50009'
  [ "$code" = 416 ]  # says 10 bytes, sends 50000
  req PUT "$loc?digest=$(sha "$T/layer")" --data-binary "@$T/b" -H 'Content-Range: 50000-99999'
  [ "$code" = 201 ]
  req GET "/v2/app/one/blobs/$(sha "$T/layer")"
  cmp "$T/body" "$T/layer"
  req GET "$loc"
  [ "$code" = 404 ]
  [[ $body == *BLOB_UPLOAD_UNKNOWN* ]]
}

@test "registry: a streamed PATCH without Content-Range, then PUT with no body" {
  req POST /v2/app/one/blobs/uploads/
  loc=$(hdr Location)
  req PATCH "$loc" -H 'Transfer-Encoding: chunked' --data-binary "@$T/layer"
  [ "$code" = 202 ]
  [ "$(hdr Range)" = 0-99999 ]
  req PUT "$loc?digest=$(sha "$T/layer")"
  [ "$code" = 201 ]
  req HEAD "/v2/app/one/blobs/$(sha "$T/layer")" -I
  [ "$code" = 200 ]
}

@test "registry: an upload resumes after the connection drops mid-chunk" {
  req POST /v2/app/one/blobs/uploads/
  loc=$(hdr Location)
  # Send a head promising 100000 bytes, 30000 of them, then hang up.
  python3 - "$REG" "$loc" "$T/layer" <<'PY'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
data = open(sys.argv[3], "rb").read()
s = socket.create_connection((host, int(port)))
s.sendall(f"PATCH {sys.argv[2]} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data[:30000])
s.close()
PY
  for _ in $(seq 50); do req GET "$loc"; [ "$(hdr Range)" = 0-29999 ] && break; sleep 0.1; done
  [ "$code" = 204 ]
  [ "$(hdr Range)" = 0-29999 ]
  tail -c +30001 "$T/layer" >"$T/rest"
  req PATCH "$loc" --data-binary "@$T/rest" -H 'Content-Range: 30000-99999'
  [ "$code" = 202 ]
  req PUT "$loc?digest=$(sha "$T/layer")"
  [ "$code" = 201 ]
  req GET "/v2/app/one/blobs/$(sha "$T/layer")"
  cmp "$T/body" "$T/layer"
}

@test "registry: cross-repository mount, and the fall-back to an upload session" {
  digest=$(push_blob app/one "$T/layer")
  req POST "/v2/app/two/blobs/uploads/?mount=$digest&from=app/one"
  [ "$code" = 201 ]
  [ "$(hdr Location)" = "/v2/app/two/blobs/$digest" ]
  req GET "/v2/app/two/blobs/$digest"
  cmp "$T/body" "$T/layer"
  req POST "/v2/app/three/blobs/uploads/?mount=$digest&from=app/nowhere"
  [ "$code" = 202 ]
  [[ $(hdr Location) == /v2/app/three/blobs/uploads/* ]]
}

@test "registry: DELETE cancels an upload; unknown uploads are BLOB_UPLOAD_UNKNOWN" {
  req POST /v2/app/one/blobs/uploads/
  loc=$(hdr Location)
  req PATCH "$loc" --data-binary "@$T/layer"
  req DELETE "$loc"
  [ "$code" = 204 ]
  req GET "$loc"
  [ "$code" = 404 ]
  [[ $body == *BLOB_UPLOAD_UNKNOWN* ]]
  req PATCH /v2/app/one/blobs/uploads/0123456789abcdef0123456789abcdef --data-binary x
  [ "$code" = 404 ]
  req GET /v2/app/one/blobs/uploads/../../../../etc
  [ "$code" = 404 ]
  [ -z "$(ls "$T/reg/storage/uploads")" ]
}

@test "registry: manifests by tag and digest, HEAD, Docker schema 2, and an index" {
  push_image app/one v1 "$T/config" "$T/layer" "$T/m.json"
  md=$(sha "$T/m.json")
  [ "$code" = 201 ]
  [ "$(hdr Docker-Content-Digest)" = "$md" ]
  [ "$(hdr Location)" = "/v2/app/one/manifests/$md" ]
  req GET /v2/app/one/manifests/v1
  [ "$code" = 200 ]
  [ "$(hdr Content-Type)" = application/vnd.oci.image.manifest.v1+json ]
  [ "$(hdr Docker-Content-Digest)" = "$md" ]
  cmp "$T/body" "$T/m.json"
  req HEAD "/v2/app/one/manifests/$md" -I
  [ "$code" = 200 ]
  [ "$(hdr Content-Length)" = "$(stat -c %s "$T/m.json")" ]
  # Docker schema 2 (mediaType in the body, Content-Type agreeing).
  sed 's/application\/vnd.oci.image.manifest.v1+json/application\/vnd.docker.distribution.manifest.v2+json/' "$T/m.json" >"$T/d.json"
  req PUT /v2/app/one/manifests/docker -H 'Content-Type: application/vnd.docker.distribution.manifest.v2+json' --data-binary "@$T/d.json"
  [ "$code" = 201 ]
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"amd64","os":"linux"}}]}' \
    "$md" "$(stat -c %s "$T/m.json")" >"$T/i.json"
  req PUT /v2/app/one/manifests/multi -H 'Content-Type: application/vnd.oci.image.index.v1+json' --data-binary "@$T/i.json"
  [ "$code" = 201 ]
  req GET /v2/app/one/manifests/multi
  [ "$(hdr Content-Type)" = application/vnd.oci.image.index.v1+json ]
  # An index naming a manifest this repository lacks.
  req PUT /v2/app/other/manifests/multi -H 'Content-Type: application/vnd.oci.image.index.v1+json' --data-binary "@$T/i.json"
  [ "$code" = 400 ]
  [[ $body == *MANIFEST_BLOB_UNKNOWN* ]]
}

@test "registry: bad manifests: unknown blobs, malformed JSON, wrong digest, too large, wrong type" {
  push_blob app/one "$T/config" >/dev/null
  make_manifest "$T/m.json" "$T/config" "$T/layer"  # the layer was never pushed
  put_manifest app/one v1 "$T/m.json"
  [ "$code" = 400 ]
  [[ $body == *MANIFEST_BLOB_UNKNOWN* ]]
  [[ $body == *"$(sha "$T/layer")"* ]]
  req PUT /v2/app/one/manifests/v1 -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary '{"schemaVersion": 2, "config": '
  [ "$code" = 400 ]
  [[ $body == *MANIFEST_INVALID* ]]
  [[ $body == *"not valid JSON"* ]]
  push_blob app/one "$T/layer" >/dev/null
  req PUT "/v2/app/one/manifests/sha256:$(printf 'a%.0s' {1..64})" -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "@$T/m.json"
  [ "$code" = 400 ]
  [[ $body == *DIGEST_INVALID* ]]
  head -c $((5 * 1024 * 1024)) /dev/zero >"$T/big"
  put_manifest app/one big "$T/big"
  [ "$code" = 413 ]
  [[ $body == *SIZE_INVALID* ]]
  req PUT /v2/app/one/manifests/v1 -H 'Content-Type: application/vnd.docker.distribution.manifest.v2+json' --data-binary "@$T/m.json"
  [ "$code" = 400 ]
  [[ $body == *"differs from Content-Type"* ]]
  req PUT /v2/app/one/manifests/v1 -H 'Content-Type: text/plain' --data-binary '{"schemaVersion":2}'
  [ "$code" = 400 ]
  [[ $body == *MANIFEST_INVALID* ]]
  req PUT '/v2/app/one/manifests/bad:tag!' -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "@$T/m.json"
  [ "$code" = 400 ]
  req GET /v2/app/one/manifests/v1
  [ "$code" = 404 ]
  [[ $body == *MANIFEST_UNKNOWN* ]]
}

@test "registry: a non-distributable layer with urls need not be pushed; one without urls must" {
  config=$(push_blob app/one "$T/config")
  layer=$(sha "$T/layer")  # never pushed: clients fetch it from its urls
  nd='{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip","digest":"%s","size":100000%s}'
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":['"$nd"']}' \
    "$config" "$(stat -c %s "$T/config")" "$layer" ',"urls":["https://example.com/layer"]' >"$T/m.json"
  put_manifest app/one windows "$T/m.json"
  [ "$code" = 201 ]
  req GET /v2/app/one/manifests/windows
  [ "$code" = 200 ]
  cmp "$T/body" "$T/m.json"
  sed 's/,"urls":\[[^]]*\]//' "$T/m.json" >"$T/bare.json"
  put_manifest app/one bare "$T/bare.json"
  [ "$code" = 400 ]
  [[ $body == *MANIFEST_BLOB_UNKNOWN* ]]
}

@test "registry: a chunked body the server refuses unread is drained: the 400 arrives and the connection stays" {
  # Go's client sends a []byte body chunked; closing on it unread made the peer's write fail
  # (broken pipe) before it read the 400 (OCI conformance suite, invalid-digest-format).
  head -c 300000 /dev/urandom >"$T/chunked"
  bad=/v2/app/one/manifests/sha256:baddigeststring
  out=$(curl -sS -o /dev/null -w '%{http_code} %{num_connects}\n' -X PUT -H 'Transfer-Encoding: chunked' \
    -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "@$T/chunked" "$REG_URL$bad" \
    --next -o /dev/null -w '%{http_code} %{num_connects}\n' "$REG_URL/v2/")
  [ "$out" = "400 1
200 0" ] || { echo "$out"; false; }
}

@test "registry: repository names: path tricks and upper case are NAME_INVALID, unknown ones NAME_UNKNOWN" {
  for path in /v2/../etc/manifests/x /v2/a/../b/manifests/x /v2/App/manifests/x /v2/a//b/tags/list /v2/a/_b/tags/list; do
    req GET "$path"
    [ "$code" = 400 ] || { echo "$path: $code $body"; false; }
    [[ $body == *NAME_INVALID* ]]
  done
  req GET /v2/no/such/manifests/latest
  [ "$code" = 404 ]
  [[ $body == *NAME_UNKNOWN* ]]
  req GET /v2/no/such/tags/list
  [ "$code" = 404 ]
  [[ $body == *NAME_UNKNOWN* ]]
  [ ! -e "$T/reg/etc" ] && [ ! -e "$T/reg/storage/etc" ]
}

@test "registry: tags list pages with n, last and a Link header; the catalog too" {
  push_blob app/one "$T/config" >/dev/null
  push_blob app/one "$T/layer" >/dev/null
  make_manifest "$T/m.json" "$T/config" "$T/layer"
  for tag in d a c b e; do
    put_manifest app/one $tag "$T/m.json"
    [ "$code" = 201 ]
  done
  req GET /v2/app/one/tags/list
  [ "$body" = '{"name":"app/one","tags":["a","b","c","d","e"]}' ]
  req GET '/v2/app/one/tags/list?n=2'
  [ "$body" = '{"name":"app/one","tags":["a","b"]}' ]
  [ "$(hdr Link)" = '</v2/app/one/tags/list?n=2&last=b>; rel="next"' ]
  req GET '/v2/app/one/tags/list?n=2&last=b'
  [ "$body" = '{"name":"app/one","tags":["c","d"]}' ]
  req GET '/v2/app/one/tags/list?n=2&last=d'
  [ "$body" = '{"name":"app/one","tags":["e"]}' ]
  [ -z "$(hdr Link)" ]
  push_blob zz/last "$T/config" >/dev/null
  req GET /v2/_catalog
  [ "$body" = '{"repositories":["app/one","zz/last"]}' ]
  req GET '/v2/_catalog?n=1'
  [ "$body" = '{"repositories":["app/one"]}' ]
  [[ $(hdr Link) == *'last=app/one'* ]]
  # A page size that is not a count is a 400 naming it, for both lists (as distribution).
  for path in '/v2/_catalog?n=abc' '/v2/app/one/tags/list?n=-1'; do
    req GET "$path"
    [ "$code" = 400 ]
    [[ $body == *'is not a count'* ]]
  done
}

@test "registry: referrers list manifests whose subject is a digest, filtered by artifactType" {
  push_image app/one v1 "$T/config" "$T/layer" "$T/m.json"
  subject=$(sha "$T/m.json")
  echo -n '{}' >"$T/empty"
  push_blob app/one "$T/empty" >/dev/null
  for kind in sbom sig; do
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/x.%s","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2}],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s},"annotations":{"k":"%s"}}' \
      "$kind" "$(sha "$T/empty")" "$(sha "$T/empty")" "$subject" "$(stat -c %s "$T/m.json")" "$kind" >"$T/$kind.json"
    req PUT "/v2/app/one/manifests/$(sha "$T/$kind.json")" -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "@$T/$kind.json"
    [ "$code" = 201 ]
    [ "$(hdr OCI-Subject)" = "$subject" ]
  done
  req GET "/v2/app/one/referrers/$subject"
  [ "$code" = 200 ]
  [ "$(hdr Content-Type)" = application/vnd.oci.image.index.v1+json ]
  [ "$(echo "$body" | python3 -c 'import json,sys; print(sorted(m["artifactType"] for m in json.load(sys.stdin)["manifests"]))')" = "['application/x.sbom', 'application/x.sig']" ]
  req GET "/v2/app/one/referrers/$subject?artifactType=application/x.sig"
  [ "$(hdr OCI-Filters-Applied)" = artifactType ]
  [ "$(echo "$body" | python3 -c 'import json,sys; m=json.load(sys.stdin)["manifests"]; print(len(m), m[0]["artifactType"], m[0]["annotations"]["k"])')" = "1 application/x.sig sig" ]
  # Deleting a referrer takes it off the list.
  req DELETE "/v2/app/one/manifests/$(sha "$T/sig.json")"
  [ "$code" = 202 ]
  req GET "/v2/app/one/referrers/$subject"
  [ "$(echo "$body" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["manifests"]))')" = 1 ]
  req GET "/v2/app/one/referrers/sha256:$(printf 'b%.0s' {1..64})"
  [ "$code" = 200 ]
  [[ $body == *'"manifests":[]'* ]]
}

@test "registry: delete a manifest by digest (its tags go), a tag alone, and a blob" {
  digest=$(push_blob app/one "$T/config")
  push_blob app/one "$T/layer" >/dev/null
  make_manifest "$T/m.json" "$T/config" "$T/layer"
  md=$(sha "$T/m.json")
  for tag in v1 v2; do put_manifest app/one $tag "$T/m.json"; done
  req DELETE /v2/app/one/manifests/v2
  [ "$code" = 202 ]
  req GET /v2/app/one/tags/list
  [ "$body" = '{"name":"app/one","tags":["v1"]}' ]
  req DELETE "/v2/app/one/manifests/$md"
  [ "$code" = 202 ]
  req GET /v2/app/one/manifests/v1
  [ "$code" = 404 ]
  req DELETE "/v2/app/one/manifests/$md"
  [ "$code" = 404 ]
  [[ $body == *MANIFEST_UNKNOWN* ]]
  req DELETE "/v2/app/one/blobs/$digest"
  [ "$code" = 202 ]
  req HEAD "/v2/app/one/blobs/$digest" -I
  [ "$code" = 404 ]
  req DELETE "/v2/app/one/blobs/$digest"
  [ "$code" = 404 ]
}

@test "registry: skopeo copies an image in and out, inspects, lists tags and deletes" {
  berth_setup
  b save -o "$T/busybox.tar" busybox
  [ "$status" -eq 0 ]
  run skopeo copy --dest-tls-verify=false "docker-archive:$T/busybox.tar" "docker://$REG/library/busybox:1.0"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  run skopeo inspect --tls-verify=false "docker://$REG/library/busybox:1.0"
  [ "$status" -eq 0 ]
  [[ $output == *'"Os": "linux"'* ]]
  run skopeo list-tags --tls-verify=false "docker://$REG/library/busybox"
  [[ $output == *'"1.0"'* ]]
  run skopeo copy --src-tls-verify=false "docker://$REG/library/busybox:1.0" "oci:$T/out:x"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  # The layers skopeo fetched are the registry's (the manifest was converted to OCI on the way).
  layers=$(python3 -c 'import json,sys; d=sys.argv[1]; i=json.load(open(d+"/index.json")); m=json.load(open(d+"/blobs/sha256/"+i["manifests"][0]["digest"][7:])); print(" ".join(l["digest"][7:] for l in m["layers"]))' "$T/out")
  [ -n "$layers" ]
  for l in $layers; do cmp "$T/out/blobs/sha256/$l" "$T/reg/storage/blobs/sha256/$l"; done
  run skopeo copy --dest-tls-verify=false "oci:$T/out:x" "docker://$REG/mirror/busybox:copy"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  run skopeo delete --tls-verify=false "docker://$REG/library/busybox:1.0"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  run skopeo inspect --tls-verify=false "docker://$REG/library/busybox:1.0"
  [ "$status" -ne 0 ]
  [[ $output == *"manifest unknown"* ]]
}

@test "registry: TLS with a self-signed certificate (curl verifies it, skopeo pushes over it)" {
  reg_stop
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
  reg_start "$T/tls" --tls-cert "$T/cert.pem" --tls-key "$T/key.pem"
  [[ $REG_URL == https://* ]]
  code=$(curl -s --cacert "$T/cert.pem" -o /dev/null -w '%{http_code}' "$REG_URL/v2/")
  [ "$code" = 200 ]
  run curl -s -o /dev/null "$REG_URL/v2/"  # untrusted without the CA
  [ "$status" -ne 0 ]
  run curl -s -o /dev/null "http://$REG/v2/"  # plain HTTP on the TLS port gets nothing
  [ "$status" -ne 0 ] || [ -z "$output" ]
  digest=$(push_blob tls/one "$T/layer")
  code=$(curl -s --cacert "$T/cert.pem" -o "$T/got" -w '%{http_code}' "$REG_URL/v2/tls/one/blobs/$digest")
  [ "$code" = 200 ]
  cmp "$T/got" "$T/layer"
  berth_setup
  b save -o "$T/busybox.tar" busybox
  run skopeo copy --dest-tls-verify=false "docker-archive:$T/busybox.tar" "docker://$REG/tls/busybox:1"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  run skopeo inspect --tls-verify=false "docker://$REG/tls/busybox:1"
  [ "$status" -eq 0 ]
  run "$BERTH" registry serve --root "$T/x" --addr 127.0.0.1:0 --tls-cert "$T/cert.pem" --tls-key "$T/missing.pem"
  [ "$status" -eq 1 ]
  [[ $output == *"missing.pem"* ]]
}

@test "docs/registry.md: the example runs and prints what it says" {
  reg_stop
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  script=$(awk '$0 == "## Example" {found=1; next} found && /^```sh/ {inside=1; next} inside && /^```/ {exit} inside {print}' \
    "$BERTH_SOURCE/docs/registry.md" | sed "s/127.0.0.1:5000/127.0.0.1:$port/g; s|/tmp/registry-demo|$T/demo|g; s|/tmp/hello.txt|$T/hello.txt|g")
  [ -n "$script" ]
  run env PATH="$(dirname "$BERTH"):$PATH" bash -euo pipefail -c "$script"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [ "${lines[0]}" = 201 ] || { echo "$output"; false; }
  [ "${lines[1]}" = hello ]
}

@test "registry: podman pushes to and pulls from it" {
  image=localhost/berth-test-regsrv-$$
  podman import "$BERTH_FIXTURES/busybox-rootfs.tar" "$image" >/dev/null
  run podman push --tls-verify=false "$image" "$REG/pod/busybox:1"
  podman rmi -f "$image" >/dev/null 2>&1 || true
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  run podman pull --tls-verify=false "$REG/pod/busybox:1"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  id=${lines[-1]}
  run podman image inspect --format '{{.Id}}' "$REG/pod/busybox:1"
  podman rmi -f "$REG/pod/busybox:1" >/dev/null 2>&1 || true
  [ "$status" -eq 0 ]
  [ "$output" = "$id" ]
}

@test "registry: --rate-limit-per-client: berth push and pull wait out the 429s and succeed" {
  reg_stop
  REG_DEBUG=1 reg_start "$T/limited" --rate-limit-per-client 3 --rate-limit-burst 3
  berth_setup
  # A push and a pull each make more requests than the burst: some get 429 TOOMANYREQUESTS with
  # Retry-After: 1, and the client retries them after that second.
  b push busybox "$REG/slow/busybox:1"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  b rmi busybox "$REG/slow/busybox:1"
  b pull "$REG/slow/busybox:1"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  b run --rm "$REG/slow/busybox:1" echo pulled
  [ "$output" = pulled ]
  grep -q ' → 429$' "$REG_LOG" || { cat "$REG_LOG"; false; }
}
