"""test_bad_input.py - hostile and broken input on every port of a real kvnode.

Each case gets a clear error or a close; afterwards the node still answers
other clients on RESP and native, the sentinel keys written at the start
are unchanged, and the node's resident memory stays under RSS_LIMIT_KB."""

import os
import random
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import (ENV_PUT, NativeClient, Node, RespClient, envelope,  # noqa: E402
                     expect, fail, frame, pb_bytes, run, wait_closed)

RSS_LIMIT_KB = 200 * 1024
IDLE_MS, FRAME_MS, MAX_CONN = 2000, 1000, 16
SENTINELS = 100
node = None


def sentinel(i):
    return b"sentinel-value-%d-" % i + b"x" * (i % 50)


def check_node_is_healthy(case):
    r = RespClient(node.resp_port)
    expect(r.cmd("PING"), "PONG", "%s: resp ping" % case)
    values = r.cmd("MGET", *["s%d" % i for i in range(SENTINELS)])
    for i, v in enumerate(values):
        if v != sentinel(i):
            fail("%s: sentinel s%d changed to %r" % (case, i, v))
    r.close()
    nc = node.native()
    nc.ping()
    expect(nc.get(b"native-sentinel"), b"native-value", "%s: native sentinel" % case)
    nc.close()
    rss = node.rss_kb()
    if rss > RSS_LIMIT_KB:
        fail("%s: RSS %d KiB over %d KiB" % (case, rss, RSS_LIMIT_KB))


def connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def test_start():
    global node
    node = Node("bad1", extra=["--idle-timeout-ms", str(IDLE_MS), "--frame-timeout-ms",
                               str(FRAME_MS), "--max-connections", str(MAX_CONN)]).start()
    r = RespClient(node.resp_port)
    for i in range(SENTINELS):
        r.send_raw(RespClient.encode("SET", "s%d" % i, sentinel(i)))
    for i in range(SENTINELS):
        expect(r.read_reply(), "OK", "sentinel set")
    r.close()
    nc = node.native()
    expect(nc.put(b"native-sentinel", b"native-value")["status"], 0, "native put")
    nc.close()
    check_node_is_healthy("start")


def test_random_bytes_on_every_port():
    rng = random.Random(1234)
    for port, name, wait_s in ((node.native_port, "native", 5), (node.resp_port, "resp", 5),
                               (node.http_port, "http", 15)):
        for attempt in range(4):
            s = connect(port)
            try:
                s.sendall(bytes(rng.getrandbits(8) for _ in range(65536)))
            except (BrokenPipeError, ConnectionResetError):
                pass  # closed while we were still sending: fine
            # A protocol error closes at once; anything else by the idle or frame timeout.
            if not wait_closed(s, wait_s):
                fail("%s: random bytes (attempt %d) left the connection open" % (name, attempt))
            s.close()
        check_node_is_healthy("random bytes on " + name)


def test_native_length_prefix_of_4_gib():
    for hello_first in (False, True):
        nc = NativeClient(node.native_port, hello=hello_first)
        nc.send_raw(b"\xff\xff\xff\xff" + b"x" * 1000)
        if not nc.closed_by_peer():
            fail("4 GiB length prefix (hello first: %s) did not close" % hello_first)
        check_node_is_healthy("4 GiB length prefix")


def test_truncated_and_garbage_frames():
    body = envelope(1, ENV_PUT, pb_bytes(1, b"s1") + pb_bytes(2, b"overwritten!"))
    nc = NativeClient(node.native_port)
    nc.send_raw(frame(body)[:len(body) // 2])  # then hang up mid-frame
    nc.close()
    nc = NativeClient(node.native_port)
    nc.send_raw(struct.pack(">I", 16) + b"\xff" * 16)  # valid length, garbage envelope
    if not nc.closed_by_peer():
        fail("garbage envelope did not close the connection")
    nc = NativeClient(node.native_port, hello=False)
    nc.send_raw(struct.pack(">I", 0))  # a zero length is a protocol error
    if not nc.closed_by_peer():
        fail("zero-length frame did not close the connection")
    nc = NativeClient(node.native_port, hello=False)
    nc.send_raw(frame(envelope(1, ENV_PUT, pb_bytes(1, b"s1") + pb_bytes(2, b"before hello"))))
    if not nc.closed_by_peer():
        fail("a request before hello did not close the connection")
    check_node_is_healthy("truncated and garbage frames")


def test_ten_mib_key():
    key = b"k" * (10 << 20)
    r = RespClient(node.resp_port, timeout=30)
    e = r.cmd("SET", key, "v")
    if not str(e).startswith("ERR key too large"):
        fail("10 MiB key via RESP: %r" % e)
    expect(r.cmd("PING"), "PONG", "RESP connection survives a 10 MiB key")
    r.close()
    nc = NativeClient(node.native_port, timeout=30)
    expect(nc.put(key, b"v")["status"], -9, "10 MiB key via native is KV_ETOOBIG")
    nc.ping()
    nc.close()
    check_node_is_healthy("10 MiB key")


def test_slow_clients_are_closed():
    half_resp = connect(node.resp_port)
    half_resp.sendall(b"*2\r\n$3\r\nGET\r\n$10\r\nabc")
    half_native = NativeClient(node.native_port)
    half_native.send_raw(b"\x00\x00")
    silent = connect(node.resp_port)
    t0 = time.monotonic()
    # Each is closed by the frame (1 s) or idle (2 s) timeout; allow slack for a loaded machine.
    for name, s in (("half RESP command", half_resp), ("half native header", half_native.sock),
                    ("silent RESP client", silent)):
        if not wait_closed(s, 10 - (time.monotonic() - t0)):
            fail("%s was not closed" % name)
        s.close()
    check_node_is_healthy("slow clients")


def test_connection_limit():
    clients = [RespClient(node.resp_port) for _ in range(MAX_CONN)]
    for c in clients:
        expect(c.cmd("PING"), "PONG", "client under the limit")
    over = RespClient(node.resp_port)
    expect(str(over.read_reply()), "ERR max number of clients reached", "RESP over the limit")
    if not over.closed_by_peer():
        fail("refused RESP client not closed")
    for c in clients:
        c.close()
    natives = [NativeClient(node.native_port) for _ in range(MAX_CONN)]
    over = NativeClient(node.native_port, hello=False)
    e = over.read_envelope()
    expect(e["status"], -8, "native over the limit is KV_EBUSY")
    if not over.closed_by_peer():
        fail("refused native client not closed")
    for c in natives:
        c.close()
    time.sleep(0.2)  # let kvnode see the closes before counting again
    check_node_is_healthy("connection limit")


def test_resp_broken_lengths():
    cases = [(b"*abc\r\n", "invalid multibulk length"),
             (b"*1000000000\r\n", "invalid multibulk length"),
             (b"*1\r\n$-5\r\n", "invalid bulk length"),
             (b"*1\r\n$xyz\r\n", "invalid bulk length"),
             (b"*1\r\n$99999999999\r\n", "invalid bulk length"),
             (b"*2\r\n$3\r\nGET\r\n:12\r\n", "expected '$'"),
             (b"*1\r\n$4\r\nPINGxx", "expected CRLF after bulk"),
             (b"*" + b"9" * 100, "invalid multibulk length"),
             (b"a" * 70000, "too big inline request")]
    for data, why in cases:
        r = RespClient(node.resp_port)
        r.send_raw(data)
        e = r.read_reply()
        expect(str(e), "ERR Protocol error: " + why, "reply to %r" % data[:30])
        if not r.closed_by_peer():
            fail("protocol error %r did not close" % data[:30])
    # Commands before the broken one still run; nothing after it does.
    r = RespClient(node.resp_port)
    r.send_raw(RespClient.encode("SET", "before", "1") + b"*1\r\n$x\r\n" +
               RespClient.encode("SET", "s1", "clobbered"))
    expect(r.read_reply(), "OK", "command before the broken one")
    expect(str(r.read_reply()), "ERR Protocol error: invalid bulk length", "broken one")
    check_node_is_healthy("RESP broken lengths")


def test_stop():
    expect(node.stop(), 0, "exit code after the bad input")
    node.remove()


if __name__ == "__main__":
    run([test_start, test_random_bytes_on_every_port, test_native_length_prefix_of_4_gib,
         test_truncated_and_garbage_frames, test_ten_mib_key, test_slow_clients_are_closed,
         test_connection_limit, test_resp_broken_lengths, test_stop])
