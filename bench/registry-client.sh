#!/bin/bash
# berth's registry client against skopeo's on the same server and the same image: push and pull
# throughput of a ~300 MB image of two random gzip layers, with Debian's docker-registry
# (distribution 2.8, filesystem storage in a temp dir) on 127.0.0.1:PORT.
# Fair terms: skopeo copies between transports, so it pushes from an OCI layout (`oci:`) and
# pulls into a new one, while berth pushes from and pulls into its content store. Layers are
# already gzip-compressed, so neither client recompresses. Each round pushes to a new repository
# and pulls into a fresh store or layout; the best of ROUNDS counts (the machine is shared), and
# the median of the rounds' ratios is printed beside it.
# Goal: berth >= 1.5x skopeo's throughput, both ways.
#
# Environment: BERTH (default build/src/berth)  LAYER_MB (default 150)  ROUNDS (default 3)
# Run as root (berth's default paths are not touched: everything lives in a temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
BERTH=${BERTH:-$PWD/build/src/berth}
LAYER_MB=${LAYER_MB:-150}
ROUNDS=${ROUNDS:-3}

[[ -x $BERTH ]] || die "no berth at $BERTH (ninja berth, or set BERTH)"
for tool in docker-registry skopeo jq curl python3; do
  command -v "$tool" >/dev/null || die "$tool missing: run scripts/setup"
done

WORK=$(mktemp -d ${TMPDIR:-/var/tmp}/berth-bench-registry.XXXXXX)
REG_PID=
cleanup() {
  if [[ -n $REG_PID ]]; then kill "$REG_PID" 2>/dev/null; wait "$REG_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# A fresh registry (new storage, new port) for each round: no blob of an earlier round can be
# mounted or found (skopeo remembers where it saw blobs and would mount them).
start_registry() {
  if [[ -n $REG_PID ]]; then kill "$REG_PID" 2>/dev/null; wait "$REG_PID" 2>/dev/null || true; fi
  rm -rf "$WORK/registry"
  local port
  port=$(free_port)
  REG=127.0.0.1:$port
  cat >"$WORK/registry.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $WORK/registry
http:
  addr: $REG
EOF
  docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
  REG_PID=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://$REG/v2/" && return 0; sleep 0.05; done
  die "docker-registry did not start: $(cat "$WORK/registry.log")"
}

# The image: an OCI layout with two layers of random bytes (gzip -1 barely changes their size).
LAYOUT=$WORK/layout
mkdir -p "$LAYOUT/blobs/sha256"
blob() {  # blob FILE MEDIA_TYPE → descriptor JSON; moves FILE into the layout
  local sum size
  sum=$(sha256sum "$1" | cut -d' ' -f1)
  size=$(stat -c %s "$1")
  mv "$1" "$LAYOUT/blobs/sha256/$sum"
  jq -cn --arg t "$2" --arg d "sha256:$sum" --argjson s "$size" '{mediaType: $t, digest: $d, size: $s}'
}
layers=() diff_ids=()
for n in 1 2; do
  mkdir -p "$WORK/l$n"
  head -c $((LAYER_MB << 20)) /dev/urandom >"$WORK/l$n/data$n"
  tar -C "$WORK/l$n" -cf "$WORK/l$n.tar" "data$n"
  diff_ids+=("sha256:$(sha256sum "$WORK/l$n.tar" | cut -d' ' -f1)")
  gzip -1 -c "$WORK/l$n.tar" >"$WORK/l$n.tar.gz"
  rm -rf "$WORK/l$n" "$WORK/l$n.tar"
  layers+=("$(blob "$WORK/l$n.tar.gz" application/vnd.oci.image.layer.v1.tar+gzip)")
done
jq -cn --arg a "${diff_ids[0]}" --arg b "${diff_ids[1]}" \
  '{architecture: "amd64", os: "linux", config: {}, rootfs: {type: "layers", diff_ids: [$a, $b]}}' >"$WORK/config.json"
config=$(blob "$WORK/config.json" application/vnd.oci.image.config.v1+json)
jq -cn --argjson c "$config" --argjson l1 "${layers[0]}" --argjson l2 "${layers[1]}" \
  '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: $c, layers: [$l1, $l2]}' \
  >"$WORK/manifest.json"
manifest=$(blob "$WORK/manifest.json" application/vnd.oci.image.manifest.v1+json)
jq -cn --argjson m "$manifest" '{schemaVersion: 2, manifests: [$m + {annotations: {"org.opencontainers.image.ref.name": "bench"}}]}' \
  >"$LAYOUT/index.json"
echo '{"imageLayoutVersion": "1.0.0"}' >"$LAYOUT/oci-layout"
BYTES=$(du -sb "$LAYOUT/blobs" | cut -f1)

export BERTH_ROOT=$WORK/berth-root BERTH_RUN_ROOT=$WORK/berth-run
"$BERTH" load -q -i "$LAYOUT" >/dev/null
IMAGE=$("$BERTH" images --format json | jq -r 'select(.Tag != "<none>") | .Repository + ":" + .Tag' | head -1)


berth_push=() skopeo_push=() berth_pull=() skopeo_pull=()
for round in $(seq "$ROUNDS"); do
  start_registry
  sync
  t0=$(now)
  "$BERTH" push -q "$IMAGE" "$REG/berth$round/bench:1" >/dev/null
  berth_push+=("$(elapsed "$t0" "$(now)")")
  sync
  t0=$(now)
  skopeo copy -q --dest-tls-verify=false "oci:$LAYOUT:bench" "docker://$REG/skopeo$round/bench:1" >/dev/null
  skopeo_push+=("$(elapsed "$t0" "$(now)")")

  sync
  t0=$(now)
  BERTH_ROOT=$WORK/pull-root-$round "$BERTH" pull -q "$REG/berth$round/bench:1" >/dev/null
  berth_pull+=("$(elapsed "$t0" "$(now)")")
  sync
  t0=$(now)
  skopeo copy -q --src-tls-verify=false "docker://$REG/skopeo$round/bench:1" "oci:$WORK/pull-layout-$round:bench" >/dev/null
  skopeo_pull+=("$(elapsed "$t0" "$(now)")")
  rm -rf "$WORK/pull-root-$round" "$WORK/pull-layout-$round"
  echo "round $round: push berth ${berth_push[-1]}s skopeo ${skopeo_push[-1]}s; pull berth ${berth_pull[-1]}s skopeo ${skopeo_pull[-1]}s"
done

report() {  # report WHAT "BERTH_SECONDS..." "SKOPEO_SECONDS..."
  python3 - "$1" "$2" "$3" "$BYTES" <<'EOF'
import statistics, sys
what, b, s, n = sys.argv[1], [float(x) for x in sys.argv[2].split()], [float(x) for x in sys.argv[3].split()], int(sys.argv[4])
mb = n / 1e6
bb, sb = min(b), min(s)
# Each round runs berth and skopeo back to back, so a round's ratio shares its moment's load.
per_round = statistics.median(y / x for x, y in zip(b, s))
print(f"{what:5} berth {bb:6.2f}s ({mb / bb:4.0f} MB/s)   skopeo {sb:6.2f}s ({mb / sb:4.0f} MB/s)   "
      f"berth/skopeo throughput: best {sb / bb:.2f}x, median of rounds {per_round:.2f}x (goal >= 1.5x)")
EOF
}
echo "image: $((BYTES / 1000000)) MB in two gzip layers; best of $ROUNDS rounds"
report push "${berth_push[*]}" "${skopeo_push[*]}"
report pull "${berth_pull[*]}" "${skopeo_pull[*]}"
