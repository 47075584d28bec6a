# A private dockerd for side-by-side tests (no bridge, no iptables; its own data root, exec root,
# pid file and socket under one directory), started and stopped by pid. Never a system docker.
#
#   dockerd_start || skip "$DOCKERD_WHY"   # sets DK_DIR, DK_SOCK, DK_PID
#   dockerd_stop                           # in teardown: safe on every path, also when it never started

DOCKERD=${DOCKERD:-/usr/sbin/dockerd}

# dockerd_start: starts it and waits (up to 30 s) until it answers; on failure sets DOCKERD_WHY,
# stops what was started and returns 1.
dockerd_start() {
  DOCKERD_WHY=
  if [[ ! -x $DOCKERD || ! -x ${DOCKER:-/usr/bin/docker} ]]; then
    DOCKERD_WHY="no dockerd ($DOCKERD) or docker CLI (${DOCKER:-/usr/bin/docker}) on this host"
    return 1
  fi
  # A short path: the socket's must fit in sockaddr_un (108 bytes).
  DK_DIR=$(mktemp -d /tmp/berth-dockerd.XXXXXX)
  DK_SOCK=$DK_DIR/sock
  "$DOCKERD" --data-root "$DK_DIR/root" --exec-root "$DK_DIR/exec" --pidfile "$DK_DIR/pid" \
    -H "unix://$DK_SOCK" --iptables=false --ip6tables=false --bridge=none --storage-driver=overlay2 \
    --default-ulimit nofile=1024:1024 --default-ulimit nproc=4096:4096 \
    >"$DK_DIR/log" 2>&1 </dev/null 3>&- &
  DK_PID=$!
  local i
  for ((i = 0; i < 300; i++)); do
    kill -0 "$DK_PID" 2>/dev/null || break
    [[ -S $DK_SOCK ]] && "${DOCKER:-/usr/bin/docker}" -H "unix://$DK_SOCK" version >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  DOCKERD_WHY="dockerd did not start here: $(grep -m1 -iE 'level=(error|fatal)|failed' "$DK_DIR/log" | cut -c1-200)"
  dockerd_stop
  return 1
}

# dk ARGS...: the docker CLI against that dockerd, output discarded (for set-up and clean-up).
dk() {
  "${DOCKER:-/usr/bin/docker}" -H "unix://${DK_SOCK:?}" "$@" >/dev/null 2>&1 </dev/null 3>&-
}

# dockerd_stop: its containers and networks removed, dockerd stopped (TERM, then KILL after 20 s),
# then whatever of it is left — its containerd and shims, found by the directory in their command
# line — killed by pid, its mounts unmounted deepest first, and its directory deleted.
dockerd_stop() {
  [[ -n ${DK_DIR:-} && -d $DK_DIR ]] || return 0
  local ids p m i
  if [[ -n ${DK_PID:-} ]] && kill -0 "$DK_PID" 2>/dev/null; then
    ids=$("${DOCKER:-/usr/bin/docker}" -H "unix://$DK_SOCK" ps -aq 2>/dev/null </dev/null 3>&-) || true
    # shellcheck disable=SC2086
    [[ -z $ids ]] || dk rm -f $ids || true
    dk network prune -f || true
    kill "$DK_PID" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do kill -0 "$DK_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$DK_PID" 2>/dev/null || true
    wait "$DK_PID" 2>/dev/null || true
  fi
  for p in /proc/[0-9]*; do
    grep -qaF -- "${DK_DIR:?}/" "$p/cmdline" 2>/dev/null && kill -KILL "${p#/proc/}" 2>/dev/null
  done
  for m in $(awk -v d="${DK_DIR:?}/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf --one-file-system "${DK_DIR:?}"
  DK_DIR= DK_PID=
}
