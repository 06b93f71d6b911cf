#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs each for a
# bounded time over its kept corpus in tests/fuzz/corpus/NAME.
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default 20 s, all)
# RINGKV_FUZZ_SEED (default 1) fixes libFuzzer's seed and every run starts
# from the kept corpus alone, so a run is repeatable: CI explores the same
# inputs each time (a prefix of them when the machine is slower). Set
# RINGKV_FUZZ_SEED=0 for a random seed in longer runs on demand, e.g.
#   RINGKV_FUZZ_SEED=0 scripts/fuzz.sh 3600
# New inputs go to a fresh build-fuzz/corpus/NAME (not the kept corpus);
# crashes to build-fuzz/crash-NAME-*. Prints "fuzz: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
shift || true
if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang meson setup build-fuzz -Dfuzz=true -Dbuildtype=debugoptimized -Dbench_peers=disabled >/dev/null || exit 1
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for d in tests/fuzz/corpus/*/; do targets+=("$(basename "$d")"); done
fi
passed=0 failed=0
for t in "${targets[@]}"; do
  ninja -C build-fuzz "tests/fuzz/fuzz_$t" >/dev/null || { echo "fuzz $t: build failed"; failed=$((failed + 1)); continue; }
  rm -rf "build-fuzz/corpus/$t" && mkdir -p "build-fuzz/corpus/$t"
  if "build-fuzz/tests/fuzz/fuzz_$t" -seed="${RINGKV_FUZZ_SEED:-1}" \
       -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="build-fuzz/crash-$t-" -print_final_stats=0 \
       "build-fuzz/corpus/$t" "tests/fuzz/corpus/$t" >"build-fuzz/fuzz-$t.log" 2>&1; then
    echo "fuzz $t: ok ($(grep -o 'Done [0-9]* runs' "build-fuzz/fuzz-$t.log" | tail -1) in ${secs}s)"
    passed=$((passed + 1))
  else
    echo "fuzz $t: FAILED, see build-fuzz/fuzz-$t.log"; tail -30 "build-fuzz/fuzz-$t.log"
    failed=$((failed + 1))
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
