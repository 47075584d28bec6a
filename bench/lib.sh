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

# ratio A B: A/B with three decimals (a goal of 0.08× is not met by 0.082), n/a when B is 0.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else printf "n/a" }'; }
# at_most RATIO GOAL / at_least RATIO GOAL: "met" or "NOT met".
at_most() { awk -v r="$1" -v g="$2" 'BEGIN { print (r != "n/a" && r + 0 <= g + 0) ? "met" : "NOT met" }'; }
at_least() { awk -v r="$1" -v g="$2" 'BEGIN { print (r != "n/a" && r + 0 >= g + 0) ? "met" : "NOT met" }'; }
