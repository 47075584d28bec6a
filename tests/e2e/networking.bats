#!/usr/bin/env bats
# Bridge networking as a user drives it, with real traffic (docs/networking.md): names and
# aliases through berth-dns, isolation between networks, --internal, published ports (-p, -P,
# ephemeral, clashes with containers and host processes), --ip, --dns, --add-host, the
# container's /etc files, --network container:/none, `network` verbs and their errors, and that
# removing the containers leaves no veth, DNS name or DNAT rule behind.
#
# Traffic goes only to loopback, to this test's own containers and to the addresses of the
# bridges it creates. Each test has its own BERTH_ROOT (so its own nftables table) and
# berth_teardown removes its networks; host ports and subnets are derived from the pid so that
# concurrent runs do not meet.

bats_require_minimum_version 1.5.0
load ../lib/berth
load ../lib/network

setup() {
  network_setup
  # A /24 for tests that choose their subnet: 172.30.N.0/24 (unused on this host, see `ip route`).
  NET24=172.30.$(($$ % 250))
  HOST_PIDS=()
}

teardown() {
  local pid
  [[ -z ${CLIENT_NS:-} ]] || ip netns del "$CLIENT_NS" 2>/dev/null || true
  [[ -z ${CLIENT_VETH:-} ]] || ip link del "$CLIENT_VETH" 2>/dev/null || true
  for pid in "${HOST_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${HOST_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  berth_teardown
}

ip_of() { bq inspect -f '{{.NetworkSettings.IPAddress}}' "$1"; }
gateway_of() { bq inspect -f '{{.NetworkSettings.Gateway}}' "$1"; }
id_of() { bq inspect -f '{{.Id}}' "$1"; }
network_id() { bq network inspect -f '{{.Id}}' "$1"; }

# listen_on_host ADDRESS PORT: a host process (python's http.server) holding ADDRESS:PORT.
listen_on_host() {
  python3 -m http.server --bind "$1" "$2" >/dev/null 2>&1 &
  HOST_PIDS+=($!)
  wait_for 5 port_listened "$2"
}
port_listened() { [[ -n $(ss -Hltn "sport = :$1") ]]; }

# --- names ----------------------------------------------------------------------------------

@test "a container reaches another by name, by alias and by short id on a user network" {
  b network create app
  [ "$status" -eq 0 ]
  detach web --network app --network-alias site busybox sh -c "$(httpd_cmd web)"
  id=$(id_of web)
  for host in web site "${id:0:12}"; do
    b run --rm --network app busybox sh -c "$(fetch_cmd "http://$host/")"
    [ "$status" -eq 0 ]
    [ "$output" = hello-web ]
  done
  # The default network resolves names too.
  detach web0 busybox sh -c "$(httpd_cmd web0)"
  b run --rm busybox sh -c "$(fetch_cmd http://web0/)"
  [ "$output" = hello-web0 ]
}

@test "three containers with one --network-alias give three A records" {
  b network create svc
  for i in 1 2 3; do
    detach "s$i" --network svc --network-alias api busybox sleep 1000
  done
  want=$(for i in 1 2 3; do ip_of "s$i"; done | sort | paste -sd' ')
  [ "$(wc -w <<<"$want")" -eq 3 ]
  b run --rm --network svc busybox nslookup -type=a api
  [ "$status" -eq 0 ]
  got=$(sed -n '/^Name:/,$ s/^Address:[[:space:]]*//p' <<<"$output" | sort | paste -sd' ')
  [ "$got" = "$want" ]
  # One of them gone: two records.
  b rm -f s2
  b run --rm --network svc busybox nslookup -type=a api
  got=$(sed -n '/^Name:/,$ s/^Address:[[:space:]]*//p' <<<"$output" | sort | paste -sd' ')
  [ "$got" = "$(for i in 1 3; do ip_of "s$i"; done | sort | paste -sd' ')" ]
}

# --- isolation ------------------------------------------------------------------------------

@test "two networks exchange no traffic, by address or by name" {
  b network create n1
  b network create n2
  detach a --network n1 busybox sh -c "$(httpd_cmd a)"
  ip_a=$(ip_of a)
  # The server answers on its own network ...
  b run --rm --network n1 busybox sh -c "$(fetch_cmd "http://$ip_a/")"
  [ "$output" = hello-a ]
  # ... and not from the other one: neither TCP nor ping, and its name is unknown there.
  b run --rm --network n2 busybox sh -c "$(unreachable_cmd "http://$ip_a/")"
  [ "$status" -eq 0 ]
  b run --rm --network n2 busybox ping -c 1 -W 2 "$ip_a"
  [ "$status" -ne 0 ]
  # (Checked in n2's names file: asking berth-dns for a name it lacks would relay the query to
  # the host's nameservers, off this machine.)
  detach b2 --network n2 busybox sleep 1000
  names_n2=$(cat "$BERTH_RUN_ROOT/networks/$(network_id n2)/names")
  [[ $names_n2 == *"b2 "* && $names_n2 != *"a $ip_a"* ]]
  # The default network is isolated from n1 as well.
  b run --rm busybox sh -c "$(unreachable_cmd "http://$ip_a/")"
  [ "$status" -eq 0 ]
}

@test "an --internal network has no way out, but its containers reach each other" {
  b network create --internal inside
  [ "$status" -eq 0 ]
  b network inspect -f '{{.Internal}}' inside
  [ "$output" = true ]
  b network create outside
  detach srv --network inside busybox sh -c "$(httpd_cmd srv)"
  detach pub --network outside -p "$PORT0:80" busybox sh -c "$(httpd_cmd pub)"
  ip_pub=$(ip_of pub)
  gw_inside=$(gateway_of srv)
  gw_outside=$(gateway_of pub)
  [ "$(host_fetch "http://127.0.0.1:$PORT0/")" = hello-pub ]
  # Inside: the neighbour answers by name.
  b run --rm --network inside busybox sh -c "$(fetch_cmd http://srv/)"
  [ "$output" = hello-srv ]
  # No default route, so no other address of the host (eth0's, the other bridge's) ...
  b run --rm --network inside busybox ip -4 route
  [[ $output != *default* ]]
  host_ip=$(ip -o -4 addr show scope global | awk '$2 !~ /^(bth-|vth)/ {sub(/\/.*/, "", $4); print $4; exit}')
  for target in $host_ip "$gw_outside" "$ip_pub"; do
    b run --rm --network inside busybox sh -c "$(unreachable_cmd "http://$target:$PORT0/")"
    [ "$status" -eq 0 ]
    b run --rm --network inside busybox ping -c 1 -W 2 "$target"
    [ "$status" -ne 0 ]
  done
  # ... and no published port of another network through its own gateway address either.
  b run --rm --network inside busybox sh -c "$(unreachable_cmd "http://$gw_inside:$PORT0/")"
  [ "$status" -eq 0 ]
  b run --rm --network inside busybox sh -c "$(unreachable_cmd "http://$ip_pub/")"
  [ "$status" -eq 0 ]
  # Nor through DNS: its berth-dns relays nothing to the host's nameservers (checked on its
  # command line first, so that no query leaves the host when this fails) ...
  pid=$(cat "$BERTH_RUN_ROOT/networks/$(network_id inside)/dns.lock")
  [[ $(xargs -0 printf '[%s]' <"/proc/$pid/cmdline") == *"[--resolv-conf][]"* ]]
  # ... and refuses names it does not know, while those of the network resolve.
  b run --rm --network inside busybox nslookup -type=a nowhere.invalid
  [[ $output$stderr == *REFUSED* ]]
  b run --rm --network inside busybox nslookup -type=a srv
  [[ $output == *"$(ip_of srv)"* ]]
}

# --- published ports ------------------------------------------------------------------------

@test "a published port answers on 127.0.0.1, on the gateway address and from containers" {
  detach pub -p "$PORT0:80" busybox sh -c "$(httpd_cmd pub)"
  gw=$(gateway_of pub)
  [ "$(host_fetch "http://127.0.0.1:$PORT0/")" = hello-pub ]
  [ "$(host_fetch "http://$gw:$PORT0/")" = hello-pub ]
  # From a container on the same network, through the host's address on that network.
  b run --rm busybox sh -c "$(fetch_cmd "http://$gw:$PORT0/")"
  [ "$output" = hello-pub ]
  # From a container on another network, through its own gateway.
  b network create other
  gw_other=$(bq network inspect other | jq -r '.[0].IPAM.Config[0].Gateway')
  b run --rm --network other busybox sh -c "$(fetch_cmd "http://$gw_other:$PORT0/")"
  [ "$output" = hello-pub ]
  b ps
  [[ $output == *"0.0.0.0:$PORT0->80/tcp"* ]]
  b port pub
  [ "$output" = "80/tcp -> 0.0.0.0:$PORT0" ]
  b inspect -f '{{json .NetworkSettings.Ports}}' pub
  [[ $output == *"\"HostPort\":\"$PORT0\""* ]]
}

@test "a published port answers a client on another interface of the host" {
  detach pub -p "$((PORT0 + 6)):80" busybox sh -c "$(httpd_cmd pub)"
  [ "$(host_fetch "http://127.0.0.1:$((PORT0 + 6))/")" = hello-pub ]
  # The client: a network namespace of this test behind a veth (10.253.248.N/30), as another
  # machine on the host's LAN would be; its packets come in through prerouting and are forwarded.
  local base=$((($$ % 63) * 4))
  CLIENT_NS=bnt$$c CLIENT_VETH=bnt$$h
  ip netns add "$CLIENT_NS"
  ip link add "$CLIENT_VETH" type veth peer name eth0 netns "$CLIENT_NS"
  ip addr add "10.253.248.$((base + 1))/30" dev "$CLIENT_VETH"
  ip link set "$CLIENT_VETH" up
  ip -n "$CLIENT_NS" addr add "10.253.248.$((base + 2))/30" dev eth0
  ip -n "$CLIENT_NS" link set eth0 up
  run ip netns exec "$CLIENT_NS" curl -fsS --max-time 3 "http://10.253.248.$((base + 1)):$((PORT0 + 6))/"
  [ "$status" -eq 0 ]
  [ "$output" = hello-pub ]
}

@test "a UDP port is published too" {
  id=$(detach udp -p "$((PORT0 + 7)):5353/udp" busybox sleep 1000)
  [[ $(bq port udp) == "5353/udp -> 0.0.0.0:$((PORT0 + 7))" ]]
  # busybox has no UDP server: python's, in the container's network namespace, answers upper case.
  for target in 127.0.0.1 "$(gateway_of udp)"; do
    nsenter --net="$BERTH_RUN_ROOT/netns/$id" timeout 10 python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 5353))
data, peer = s.recvfrom(100)
s.sendto(data.upper(), peer)' &
    HOST_PIDS+=($!)
    sleep 0.3
    run python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(b"hello-udp", (sys.argv[1], int(sys.argv[2])))
print(s.recvfrom(100)[0].decode())' "$target" "$((PORT0 + 7))"
    [ "$status" -eq 0 ]
    [ "$output" = HELLO-UDP ]
  done
}

@test "a port published on 127.0.0.1 only answers there" {
  detach local -p "127.0.0.1:$((PORT0 + 1)):80" busybox sh -c "$(httpd_cmd local)"
  [ "$(host_fetch "http://127.0.0.1:$((PORT0 + 1))/")" = hello-local ]
  run curl -fsS --max-time 2 "http://$(gateway_of local):$((PORT0 + 1))/"
  [ "$status" -ne 0 ]
  b port local 80
  [ "$output" = "127.0.0.1:$((PORT0 + 1))" ]
}

@test "a host port published by another container is refused and nothing is created" {
  detach first -p "$PORT0:80" busybox sleep 1000
  fails_with "port $PORT0/tcp on 0.0.0.0 is already published by container first" \
    run -d --name second -p "$PORT0:80" busybox sleep 1000
  fails_with "port $PORT0/tcp on 127.0.0.1 is already published by container first" \
    run -d --name third -p "127.0.0.1:$PORT0:81" busybox sleep 1000
  [[ $stderr == *"hint: "* ]]
  [ "$(container_count)" -eq 1 ]
  b inspect second
  [ "$status" -ne 0 ]
  b network inspect -f '{{json .Containers}}' bridge
  [[ $output == *'"Name":"first"'* && $output != *second* && $output != *third* ]]
  # A different host port is fine.
  detach fourth -p "$((PORT0 + 1)):80" busybox sleep 1000
}

@test "a host port held by a host process is refused" {
  listen_on_host 127.0.0.1 "$((PORT0 + 2))"
  fails_with "port $((PORT0 + 2))/tcp on 0.0.0.0 is already in use by a process on the host" \
    run -d --name clash -p "$((PORT0 + 2)):80" busybox sleep 1000
  fails_with "port $((PORT0 + 2))/tcp on 127.0.0.1 is already in use by a process on the host" \
    run -d --name clash -p "127.0.0.1:$((PORT0 + 2)):80" busybox sleep 1000
  listen_on_host 0.0.0.0 "$((PORT0 + 3))"
  fails_with "port $((PORT0 + 3))/tcp on 127.0.0.1 is already in use by a process on the host" \
    run -d --name clash -p "127.0.0.1:$((PORT0 + 3)):80" busybox sleep 1000
  [ "$(container_count)" -eq 0 ]
  # The host process still gets its own traffic.
  curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$((PORT0 + 2))/"
}

@test "-p PORT picks a free host port that ps and port show" {
  detach eph -p 80 busybox sh -c "$(httpd_cmd eph)"
  b port eph 80
  [[ $output =~ ^0\.0\.0\.0:([0-9]+)$ ]]
  hp=${BASH_REMATCH[1]}
  ((hp > 0 && hp < 65536))
  b ps
  [[ $output == *"0.0.0.0:$hp->80/tcp"* ]]
  [ "$(host_fetch "http://127.0.0.1:$hp/")" = hello-eph ]
}

@test "-P publishes every port the image EXPOSEs" {
  b image import --change 'EXPOSE 80' --change 'EXPOSE 5353/udp' "$BERTH_FIXTURES/busybox-rootfs.tar" webimg
  [ "$status" -eq 0 ]
  detach exp -P webimg sh -c "$(httpd_cmd exp)"
  b port exp
  [ "${#lines[@]}" -eq 2 ]
  [[ ${lines[0]} =~ ^80/tcp\ -\>\ 0\.0\.0\.0:([0-9]+)$ ]]
  hp=${BASH_REMATCH[1]}
  [[ ${lines[1]} =~ ^5353/udp\ -\>\ 0\.0\.0\.0:[0-9]+$ ]]
  [ "$(host_fetch "http://127.0.0.1:$hp/")" = hello-exp ]
}

# --- addresses and /etc files ---------------------------------------------------------------

@test "--ip gives a fixed address, and the same address twice is refused" {
  b network create --subnet "$NET24.0/24" fixed
  [ "$status" -eq 0 ]
  detach f1 --network fixed --ip "$NET24.10" busybox sleep 1000
  [ "$(ip_of f1)" = "$NET24.10" ]
  b exec f1 ip -4 -o addr show eth0
  [[ $output == *"inet $NET24.10/24"* ]]
  fails_with "address $NET24.10 on network 'fixed' is already used by container f1" \
    run -d --name f2 --network fixed --ip "$NET24.10" busybox sleep 1000
  fails_with "--ip 10.254.0.5 is not a free host address of network 'fixed' ($NET24.0/24)" \
    run -d --name f3 --network fixed --ip 10.254.0.5 busybox sleep 1000
  fails_with "--ip $NET24.1 is not a free host address" \
    run -d --name f4 --network fixed --ip "$NET24.1" busybox sleep 1000
  [ "$(container_count)" -eq 1 ]
  # The next container gets the lowest free address (the gateway is .1).
  detach f5 --network fixed busybox sleep 1000
  [ "$(ip_of f5)" = "$NET24.2" ]
}

@test "/etc/hosts, /etc/hostname and /etc/resolv.conf of a container, with --dns and --add-host" {
  detach plain busybox sleep 1000
  ip=$(ip_of plain)
  gw=$(gateway_of plain)
  [ -n "$ip" ] && [ -n "$gw" ]
  run -0 bq exec plain cat /etc/resolv.conf
  [ "$(grep '^nameserver' <<<"$output")" = "nameserver $gw" ]
  run -0 bq exec plain cat /etc/hostname
  hostname=$output
  [ "$(bq exec plain hostname)" = "$hostname" ]
  run -0 bq exec plain cat /etc/hosts
  grep -q '^127.0.0.1[[:space:]]localhost' <<<"$output"
  grep -qx "$ip"$'\t'"$hostname" <<<"$output"
  run -0 bq exec plain ip -4 route
  [[ $output == *"default via $gw dev eth0"* ]]

  b run --rm --hostname h1 --dns 198.51.100.53 --dns 198.51.100.54 --add-host db.example:198.51.100.10 \
    busybox sh -c 'cat /etc/resolv.conf; echo ---; cat /etc/hosts; echo ---; cat /etc/hostname; hostname'
  [ "$status" -eq 0 ]
  [[ $output == *$'nameserver 198.51.100.53\nnameserver 198.51.100.54'* ]]
  [[ $output != *"nameserver $gw"* ]]
  [[ $output == *$'198.51.100.10\tdb.example'* ]]
  [[ $output == *$'\th1'* ]]
  [ "${lines[-1]}" = h1 ]
  [ "${lines[-2]}" = h1 ]
  # The name resolves inside (to loopback here: no traffic leaves the host).
  b run --rm --add-host me.example:127.0.0.1 busybox ping -c 1 -W 1 me.example
  [ "$status" -eq 0 ]
  [[ $output == *127.0.0.1* ]]
  fails_with "--add-host 'nocolon': use NAME:IPv4" run --rm --add-host nocolon busybox true
  fails_with "'not-an-ip' is not an IPv4 address" run --rm --dns not-an-ip busybox true
}

@test "--network container:NAME shares that container's network namespace" {
  detach base busybox sh -c "$(httpd_cmd base)"
  ip_base=$(ip_of base)
  b run --rm --network container:base busybox ip -4 -o addr show eth0
  [[ $output == *"inet $ip_base/"* ]]
  # Its localhost is base's.
  b run --rm --network container:base busybox sh -c "$(fetch_cmd http://127.0.0.1/)"
  [ "$output" = hello-base ]
  fails_with "-p is not allowed" run --rm --network container:base -p 80 busybox true
  b stop -t 1 base
  fails_with "not running" run --rm --network container:base busybox true
}

@test "--network container:NAME of a --rm container (its /etc under the run root) shares its hosts file" {
  detach rmbase --rm --hostname rmbase busybox sleep 1000 >/dev/null
  ip_base=$(ip_of rmbase)
  b run --rm --network container:rmbase busybox cat /etc/hosts
  [ "$status" -eq 0 ]
  [[ $output == *"$ip_base"*rmbase* ]]
  b rm -f rmbase
}

@test "--network none has only the loopback interface, --network host the host's" {
  b run --rm --network none busybox ip -o link
  [ "$status" -eq 0 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ ${lines[0]} == *": lo:"* ]]
  # As dockerd shows it: on the "none" network, with no address.
  b inspect -f '{{json .NetworkSettings.Networks}}' "$(bq create --network none busybox true)"
  [ "$(jq -r 'keys | join(",")' <<<"$output")" = none ]
  [ "$(jq -r '.none.IPAddress' <<<"$output")" = "" ]
  fails_with "-p needs a bridge network, not --network none" run --rm --network none -p 80 busybox true
  uplink=$(ip -o route show default | awk '{print $5; exit}')
  b run --rm --network host busybox ip -o link
  [[ $output == *": $uplink:"* || $output == *": $uplink@"* ]]
}

# --- network verbs --------------------------------------------------------------------------

@test "network create refuses overlapping and malformed subnets, a foreign gateway and a taken name" {
  b network create --subnet "$NET24.0/24" a1
  [ "$status" -eq 0 ]
  fails_with "--subnet $NET24.128/25 overlaps $NET24.0/24 (network 'a1')" \
    network create --subnet "$NET24.128/25" a2
  fails_with "subnet '10.1.2/24': '10.1.2' is not an IPv4 address" network create --subnet 10.1.2/24 a3
  fails_with "needs a prefix length" network create --subnet 10.1.2.0 a3
  fails_with "has host bits set: did you mean 10.254.2.0/24?" network create --subnet 10.254.2.7/24 a3
  fails_with "--gateway 198.51.100.1 is not a host address of 10.254.2.0/24" \
    network create --subnet 10.254.2.0/24 --gateway 198.51.100.1 a3
  fails_with "--ip-range 10.254.3.0/28 is not inside --subnet 10.254.2.0/24" \
    network create --subnet 10.254.2.0/24 --ip-range 10.254.3.0/28 a3
  fails_with "network 'a1' already exists" network create a1
  fails_with "network name 'host' is reserved" network create host
  fails_with "--opt mtu=9: give a number between 68 and 65535" network create --opt mtu=9 a3
  # Overlapping a route of the host (its own uplink's subnet).
  uplink=$(ip -o -4 route show scope link | awk '$3 !~ /^(bth-|vth)/ {print $1; exit}')
  if [[ -n $uplink ]]; then
    fails_with "overlaps $uplink (a route of the host)" network create --subnet "$uplink" a3
  fi
  b network ls --format json
  [[ $output != *'"Name":"a3"'* ]]
}

@test "network rm of a network in use names the container; inspect and ls show the containers" {
  b network create --subnet "$NET24.0/24" --label team=blue used
  detach u1 --network used --network-alias one busybox sleep 1000
  fails_with "network 'used' is in use by container(s) u1" network rm used
  b network inspect used
  [ "$status" -eq 0 ]
  [ "$(jq -r '.[0].Containers[].Name' <<<"$output")" = u1 ]
  [ "$(jq -r '.[0].Containers[].IPv4Address' <<<"$output")" = "$(ip_of u1)/24" ]
  [ "$(jq -r '.[0].Containers[].Aliases[0]' <<<"$output")" = one ]
  [ "$(jq -r '.[0].IPAM.Config[0].Subnet' <<<"$output")" = "$NET24.0/24" ]
  [ "$(jq -r '.[0].Labels.team' <<<"$output")" = blue ]
  b network ls --filter name=used --format json
  [ "$(jq -r .Containers <<<"$output")" = 1 ]
  b rm -f u1
  b network rm used
  [ "$status" -eq 0 ]
  b network ls --format json
  [[ $output != *'"Name":"used"'* ]]
  fails_with "network 'used' not found" network rm used
}

@test "network connect gives a running container another interface; disconnect takes it away" {
  b network create front
  b network create back
  detach app --network front busybox sh -c "$(httpd_cmd app)"
  detach db --network back busybox sleep 1000
  b network connect --alias api back app
  [ "$status" -eq 0 ]
  ip_back=$(bq inspect -f '{{json .NetworkSettings.Networks}}' app | jq -r .back.IPAddress)
  [[ $ip_back == "$(bq network inspect back | jq -r '.[0].IPAM.Config[0].Subnet' | cut -d. -f1-3)".* ]]
  b exec app ip -4 -o addr show eth1
  [[ $output == *"inet $ip_back/"* ]]
  # From the other network, by address and by the alias given at connect.
  b exec db sh -c "$(fetch_cmd "http://$ip_back/")"
  [ "$output" = hello-app ]
  b exec db sh -c "$(fetch_cmd http://api/)"
  [ "$output" = hello-app ]
  [ "$(bq network inspect back | jq -r '.[0].Containers[].Name' | sort | paste -sd' ')" = "app db" ]
  fails_with "already connected to network 'back'" network connect back app

  b network disconnect back app
  [ "$status" -eq 0 ]
  b exec app ip -o link
  [[ $output != *eth1* ]]
  b exec db sh -c "$(unreachable_cmd "http://$ip_back/")"
  [ "$status" -eq 0 ]
  ! grep -q '^api ' "$BERTH_RUN_ROOT/networks/$(network_id back)/names" || false
  [ "$(bq network inspect back | jq -r '.[0].Containers[].Name')" = db ]
  # Its first network is untouched.
  b run --rm --network front busybox sh -c "$(fetch_cmd http://app/)"
  [ "$output" = hello-app ]
}

@test "removing every container leaves no veth, DNS name or DNAT rule" {
  b network create clean
  detach c1 --network clean -p "$((PORT0 + 4)):80" busybox sh -c "$(httpd_cmd c1)"
  detach c2 --network clean --network-alias x busybox sleep 1000
  detach c3 -p "$((PORT0 + 5)):80" busybox sh -c "$(httpd_cmd c3)"
  ids=$(for c in c1 c2 c3; do id_of "$c"; done)
  net=$(network_id clean)
  for id in $ids; do [ -n "$(veths_of "$id")" ]; done
  grep -q '^c1 ' "$BERTH_RUN_ROOT/networks/$net/names"
  grep -q '^x ' "$BERTH_RUN_ROOT/networks/$net/names"
  [ "$(dnat_rules | wc -l)" -eq 2 ]
  [ "$(host_fetch "http://127.0.0.1:$((PORT0 + 4))/")" = hello-c1 ]
  b run --rm --network clean busybox nslookup c1
  [ "$status" -eq 0 ]

  b rm -f c1 c2 c3
  [ "$status" -eq 0 ]
  # The kernel removes the veths with the namespace, a moment after its last user is gone.
  for id in $ids; do wait_for 5 no_veths "$id"; done
  [ ! -s "$BERTH_RUN_ROOT/networks/$net/names" ]
  [ -z "$(dnat_rules)" ]
  [ -z "$(ls -A "$BERTH_RUN_ROOT/netns" 2>/dev/null)" ]
  b network inspect -f '{{json .Containers}}' clean
  [ "$output" = "{}" ]
  run curl -fsS --max-time 2 "http://127.0.0.1:$((PORT0 + 4))/"
  [ "$status" -ne 0 ]
  # The network's berth-dns answers from the new names only (c1 is not asked for: berth-dns would
  # relay a name it lacks to the host's nameservers).
  detach c4 --network clean busybox sleep 1000
  b run --rm --network clean busybox nslookup -type=a c4
  [[ $output == *"$(ip_of c4)"* ]]
  ! grep -qE '^(c1|c2|x) ' "$BERTH_RUN_ROOT/networks/$net/names" || false
  b rm -f c4
  b system check
  [ "$output" = "nothing to repair" ]
}

@test "network rm bridge: refused while a container uses it, then removes the bridge; made again when needed" {
  detach onbridge busybox sleep 1000
  fails_with "network 'bridge' is in use by container(s) onbridge" network rm bridge
  b rm -f onbridge
  b network inspect bridge
  link=$(jq -r '.[0].Options["com.docker.network.bridge.name"] // empty' <<<"$output")
  b network rm bridge
  [ "$status" -eq 0 ]
  [ -n "$link" ]
  run ip link show "$link"
  [ "$status" -ne 0 ]
  detach again busybox sleep 1000
  b network inspect bridge
  [ "$status" -eq 0 ]
  b rm -f again
}
