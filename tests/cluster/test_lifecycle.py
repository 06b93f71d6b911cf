"""test_lifecycle.py - kvnode start-up, configuration, /health and /metrics,
graceful SIGTERM, and durability across SIGTERM and SIGKILL restarts."""

import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import (KVNODE, Node, RespClient, expect, fail, http_get,  # noqa: E402
                     redis_cli, run)


def kvnode(*args, env=None):
    return subprocess.run([KVNODE] + list(args), capture_output=True, timeout=30, env=env)


def test_help_and_version():
    r = kvnode("--help")
    expect(r.returncode, 0, "--help exit code")
    out = r.stdout.decode()
    for s in ("--node-id ID", "--data-dir DIR", "--listen HOST:PORT", "--resp HOST:PORT",
              "--http HOST:PORT", "--seeds HOST:PORT,...", "--config FILE", "RINGKV_NODE_ID",
              "--sync MODE", "--max-connections N", "--tls-mutual", "--partitions Q"):
        if s not in out:
            fail("--help lacks %r" % s)
    r = kvnode("--version")
    expect((r.returncode, r.stdout.decode().startswith("kvnode ")), (0, True), "--version")


def test_bad_config_exits_2_with_one_line():
    cases = [(["--node-id", "n", "--sync", "often"],
              "kvnode: error: --sync: expected always, periodic or none, got 'often'"),
             (["--data-dir", "/tmp/x"],
              "kvnode: error: --node-id: required; letters, digits, '.', '_' and '-' only"),
             (["--node-id", "n", "--listen", "nowhere"],
              "kvnode: error: --listen: expected HOST:PORT, got 'nowhere'"),
             (["--node-id", "n", "--bogus"], "kvnode: error: unknown option '--bogus' (see --help)")]
    for args, want in cases:
        r = kvnode(*args)
        expect(r.returncode, 2, "exit code of %s" % args)
        expect(r.stderr.decode().strip(), want, "message of %s" % args)


def test_env_and_config_file_are_read():
    node = Node("cfg1")
    conf = os.path.join(node.dir, "node.conf")
    with open(conf, "w") as f:
        f.write("# test config\ncluster-name = from-file\nmax-connections = 5\n")
    env = dict(os.environ, RINGKV_CONFIG=conf, RINGKV_CLUSTER_NAME="from-env")
    node.env = env
    node.start()
    status, body = http_get(node.http_port, "/health")
    expect(status, 200, "health")
    if '"cluster_name":"from-env"' not in body:
        fail("env did not override the file: %s" % body)
    # max-connections = 5 came from the file: the sixth RESP client is refused.
    clients = [RespClient(node.resp_port) for _ in range(5)]
    for c in clients:
        expect(c.cmd("PING"), "PONG", "client under the limit")
    extra = RespClient(node.resp_port)
    expect(str(extra.read_reply()), "ERR max number of clients reached", "over the limit")
    for c in clients + [extra]:
        c.close()
    expect(node.stop(), 0, "exit code")
    node.remove()


def test_health_and_metrics():
    node = Node("http1").start()
    status, body = http_get(node.http_port, "/health")
    expect(status, 200, "health status")
    for s in ('"status":"ok"', '"node_id":"http1"', '"cluster_name":"ringkv"'):
        if s not in body:
            fail("health lacks %s: %s" % (s, body))
    expect(redis_cli(node.resp_port, "SET", "m", "1"), "OK", "set")
    expect(redis_cli(node.resp_port, "GET", "m"), "1", "get")
    nc = node.native()
    nc.ping()
    nc.close()
    status, text = http_get(node.http_port, "/metrics")
    expect(status, 200, "metrics status")
    for s in ('# TYPE ringkv_requests_total counter',
              'ringkv_requests_total{listener="resp",cmd="set",status="ok"} 1',
              'ringkv_requests_total{listener="native",cmd="ping",status="ok"} 1',
              '# TYPE ringkv_request_duration_seconds histogram',
              'ringkv_request_duration_seconds_bucket{listener="resp",cmd="get",le="+Inf"} 1',
              'ringkv_request_duration_seconds_count{listener="resp",cmd="get"} 1',
              'ringkv_bytes_received_total{listener="resp"}',
              'ringkv_connections_open{listener="native"}',
              'ringkv_connections_refused_total{listener="resp"} 0',
              'ringkv_engine_level_files{level="0"}', 'ringkv_engine_wal_bytes_written_total',
              'ringkv_coord_operations_total{op="put"} 1', 'process_resident_memory_bytes'):
        if s not in text:
            fail("metrics lack %r" % s)
    expect(http_get(node.http_port, "/nope")[0], 404, "unknown path")
    expect(http_get(node.http_port, "/health", "POST")[0], 405, "POST")
    expect(node.stop(), 0, "exit code")
    node.remove()


def test_sigterm_drains_then_restart_keeps_data():
    node = Node("term1", extra=["--shutdown-timeout-ms", "3000"]).start()
    r = RespClient(node.resp_port)
    for i in range(1000):
        r.send_raw(RespClient.encode("SET", "key%d" % i, "value%d" % i))
    for i in range(1000):
        expect(r.read_reply(), "OK", "set %d" % i)
    expect(r.cmd("SET", "big", "x" * (1 << 20)), "OK", "1 MiB value")
    # A client that asks for 64 MiB of replies and reads none keeps the node
    # busy: while it drains, /health must say 503 and new clients are refused.
    slow = socket.create_connection(("127.0.0.1", node.resp_port))
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.sendall(RespClient.encode("GET", "big") * 64)
    time.sleep(0.3)
    node.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 2
    status = 200
    while status == 200 and time.monotonic() < deadline:
        status = http_get(node.http_port, "/health")[0]
        time.sleep(0.02)
    expect(status, 503, "health while draining")
    rc = node.proc.wait(30)
    slow.close()
    expect(rc, 0, "exit code after SIGTERM with a stuck client")
    if "shutdown complete" not in node.log():
        fail("no 'shutdown complete' log line:\n" + node.log())
    node.start()
    r = RespClient(node.resp_port)
    for i in range(0, 1000, 7):
        expect(r.cmd("GET", "key%d" % i), b"value%d" % i, "key%d after restart" % i)
    expect(len(r.cmd("GET", "big")), 1 << 20, "big value after restart")
    r.close()
    expect(node.stop(), 0, "exit code")
    node.remove()


def test_sigkill_keeps_every_acknowledged_set():
    node = Node("kill1").start()
    r = RespClient(node.resp_port)
    acked = 0
    for i in range(5000):
        r.send_raw(RespClient.encode("SET", "k%d" % i, "v%d" % i))
        if i % 100 == 99:
            for _ in range(100):
                expect(r.read_reply(), "OK", "set")
            acked = i + 1
    expect(acked, 5000, "acknowledged sets")
    expect(r.cmd("INCRBY", "ctr", "5"), 5, "counter")
    node.kill()  # SIGKILL right after the last acknowledgement
    node.start()
    r = RespClient(node.resp_port)
    for i in range(acked):
        r.send_raw(RespClient.encode("GET", "k%d" % i))
    for i in range(acked):
        expect(r.read_reply(), b"v%d" % i, "k%d after SIGKILL" % i)
    expect(r.cmd("GET", "ctr"), b"5", "counter after SIGKILL")
    r.close()
    expect(node.stop(), 0, "exit code")
    node.remove()


if __name__ == "__main__":
    run([test_help_and_version, test_bad_config_exits_2_with_one_line,
         test_env_and_config_file_are_read, test_health_and_metrics,
         test_sigterm_drains_then_restart_keeps_data, test_sigkill_keeps_every_acknowledged_set])
