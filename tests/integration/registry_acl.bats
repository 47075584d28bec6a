#!/usr/bin/env bats
# The registry's permission matrix, generated exhaustively (tests/integration/registry_acl_matrix.py):
# anonymous, read-only, read-write and admin users, wrong passwords and every kind of bad token ×
# every endpoint and method × repositories in and out of scope, path tricks and names at the
# grammar's limits, against a real `berth registry serve` on loopback.

setup() {
  T=$(mktemp -d /tmp/berth-test-registry-acl.XXXXXX)
  htpasswd -cbB -C 5 "$T/htpasswd" reader reader-pw 2>/dev/null
  htpasswd -bB -C 5 "$T/htpasswd" writer writer-pw 2>/dev/null
  htpasswd -bB -C 5 "$T/htpasswd" admin admin-pw 2>/dev/null
}

teardown() {
  rm -rf "${T:?}"
}

@test "registry permission matrix: no request does more than its credentials allow" {
  run python3 "$BATS_TEST_DIRNAME/registry_acl_matrix.py" "$BERTH" "$T"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ $output == *" 0 failures"* ]]
}
