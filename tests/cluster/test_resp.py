"""test_resp.py - every RESP command against a real kvnode, through redis-cli
and a raw RESP client: replies, errors, pipelining, inline commands."""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Node, RespClient, RespError, expect, fail, redis_cli, run  # noqa: E402

node = None


def cli(*args, **kw):
    return redis_cli(node.resp_port, *args, **kw)


def test_start():
    global node
    node = Node("resp1").start()


def test_strings_through_redis_cli():
    expect(cli("PING"), "PONG", "ping")
    expect(cli("PING", "hello"), "hello", "ping msg")
    expect(cli("ECHO", "some text"), "some text", "echo")
    expect(cli("GET", "missing"), "", "get missing")
    expect(cli("SET", "k1", "v1"), "OK", "set")
    expect(cli("GET", "k1"), "v1", "get")
    expect(cli("SET", "k1", "v2", "XX"), "OK", "set xx on existing")
    expect(cli("SET", "k1", "v3", "NX"), "", "set nx on existing is nil")
    expect(cli("GET", "k1"), "v2", "nx did not write")
    expect(cli("SET", "k2", "v", "XX"), "", "set xx on missing is nil")
    expect(cli("SET", "k2", "v", "NX"), "OK", "set nx on missing")
    expect(cli("MSET", "a", "1", "b", "2", "c", "3"), "OK", "mset")
    expect(cli("MGET", "a", "nope", "c"), "1\n\n3", "mget")
    expect(cli("EXISTS", "a", "b", "nope", "a"), "3", "exists counts repeats")
    expect(cli("DEL", "a", "b", "nope", "a"), "2", "del counts deleted keys")
    expect(cli("GET", "a"), "", "deleted key reads nil")
    expect(cli("EXISTS", "a"), "0", "deleted key does not exist")


def test_ttl_commands():
    expect(cli("SET", "t1", "x", "EX", "100"), "OK", "set ex")
    ttl = int(cli("TTL", "t1"))
    if not 99 <= ttl <= 100:
        fail("TTL after EX 100 is %d" % ttl)
    pttl = int(cli("PTTL", "t1"))
    if not 90000 < pttl <= 100000:
        fail("PTTL after EX 100 is %d" % pttl)
    expect(cli("TTL", "k1"), "-1", "ttl without expiry")
    expect(cli("TTL", "never-set"), "-2", "ttl of missing key")
    expect(cli("PTTL", "never-set"), "-2", "pttl of missing key")
    expect(cli("EXPIRE", "k1", "50"), "1", "expire existing")
    expect(cli("EXPIRE", "never-set", "50"), "0", "expire missing")
    expect(cli("PEXPIRE", "k1", "200000"), "1", "pexpire existing")
    if not 190 <= int(cli("TTL", "k1")) <= 200:
        fail("TTL after PEXPIRE 200000 is %s" % cli("TTL", "k1"))
    expect(cli("PERSIST", "k1"), "1", "persist removes the expiry")
    expect(cli("TTL", "k1"), "-1", "ttl after persist")
    expect(cli("SET", "t1", "y"), "OK", "plain set")
    expect(cli("TTL", "t1"), "-1", "set clears the ttl, as in redis")


def test_expired_keys_read_as_missing():
    expect(cli("SET", "short", "x", "PX", "150"), "OK", "set px")
    expect(cli("GET", "short"), "x", "readable before expiry")
    time.sleep(0.4)
    expect(cli("GET", "short"), "", "expired key reads nil")
    expect(cli("TTL", "short"), "-2", "expired key has no ttl")
    expect(cli("SET", "e2", "x"), "OK", "set")
    expect(cli("EXPIRE", "e2", "-1"), "1", "negative expire")
    expect(cli("GET", "e2"), "", "negative expire deletes")


def test_counters():
    expect(cli("INCR", "cnt"), "1", "incr from nothing")
    expect(cli("INCRBY", "cnt", "41"), "42", "incrby")
    expect(cli("DECR", "cnt"), "41", "decr")
    expect(cli("DECRBY", "cnt", "-9"), "50", "decrby negative")
    expect(cli("GET", "cnt"), "50", "counter reads as a decimal string")
    expect(cli("SET", "num", "10"), "OK", "set integer string")
    expect(cli("INCR", "num"), "11", "incr converts an integer string")
    expect(cli("SET", "word", "abc"), "OK", "set text")
    expect(cli("INCR", "word"), "ERR value is not an integer or out of range", "incr of text")
    expect(cli("INCRBY", "cnt", "x"), "ERR value is not an integer or out of range", "bad delta")
    expect(cli("SET", "big", "9223372036854775807"), "OK", "set int64 max")
    expect(cli("INCR", "big"), "ERR increment or decrement would overflow", "overflow")
    expect(cli("DECRBY", "cnt", "-9223372036854775808"), "ERR decrement would overflow", "decrby min")


def test_server_commands():
    info = cli("INFO")
    for field in ("redis_version:", "ringkv_version:", "node_id:resp1", "connected_clients:"):
        if field not in info:
            fail("INFO lacks %r:\n%s" % (field, info))
    expect(cli("COMMAND", "COUNT"), "24", "command count (AUTH included)")
    expect(cli("COMMAND", "DOCS"), "", "command docs is an empty array")
    expect(cli("CONFIG", "GET", "appendonly"), "appendonly\nno", "config get")
    expect(cli("SELECT", "0"), "OK", "select 0")
    expect(cli("SELECT", "1"), "ERR DB index is out of range", "select 1")
    expect(cli("CLIENT", "SETNAME", "me"), "OK", "client setname")
    r = RespClient(node.resp_port)
    expect(r.cmd("QUIT"), "OK", "quit")
    if not r.closed_by_peer():
        fail("QUIT did not close the connection")


def test_errors_keep_the_connection():
    r = RespClient(node.resp_port)
    e = r.cmd("FLUSHALL", "now")
    expect(str(e), "ERR unknown command 'FLUSHALL', with args beginning with: 'now' ", "unknown")
    expect(isinstance(e, RespError), True, "unknown command is an error reply")
    expect(str(r.cmd("GET")), "ERR wrong number of arguments for 'get' command", "arity")
    expect(str(r.cmd("SET", "k", "v", "EX", "0")), "ERR invalid expire time in 'set' command", "ex 0")
    expect(str(r.cmd("SET", "k", "v", "NX", "XX")), "ERR syntax error", "nx xx")
    expect(str(r.cmd("SET", "k", "v", "FOO")), "ERR syntax error", "unknown option")
    expect(str(r.cmd("MSET", "a", "1", "b")), "ERR wrong number of arguments for 'mset' command",
           "odd mset")
    expect(r.cmd("PING"), "PONG", "connection still works")
    r.close()


def test_binary_safe_values():
    r = RespClient(node.resp_port)
    blob = bytes(range(256)) * 40 + b"\r\n$3\r\n*1\r\n"
    expect(r.cmd("SET", b"bin\x00key\r\n", blob), "OK", "set binary")
    expect(r.cmd("GET", b"bin\x00key\r\n"), blob, "get binary")
    expect(r.cmd("SET", "", "empty key"), "OK", "empty key")
    expect(r.cmd("GET", ""), b"empty key", "get empty key")
    expect(r.cmd("SET", "ev", ""), "OK", "empty value")
    expect(r.cmd("GET", "ev"), b"", "get empty value")
    r.close()


def test_pipelined_commands_answer_in_order():
    r = RespClient(node.resp_port)
    n = 500
    batch = b"".join(RespClient.encode("SET", "p%d" % i, "v%d" % i) for i in range(n))
    batch += b"".join(RespClient.encode("GET", "p%d" % i) for i in range(n))
    batch += b"PING\r\nECHO inline-works\r\n" + RespClient.encode("INCR", "pipe-cnt")
    r.send_raw(batch)  # one write: every command sits in kvnode's input at once
    for i in range(n):
        expect(r.read_reply(), "OK", "pipelined set %d" % i)
    for i in range(n):
        expect(r.read_reply(), b"v%d" % i, "pipelined get %d" % i)
    expect(r.read_reply(), "PONG", "inline ping")
    expect(r.read_reply(), b"inline-works", "inline echo")
    expect(r.read_reply(), 1, "incr after the batch")
    r.close()


def test_batched_sets_keep_order_and_conditions():
    # SETs are written in batches; within a connection every command must
    # still see the SETs sent before it, conditions included.
    a, b = RespClient(node.resp_port), RespClient(node.resp_port)
    a.send_raw(RespClient.encode("SET", "nx1", "a", "NX") + RespClient.encode("SET", "nx1", "b", "NX") +
               RespClient.encode("GET", "nx1") + RespClient.encode("SET", "xx1", "c", "XX") +
               RespClient.encode("SET", "nx1", "d", "XX") + RespClient.encode("SET", "nx1", "e") +
               RespClient.encode("INCR", "nx1"))
    b.send_raw(b"".join(RespClient.encode("SET", "shared", "b%d" % i) for i in range(50)) +
               RespClient.encode("GET", "shared"))
    for want in ("OK", None, b"a", None, "OK", "OK"):
        expect(a.read_reply(), want, "pipelined conditional sets")
    expect(str(a.read_reply()), "ERR value is not an integer or out of range", "incr after set")
    for i in range(50):
        expect(b.read_reply(), "OK", "set %d" % i)
    expect(b.read_reply(), b"b49", "get after 50 sets on the same connection")
    a.close()
    b.close()


def test_half_close_still_answers_everything():
    # 800 GETs of 100 KiB ask for more than --conn-output-bytes-max (64 MiB):
    # kvnode parses them as the output drains, and a client that has
    # half-closed its side still gets every reply before the close.
    r = RespClient(node.resp_port, timeout=60)
    expect(r.cmd("SET", "hv", "h" * 102400), "OK", "set 100 KiB")
    r.send_raw(RespClient.encode("GET", "hv") * 800 + RespClient.encode("ECHO", "last"))
    r.sock.shutdown(socket.SHUT_WR)
    for i in range(800):
        if len(r.read_reply()) != 102400:
            fail("reply %d is not the 100 KiB value" % i)
    expect(r.read_reply(), b"last", "the last command")
    if not r.closed_by_peer():
        fail("kvnode did not close after answering a half-closed client")


def test_command_split_across_writes():
    r = RespClient(node.resp_port)
    wire = RespClient.encode("SET", "split", "x" * 100000) + RespClient.encode("GET", "split")
    for i in range(0, len(wire), 7001):
        r.send_raw(wire[i:i + 7001])
        time.sleep(0.001)
    expect(r.read_reply(), "OK", "split set")
    expect(r.read_reply(), b"x" * 100000, "split get")
    r.close()


def test_redis_cli_pipe_mode():
    data = b"".join(RespClient.encode("SET", "bulk%d" % i, "val%d" % i) for i in range(2000))
    out = cli("--pipe", stdin=data)
    if "errors: 0, replies: 2000" not in out:
        fail("redis-cli --pipe: %s" % out)
    expect(cli("GET", "bulk1999"), "val1999", "last piped key")


def test_stop():
    expect(node.stop(), 0, "exit code after SIGTERM")
    node.remove()


if __name__ == "__main__":
    run([test_start, test_strings_through_redis_cli, test_ttl_commands,
         test_expired_keys_read_as_missing, test_counters, test_server_commands,
         test_errors_keep_the_connection, test_binary_safe_values,
         test_pipelined_commands_answer_in_order, test_batched_sets_keep_order_and_conditions,
         test_half_close_still_answers_everything, test_command_split_across_writes,
         test_redis_cli_pipe_mode, test_stop])
