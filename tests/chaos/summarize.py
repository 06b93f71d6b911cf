#!/usr/bin/env python3
"""summarize.py - totals over the run-<seed>.json files chaos.py wrote.

Usage: summarize.py RESULTS_DIR [...]
Prints runs (clean / with anomalies / errored), faults by kind, operations,
acknowledged and in-doubt writes, every anomaly count, and the share of
writes that succeeded while exactly one node of five was killed or paused
(per fault kind and together). Exit 1 if any run had an anomaly.
"""

import collections
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chaos  # noqa: E402


def main():
    files = sorted(f for d in sys.argv[1:] for f in glob.glob(os.path.join(d, "run-*.json")))
    if not files:
        print("summarize: no run-*.json under %s" % " ".join(sys.argv[1:]))
        return 2
    t = collections.Counter()
    kinds = collections.Counter()
    one = {"kill": [0, 0], "pause": [0, 0]}
    durations = collections.Counter()
    for path in files:
        with open(path) as f:
            r = json.load(f)
        v = r.get("verdict")
        if not v:
            t["errored"] += 1
            print("errored: %s: %s" % (os.path.basename(path), r.get("error")))
            continue
        durations[r["duration_s"]] += 1
        t["runs"] += 1
        t["clean"] += v["clean"]
        for k in ("operations", "writes", "acknowledged_writes", "indoubt_writes", "keys_checked", "faults"):
            t[k] += v[k]
        for k in ("lost", "resurrected", "phantom", "counter_violations"):
            t[k] += len(v[k])
        for f in r.get("faults", []):
            kinds[f["kind"]] += 1
        for op in r.get("history", []):
            if op["kind"] == "get":
                continue
            active = [f for f in r["faults"] if f["start"] <= op["invoke"]
                      and (f["end"] is None or op["invoke"] < f["end"])]
            if len(active) == 1 and active[0]["kind"] in one:
                one[active[0]["kind"]][0] += 1
                one[active[0]["kind"]][1] += chaos.succeeded(op)
    print("runs: %d checked (%d clean), %d errored; durations %s" % (
        t["runs"], t["clean"], t["errored"], dict(durations)))
    print("faults: %d (%s)" % (t["faults"], ", ".join("%s %d" % kv for kv in sorted(kinds.items()))))
    print("operations: %d, writes %d, acknowledged %d, in doubt %d, keys checked %d" % (
        t["operations"], t["writes"], t["acknowledged_writes"], t["indoubt_writes"], t["keys_checked"]))
    print("lost acknowledged writes: %d, resurrected deletes: %d, phantom values: %d, "
          "counter violations: %d" % (t["lost"], t["resurrected"], t["phantom"], t["counter_violations"]))
    all_w = sum(w for w, _ in one.values())
    all_ok = sum(o for _, o in one.values())
    for k, (w, o) in sorted(one.items()):
        print("one node %s: %d/%d writes ok (%s)" % (k, o, w, "%.2f%%" % (100.0 * o / w) if w else "-"))
    print("one node killed or paused: %d/%d writes ok (%s)" % (
        all_ok, all_w, "%.2f%%" % (100.0 * all_ok / all_w) if all_w else "-"))
    return 1 if t["runs"] != t["clean"] else 0


if __name__ == "__main__":
    sys.exit(main())
