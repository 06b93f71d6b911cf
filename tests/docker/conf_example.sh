#!/usr/bin/env bash
# tests/docker/conf_example.sh KVNODE [EXAMPLE] - keeps
# deploy/ringkv.conf.example true to kvnode (suite 'deploy'; no Docker).
#
# Checks that the example names every option of `kvnode --help` exactly
# once and nothing else, that each commented-out "# name = value" line
# shows the default --help prints, and that kvnode accepts the file both
# as shipped and with every option line uncommented. Acceptance is read
# from the exit code, not from timing: the data dir is placed under
# /dev/null, so a config kvnode accepts fails later, at start-up, with 1,
# while a rejected config exits 2 before anything starts.
set -euo pipefail
kvnode=${1:?usage: conf_example.sh KVNODE [EXAMPLE]}
src=$(cd "$(dirname "$0")/../.." && pwd)
example=${2:-$src/deploy/ringkv.conf.example}
work=$(mktemp -d "${TMPDIR:-/tmp}/ringkv-conf.XXXXXX")
trap 'rm -rf "$work"' EXIT
bad=0
problem() { echo "conf_example: $*" >&2; bad=1; }

# "name default" per option; --help prints "--name ARG  help" then
# "(default: X; env Y)" on the next line.
"$kvnode" --help | awk '
  /^  --[a-z]/ { name = substr($1, 3); next }
  name != "" && /\(default: / {
    d = $0; sub(/.*\(default: /, "", d); sub(/; env .*/, "", d)
    if (name != "help" && name != "version") print name, (d == "none" ? "" : d)
    name = ""
  }' | sort >"$work/help"
[ -s "$work/help" ] || { echo "conf_example: no options parsed from $kvnode --help" >&2; exit 1; }

# "state name value" per option line of the example (state: set or default).
sed -n -E 's/^#[[:space:]]?([a-z][a-z0-9-]*)[[:space:]]*=[[:space:]]*(.*)$/default \1 \2/p;
           s/^([a-z][a-z0-9-]*)[[:space:]]*=[[:space:]]*(.*)$/set \1 \2/p' "$example" |
  sed 's/[[:space:]]*$//' >"$work/example"

while read -r name def; do
  n=$(awk -v n="$name" '$2 == n' "$work/example" | wc -l)
  ((n == 1)) || problem "option '$name' appears $n times in $example (want exactly 1)"
  shown=$(awk -v n="$name" '$1 == "default" && $2 == n { $1 = $2 = ""; sub(/^ +/, ""); print }' "$work/example")
  if grep -q "^default $name\( \|$\)" "$work/example" && [ "$shown" != "$def" ]; then
    problem "'# $name = $shown' but kvnode's default is '$def'"
  fi
done <"$work/help"
while read -r _ name _; do
  grep -q "^$name " "$work/help" || grep -qx "$name" "$work/help" ||
    problem "'$name' in $example is not a kvnode option"
done <"$work/example"

# accepted FILE: kvnode must take FILE as its config (exit 1 at start-up, not 2).
accepted() {
  local rc=0
  "$kvnode" --config "$1" --data-dir /dev/null/ringkv-conf-check \
    --resp off --http off >"$work/out" 2>&1 || rc=$?
  if ((rc != 1)); then
    problem "kvnode exited $rc with --config $1 (want 1: config accepted, start-up failed):"
    sed 's/^/    /' "$work/out" >&2
  fi
}
accepted "$example"
# Every option line live; "config" is only valid outside a file.
sed -E 's/^#[[:space:]]?([a-z][a-z0-9-]*[[:space:]]*=)/\1/' "$example" | grep -v '^config[[:space:]]*=' >"$work/all.conf"
accepted "$work/all.conf"

((bad == 0)) && echo "conf_example: $(wc -l <"$work/help") options, all documented with their defaults"
exit $bad
