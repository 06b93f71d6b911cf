"""test_limits.py - the node-wide cap on unanswered request bytes
(--inflight-bytes-max, node/budget.h) against real kvnode processes.

Two nodes with N=2: the second is paused (SIGSTOP), so writes that need
both replicas stay in flight on the first until their deadline. Writes
pipelined past the cap are refused at once with KV_EBUSY (native) or
-BUSY (RESP) and a message naming the option; the node neither crashes
nor grows without bound, and once the replica is back every write works.

Environment: KVNODE and KVCTL name the binaries under test."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import (ENV_PUT, NativeClient, Node, RespClient, RespError, envelope, expect,  # noqa: E402
                     fail, frame, paused, pb_bytes, pb_int, run, wait_for)

KVCTL = os.environ.get("KVCTL") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "client", "kvctl")
KV_EBUSY = -8
VALUE_BYTES = 100 * 1024
CAP = "256k"            # two 100 KiB writes fit, the third does not
PIPELINED = 8
NODES = []


def put_all(node, key, value):
    r = subprocess.run([KVCTL, "--host", "127.0.0.1:%d" % node.native_port, "--consistency", "all",
                        "put", key, value], capture_output=True, timeout=30)
    return r.returncode


def wait_writable(node, what):
    """Waits until a write at W=all works (both replicas up and alive in node's view)."""
    wait_for("a write at W=all (%s)" % what, lambda: put_all(node, "warm", "up") == 0, 60, poll_s=0.5)


def test_start_two_nodes():
    a, b = Node("l1"), Node("l2")
    seeds = "127.0.0.1:%d,127.0.0.1:%d" % (a.native_port, b.native_port)
    for n in (a, b):
        n.extra = ["--seeds", seeds, "--n-replicas", "2", "--inflight-bytes-max", CAP,
                   "--request-timeout-ms", "3000"]
        n.start()
    NODES.extend([a, b])
    wait_writable(a, "the two nodes never formed a ring")


def test_native_writes_over_the_cap_are_refused_busy():
    a, b = NODES
    wait_writable(a, "before the native test")
    with paused(b):
        c = NativeClient(a.native_port, timeout=30)
        opts = pb_int(1, 3) + pb_int(3, 3000)  # WriteOptions: consistency ALL, timeout 3 s
        data = b""
        for i in range(PIPELINED):
            put = pb_bytes(1, b"big%d" % i) + pb_bytes(2, b"x" * VALUE_BYTES) + pb_bytes(6, opts)
            data += frame(envelope(100 + i, ENV_PUT, put))
        c.send_raw(data)
        replies = [c.read_envelope() for _ in range(PIPELINED)]
        busy = [r for r in replies if r["status"] == KV_EBUSY]
        if not busy:
            fail("no write was refused over the cap: %r" % [r["status"] for r in replies])
        if len(busy) == PIPELINED:
            fail("every write was refused: the first must be admitted")
        if "--inflight-bytes-max" not in busy[0]["error"]:
            fail("unclear refusal: %r" % busy[0]["error"])
        c.close()


def test_resp_writes_over_the_cap_are_refused_busy():
    a, b = NODES
    wait_writable(a, "l2 did not come back after the native test")
    with paused(b):
        c = RespClient(a.resp_port, timeout=30)
        c.send_raw(b"".join(c.encode("SET", "rbig%d" % i, "y" * VALUE_BYTES) for i in range(PIPELINED)))
        replies = [c.read_reply() for _ in range(PIPELINED)]
        busy = [r for r in replies if isinstance(r, RespError) and str(r).startswith("BUSY")]
        if not busy or len(busy) == PIPELINED:
            fail("want some (not all) SETs refused with -BUSY, got %r" %
                 [str(r)[:40] for r in replies])
        c.close()


def test_node_recovers_after_the_replica_returns():
    a, b = NODES
    wait_writable(a, "writes did not work again after SIGCONT")
    for n in (b, a):
        expect(n.stop(), 0, "exit code of %s" % n.name)


if __name__ == "__main__":
    run([test_start_two_nodes, test_native_writes_over_the_cap_are_refused_busy,
         test_resp_writes_over_the_cap_are_refused_busy, test_node_recovers_after_the_replica_returns])
