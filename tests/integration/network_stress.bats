#!/usr/bin/env bats
# Many containers joining and leaving one network at the same time (docs/networking.md,
# "Addresses"): berth.db leases each address once (UNIQUE (network_id, ip) and the create
# transaction), and the kernel agrees: no two container network namespaces that exist at the
# same moment carry the same address. Afterwards nothing is left: no veth, no netns, no lease,
# no port, no DNAT rule, no DNS name, and `system check` finds nothing to repair.
#
# Traffic stays inside this test's network; its root, bridge and nftables table are its own.

bats_require_minimum_version 1.5.0
load ../lib/berth
load ../lib/network

setup() {
  network_setup
  SAMPLER_PID=
}

teardown() {
  [[ -z $SAMPLER_PID ]] || { kill "$SAMPLER_PID" 2>/dev/null; wait "$SAMPLER_PID" 2>/dev/null; } || true
  berth_teardown
}

# sample_kernel OUT: one pass over the container netns files, "ID IP" per line, and then the
# duplicates whose both namespaces still exist with that address after the pass (so they existed
# together). A duplicate is appended to OUT.dup.
sample_kernel() {
  local out=$1 id ip ns pass dups
  pass=$(for ns in "$BERTH_RUN_ROOT"/netns/*; do
    [[ -e $ns ]] || continue
    id=${ns##*/}
    ip=$(netns_ip "$id")
    if [[ -n $ip ]]; then echo "$id $ip"; fi
  done) || true
  [[ -n $pass ]] || return 0
  echo "$pass" >>"$out"
  dups=$(awk '{print $2}' <<<"$pass" | sort | uniq -d)
  for ip in $dups; do
    local holders=()
    for id in $(awk -v ip="$ip" '$2 == ip {print $1}' <<<"$pass"); do
      [[ $(netns_ip "$id") == "$ip" ]] && holders+=("$id")
    done
    ((${#holders[@]} < 2)) || echo "$ip held by ${holders[*]}" >>"$out.dup"
  done
}

# worker N COUNT NET: starts COUNT containers on NET one after another (every fifth publishes an
# ephemeral port), keeps at most 3 of its own alive (removing the oldest as it goes) and leaves
# the last 3 running. Failures go to $BATS_TEST_TMPDIR/fail.N; ids to ids.N.
worker() {
  local n=$1 count=$2 net=$3 i id live=() args
  for ((i = 0; i < count; i++)); do
    args=(run -d --name "w$n-$i" --network "$net")
    ((i % 5 == 0)) && args+=(-p 80)
    if id=$("$BERTH" "${args[@]}" busybox sleep 1000 2>>"$BATS_TEST_TMPDIR/fail.$n" </dev/null 3>&-); then
      echo "$id" >>"$BATS_TEST_TMPDIR/ids.$n"
      live+=("$id")
    else
      echo "worker $n: run w$n-$i failed" >>"$BATS_TEST_TMPDIR/fail.$n"
    fi
    if ((${#live[@]} > 3)); then
      "$BERTH" rm -f "${live[0]}" >/dev/null 2>>"$BATS_TEST_TMPDIR/fail.$n" </dev/null 3>&- ||
        echo "worker $n: rm ${live[0]} failed" >>"$BATS_TEST_TMPDIR/fail.$n"
      live=("${live[@]:1}")
    fi
  done
}

@test "100 containers joining and leaving one network concurrently: unique addresses, nothing left" {
  local workers=5 per=20 w
  b network create --subnet 10.89.255.0/24 stress
  if [ "$status" -ne 0 ]; then
    # Another berth on this host has that subnet: let berth choose one.
    b network create stress
  fi
  [ "$status" -eq 0 ]
  net=$(bq network inspect -f '{{.Id}}' stress)

  # The kernel's view, sampled all along.
  (while :; do sample_kernel "$BATS_TEST_TMPDIR/kernel" || true; sleep 0.05; done) 3>&- &
  SAMPLER_PID=$!
  for ((w = 0; w < workers; w++)); do worker "$w" "$per" stress 3>&- & done
  # Wait for the workers only (not for the sampler).
  while (($(jobs -rp | wc -l) > 1)); do wait -n || true; done
  kill "$SAMPLER_PID"
  wait "$SAMPLER_PID" 2>/dev/null || true
  SAMPLER_PID=

  cat "$BATS_TEST_TMPDIR"/fail.* 2>/dev/null | grep . >&2 && { echo "some runs or removals failed" >&2; return 1; }
  all_ids=$(cat "$BATS_TEST_TMPDIR"/ids.*)
  [ "$(wc -l <<<"$all_ids")" -eq $((workers * per)) ]
  samples=$(wc -l <"$BATS_TEST_TMPDIR/kernel")
  echo "# $samples (container, address) pairs sampled from the kernel" >&3
  ((samples > 0))
  if [[ -s $BATS_TEST_TMPDIR/kernel.dup ]]; then
    echo "one address in two live containers:" >&2
    cat "$BATS_TEST_TMPDIR/kernel.dup" >&2
    return 1
  fi

  # The survivors (3 per worker): berth.db, inspect and the kernel say the same, all different.
  run -0 bq ps -q --no-trunc
  live=$output
  [ "$(wc -l <<<"$live")" -eq $((workers * 3)) ]
  from_inspect=$(for id in $live; do echo "$id $(bq inspect -f '{{.NetworkSettings.IPAddress}}' "$id")"; done | sort)
  from_kernel=$(for id in $live; do echo "$id $(netns_ip "$id")"; done | sort)
  [ "$from_inspect" = "$from_kernel" ]
  [ "$(awk '{print $2}' <<<"$from_inspect" | sort -u | wc -l)" -eq $((workers * 3)) ]
  if command -v sqlite3 >/dev/null; then
    from_db=$(sqlite3 -readonly "$BERTH_ROOT/berth.db" \
      "SELECT container_id || ' ' || ip FROM endpoints WHERE network_id = '$net' ORDER BY 1")
    [ "$from_db" = "$from_inspect" ]
  fi
  # Their names answer with their addresses.
  names=$(sort "$BERTH_RUN_ROOT/networks/$net/names")
  for id in $live; do
    grep -qx "$(bq inspect -f '{{.Name}}' "$id" | sed 's|^/||') $(netns_ip "$id")" <<<"$names"
  done

  # Everything goes at once.
  for id in $live; do "$BERTH" rm -f "$id" >/dev/null 2>>"$BATS_TEST_TMPDIR/rmfail" </dev/null 3>&- & done
  wait
  [ ! -s "$BATS_TEST_TMPDIR/rmfail" ] || { cat "$BATS_TEST_TMPDIR/rmfail" >&2; return 1; }

  [ "$(container_count)" -eq 0 ]
  leftover=$(for id in $all_ids; do ip -o link show | grep -o "vth${id:0:11}[0-9]*" || true; done)
  [ -z "$leftover" ] || { echo "veths left: $leftover" >&2; return 1; }
  [ -z "$(ls -A "$BERTH_RUN_ROOT/netns" 2>/dev/null)" ]
  b network inspect -f '{{.Containers}}' stress
  [ "$output" = "map[]" ]
  if command -v sqlite3 >/dev/null; then
    [ "$(sqlite3 -readonly "$BERTH_ROOT/berth.db" 'SELECT count(*) FROM endpoints')" -eq 0 ]
    [ "$(sqlite3 -readonly "$BERTH_ROOT/berth.db" 'SELECT count(*) FROM ports')" -eq 0 ]
  fi
  [ ! -s "$BERTH_RUN_ROOT/networks/$net/names" ]
  [ -z "$(dnat_rules)" ] || { echo "DNAT rules left: $(dnat_rules)" >&2; return 1; }
  b system check
  [ "$status" -eq 0 ]
  [ "$output" = "nothing to repair" ]
  # The network is still usable.
  b run --rm --network stress busybox ip -4 -o addr show eth0
  [ "$status" -eq 0 ]
}
