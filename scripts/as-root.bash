# Sourced by the scripts in this folder, right after they cd to the repository: root runs on,
# anyone else is asked for sudo (a fresh Debian, where root works, has no sudo).
# Usage: source scripts/as-root.bash SCRIPT-NAME "$@"
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "scripts/$1: run as root (sudo is not installed)" >&2; exit 1; }
  exec sudo --preserve-env=CI bash "$PWD/scripts/$1" "${@:2}"
fi
