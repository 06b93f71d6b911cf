"""test_auth.py - authentication, roles and certificates bound to a cluster,
against real kvnode processes (issue #8, security).

- A node with --users-file (lines made by `kvnode --hash-password`):
  unauthenticated and wrong-password connections are refused over the
  native protocol (raw frames and kvctl) and RESP (raw and redis-cli);
  read users cannot write, write users cannot change the ring; the right
  role is accepted; /health and /metrics stay readable; no secret appears
  in the node's log or kvctl's output.
- Two nodes with mutual TLS (certificates of scripts/make-certs.sh for
  cluster "c1") and a users file replicate to each other; a node holding a
  certificate of cluster "c2" from the same CA is refused in the TLS
  handshake with a log line naming the cluster; --users-file with --seeds
  but without --tls-mutual is a configuration error.

- kvbench --user/--password-file (raw protocol and --sdk) runs a short
  load against the authenticated node; without credentials it is refused;
  a read user cannot load; the password never appears in its output.

Environment: KVNODE, KVCTL and KVBENCH name the binaries under test."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import (ENV_HELLO, KVNODE, PROTOCOL_VERSION, NativeClient, Node, RespClient,  # noqa: E402
                     RespError, expect, fail, http_get, pb_bytes, pb_int, redis_cli,
                     run)

KVCTL = os.environ.get("KVCTL") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "client", "kvctl")
KVBENCH = os.environ.get("KVBENCH") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "bench", "kvbench")
MAKE_CERTS = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "make-certs.sh")

# name -> (role, password); "default" is the user of the one-argument AUTH.
USERS = {
    "reader": ("read", "r3ad-secret-pw"),
    "writer": ("write", "wr1te-secret-pw"),
    "boss": ("admin", "b0ss-secret-pw"),
    "default": ("write", "legacy-secret-pw"),
}
SECRETS = [pw for _, pw in USERS.values()]

TMP = tempfile.mkdtemp(prefix="ringkv-auth-", dir="/tmp")
NODE = None


def users_file():
    path = os.path.join(TMP, "users")
    lines = ["# users of test_auth.py"]
    for name, (role, pw) in USERS.items():
        r = subprocess.run([KVNODE, "--hash-password", "%s:%s" % (name, role)],
                           input=(pw + "\n").encode(), capture_output=True, timeout=30)
        expect(r.returncode, 0, "kvnode --hash-password exit (%s)" % r.stderr)
        line = r.stdout.decode().strip()
        if pw in line or not line.startswith("%s:%s:pbkdf2-sha256:" % (name, role)):
            fail("unexpected --hash-password line %r" % line)
        lines.append(line)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def kvctl(*args, user=None, password=None, host=None, extra_env=None):
    env = dict(os.environ)
    env.pop("RINGKV_USER", None)
    env.pop("RINGKV_PASSWORD", None)
    argv = [KVCTL, "--host", host or "127.0.0.1:%d" % NODE.native_port]
    if user:
        argv += ["--user", user]
    if password is not None:
        pwfile = os.path.join(TMP, "pw")
        with open(pwfile, "w") as f:
            f.write(password + "\n")
        argv += ["--password-file", pwfile]
    env.update(extra_env or {})
    r = subprocess.run(argv + [str(a) for a in args], capture_output=True, timeout=60, env=env)
    out, err = r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")
    for s in SECRETS:
        if s in out or s in err:
            fail("kvctl printed a secret: %r %r" % (out, err))
    return r.returncode, out, err


def as_user(name, *args):
    return kvctl(*args, user=name, password=USERS[name][1])


def expect_refused(res, needle, what):
    code, out, err = res
    if code == 0 or needle not in err:
        fail("%s: want a refusal mentioning %r, got exit %d out=%r err=%r" % (what, needle, code, out, err))


def expect_ok(res, what):
    code, out, err = res
    if code != 0:
        fail("%s: exit %d, stderr %r" % (what, code, err))
    return out


def hello(cluster="ringkv", user=None, secret=None):
    body = pb_int(1, PROTOCOL_VERSION) + pb_bytes(3, cluster)
    if user is not None:
        body += pb_bytes(5, pb_bytes(1, user) + pb_bytes(2, secret or ""))
    return body


def native_hello_status(**kw):
    c = NativeClient(NODE.native_port, hello=False)
    try:
        r = c.call(ENV_HELLO, hello(**kw))
        return r["status"], r["error"]
    finally:
        c.close()


def test_start_with_users_file():
    global NODE
    NODE = Node("a1", extra=["--users-file", users_file()]).start()
    if "authentication on users=4" not in NODE.log():
        fail("no start-up line about authentication:\n" + NODE.log())


def test_native_unauthenticated_refused():
    st, err = native_hello_status()
    expect(st, -13, "hello without credentials (KV_EAUTH)")
    if "authentication required" not in err:
        fail("unclear refusal: %r" % err)
    st, err = native_hello_status(user="reader", secret="wrong")
    expect(st, -13, "hello with a wrong password")
    expect(err, "invalid user name or password", "wrong password message")
    st, err = native_hello_status(user="nobody", secret="x")
    expect(err, "invalid user name or password", "unknown user: same message")
    st, _ = native_hello_status(user="reader", secret=USERS["reader"][1])
    expect(st, 0, "hello of a known user")
    expect_refused(kvctl("get", "k"), "authentication required", "kvctl without a user")
    expect_refused(kvctl("get", "k", user="reader", password="nope"), "invalid user name or password",
                   "kvctl with a wrong password")


def test_native_roles():
    expect_refused(as_user("reader", "put", "k1", "v1"), "needs role write", "reader put")
    expect_refused(as_user("reader", "del", "k1"), "needs role write", "reader del")
    expect_ok(as_user("writer", "put", "k1", "v1"), "writer put")
    out = expect_ok(as_user("reader", "get", "k1"), "reader get")
    if "v1" not in out:
        fail("reader get: %r" % out)
    expect_ok(as_user("reader", "members"), "reader members (a view)")
    for view in (["local-get", "k1"], ["aae-status"], ["transfers"], ["stats"]):
        code, out, err = as_user("reader", *view)
        if "permission denied" in err:
            fail("reader %s (a read-only view) refused: %r" % (view[0], err))
    expect_refused(as_user("reader", "repair"), "needs role admin", "reader repair")
    expect_refused(as_user("writer", "leave"), "needs role admin", "writer ring change")
    expect_refused(as_user("writer", "clear"), "needs role admin", "writer clear")
    code, out, err = as_user("boss", "clear")
    if "permission denied" in err:
        fail("admin refused: %r" % err)
    env = {"RINGKV_USER": "writer", "RINGKV_PASSWORD": USERS["writer"][1]}
    expect_ok(kvctl("put", "k2", "v2", extra_env=env), "credentials from the environment")


def kvbench(*args, user=None, password=None):
    argv = [KVBENCH, "--host", "127.0.0.1:%d" % NODE.native_port, "--keys", "50", "--ops", "200",
            "--warmup", "0", "--connections", "2", "--json"]
    if user:
        argv += ["--user", user]
    if password is not None:
        pwfile = os.path.join(TMP, "bench-pw")
        with open(pwfile, "w") as f:
            f.write(password + "\n")
        argv += ["--password-file", pwfile]
    r = subprocess.run(argv + list(args), capture_output=True, timeout=120)
    out, err = r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")
    for s in SECRETS:
        if s in out or s in err:
            fail("kvbench printed a secret: %r %r" % (out, err))
    return r.returncode, out, err


def kvbench_result(what, *args, **kw):
    code, out, err = kvbench(*args, **kw)
    if code != 0:
        fail("%s: exit %d out=%r err=%r" % (what, code, out, err))
    return json.loads(out)


def test_kvbench_with_credentials():
    for mode in ([], ["--sdk"]):
        res = kvbench_result("kvbench %s as writer" % mode, *mode, user="writer", password=USERS["writer"][1])
        expect(res["total"]["ops"], 200, "kvbench %s ops as writer" % mode)
        expect(res["total"]["errors"], 0, "kvbench %s errors as writer" % mode)
    code, out, err = kvbench()
    if code == 0 or "authentication required" not in err:
        fail("kvbench without a user: want a refusal, got exit %d err=%r" % (code, err))
    # A reader's updates are refused one by one (counted as errors), its reads are not.
    res = kvbench_result("kvbench as reader", user="reader", password=USERS["reader"][1])
    upd, rd = res["by_op"]["update"], res["by_op"]["read"]
    if upd["ops"] == 0 or upd["errors"] != upd["ops"] or rd["errors"] != 0:
        fail("kvbench workload a as reader: want every update refused, no read: %r" % res)
    res = kvbench_result("kvbench read-only as reader", "--no-load", "--workload", "c",
                         user="reader", password=USERS["reader"][1])
    expect(res["total"]["errors"], 0, "kvbench read-only errors as reader")


def resp_error(c, *args):
    """The error line of a command that must fail."""
    r = c.cmd(*args)
    if not isinstance(r, RespError):
        fail("%s answered %r, want an error" % (args[0], r))
    return str(r)


def expect_prefix(text, prefix, what):
    if not text.startswith(prefix):
        fail("%s: want %s..., got %r" % (what, prefix, text))


def test_resp_auth():
    c = RespClient(NODE.resp_port)
    try:
        for cmd in (("GET", "k1"), ("PING",), ("SET", "k", "v"), ("NOSUCHCMD",)):
            expect_prefix(resp_error(c, *cmd), "NOAUTH", "%s before AUTH" % cmd[0])
        for args in (("reader", "bad"), ("bad",), ("nobody", "x")):
            expect_prefix(resp_error(c, "AUTH", *args), "WRONGPASS", "AUTH %r" % (args,))
        expect(c.cmd("AUTH", "reader", USERS["reader"][1]), "OK", "AUTH reader")
        expect(c.cmd("GET", "k1"), b"v1", "reader GET")
        expect_prefix(resp_error(c, "SET", "k1", "x"), "NOPERM", "reader SET")
        expect_prefix(resp_error(c, "INCR", "n"), "NOPERM", "reader INCR")
        expect(c.cmd("AUTH", "writer", USERS["writer"][1]), "OK", "AUTH writer (Redis 6 form)")
        expect(c.cmd("SET", "k3", "v3"), "OK", "writer SET")
        expect_prefix(resp_error(c, "CONFIG", "GET", "save"), "NOPERM", "writer CONFIG")
    finally:
        c.close()
    c = RespClient(NODE.resp_port)
    try:
        expect(c.cmd("AUTH", USERS["default"][1]), "OK", "legacy one-argument AUTH")
        expect(c.cmd("SET", "k4", "v4"), "OK", "default user SET")
    finally:
        c.close()


def test_redis_cli():
    out = redis_cli(NODE.resp_port, "GET", "k1")
    if "NOAUTH" not in out:
        fail("redis-cli without AUTH: %r" % out)
    port = str(NODE.resp_port)
    base = ["redis-cli", "-p", port, "--no-auth-warning"]
    r = subprocess.run(base + ["--user", "reader", "--pass", USERS["reader"][1], "GET", "k1"],
                       capture_output=True, timeout=30)
    expect(r.stdout.decode().strip(), "v1", "redis-cli --user reader GET")
    r = subprocess.run(base + ["--user", "reader", "--pass", USERS["reader"][1], "SET", "k1", "z"],
                       capture_output=True, timeout=30)
    if "NOPERM" not in r.stdout.decode():
        fail("redis-cli reader SET: %r" % r.stdout)
    r = subprocess.run(base + ["-a", USERS["default"][1], "SET", "k5", "v5"], capture_output=True,
                       timeout=30)
    expect(r.stdout.decode().strip(), "OK", "redis-cli -a (legacy AUTH) SET")
    r = subprocess.run(base + ["--user", "reader", "--pass", "wrong", "GET", "k1"],
                       capture_output=True, timeout=30)
    if "WRONGPASS" not in (r.stdout + r.stderr).decode():
        fail("redis-cli with a wrong password: %r %r" % (r.stdout, r.stderr))


def test_http_stays_open_and_no_secret_logged():
    expect(http_get(NODE.http_port, "/health")[0], 200, "/health without credentials")
    expect(http_get(NODE.http_port, "/metrics")[0], 200, "/metrics without credentials")
    log = NODE.log()
    for s in SECRETS:
        if s in log:
            fail("the node logged a secret")
    expect(NODE.stop(), 0, "exit code")


def make_certs(cluster, *names):
    subprocess.run(["sh", MAKE_CERTS, "-c", cluster, os.path.join(TMP, "certs")] + list(names),
                   check=True, capture_output=True, timeout=60)


def tls_flags(name):
    d = os.path.join(TMP, "certs")
    return ["--tls-cert", os.path.join(d, name + ".crt"), "--tls-key", os.path.join(d, name + ".key"),
            "--tls-ca", os.path.join(d, "ca.crt"), "--tls-mutual", "--cluster-name", "c1"]


def client_tls():
    d = os.path.join(TMP, "certs")
    return ["--cluster", "c1", "--tls-ca", os.path.join(d, "ca.crt"),
            "--tls-cert", os.path.join(d, "alice.crt"), "--tls-key", os.path.join(d, "alice.key")]


def test_users_file_in_cluster_needs_mtls():
    n = Node("bad", extra=["--users-file", os.path.join(TMP, "users"), "--seeds", "127.0.0.1:1"])
    r = subprocess.run(n.args(), capture_output=True, timeout=30)
    expect(r.returncode, 2, "exit code of a node with --users-file --seeds and no --tls-mutual")
    if b"--tls-mutual" not in r.stderr:
        fail("unclear error: %r" % r.stderr)
    n.remove()


def test_mtls_cluster_binding():
    make_certs("c1", "m1", "m2", "client:alice")
    make_certs("c2", "x1")
    users = ["--users-file", os.path.join(TMP, "users")]
    m1 = Node("m1")
    m2 = Node("m2")
    seeds = "127.0.0.1:%d,127.0.0.1:%d" % (m1.native_port, m2.native_port)
    for n in (m1, m2):
        n.extra = tls_flags(n.name) + users + ["--seeds", seeds, "--n-replicas", "2"]
        n.start()
    # The two nodes authenticate each other by certificate: a write at W=2 needs both.
    global NODE
    NODE = m1
    deadline = time.monotonic() + 60
    while True:
        code, out, err = kvctl(*client_tls(), "--consistency", "all", "put", "ck", "cv",
                               user="writer", password=USERS["writer"][1])
        if code == 0:
            break
        if time.monotonic() > deadline:
            fail("W=all put across two mTLS nodes never succeeded: %r" % err)
        time.sleep(0.5)
    NODE = m2
    out = expect_ok(kvctl(*client_tls(), "--consistency", "all", "get", "ck", user="reader",
                          password=USERS["reader"][1]), "read at R=all from the other node")
    if "cv" not in out:
        fail("get ck: %r" % out)
    expect_refused(kvctl(*client_tls(), "put", "ck", "x", user="reader", password=USERS["reader"][1]),
                   "needs role write", "reader put over mTLS")
    expect_refused(kvctl(*client_tls(), "get", "ck"), "authentication required",
                   "client certificate alone is not a user")
    # A node with a certificate of cluster c2 (same CA, right --cluster-name) is refused.
    x1 = Node("x1")
    d = os.path.join(TMP, "certs")
    x1.extra = ["--tls-cert", os.path.join(d, "x1.crt"), "--tls-key", os.path.join(d, "x1.key"),
                "--tls-ca", os.path.join(d, "ca.crt"), "--tls-mutual", "--cluster-name", "c1",
                "--seeds", "127.0.0.1:%d" % m1.native_port, "--n-replicas", "2"] + users
    x1.start()
    deadline = time.monotonic() + 30
    while "not a certificate of cluster c1" not in m1.log():
        if time.monotonic() > deadline:
            fail("m1 did not refuse x1's certificate of cluster c2:\n" + m1.log())
        time.sleep(0.3)
    code, out, err = kvctl(*client_tls(), "members", user="reader", password=USERS["reader"][1],
                           host="127.0.0.1:%d" % m1.native_port)
    if "x1" in out:
        fail("x1 became a member of c1: %r" % out)
    for n in (x1, m2, m1):
        n.stop()
        for s in SECRETS:
            if s in n.log():
                fail("%s logged a secret" % n.name)


if __name__ == "__main__":
    try:
        run([test_start_with_users_file, test_native_unauthenticated_refused, test_native_roles,
             test_kvbench_with_credentials,
             test_resp_auth, test_redis_cli, test_http_stays_open_and_no_secret_logged,
             test_users_file_in_cluster_needs_mtls, test_mtls_cluster_binding])
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
