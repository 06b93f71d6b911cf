#!/usr/bin/env python3
"""load.py - steady writes and replica checks for tests/docker/run.sh.

Python 3 standard library only. Node i (1..9) is reached from the host at
127.0.0.1: RESP port 6400+i, native port 7100+i (through kvctl).

  load.py write --ledger FILE --stop FILE --tag TAG --nodes 1,2,3 --kvctl PATH
      One thread per node writes new keys until FILE exists: three of
      every four through RESP (one persistent connection, SET), the
      fourth through kvctl put (the C SDK). Every write has a fresh key
      and value, so its outcome is one of:
        acked     RESP +OK / kvctl exit 0: a line "NODE KEY VALUE PROTO"
                  is appended to the ledger; it must never be lost
        failed    refused before anything was applied: no connection,
                  an error reply that says so (unavailable, busy, ...),
                  kvctl exit 1/3/5
        in doubt  sent, outcome unknown: "-ERR in doubt" (or timed
                  out, closed), no reply within REPLY_WAIT_S, the
                  connection dropped after the command was sent, kvctl
                  exit 4 (or killed)
      On stop it prints one line per node and a total:
        "load TAG node1 acked=N failed=N in_doubt=N"
      and exits 0 (the counts are facts, not a verdict).

  load.py check --ledger FILE (--nodes 1,2,3 | --pairs)
              --replica-check PATH [--report FILE]
      Checks every acknowledged write on every node in --nodes (with
      --pairs: only on the node named on its line, so a report of missing
      copies can be checked again as it is) with replica_check (what
      kvctl local-get does, many keys over one connection; nodes in
      parallel): that node's own stored copy, no quorum, no read repair.
      The value must be a live sibling of the node's replica copy; a
      hint it keeps for another node does not count, nor does a failed
      read. Prints
      "check: K keys x N nodes, M missing" and the first few missing
      ones, writes every "NODE KEY VALUE" missing to --report (when
      given), and exits 1 when anything is missing, else 0.
"""

import argparse
import os
import random
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

RESP_PORT_BASE = 6400
NATIVE_PORT_BASE = 7100
# A node answers a coordinated write within its request timeout (5 s by
# default) with OK, a failure or "in doubt"; wait a little longer so the
# node's own verdict is what gets counted.
REPLY_WAIT_S = 7.0
CONNECT_WAIT_S = 2.0
RETRY_PAUSE_S = 0.2        # after a failed connection or write
WRITE_PAUSE_S = 0.2        # between writes of one thread: about 5 writes/s per node
KVCTL_EVERY = 4            # every 4th write of a thread goes through kvctl
KVCTL_TIMEOUT_MS = 6000
CHECK_WAIT_S = 120         # one node's whole check (thousands of keys, one connection)
MISSING_SHOWN = 8
# Error replies (kv_status_str texts) after which a write may still have
# been applied; every other error reply means it was not.
MAY_HAVE_APPLIED = ("in doubt", "timed out", "closed")


def resp_command(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class RespConn:
    """One RESP connection; reply_line() returns the next reply's first line."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=CONNECT_WAIT_S)
        self.sock.settimeout(REPLY_WAIT_S)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def reply_line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("connection closed by the node")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode(errors="replace")


class Writer:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.ledger = open(args.ledger, "a", buffering=1)
        self.counts = {}

    def record(self, node, outcome, line=None):
        with self.lock:
            c = self.counts.setdefault(node, {"acked": 0, "failed": 0, "in_doubt": 0})
            c[outcome] += 1
            if line:
                self.ledger.write(line + "\n")

    def stopped(self):
        return os.path.exists(self.args.stop)

    def resp_put(self, conn, node, key, value):
        """Returns (outcome, conn): conn is None when it must be reopened."""
        if conn is None:
            try:
                conn = RespConn(RESP_PORT_BASE + node)
            except OSError:
                return "failed", None
        try:
            conn.send(resp_command("SET", key, value))
        except OSError:
            # Some of the command may have left before the error: the
            # node may have parsed and applied it. Unknown, not failed.
            conn.close()
            return "in_doubt", None
        try:
            line = conn.reply_line()
        except (OSError, ConnectionError):
            conn.close()
            return "in_doubt", None
        if line == "+OK":
            return "acked", conn
        if any(w in line for w in MAY_HAVE_APPLIED):
            return "in_doubt", conn
        return "failed", conn

    def kvctl_put(self, node, key, value):
        cmd = [self.args.kvctl, "--host", "127.0.0.1:%d" % (NATIVE_PORT_BASE + node),
               "--timeout", str(KVCTL_TIMEOUT_MS), "put", key, value]
        try:
            rc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                timeout=KVCTL_TIMEOUT_MS / 1000 + 5).returncode
        except subprocess.TimeoutExpired:
            return "in_doubt"
        if rc == 0:
            return "acked"
        if rc in (1, 3, 5):
            return "failed"
        return "in_doubt"

    def run_node(self, node):
        conn = None
        seq = 0
        salt = "%08x" % random.getrandbits(32)
        while not self.stopped():
            key = "%s:n%d:%d" % (self.args.tag, node, seq)
            value = "v%s-%d" % (salt, seq)
            if seq % KVCTL_EVERY == KVCTL_EVERY - 1:
                proto = "kvctl"
                outcome = self.kvctl_put(node, key, value)
            else:
                proto = "resp"
                outcome, conn = self.resp_put(conn, node, key, value)
            line = "%d %s %s %s" % (node, key, value, proto) if outcome == "acked" else None
            self.record(node, outcome, line)
            seq += 1
            time.sleep(WRITE_PAUSE_S if outcome == "acked" else RETRY_PAUSE_S)
        if conn is not None:
            conn.close()

    def run(self):
        threads = [threading.Thread(target=self.run_node, args=(n,), daemon=True)
                   for n in self.args.nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.ledger.close()
        total = {"acked": 0, "failed": 0, "in_doubt": 0}
        for n in self.args.nodes:
            c = self.counts.get(n, {"acked": 0, "failed": 0, "in_doubt": 0})
            for k in total:
                total[k] += c[k]
            print("load %s node%d acked=%d failed=%d in_doubt=%d"
                  % (self.args.tag, n, c["acked"], c["failed"], c["in_doubt"]))
        print("load %s total acked=%d failed=%d in_doubt=%d"
              % (self.args.tag, total["acked"], total["failed"], total["in_doubt"]))
        return 0


def read_ledger(path):
    entries = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3:
                entries.append((int(parts[0]), parts[1], parts[2]))
    return entries


def node_missing(replica_check, node, pairs):
    """[(key, value, why)] of pairs not in node's own replica copy."""
    host = "127.0.0.1:%d" % (NATIVE_PORT_BASE + node)
    stdin = "".join("%s %s\n" % kv for kv in pairs)
    try:
        p = subprocess.run([replica_check, host], input=stdin, capture_output=True, text=True,
                           timeout=CHECK_WAIT_S)
    except subprocess.TimeoutExpired:
        return [(k, v, "replica_check timed out") for k, v in pairs]
    if p.returncode not in (0, 1):
        why = "replica_check exit %d: %s" % (p.returncode, p.stderr.strip())
        return [(k, v, why) for k, v in pairs]
    missing = []
    for line in p.stdout.splitlines():
        if line.startswith("missing "):
            head, _, why = line[len("missing "):].partition(": ")
            key, _, value = head.partition(" ")
            missing.append((key, value, why))
    return missing


def check(args):
    entries = read_ledger(args.ledger)
    per_node = {}
    for writer, key, value in entries:
        for n in ([writer] if args.pairs else args.nodes):
            per_node.setdefault(n, []).append((key, value))

    missing = []
    with ThreadPoolExecutor(max(1, len(per_node))) as pool:
        futures = {n: pool.submit(node_missing, args.replica_check, n, pairs)
                   for n, pairs in sorted(per_node.items())}
        for n, f in futures.items():
            missing += [(n, k, v, why) for k, v, why in f.result()]
    if args.pairs:
        print("check: %d node copies, %d missing" % (len(entries), len(missing)))
    else:
        print("check: %d keys x %d nodes, %d missing"
              % (len(entries), len(args.nodes), len(missing)))
    for n, key, value, why in missing[:MISSING_SHOWN]:
        print("  missing on node%d: %s (want %s; %s)" % (n, key, value, why))
    if args.report:
        with open(args.report, "w") as f:
            for n, key, value, _ in missing:
                f.write("%d %s %s\n" % (n, key, value))
    return 1 if missing else 0


def node_list(s):
    return [int(x) for x in s.split(",") if x]


def main():
    ap = argparse.ArgumentParser(description="steady writes and replica checks (tests/docker)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--ledger", required=True)
    w.add_argument("--stop", required=True)
    w.add_argument("--tag", required=True)
    w.add_argument("--nodes", type=node_list, required=True)
    w.add_argument("--kvctl", required=True)
    c = sub.add_parser("check")
    c.add_argument("--ledger", required=True)
    c.add_argument("--nodes", type=node_list, default=[])
    c.add_argument("--pairs", action="store_true")
    c.add_argument("--replica-check", required=True)
    c.add_argument("--report")
    args = ap.parse_args()
    if args.cmd == "write":
        return Writer(args).run()
    return check(args)


if __name__ == "__main__":
    sys.exit(main())
