#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds the normal and the
# ASan+UBSan trees, runs the unit tests under both and every other suite
# on the normal build, then prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh

rc=0
scripts/build.sh || exit 1
scripts/build.sh asan || exit 1

export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
meson test -C build-asan --suite unit --suite sim --print-errorlogs --num-processes 2 || rc=1
meson test -C build --print-errorlogs --num-processes 2 || rc=1

# Every libFuzzer target for a bounded time (clang, ASan+UBSan); counts join the summary.
scripts/fuzz.sh "${RINGKV_FUZZ_SECONDS:-15}" | tee build-fuzz.log || rc=1

python3 scripts/test-summary.py --fuzz-log build-fuzz.log \
  build-asan/meson-logs/testlog.json build/meson-logs/testlog.json || rc=1
exit $rc
