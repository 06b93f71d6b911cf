"""netlab.py - five kvnodes, each in its own network namespace, and the
faults the chaos campaign (chaos.py) injects into them.

Layout (root only; Python 3 stdlib, `ip`, `iptables`, `mount`):

    namespace <tag>br : bridge br0 10.77.0.100/24   <- the client runs here
        veth  <tag>v1 ... <tag>v5  (bridge ports)
    namespace <tag>n1 : eth0 10.77.0.1/24, kvnode on 10.77.0.1:7400 (native),
                        :6380 (RESP), :7480 (HTTP), gossip UDP on :7400
    ...
    namespace <tag>n5 : eth0 10.77.0.5/24

Each node's data dir is a tmpfs of DISK_BYTES mounted by the lab, so a
disk-full fault is a filler file taking the free space. Partitions are
iptables DROP rules on the INPUT chain inside a node's namespace (a
two-way partition drops on both sides, a one-way cut on one side only);
the client's address is never blocked. Clock skew restarts a node with
RINGKV_TEST_CLOCK_SKEW_MS (a test-only variable, node/kvnode.c).

Everything the lab creates (processes by pid, mounts, namespaces) is
undone by Lab.close(), which also runs at exit and on SIGTERM/SIGINT.
"""

import atexit
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

NODES = 5
SUBNET = "10.77.0"
CLIENT_IP = SUBNET + ".100"
NATIVE_PORT = 7400
DISK_BYTES = 256 << 20          # tmpfs per node data dir
START_LIMIT_S = 30.0            # one kvnode answering ping
FORM_LIMIT_S = 90.0             # five nodes sharing one full ring
KVCTL_LIMIT_S = 15.0            # one kvctl process, any command

_labs = []


def _cleanup_all():
    for lab in list(_labs):
        lab.close()


atexit.register(_cleanup_all)


def _on_signal(signum, frame):
    _cleanup_all()
    raise SystemExit(128 + signum)


def run(*args, check=True, timeout=30):
    r = subprocess.run(list(args), capture_output=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(args), r.returncode,
                                                 r.stderr.decode("utf-8", "replace").strip()))
    return r


def netns_unavailable():
    """None if network namespaces can be made here, else the reason."""
    if os.geteuid() != 0:
        return "not root: network namespaces need CAP_SYS_ADMIN"
    for tool in ("ip", "iptables", "mount"):
        if not shutil.which(tool):
            return "%s not found" % tool
    name = "rkvprobe%d" % os.getpid()
    r = subprocess.run(["ip", "netns", "add", name], capture_output=True)
    if r.returncode != 0:
        return "ip netns add failed: %s" % r.stderr.decode("utf-8", "replace").strip()
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return None


class Node:
    def __init__(self, lab, i):
        self.lab = lab
        self.i = i
        self.name = "n%d" % i
        self.ns = lab.tag + self.name
        self.ip = "%s.%d" % (SUBNET, i)
        self.addr = "%s:%d" % (self.ip, NATIVE_PORT)
        self.dir = os.path.join(lab.root, self.name)
        self.data = os.path.join(self.dir, "data")
        self.log_path = os.path.join(lab.root, "kvnode-%s.log" % self.name)
        self.proc = None
        self.skew_ms = 0
        self.paused = False
        self.mounted = False

    def args(self):
        return ["ip", "netns", "exec", self.ns, self.lab.kvnode,
                "--node-id", self.name, "--data-dir", self.data,
                "--listen", self.addr, "--resp", "%s:6380" % self.ip,
                "--http", "%s:7480" % self.ip, "--seeds", self.lab.nodes[0].addr
                if self.lab.nodes else self.addr,
                "--n-replicas", "3", "--log-level", "info"]

    def start(self):
        """Starts kvnode (ip netns exec execs it: the pid is kvnode's) and
        waits until it answers ping."""
        env = dict(os.environ)
        env.pop("RINGKV_TEST_CLOCK_SKEW_MS", None)
        if self.skew_ms:
            env["RINGKV_TEST_CLOCK_SKEW_MS"] = str(self.skew_ms)
        os.makedirs(self.data, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.args(), stdout=log, stderr=subprocess.STDOUT, env=env)
        self.paused = False
        deadline = time.monotonic() + START_LIMIT_S
        err = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("kvnode %s exited with %d at start-up (log %s)"
                                   % (self.name, self.proc.returncode, self.log_path))
            rc, _, err = self.lab.kvctl([self.addr], "ping", timeout_ms=1000)
            if rc == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("kvnode %s did not answer ping in %.0f s: %s"
                           % (self.name, START_LIMIT_S, err.strip()[:200]))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def kill(self):
        """SIGKILL (after SIGCONT is not needed: SIGKILL ends a stopped process)."""
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.paused = False

    def stop(self):
        """SIGTERM and wait (SIGKILL after 30 s)."""
        if not self.alive():
            return
        if self.paused:
            self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
        self.paused = False

    def pause(self):
        self.signal(signal.SIGSTOP)
        self.paused = True

    def resume(self):
        self.signal(signal.SIGCONT)
        self.paused = False

    def iptables(self, *args):
        run("ip", "netns", "exec", self.ns, "iptables", "-w", *args)

    def drop_from(self, other):
        self.iptables("-A", "INPUT", "-s", other.ip, "-j", "DROP")

    def heal_net(self):
        self.iptables("-F", "INPUT")

    def filler(self):
        return os.path.join(self.dir, "filler")

    def fill_disk(self):
        """Takes all of the tmpfs's free space (a disk-full fault). In
        chunks, 1 MiB then 4 KiB: a tmpfs undoes a whole fallocate that
        does not fit, and the node keeps writing meanwhile."""
        fd = os.open(self.filler(), os.O_CREAT | os.O_WRONLY, 0o600)
        try:
            off = 0
            for chunk in (1 << 20, 4096):
                while True:
                    try:
                        os.posix_fallocate(fd, off, chunk)
                    except OSError:
                        break
                    off += chunk
        finally:
            os.close(fd)
        return off

    def free_disk(self):
        if os.path.exists(self.filler()):
            os.remove(self.filler())


class Lab:
    def __init__(self, kvnode, kvctl, root_dir=None):
        self.kvnode = kvnode
        self.kvctl_bin = kvctl
        self.tag = "rkv%d" % (os.getpid() % 100000)
        self.brns = self.tag + "br"
        self.root = tempfile.mkdtemp(prefix="ringkv-chaos-", dir=root_dir or "/tmp")
        self.nodes = []
        self.namespaces = []
        self.closed = False
        _labs.append(self)
        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)

    # ---- set-up ----

    def _netns(self, name):
        run("ip", "netns", "add", name)
        self.namespaces.append(name)
        run("ip", "-n", name, "link", "set", "lo", "up")

    def build(self):
        self._netns(self.brns)
        run("ip", "-n", self.brns, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", self.brns, "addr", "add", CLIENT_IP + "/24", "dev", "br0")
        run("ip", "-n", self.brns, "link", "set", "br0", "up")
        for i in range(1, NODES + 1):
            n = Node(self, i)
            self._netns(n.ns)
            peer = "%sv%d" % (self.tag, i)
            run("ip", "-n", n.ns, "link", "add", "eth0", "type", "veth", "peer", "name", peer,
                "netns", self.brns)
            run("ip", "-n", n.ns, "addr", "add", n.ip + "/24", "dev", "eth0")
            run("ip", "-n", n.ns, "link", "set", "eth0", "up")
            run("ip", "-n", self.brns, "link", "set", peer, "master", "br0")
            run("ip", "-n", self.brns, "link", "set", peer, "up")
            os.makedirs(n.dir)
            run("mount", "-t", "tmpfs", "-o", "size=%d" % DISK_BYTES, "tmpfs", n.dir)
            n.mounted = True
            self.nodes.append(n)

    def start_cluster(self):
        for n in self.nodes:
            n.start()
        want = sorted(n.name for n in self.nodes)
        deadline = time.monotonic() + FORM_LIMIT_S
        while time.monotonic() < deadline:
            rings = [self.ring(n) for n in self.nodes]
            if all(r is not None and r == rings[0] for r in rings) and rings[0][1] == want:
                return
            time.sleep(0.5)
        raise RuntimeError("no common ring of %d nodes in %.0f s" % (NODES, FORM_LIMIT_S))

    def ring(self, node):
        rc, out, _ = self.kvctl([node.addr], "ring", "--json", timeout_ms=2000)
        if rc != 0:
            return None
        j = json.loads(out)
        return (j.get("version"), sorted(m["id"] for m in j.get("nodes", [])))

    def all_alive_everywhere(self):
        """Whether every node sees every node alive (after healing)."""
        for n in self.nodes:
            rc, out, _ = self.kvctl([n.addr], "members", "--json", timeout_ms=2000)
            if rc != 0:
                return False
            states = {m["id"]: m["state"] for m in json.loads(out)["members"]}
            if any(states.get(o.name) != "alive" for o in self.nodes):
                return False
        return True

    # ---- the client ----

    def kvctl(self, hosts, *args, timeout_ms=3000, retries=0, extra=()):
        """(exit code, stdout, stderr) of kvctl run in the client namespace;
        exit code None if the process itself had to be killed."""
        cmd = ["ip", "netns", "exec", self.brns, self.kvctl_bin, "--host", ",".join(hosts),
               "--timeout", str(timeout_ms), "--retries", str(retries)] + list(extra) + list(args)
        try:
            r = subprocess.run(cmd, capture_output=True, timeout=KVCTL_LIMIT_S)
        except subprocess.TimeoutExpired:
            return None, "", "kvctl killed after %.0f s" % KVCTL_LIMIT_S
        return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")

    # ---- tear-down ----

    def close(self):
        if self.closed:
            return
        self.closed = True
        for n in self.nodes:
            try:
                n.kill()
            except (OSError, subprocess.TimeoutExpired):
                pass
        for n in self.nodes:
            if n.mounted:
                subprocess.run(["umount", "-l", n.dir], capture_output=True)
        for name in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        if os.environ.get("RINGKV_CHAOS_KEEP") != "1":
            shutil.rmtree(self.root, ignore_errors=True)
        if self in _labs:
            _labs.remove(self)
