#!/usr/bin/env python3
"""Counts test cases across meson test logs and prints 'N passed, N failed, N skipped'.

A check binary reports 'NN%: Checks: C, Failures: F, Errors: E'; its cases
count one each. Any other test (a script) counts as one case. A test that
crashed or timed out before printing its summary counts as one failure.
"""
import json
import re
import sys

CHECK = re.compile(r"\d+%: Checks: (\d+), Failures: (\d+), Errors: (\d+)")


def main(args):
    passed = failed = skipped = 0
    paths = []
    fuzz_log = None
    while args:
        a = args.pop(0)
        if a == "--fuzz-log":
            fuzz_log = args.pop(0)
        else:
            paths.append(a)
    if fuzz_log:
        try:
            for line in open(fuzz_log):
                m = re.match(r"fuzz (\S+): (ok|FAILED|build failed)", line)
                if m and m.group(2) == "ok":
                    passed += 1
                elif m:
                    failed += 1
        except OSError as e:
            print(f"summary: cannot read {fuzz_log}: {e}")
            failed += 1
    for path in paths:
        try:
            lines = open(path).read().splitlines()
        except OSError as e:
            print(f"summary: cannot read {path}: {e}")
            failed += 1
            continue
        for line in lines:
            t = json.loads(line)
            if t["result"] == "SKIP":
                skipped += 1
                print(f"skipped: {t['name']}: {(t.get('stdout') or '').strip().splitlines()[-1:] or ''}")
                continue
            ok = t["result"] in ("OK", "EXPECTEDFAIL")
            found = CHECK.findall(t.get("stdout", "") + t.get("stderr", ""))
            if found:
                c = sum(int(x[0]) for x in found)
                f = sum(int(x[1]) + int(x[2]) for x in found)
                passed += c - f
                failed += f
                if not ok and f == 0:
                    failed += 1
            elif ok:
                passed += 1
            else:
                failed += 1
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
