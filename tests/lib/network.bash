# Helpers for the networking bats tests (tests/e2e/networking.bats, tests/integration/network_*.bats).
# Load after ../lib/berth: they read BERTH_ROOT and BERTH_RUN_ROOT.

# network_setup: berth_setup for a test that needs root (it fails loudly otherwise), and PORT0:
# ten host ports of its own, PORT0..PORT0+9, derived from the pid and below the kernel's
# ephemeral range (32768-60999), where a client's TIME-WAIT could hold a port and berth would
# rightly refuse to publish it.
network_setup() {
  [[ $(id -u) -eq 0 ]] || { echo "the networking tests need root" >&2; return 1; }
  berth_setup
  PORT0=$((20000 + ($$ % 1270) * 10))
}

# fw_table: the nftables table of this root (engine/networks.cc firewall_table: "berth_" and the
# FNV-1a hash of the root's path).
fw_table() {
  local h=2166136261 i c
  for ((i = 0; i < ${#BERTH_ROOT}; i++)); do
    printf -v c '%d' "'${BERTH_ROOT:i:1}"
    h=$((((h ^ c) * 16777619) & 0xffffffff))
  done
  printf 'berth_%08x\n' "$h"
}

# veths_of ID: the host links of a container (vth<11 hex of its id><n>), one a line.
veths_of() {
  ip -o link show | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | grep "^vth${1:0:11}" || true
}

# no_veths ID: true when no host veth of the container is left.
no_veths() { [ -z "$(veths_of "$1")" ]; }

# netns_ip ID: eth0's IPv4 address inside a container's network namespace (empty when gone).
netns_ip() {
  nsenter --net="$BERTH_RUN_ROOT/netns/$1" ip -4 -o addr show eth0 2>/dev/null |
    sed -n 's/.* inet \([0-9.]*\)\/.*/\1/p'
}

# dnat_rules: the DNAT rules in this root's table, one a line (none when the table is gone).
dnat_rules() {
  nft list table ip "$(fw_table)" 2>/dev/null | grep 'dnat to' || true
}

# A shell command line for busybox: serves "hello-NAME" over HTTP on port 80 in the foreground.
httpd_cmd() {
  echo "mkdir -p /www && echo hello-$1 >/www/index.html && exec httpd -f -p 80 -h /www"
}

# fetch_cmd URL: a shell command line that prints URL's body, retrying for 5 s while the
# server starts (each try gives up after 3 s; busybox 1.35's wget -T crashes).
fetch_cmd() {
  echo "for i in \$(seq 50); do timeout 3 wget -qO- '$1' 2>/dev/null && exit 0; sleep 0.1; done; exit 1"
}

# unreachable_cmd URL: succeeds only when URL does not answer within 3 s.
unreachable_cmd() {
  echo "if timeout 3 wget -qO- '$1' >/dev/null 2>&1; then echo 'reached $1'; exit 1; fi"
}

# host_fetch URL: the body, as curl on the host gets it (retries for 5 s).
host_fetch() {
  local i
  for i in $(seq 50); do
    curl -fsS --max-time 2 "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "curl $1: no answer" >&2
  return 1
}
