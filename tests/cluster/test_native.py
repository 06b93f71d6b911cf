"""test_native.py - every kv.proto request against a real kvnode's native
port: replies, statuses, contexts and siblings, options, and the hello."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import (ENV_HELLO, PROTOCOL_VERSION, NativeClient, Node, envelope,  # noqa: E402
                     expect, fail, frame, pb_bytes, pb_decode, pb_int, redis_cli, run)

ENV_DELETE_REPLY, ENV_BATCH_GET, ENV_BATCH_GET_REPLY = 11, 16, 17
ENV_BATCH_PUT, ENV_BATCH_PUT_REPLY, ENV_EXPIRE, ENV_EXPIRE_REPLY = 18, 19, 20, 21
ENV_TTL, ENV_TTL_REPLY, ENV_INCR, ENV_INCR_REPLY = 22, 23, 24, 25
ENV_GET, ENV_GET_REPLY, ENV_PUT, ENV_PUT_REPLY, ENV_DELETE = 6, 7, 8, 9, 10
ENV_STATS, ENV_STATS_REPLY = 26, 27
KV_EINVAL, KV_ETOOBIG, KV_EAUTH, KV_EEXIST = -4, -9, -13, -14

node = None
nc = None


def body(reply, field):
    if reply["status"] != 0:
        fail("status %d (%s)" % (reply["status"], reply["error"]))
    return pb_decode(reply["fields"].get(field, [b""])[0])


def get_reply(key):
    """(siblings as a sorted list of values, context) of key."""
    g = body(nc.call(ENV_GET, pb_bytes(1, key)), ENV_GET_REPLY)
    values = sorted(pb_decode(s).get(1, [b""])[0] for s in g.get(2, []))
    return values, g.get(3, [b""])[0]


def test_start():
    global node, nc
    node = Node("native1").start()
    nc = node.native()


def test_put_get_delete():
    expect(nc.put(b"a", b"1")["status"], 0, "put")
    expect(nc.get(b"a"), b"1", "get")
    expect(redis_cli(node.resp_port, "GET", "a"), "1", "RESP sees the native write")
    d = body(nc.call(ENV_DELETE, pb_bytes(1, b"a")), ENV_DELETE_REPLY)
    expect(d.get(1, [0])[0], 1, "delete found the key")
    expect(nc.get(b"a"), None, "deleted")
    d = body(nc.call(ENV_DELETE, pb_bytes(1, b"a")), ENV_DELETE_REPLY)
    expect(d.get(1, [0])[0], 0, "second delete found nothing")


def test_contexts_make_and_resolve_siblings():
    values, ctx = get_reply(b"s")
    expect(values, [], "missing key")
    if not ctx:
        fail("a get of a missing key returns a context")
    for v in (b"left", b"right"):  # two writers that both saw "nothing"
        r = nc.call(ENV_PUT, pb_bytes(1, b"s") + pb_bytes(2, v) + pb_bytes(3, ctx))
        expect(r["status"], 0, "put with context")
    values, ctx = get_reply(b"s")
    expect(values, [b"left", b"right"], "concurrent writes are siblings")
    r = nc.call(ENV_PUT, pb_bytes(1, b"s") + pb_bytes(2, b"merged") + pb_bytes(3, ctx))
    ctx2 = body(r, ENV_PUT_REPLY).get(1, [b""])[0]
    if not ctx2:
        fail("put reply has a context")
    expect(get_reply(b"s")[0], [b"merged"], "a put with the read context resolves siblings")


def test_conditions_and_ttl():
    put_nx = pb_bytes(1, b"c") + pb_bytes(2, b"x") + pb_int(5, 1)
    expect(nc.call(ENV_PUT, put_nx)["status"], 0, "IF_ABSENT on a missing key")
    expect(nc.call(ENV_PUT, put_nx)["status"], KV_EEXIST, "IF_ABSENT on a present key")
    expect(nc.call(ENV_PUT, pb_bytes(1, b"t") + pb_bytes(2, b"x") + pb_int(4, 60000))["status"], 0,
           "put with ttl")
    ttl = body(nc.call(ENV_TTL, pb_bytes(1, b"t")), ENV_TTL_REPLY).get(1, [0])[0]
    if not 50000 < ttl <= 60000:
        fail("ttl after a 60 s put: %d" % ttl)
    e = body(nc.call(ENV_EXPIRE, pb_bytes(1, b"t") + pb_int(2, 0)), ENV_EXPIRE_REPLY)
    expect(e.get(1, [0])[0], 1, "persist of an existing key")
    ttl = body(nc.call(ENV_TTL, pb_bytes(1, b"t")), ENV_TTL_REPLY).get(1, [0])[0]
    expect(ttl, (1 << 64) - 1, "ttl -1 (no expiry) as a 64-bit varint")
    e = body(nc.call(ENV_EXPIRE, pb_bytes(1, b"t") + pb_int(2, 0)), ENV_EXPIRE_REPLY)
    expect(e.get(1, [0])[0], 1, "persist of a key without expiry still finds it")
    e = body(nc.call(ENV_EXPIRE, pb_bytes(1, b"nothing") + pb_int(2, 5000)), ENV_EXPIRE_REPLY)
    expect(e.get(1, [0])[0], 0, "expire of a missing key")
    e = body(nc.call(ENV_EXPIRE, pb_bytes(1, b"t") + pb_int(2, 5000)), ENV_EXPIRE_REPLY)
    expect(e.get(1, [0])[0], 1, "expire of an existing key")


def test_incr():
    for want in (5, 3):
        r = body(nc.call(ENV_INCR, pb_bytes(1, b"n") + pb_int(2, 5 if want == 5 else -2)),
                 ENV_INCR_REPLY)
        expect(r.get(1, [0])[0], want, "incr")
    expect(nc.put(b"text", b"abc")["status"], 0, "put text")
    r = nc.call(ENV_INCR, pb_bytes(1, b"text") + pb_int(2, 1))
    expect(r["status"], KV_EINVAL, "incr of text")
    if "not an integer" not in r["error"]:
        fail("incr error message: %r" % r["error"])


def test_batches():
    puts = b"".join(pb_bytes(1, pb_bytes(1, b"b%d" % i) + pb_bytes(2, b"v%d" % i)) for i in range(50))
    results = body(nc.call(ENV_BATCH_PUT, puts), ENV_BATCH_PUT_REPLY).get(1, [])
    expect(len(results), 50, "batch put results")
    for r in results:
        expect(pb_decode(r).get(1, [0])[0], 0, "batch put entry status")
    keys = b"".join(pb_bytes(1, b"b%d" % i) for i in (0, 49, 7)) + pb_bytes(1, b"absent")
    results = body(nc.call(ENV_BATCH_GET, keys), ENV_BATCH_GET_REPLY).get(1, [])
    got = []
    for r in results:
        f = pb_decode(r)
        expect(f.get(1, [0])[0], 0, "batch get entry status")
        g = pb_decode(f.get(3, [b""])[0])
        got.append(pb_decode(g[2][0])[1][0] if g.get(1, [0])[0] else None)
    expect(got, [b"v0", b"v49", b"v7", None], "batch get values in request order")


def test_errors():
    r = nc.call(ENV_GET, pb_bytes(1, b"a") + pb_bytes(2, pb_int(1, 77)))
    expect(r["status"], KV_EINVAL, "unknown consistency")
    r = nc.call(ENV_PUT, pb_bytes(1, b"k" * 20000) + pb_bytes(2, b"v"))
    expect(r["status"], KV_ETOOBIG, "key over --key-bytes-max")
    nc.ping(b"still here")
    wrong = NativeClient(node.native_port, hello=False)
    wrong.send_raw(frame(envelope(1, ENV_HELLO, pb_int(1, PROTOCOL_VERSION) + pb_bytes(3, "other"))))
    expect(wrong.read_envelope()["status"], KV_EAUTH, "hello naming another cluster")
    if not wrong.closed_by_peer():
        fail("a refused hello did not close")


def test_stats():
    stats = body(nc.call(ENV_STATS, b""), ENV_STATS_REPLY).get(1, [])
    names = {pb_decode(s)[1][0].decode(): pb_decode(s).get(2, [b""])[0].decode() for s in stats}
    for n in ("engine.l0.files", "engine.wal_bytes_written", "coord.puts", "native.requests",
              "native.connections_open"):
        if n not in names:
            fail("stats lack %s: %s" % (n, sorted(names)))
    if int(names["coord.puts"]) < 50:
        fail("coord.puts = %s" % names["coord.puts"])


def test_stop():
    nc.close()
    expect(node.stop(), 0, "exit code")
    node.remove()


if __name__ == "__main__":
    run([test_start, test_put_get_delete, test_contexts_make_and_resolve_siblings,
         test_conditions_and_ttl, test_incr, test_batches, test_errors, test_stats, test_stop])
