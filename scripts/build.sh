#!/usr/bin/env bash
# Configures (once) and builds ringkv. Usage: scripts/build.sh [asan]
#   build/       optimised build with debug info (binaries for users and benches)
#   build-asan/  AddressSanitizer + UndefinedBehaviorSanitizer build (tests)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = asan ]; then
  dir=build-asan
  opts=(-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug)
else
  dir=build
  opts=(-Dbuildtype=debugoptimized)
fi
[ -f "$dir/build.ninja" ] || meson setup "$dir" "${opts[@]}" >/dev/null
ninja -C "$dir" >/dev/null || ninja -C "$dir"
echo "$dir"
