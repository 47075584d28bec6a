#!/bin/bash
# berth registry serve against Debian's docker-registry (CNCF distribution 2.8), side by side in
# one run: skopeo pushes a ~300 MB image of two random gzip layers from an OCI layout to each
# server, then pulls it back into a new layout; MB/s for each server, the ratio, and the CPU time
# each server spent. Then the same two layers with curl as the client (a PUT and a GET each, both
# layers at once): skopeo's own CPU time is larger than either server's, so this shows what the
# servers can do when the client is not the limit.
# Fair terms: both servers use filesystem storage in the same temp dir, listen on 127.0.0.1, get a
# fresh storage and port each round (nothing to mount or skip), and run in turn, never at once.
# Layers are gzip already, so skopeo does not recompress. The best of ROUNDS counts (the machine
# is shared).
# Goal: berth >= 1.5x distribution's throughput, both ways.
#
# Environment: BERTH (default build/src/berth)  LAYER_MB (default 150)  ROUNDS (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
BERTH=${BERTH:-$PWD/build/src/berth}
LAYER_MB=${LAYER_MB:-150}
ROUNDS=${ROUNDS:-3}

[[ -x $BERTH ]] || die "no berth at $BERTH (ninja berth, or set BERTH)"
for tool in docker-registry skopeo curl python3 gzip; do
  command -v "$tool" >/dev/null || die "$tool missing: run scripts/setup"
done

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/berth-bench-registry-server.XXXXXX")
SERVER_PID=
stop_server() {
  if [[ -n $SERVER_PID ]]; then kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null || true; fi
  SERVER_PID=
}
cleanup() {
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM


# start_server berth|distribution: a fresh storage dir and port; sets REG.
start_server() {
  stop_server
  rm -rf "$WORK/storage"
  REG=127.0.0.1:$(free_port)
  if [[ $1 == berth ]]; then
    "$BERTH" registry serve --root "$WORK/storage" --addr "$REG" 2>"$WORK/server.log" &
  else
    printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n' \
      "$WORK/storage" "$REG" >"$WORK/distribution.yml"
    docker-registry serve "$WORK/distribution.yml" >"$WORK/server.log" 2>&1 &
  fi
  SERVER_PID=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://$REG/v2/" && return 0; sleep 0.05; done
  die "$1 did not start: $(cat "$WORK/server.log")"
}

# The image: an OCI layout, two layers of random bytes gzip'd (-1: barely changes their size).
python3 - "$WORK/layout" "$LAYER_MB" <<'PY'
import hashlib, io, json, os, sys, tarfile, zlib
root, mb = sys.argv[1], int(sys.argv[2])
os.makedirs(f"{root}/blobs/sha256")
def put(data, media_type):
    d = hashlib.sha256(data).hexdigest()
    open(f"{root}/blobs/sha256/{d}", "wb").write(data)
    return {"mediaType": media_type, "digest": "sha256:" + d, "size": len(data)}
layers, diff_ids = [], []
for n in (1, 2):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(f"data{n}")
        info.size = mb << 20
        tar.addfile(info, io.BytesIO(os.urandom(info.size)))
    raw = buf.getvalue()
    diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
    c = zlib.compressobj(1, zlib.DEFLATED, 31)
    layers.append(put(c.compress(raw) + c.flush(), "application/vnd.oci.image.layer.v1.tar+gzip"))
config = put(json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode(),
             "application/vnd.oci.image.config.v1+json")
manifest = put(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": config, "layers": layers}).encode(),
               "application/vnd.oci.image.manifest.v1+json")
manifest["annotations"] = {"org.opencontainers.image.ref.name": "bench"}
json.dump({"schemaVersion": 2, "manifests": [manifest]}, open(f"{root}/index.json", "w"))
json.dump({"imageLayoutVersion": "1.0.0"}, open(f"{root}/oci-layout", "w"))
PY
BYTES=$(du -sb "$WORK/layout/blobs" | cut -f1)

best() { printf '%s\n' "$@" | sort -g | head -1; }

cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$SERVER_PID/stat"; }
last() { echo "$1" | awk '{print $NF}'; }

# curl as a light client: both layers at once, a monolithic PUT each way in, a GET each way out.
curl_push() {
  local f loc pids=()
  for f in "${LAYER_FILES[@]}"; do
    loc=$(curl -s -o /dev/null -D - -X POST "http://$REG/v2/bench/curl/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
    [[ $loc == http* ]] || loc=http://$REG$loc
    [[ $loc == *\?* ]] && sep='&' || sep='?'
    curl -s -f -o /dev/null -T "$f" "$loc${sep}digest=sha256:$(basename "$f")" &
    pids+=($!)
  done
  wait "${pids[@]}"
}
curl_pull() {
  local f pids=()
  for f in "${LAYER_FILES[@]}"; do
    curl -s -f -o /dev/null "http://$REG/v2/bench/curl/blobs/sha256:$(basename "$f")" &
    pids+=($!)
  done
  wait "${pids[@]}"
}
mapfile -t LAYER_FILES < <(find "$WORK/layout/blobs/sha256" -size +1M)

# skopeo's own ceiling: it must SHA-256 every byte it moves at least once (its Go 1.19 build hashes at ~300 MB/s
# on this machine, without SHA-NI), and `skopeo manifest-digest FILE` hashes a file with that same
# code. Pushes go one layer after another (an oci: source is not read in parallel), pulls two at
# once: so no server can make skopeo push faster than BYTES / (the user CPU time of hashing the
# layers), or pull faster than BYTES / (the longest of them). Prints those two times.
skopeo_hash_seconds() {
  python3 - "${LAYER_FILES[@]}" <<'PY'
import resource, subprocess, sys
times = []
for f in sys.argv[1:]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    subprocess.run(["skopeo", "manifest-digest", f], check=True, stdout=subprocess.DEVNULL)
    times.append(resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - before)
print(f"{sum(times):.3f} {max(times):.3f}")
PY
}

# timed CMD...: runs it (stdout discarded, fails the bench if it fails); prints its wall time and
# the CPU time (user + system) it and its children used.
timed() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t0 = time.monotonic()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
wall = time.monotonic() - t0
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{wall:.3f} {r.ru_utime + r.ru_stime:.3f}")
PY
}

declare -A push pull push_cpu pull_cpu cpush cpull skopeo_push_cpu skopeo_pull_cpu
hash_turn= hash_once=
for round in $(seq "$ROUNDS"); do
  read -r in_turn at_once < <(skopeo_hash_seconds)
  hash_turn+="$in_turn " hash_once+="$at_once "
  for server in berth distribution; do
    start_server "$server"
    sync
    c0=$(cpu_seconds)
    read -r wall cpu < <(timed skopeo copy -q --dest-tls-verify=false "oci:$WORK/layout:bench" "docker://$REG/bench/image:1")
    push[$server]+="$wall " skopeo_push_cpu[$server]+="$cpu "
    push_cpu[$server]+="$(elapsed "$c0" "$(cpu_seconds)") "
    sync
    c0=$(cpu_seconds)
    read -r wall cpu < <(timed skopeo copy -q --src-tls-verify=false "docker://$REG/bench/image:1" "oci:$WORK/pulled:bench")
    pull[$server]+="$wall " skopeo_pull_cpu[$server]+="$cpu "
    pull_cpu[$server]+="$(elapsed "$c0" "$(cpu_seconds)") "
    rm -rf "$WORK/pulled"
    sync
    t0=$(now)
    curl_push
    cpush[$server]+="$(elapsed "$t0" "$(now)") "
    t0=$(now)
    curl_pull
    cpull[$server]+="$(elapsed "$t0" "$(now)") "
    stop_server
  done
  echo "round $round: skopeo push berth $(last "${push[berth]}")s distribution $(last "${push[distribution]}")s;" \
    "pull berth $(last "${pull[berth]}")s distribution $(last "${pull[distribution]}")s;" \
    "curl push $(last "${cpush[berth]}")s / $(last "${cpush[distribution]}")s, pull $(last "${cpull[berth]}")s / $(last "${cpull[distribution]}")s"
done

report() {  # report WHAT BERTH_SECONDS DISTRIBUTION_SECONDS [BERTH_CPU DISTRIBUTION_CPU]
  python3 - "$BYTES" "$@" <<'PY'
import sys
n, what, b, d = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
mb = n / 1e6
line = (f"{what:12} berth {b:5.2f}s ({mb / b:5.0f} MB/s)   distribution {d:5.2f}s ({mb / d:5.0f} MB/s)   "
        f"ratio {d / b:.2f}x")
if len(sys.argv) > 5:
    bc, dc = float(sys.argv[5]), float(sys.argv[6])
    line += f"   server CPU {bc:.2f}s vs {dc:.2f}s ({dc / max(bc, 0.01):.1f}x less)"
print(line)
PY
}
echo "image: $((BYTES / 1000000)) MB in two gzip layers; best of $ROUNDS rounds; goal: berth >= 1.5x distribution"
# shellcheck disable=SC2086
report "skopeo push" "$(best ${push[berth]})" "$(best ${push[distribution]})" "$(best ${push_cpu[berth]})" "$(best ${push_cpu[distribution]})"
# shellcheck disable=SC2086
report "skopeo pull" "$(best ${pull[berth]})" "$(best ${pull[distribution]})" "$(best ${pull_cpu[berth]})" "$(best ${pull_cpu[distribution]})"
# shellcheck disable=SC2086
python3 - "$BYTES" "$(best $hash_turn)" "$(best $hash_once)" \
  "$(best ${skopeo_push_cpu[berth]})" "$(best ${skopeo_push_cpu[distribution]})" \
  "$(best ${skopeo_pull_cpu[berth]})" "$(best ${skopeo_pull_cpu[distribution]})" "$(nproc)" <<'PY'
import sys
mb = int(sys.argv[1]) / 1e6
turn, once, push_b, push_d, pull_b, pull_d = map(float, sys.argv[2:8])
cores = int(sys.argv[8])
print(f"skopeo's own CPU time: push {push_b:.2f}s (berth) / {push_d:.2f}s (distribution), "
      f"pull {pull_b:.2f}s / {pull_d:.2f}s, on {cores} cores shared with the server")
print(f"skopeo's SHA-256 alone (no server): push at most {mb / turn:.0f} MB/s (layers in turn), "
      f"pull at most {mb / once:.0f} MB/s (layers at once)")
PY
# shellcheck disable=SC2086
report "curl push" "$(best ${cpush[berth]})" "$(best ${cpush[distribution]})"
# shellcheck disable=SC2086
report "curl pull" "$(best ${cpull[berth]})" "$(best ${cpull[distribution]})"

# ---- berth's client vs skopeo against the same server ----------------------------------------
# (Place for the registry client's comparison: `berth push`/`berth pull` against skopeo, both
# against `berth registry serve`; bench/registry-client.sh measures it against docker-registry.)
# berth's client to and from its content store, skopeo (the rows above) between `docker://` and an
# `oci:` layout; each round a fresh `berth registry serve` and a fresh store to pull into.
export BERTH_ROOT=$WORK/client-root BERTH_RUN_ROOT=$WORK/client-run
"$BERTH" load -q -i "$WORK/layout" >/dev/null
CLIENT_IMAGE=$("$BERTH" images --format json | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
print(next(r["Repository"] + ":" + r["Tag"] for r in rows if r["Tag"] != "<none>"))')
bpush= bpull=
for round in $(seq "$ROUNDS"); do
  start_server berth
  sync
  t0=$(now)
  "$BERTH" push -q "$CLIENT_IMAGE" "$REG/bench/client:1" >/dev/null
  bpush+="$(elapsed "$t0" "$(now)") "
  sync
  t0=$(now)
  BERTH_ROOT=$WORK/client-pull "$BERTH" pull -q "$REG/bench/client:1" >/dev/null
  bpull+="$(elapsed "$t0" "$(now)") "
  rm -rf "$WORK/client-pull"
  stop_server
  echo "round $round: berth push $(last "$bpush")s, berth pull $(last "$bpull")s (to and from berth registry serve)"
done
echo "berth's client against skopeo, both with berth registry serve (ratio = skopeo time / berth time; goal >= 1.5x):"
# shellcheck disable=SC2086
report "push" "$(best $bpush)" "$(best ${push[berth]})" | sed 's/distribution/skopeo/'
# shellcheck disable=SC2086
report "pull" "$(best $bpull)" "$(best ${pull[berth]})" | sed 's/distribution/skopeo/'
