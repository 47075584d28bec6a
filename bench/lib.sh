# bench/lib.sh — what the bench scripts share: their name in messages, --quick and --help,
# timing and a free loopback port. Sourced by each script after it has cd'ed to the repo root.

BENCH_NAME=bench/${0##*/}

die() { echo "$BENCH_NAME: $*" >&2; exit 1; }

# bench_args "$@": QUICK=1 for --quick; --help prints the script's header comment (its usage)
# and exits; anything else is refused.
bench_args() {
  QUICK=0
  local arg
  for arg in "$@"; do
    case $arg in
      --quick) QUICK=1 ;;
      -h | --help) awk 'NR > 1 && /^#/ { if (!/shellcheck/) { sub(/^# ?/, ""); print }; next } NR > 1 { exit }' "$0"; exit 0 ;;
      *) echo "$BENCH_NAME: unknown argument '$arg' (usage: $BENCH_NAME [--quick])" >&2; exit 2 ;;
    esac
  done
}

now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.3f}')"; }  # elapsed START END: seconds, 3 decimals
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
