#!/usr/bin/env python3
"""What a large cluster costs etcd: one real etcd member (Debian's /usr/bin/etcd 3.4) and one
real `turnout serve --store etcd://...` node on loopback, plus simulated nodes that behave
towards etcd as real nodes do (docs/cluster.md, docs/scaling.md):

- each registers `/turnout/nodes/<name>` under its own lease (time to live 10 s, renewed
  every 3 s), in the JSON shape a real node writes, and rewrites it when it starts serving a
  configuration change (its `served_revision`, so that changes become INSYNC);
- each computes the checks placed on it by the rule of `crates/control/src/cluster.rs`
  (`place`: per region, the `checkers_per_region` nodes with the highest first 8 bytes of
  SHA-256(check, 0, node)), checked against what the real node itself reports;
- each writes its report as `Registration::report` does (crates/control/src/reports.rs): a
  base of every placed check's status under `/turnout/reports/<node>/<gen>/<seq>` (parts of at
  most 256 KiB, the last marked `end`, deleting older generations), then one key per write
  holding every change since the last (`{"run":..,"at":..,"healthy":[..],"unhealthy":[..]}`),
  the first change after a quiet spell at once and then at most one write per REPORT_SPACING
  (0.5 s); a new base when the changes since outgrow it; written without a transaction mark
  (`write_repeatable`), as the etcd backend writes them;
- checks flap at FLAP_PCT_PER_MIN (a flap: down, then up FLAP_DOWN seconds later), and every
  placed checker of a flapping check reports both transitions, each at its own moment within
  one probe interval (its probes are not in step with the others');
- each watches `/turnout/` as a real node does, from the end of the initial load (etcd would
  not send millions of load events to a hundred watchers in a reasonable time).

Checks are written straight into etcd (`/turnout/checks/<name>`) in the JSON the API stores;
the first one is created through the real node's API and its stored form is the template.
Every check has its own probe (no two share a probe key, docs/health-checks.md): a tcp check of
one of TARGETS listeners this script runs on 127.0.0.1, with a connect_timeout that differs
per check.

Per configuration (NODES nodes in all, the real one among them; CHECKS checks) it prints
etcd's write transactions, keys written and revisions per second in steady state (from etcd's
/metrics), watch events sent per second, etcd's RSS, CPU and DB size, the real node's RSS and
CPU, and change -> served on the real node (a record change through its API; a routing
check's status flipped by its checkers' reports; until its DNS answers it), and whether the
real node starts again on the loaded store.

    NODES="10 30" CHECKS="100000" DURATION=60 bench/simcluster.py
    REAL=0 NODES="30 100" CHECKS="1000000" DURATION=60 bench/simcluster.py   # every node simulated

Knobs (environment): NODES, CHECKS (space-separated lists; every pair is one configuration),
FLAP_PCT_PER_MIN (1), FLAP_DOWN (60 s), DURATION (60 s of steady state), REGIONS (3),
K (checkers_per_region, 3), INTERVAL (30s), FAILURE_THRESHOLD (1), TARGETS (1000),
SAMPLES (5 of each change -> served), WATCHERS (simulated nodes that watch: "all" or a number),
REAL (1: run the real node; 0: every node simulated), LOAD_TIMEOUT (900 s for the initial
load), LAG_MAX (revisions the real node may fall behind while loading, 100),
QUOTA_GB (etcd's --quota-backend-bytes, 16), MIN_FREE_GB (3: a configuration is stopped when
the machine's available memory falls under it), TURNOUT_BIN. Python standard library only;
every socket is on 127.0.0.1; processes and temporary directories are removed on exit, on
Ctrl-C and on SIGTERM.
"""

import atexit
import base64
import hashlib
import heapq
import http.client
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from array import array

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import turnoutlib as tl  # noqa: E402

ENV = os.environ.get
TURNOUT_BIN = ENV("TURNOUT_BIN", os.path.join(tl.ROOT, "target", "release", "turnout"))
ETCD_BIN = ENV("ETCD_BIN", "/usr/bin/etcd")
NODES = [int(x) for x in ENV("NODES", "10 30 100").split()]
CHECKS = [int(x) for x in ENV("CHECKS", "100000 300000 1000000").split()]
FLAP_PCT = float(ENV("FLAP_PCT_PER_MIN", "1"))
FLAP_DOWN = float(ENV("FLAP_DOWN", "60"))
DURATION = float(ENV("DURATION", "60"))
REGIONS = int(ENV("REGIONS", "3"))
K = int(ENV("K", "3"))
INTERVAL = ENV("INTERVAL", "30s")
FAILURE_THRESHOLD = int(ENV("FAILURE_THRESHOLD", "1"))
TARGETS = int(ENV("TARGETS", "1000"))
SAMPLES = int(ENV("SAMPLES", "5"))
WATCHERS = ENV("WATCHERS", "all")
REAL = ENV("REAL", "1") == "1"
LOAD_TIMEOUT = float(ENV("LOAD_TIMEOUT", "900"))
LAG_MAX = int(ENV("LAG_MAX", "100"))
QUOTA_GB = float(ENV("QUOTA_GB", "16"))
MIN_FREE_GB = float(ENV("MIN_FREE_GB", "3"))

PART_BYTES = 256 << 10      # crates/control/src/reports.rs: PART_BYTES
REPORT_SPACING = 0.5        # crates/control/src/cluster.rs: REPORT_SPACING
COMPACT_ENTRIES, COMPACT_WRITES = 10_000, 2_000   # crates/control/src/cluster.rs
NODE_TTL, RENEW = 10, 3     # crates/control/src/cluster.rs: NODE_TTL, RENEW
MARK_TTL = 600              # crates/store/src/etcd.rs: MARK_TTL
SETUP_CHUNK = 1000          # keys per transaction while loading (setup, not measured)


def interval_seconds(text):
    m = re.fullmatch(r"(\d+)(ms|s|m)", text)
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60}[m.group(2)]


INTERVAL_S = interval_seconds(INTERVAL)


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def b64(data):
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def prefix_end(prefix):
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mem_available_gb():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    return 0.0


def proc_rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def proc_cpu(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")


# ---------------------------------------------------------------------------------------------
# Processes and cleanup


CHILDREN = []       # Popen objects to kill on exit
TEMP_DIRS = []


def cleanup():
    if os.getpid() != MAIN_PID:
        return
    for p in CHILDREN:
        if p.poll() is None:
            try:
                p.kill()
            except OSError:
                pass
    for p in CHILDREN:
        try:
            p.wait(10)
        except Exception:  # noqa: BLE001
            pass
    CHILDREN.clear()
    for d in TEMP_DIRS:
        shutil.rmtree(d, ignore_errors=True)
    TEMP_DIRS.clear()


MAIN_PID = os.getpid()


def on_signal(signum, _frame):
    if os.getpid() == MAIN_PID:
        cleanup()
    os._exit(128 + signum)


class Etcd:
    """One etcd member on loopback ports, with its own data directory."""

    def __init__(self, work):
        self.client, peer = free_port(), free_port()
        self.log_path = os.path.join(work, "etcd.log")
        out = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [ETCD_BIN, "--name", "m0", "--data-dir", os.path.join(work, "etcd"),
             "--listen-client-urls", f"http://127.0.0.1:{self.client}",
             "--advertise-client-urls", f"http://127.0.0.1:{self.client}",
             "--listen-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-cluster", f"m0=http://127.0.0.1:{peer}",
             "--max-txn-ops", "10000", "--max-request-bytes", str(8 << 20),
             "--quota-backend-bytes", str(int(QUOTA_GB * 2**30)),
             "--auto-compaction-mode", "periodic", "--auto-compaction-retention", "1h"],
            stdout=out, stderr=subprocess.STDOUT)
        CHILDREN.append(self.proc)
        deadline = time.time() + 30
        while "ready to serve client requests" not in open(self.log_path).read():
            if time.time() > deadline or self.proc.poll() is not None:
                raise SystemExit("etcd did not start:\n" + open(self.log_path).read()[-2000:])
            time.sleep(0.1)
        self.url = f"etcd://127.0.0.1:{self.client}"
        self.local = threading.local()

    def conn(self):
        c = getattr(self.local, "conn", None)
        if c is None:
            c = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.client, timeout=60)
        return c

    def call(self, path, body):
        data = json.dumps(body).encode()
        for attempt in range(3):
            c = self.conn()
            try:
                c.request("POST", path, data, {"Content-Type": "application/json"})
                r = c.getresponse()
                payload = r.read()
                if r.status != 200:
                    raise RuntimeError(f"etcd {path}: {r.status} {payload[:300]!r}")
                return json.loads(payload)
            except (OSError, http.client.HTTPException):
                c.close()
                self.local.conn = None
                if attempt == 2:
                    raise
                time.sleep(0.2)

    def revision(self):
        r = self.call("/v3/kv/range", {"key": b64("/turnout-sim/none")})
        return int(r["header"]["revision"])

    def metrics(self):
        c = http.client.HTTPConnection("127.0.0.1", self.client, timeout=30)
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
        c.close()
        out = {}
        for line in text.splitlines():
            if line.startswith("#") or " " not in line:
                continue
            name, value = line.rsplit(" ", 1)
            if "{" in name:
                base = name.split("{", 1)[0]
                if not base.endswith("_count"):
                    continue
                name = base
            try:
                out[name] = out.get(name, 0.0) + float(value)
            except ValueError:
                pass
        return out

    def range_keys(self, prefix, limit=50000):
        """Every key under `prefix` (keys only, page by page)."""
        keys, start, end = [], prefix, prefix_end(prefix)
        while True:
            r = self.call("/v3/kv/range", {"key": b64(start), "range_end": b64(end),
                                            "keys_only": True, "limit": limit})
            kvs = r.get("kvs", [])
            keys.extend(base64.b64decode(kv["key"]).decode() for kv in kvs)
            if not r.get("more"):
                return keys
            start = keys[-1] + "\0"

    def range_values(self, prefix):
        """Every (key, value) under `prefix`, in key order."""
        r = self.call("/v3/kv/range", {"key": b64(prefix), "range_end": b64(prefix_end(prefix))})
        return [(base64.b64decode(kv["key"]).decode(), base64.b64decode(kv.get("value", "")).decode())
                for kv in r.get("kvs", [])]

    def get(self, key):
        r = self.call("/v3/kv/range", {"key": b64(key)})
        kvs = r.get("kvs", [])
        return base64.b64decode(kvs[0].get("value", "")).decode() if kvs else None


LISTENER = r"""
import selectors, socket, sys
sel = selectors.DefaultSelector()
ports = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(4096)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
    ports.append(s.getsockname()[1])
print(" ".join(map(str, ports)), flush=True)
while True:
    for key, _ in sel.select():
        while True:
            try:
                c, _ = key.fileobj.accept()
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            c.close()
"""


def start_targets():
    """TARGETS TCP listeners on 127.0.0.1 that accept and close, in a process of their own."""
    proc = subprocess.Popen([sys.executable, "-c", LISTENER, str(TARGETS)],
                            stdout=subprocess.PIPE, text=True)
    CHILDREN.append(proc)
    return proc, [int(p) for p in proc.stdout.readline().split()]


# ---------------------------------------------------------------------------------------------
# Placement: crates/control/src/cluster.rs `place` and `score`, exactly.


def score(check_prefix_hash, node):
    h = check_prefix_hash.copy()
    h.update(node.encode())
    return int.from_bytes(h.digest()[:8], "big")


def place(check, per_region, nodes):
    """nodes: [(name, region)]. The set of node names `check` is placed on."""
    base = hashlib.sha256(check.encode() + b"\0")
    regions = {}
    for name, region in nodes:
        regions.setdefault(region, []).append((score(base, name), name))
    on = set()
    for candidates in regions.values():
        candidates.sort(reverse=True)
        on.update(n for _, n in candidates[:per_region])
    return on


_PLACE_NODES = None


def _place_init(nodes):
    global _PLACE_NODES
    # A worker owns nothing of the parent's: no cleanup of its processes or directories.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    CHILDREN.clear()
    TEMP_DIRS.clear()
    _PLACE_NODES = nodes


def _place_chunk(bounds):
    """Node indexes (one byte each, K * REGIONS per check, 255: none) for checks lo..hi."""
    lo, hi = bounds
    nodes = _PLACE_NODES
    index = {name: i for i, (name, _) in enumerate(nodes)}
    width = K * REGIONS
    out = bytearray([255]) * ((hi - lo) * width)
    for c in range(lo, hi):
        on = sorted(index[n] for n in place(f"c{c}", K, nodes))
        base = (c - lo) * width
        out[base:base + len(on)] = bytes(on)
    return lo, bytes(out)


def placement(checks, nodes):
    """One bytes object: for check c, bytes c*W..c*W+W hold its nodes' indexes (W = K*REGIONS)."""
    step = 20000
    chunks = [(lo, min(checks, lo + step)) for lo in range(0, checks, step)]
    out = bytearray(checks * K * REGIONS)
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 2, _place_init, (nodes,)) as pool:
        for lo, data in pool.imap_unordered(_place_chunk, chunks):
            out[lo * K * REGIONS:lo * K * REGIONS + len(data)] = data
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# Simulated nodes


def now_rfc3339():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def mark_key():
    return "/turnout-txn/" + os.urandom(16).hex()


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.txns = 0
        self.keys = 0
        self.reports = 0
        self.lease_losses = 0
        self.keepalive_errors = 0
        self.events = 0
        self.errors = []

    def add(self, **kw):
        with self.lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)


class SimNode:
    """A node as etcd sees it: registration, renewals, reports, a watch."""

    def __init__(self, etcd, name, region, stats):
        self.etcd, self.name, self.region, self.stats = etcd, name, region, stats
        self.lease = None
        self.mark_lease, self.mark_granted = None, 0.0
        self.served = 0
        self.cond = threading.Condition()
        self.pending = {}            # check index -> healthy
        self.stop = False
        self.watch_conn = None
        self.watch_revision = 0
        self.watch_error = None
        self.placed_checks = array("I")
        self.down = set()            # placed checks it observes unhealthy
        self.gen, self.seq = None, 0
        self.since_base = [0, 0]     # entries, writes
        self.last_write = 0.0
        self.rebase = False

    def grant(self, ttl):
        return int(self.etcd.call("/v3/lease/grant", {"TTL": ttl})["ID"])

    def txn(self, puts, leased=None):
        """One transaction as the etcd backend sends it: the operations and its mark."""
        if self.mark_lease is None or time.time() - self.mark_granted > MARK_TTL / 2:
            self.mark_lease, self.mark_granted = self.grant(MARK_TTL), time.time()
        ops = [{"request_put": {"key": b64(k), "value": b64(v),
                                **({"lease": str(leased)} if leased else {})}} for k, v in puts]
        ops.append({"request_put": {"key": b64(mark_key()), "value": b64("s"),
                                    "lease": str(self.mark_lease)}})
        r = self.etcd.call("/v3/kv/txn", {"success": ops})
        return int(r["header"]["revision"])

    def write(self, ops):
        """`write_repeatable`: one transaction, no mark (sent again after an uncertain failure)."""
        r = self.etcd.call("/v3/kv/txn", {"success": ops})
        return int(r["header"]["revision"])

    def next_seq(self):
        self.seq = max(self.seq + 1, int(time.time() * 1_000_000))
        return self.seq

    def part_key(self, gen, seq):
        return f"/turnout/reports/{self.name}/{gen:016x}/{seq:016x}"

    def part_value(self, entries, base=False, end=False):
        """A part in the JSON `ReportPart` serializes to (crates/control/src/reports.rs)."""
        v = {"run": self.lease, "at": now_rfc3339()}
        if base:
            v["base"] = True
        if end:
            v["end"] = True
        for field, want in (("healthy", True), ("unhealthy", False)):
            names = [f"c{c}" for c, h in entries if h == want]
            if names:
                v[field] = names
        return json.dumps(v, separators=(",", ":"))

    def chunks(self, entries):
        """`reports::parts`: at most PART_BYTES of names per part."""
        out, cur, size = [], [], 0
        for c, h in entries:
            cost = len(f"c{c}") + 3
            if cur and size + cost > PART_BYTES:
                out.append(cur)
                cur, size = [], 0
            cur.append((c, h))
            size += cost
        out.append(cur)
        return out

    def write_base(self, paced=None):
        """`write_base`: every placed check's status as a new generation; the last part's
        write deletes the older generations."""
        gen = self.next_seq()
        entries = [(c, c not in self.down) for c in self.placed_checks]
        parts = self.chunks(entries)
        for i, part in enumerate(parts):
            seq = gen if i == 0 else self.next_seq()
            end = i == len(parts) - 1
            ops = [{"request_put": {"key": b64(self.part_key(gen, seq)),
                                    "value": b64(self.part_value(part, True, end))}}]
            if end and self.gen is not None:
                old = f"/turnout/reports/{self.name}/{self.gen:016x}/"
                ops.append({"request_delete_range": {"key": b64(old), "range_end": b64(prefix_end(old))}})
            (paced or (lambda f: f()))(lambda ops=ops: self.write(ops))
            if self.stats:
                self.stats.add(txns=1, keys=len(ops), reports=len(part))
        self.gen, self.since_base, self.rebase = gen, [0, 0], False

    def record(self):
        return json.dumps({
            "name": self.name, "region": self.region, "dns": ["127.0.0.1:0"],
            "api": "127.0.0.1:0", "controls": "127.0.0.1:0", "probe_sources": ["127.0.0.1"],
            "served_revision": self.served, "updated_ms": int(time.time() * 1000),
            "lease": self.lease}, separators=(",", ":"))

    def register(self):
        self.lease = self.grant(NODE_TTL)
        return self.txn([(f"/turnout/nodes/{self.name}", self.record())], leased=self.lease)

    def keep_alive(self):
        """One renewal; a lease that is gone is replaced as a real node replaces it
        (`Registration::step`): a new lease, the record again, and every status again (reports
        under an earlier registration do not count)."""
        r = self.etcd.call("/v3/lease/keepalive", {"ID": str(self.lease)})
        if int(r.get("result", {}).get("TTL", 0)) > 0:
            return
        self.stats.add(lease_losses=1)
        self.register()
        with self.cond:
            self.rebase = True   # a report under an earlier registration does not count
            self.cond.notify()

    def renewals(self):
        """Every RENEW seconds, as `run_node` does (each node renews on its own)."""
        while not self.stop:
            time.sleep(RENEW)
            if self.stop:
                return
            try:
                self.keep_alive()
            except Exception as e:  # noqa: BLE001
                self.stats.add(keepalive_errors=1)
                self.stats.errors.append(f"{self.name}: keepalive {e}")

    def enqueue(self, check, healthy):
        with self.cond:
            self.pending[check] = healthy
            self.cond.notify()

    def writer(self):
        """`Registration::report`: a new base when due, else every change since the last write
        in one key, at most one write per REPORT_SPACING."""
        while True:
            with self.cond:
                while not self.pending and not self.rebase and not self.stop:
                    self.cond.wait()
                if self.stop:
                    return
                wait = self.last_write + REPORT_SPACING - time.time()
            if wait > 0 and not self.rebase:
                time.sleep(wait)
            with self.cond:
                due, self.pending = list(self.pending.items()), {}
                for c, h in due:
                    (self.down.discard if h else self.down.add)(c)
                entries, writes = self.since_base
                rebase = (self.rebase or entries > max(len(self.placed_checks), COMPACT_ENTRIES)
                          or writes >= COMPACT_WRITES)
            try:
                if rebase:
                    self.write_base()
                    continue
                for part in self.chunks(due):
                    self.write([{"request_put": {"key": b64(self.part_key(self.gen, self.next_seq())),
                                                 "value": b64(self.part_value(part))}}])
                    self.since_base[1] += 1
                    self.stats.add(txns=1, keys=1, reports=len(part))
                self.since_base[0] += len(due)
                self.last_write = time.time()
            except Exception as e:  # noqa: BLE001
                self.stats.errors.append(f"{self.name}: {e}")

    def watch(self, start):
        """Watches /turnout/ from `start` as a real node does; counts events and rewrites the
        record when a configuration change arrives (the real node: when it serves one)."""
        health = b'"key":"' + b64("/turnout/reports/")[:20].encode()
        nodes = b'"key":"' + b64("/turnout/nodes/")[:20].encode()
        progress = b'"key":"' + b64("/turnout/\x7fturnout-progress")[:16].encode()
        body = json.dumps({"create_request": {
            "key": b64("/turnout/"), "range_end": b64(prefix_end("/turnout/")),
            "start_revision": str(start)}})
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.etcd.client)
            self.watch_conn = c
            c.request("POST", "/v3/watch", body, {"Content-Type": "application/json"})
            r = c.getresponse()
            carry = b""
            while not self.stop:
                block = r.read1(1 << 16)
                if not block:
                    break
                data = carry + block
                cut = data.rfind(b"\n")
                if cut < 0:
                    carry = data
                    continue
                lines, carry = data[:cut], data[cut + 1:]
                for line in lines.split(b"\n"):
                    events = line.count(b'"kv":')
                    if not events:
                        continue
                    self.stats.add(events=events)
                    config = events - line.count(health) - line.count(nodes) - line.count(progress)
                    if config > 0:
                        revision = int(json.loads(line)["result"]["header"]["revision"])
                        if revision > self.served:
                            self.served = revision
                            self.txn([(f"/turnout/nodes/{self.name}", self.record())],
                                     leased=self.lease)
        except Exception as e:  # noqa: BLE001
            if not self.stop:
                self.watch_error = str(e)


class Sim:
    """Every simulated node, the flapping and the lease renewals."""

    def __init__(self, etcd, nodes, place_bytes, checks, exclude):
        self.etcd, self.nodes, self.place, self.checks = etcd, nodes, place_bytes, checks
        self.exclude = exclude
        self.stats = Stats()
        self.heap, self.heap_lock = [], threading.Lock()
        self.heap_cond = threading.Condition(self.heap_lock)
        self.threads = []
        self.stopping = threading.Event()
        self.flaps = 0

    def spawn(self, target, *args):
        t = threading.Thread(target=target, args=args, daemon=True)
        t.start()
        self.threads.append(t)

    def start_renewals(self):
        for n in self.nodes:
            if n is not None:
                self.spawn(n.renewals)

    def placed(self, c):
        w = K * REGIONS
        return [i for i in self.place[c * w:c * w + w] if i != 255]

    def flapper(self):
        rate = self.checks * FLAP_PCT / 100 / 60   # flaps per second
        rng = random.Random(1)
        # As if flapping had gone on before: the flaps of the last FLAP_DOWN + INTERVAL seconds
        # still owe their later reports, so the steady state starts at once.
        span = FLAP_DOWN + INTERVAL_S
        owed, last = 0.0, time.time()
        backlog = [last - rng.uniform(0, span) for _ in range(int(rate * span))]
        while True:
            now = time.time()
            owed += rate * (now - last)
            last = now
            starts = backlog
            backlog = []
            while owed >= 1:
                owed -= 1
                starts.append(now)
            events = []
            for t in starts:
                c = rng.randrange(self.checks)
                if c in self.exclude:
                    continue
                self.flaps += 1
                for i in self.placed(c):
                    if self.nodes[i] is None:
                        continue   # the real node: its own probes see the target up
                    for at, healthy in ((t + rng.uniform(0, INTERVAL_S), False),
                                        (t + FLAP_DOWN + rng.uniform(0, INTERVAL_S), True)):
                        if at >= now:
                            events.append((at, i, c, healthy))
            if events:
                with self.heap_cond:
                    for e in events:
                        heapq.heappush(self.heap, e)
                    self.heap_cond.notify()
            if self.stopping.wait(0.1):
                return

    def dispatcher(self):
        while not self.stopping.is_set():
            with self.heap_cond:
                while not self.stopping.is_set():
                    wait = self.heap[0][0] - time.time() if self.heap else 0.5
                    if self.heap and wait <= 0:
                        break
                    self.heap_cond.wait(min(max(wait, 0.001), 0.5))
                due = []
                now = time.time()
                while self.heap and self.heap[0][0] <= now:
                    due.append(heapq.heappop(self.heap))
            for _, i, c, healthy in due:
                self.nodes[i].enqueue(c, healthy)

    def start(self, watchers):
        for n in self.nodes:
            if n is not None:
                self.spawn(n.writer)
        start = self.etcd.revision() + 1
        live = [n for n in self.nodes if n is not None]
        for n in live[:watchers]:
            self.spawn(n.watch, start)

    def start_flapping(self):
        self.spawn(self.flapper)
        self.spawn(self.dispatcher)

    def stop(self):
        self.stopping.set()
        with self.heap_cond:
            self.heap_cond.notify_all()
        for n in self.nodes:
            if n is None:
                continue
            n.stop = True
            with n.cond:
                n.cond.notify_all()
            if n.watch_conn is not None and n.watch_conn.sock is not None:
                try:
                    n.watch_conn.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        for t in self.threads:
            t.join(5)


# ---------------------------------------------------------------------------------------------
# The real node


class Real:
    def __init__(self, work, etcd):
        self.work, self.etcd = work, etcd
        self.data = os.path.join(work, "real")
        self.config = os.path.join(work, "turnout.toml")
        with open(self.config, "w") as f:
            f.write("[health]\nmax_probes_per_target = 10000\n")
        self.server = None
        self.failed = None

    def start(self):
        self.server = tl.Server(TURNOUT_BIN, self.data, (
            "--store", self.etcd.url, "--node-name", "real", "--region", "r0",
            "--config", self.config))
        CHILDREN.append(self.server.proc)
        return self.server

    def alive(self):
        return self.server is not None and self.server.proc.poll() is None and not self.failed

    def revision(self):
        status, body = self.server.call("GET", "/v1/cluster", timeout=30)
        return body["store_revision"] if status == 200 else 0

    def sync_broken(self):
        """A reason when the node's store sync failed (its log says so)."""
        for line in self.server.log[-200:]:
            if "store sync interrupted" in line:
                return line.split("store sync interrupted", 1)[1].strip()[:300]
        return None

    def stop(self):
        if self.server and self.server.proc.poll() is None:
            self.server.proc.terminate()
            try:
                self.server.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.server.proc.kill()
                self.server.proc.wait()


def check_spec(template, i, ports):
    spec = dict(template)
    spec["name"] = f"c{i}"
    spec["port"] = ports[i % len(ports)]
    spec["connect_timeout"] = f"{2000 + i // len(ports)}ms"
    return json.dumps(spec, separators=(",", ":"))


def wait_for(predicate, timeout, step=0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


# ---------------------------------------------------------------------------------------------
# One configuration


class Bent(Exception):
    """A configuration stopped because it clearly bends (the reason is the message)."""


def memory_guard():
    if mem_available_gb() < MIN_FREE_GB:
        raise Bent(f"available memory under {MIN_FREE_GB} GiB")


def run_config(n_nodes, n_checks):
    row = {"nodes": n_nodes, "checks": n_checks, "notes": []}
    work = tempfile.mkdtemp(prefix="turnout-simcluster.")
    TEMP_DIRS.append(work)
    etcd = Etcd(work)
    targets, ports = start_targets()
    real = Real(work, etcd) if REAL else None
    sim = None
    try:
        t_setup = time.time()
        # The node list: the real node in r0, the others round robin over the regions.
        names = [("real", "r0")] + [(f"s{j:03d}", f"r{j % REGIONS}") for j in range(1, n_nodes)]
        template = {"type": "tcp", "ip": "127.0.0.1", "port": ports[0], "interval": INTERVAL,
                    "failure_threshold": FAILURE_THRESHOLD, "connect_timeout": "2000ms",
                    "checkers_per_region": K}
        if real:
            server = real.start()
            status, body = server.call("PUT", "/v1/checks/c0", template)
            assert status == 201, body
            stored = etcd.get("/turnout/checks/c0")
            template = json.loads(stored)
            assert check_spec(template, 0, ports) == stored, (check_spec(template, 0, ports), stored)
            row["notes"].append("check JSON = the API's stored form")
        else:
            template = {"name": "c0", **template}
        # Simulated nodes register first (the cluster exists; then checks are added).
        stats = None
        sims = []
        for i, (name, region) in enumerate(names):
            if i == 0 and real:
                sims.append(None)
                continue
            sims.append(SimNode(etcd, name, region, None))
        log(f"[{n_nodes} nodes, {n_checks} checks] placing ...")
        place_bytes = placement(n_checks, names)
        width = K * REGIONS
        real_set = None
        counts = [0] * n_nodes
        for b in place_bytes:
            if b != 255:
                counts[b] += 1
        row["per_node"] = (min(counts), max(counts))
        row["real_checks"] = counts[0]
        # The check a flip is measured on: not placed on the real node, never flapped.
        flip = next((c for c in range(1, n_checks)
                     if 0 not in place_bytes[c * width:c * width + width]), None)
        if flip is None:
            raise Bent(f"every check is placed on the real node (its region has at most {K} nodes)")
        sim = Sim(etcd, sims, place_bytes, n_checks, {flip})
        stats = sim.stats
        for n in sims:
            if n is not None:
                n.stats = stats
                n.register()
        if real:
            sim.nodes = sims
        sim.start_renewals()

        # Checks, then each simulated node's first statuses (as its probes establish them).
        def paced(write):
            """Runs `write` unless the real node is LAG_MAX revisions behind (then waits)."""
            if real and real.alive():
                deadline = time.time() + LOAD_TIMEOUT
                while True:
                    broken = real.sync_broken()
                    if broken:
                        real.failed = f"its store sync failed while loading: {broken}"
                        break
                    if etcd.revision() - real.revision() <= LAG_MAX:
                        break
                    if time.time() > deadline:
                        real.failed = f"fell more than {LAG_MAX} revisions behind the load for {LOAD_TIMEOUT:.0f} s"
                        break
                    time.sleep(0.05)
            write()

        log(f"[{n_nodes} nodes, {n_checks} checks] writing checks ...")
        t0 = time.time()
        for lo in range(1, n_checks, SETUP_CHUNK):
            memory_guard()
            hi = min(n_checks, lo + SETUP_CHUNK)
            ops = [{"request_put": {"key": b64(f"/turnout/checks/c{i}"),
                                    "value": b64(check_spec(template, i, ports))}}
                   for i in range(lo, hi)]
            paced(lambda ops=ops: etcd.call("/v3/kv/txn", {"success": ops}))
        row["t_checks"] = time.time() - t0
        log(f"  checks written in {row['t_checks']:.0f} s")
        per_node = [array("I") for _ in range(n_nodes)]
        for c in range(n_checks):
            for b in place_bytes[c * width:c * width + width]:
                if b != 255:
                    per_node[b].append(c)
        real_set = set(per_node[0])
        log(f"[{n_nodes} nodes, {n_checks} checks] writing first statuses ...")
        t0 = time.time()
        for i, n in enumerate(sims):
            if n is None:
                continue
            mine = per_node[i]
            memory_guard()
            n.placed_checks = mine
            n.write_base(paced)
        row["t_statuses"] = time.time() - t0
        log(f"  statuses written in {row['t_statuses']:.0f} s")
        del per_node

        # The zone the change -> served samples use.
        if real and real.alive():
            s = real.server

            def api_write(path, body):
                """The write, sent again while the node refuses it (StoreUnavailable: its
                follower is behind etcd), for 120 s at most."""
                deadline, refused = time.time() + 120, 0
                while True:
                    status, answer = s.call("POST", path, body, timeout=120)
                    if status != 503 or time.time() > deadline:
                        return status, answer, refused
                    refused += 1
            status, body, refused = api_write("/v1/zones", {"name": "sim.test"})
            assert status == 201, body
            if refused:
                row["notes"].append(f"creating the zone was refused {refused} time(s) (503) first")
            batch = {"changes": [
                {"action": "CREATE", "record_set": {"name": "www", "type": "A", "ttl": 60,
                                                    "values": ["192.0.2.100"]}},
                {"action": "CREATE", "record_set": {"name": "fo", "type": "A", "ttl": 60,
                                                    "set_id": "p", "failover": "primary",
                                                    "health_check": f"c{flip}",
                                                    "values": ["192.0.2.1"]}},
                {"action": "CREATE", "record_set": {"name": "fo", "type": "A", "ttl": 60,
                                                    "set_id": "s", "failover": "secondary",
                                                    "values": ["192.0.2.2"]}}]}
            status, body, refused = api_write("/v1/zones/sim.test/changes", batch)
            assert status == 200, body
            if refused:
                row["notes"].append(f"the zone's first records were refused {refused} time(s) (503) first")

        # Steady state: writers, watches, flapping.
        watchers = n_nodes if WATCHERS == "all" else int(WATCHERS)
        sim.start(watchers)
        sim.start_flapping()
        row["watchers"] = min(watchers, sum(1 for n in sims if n is not None))
        # Warm-up: the real node's own statuses established and its placement checked.
        if real and real.alive():
            def established():
                parts = etcd.range_values("/turnout/reports/real/")
                fold = {}
                for _, v in parts:
                    p = json.loads(v)
                    fold.update((c, True) for c in p.get("healthy", []))
                    fold.update((c, False) for c in p.get("unhealthy", []))
                    for c in p.get("gone", []):
                        fold.pop(c, None)
                return set(fold) == {f"c{c}" for c in real_set}, fold, parts
            # Until its report holds exactly the checks placed on it (before it sees every
            # node registered it probes more, and then reports those as gone).
            ok = wait_for(lambda: established()[0], INTERVAL_S * (FAILURE_THRESHOLD + 1) + 60, 2)
            _, fold, parts = established()
            got = {int(c[1:]) for c in fold}
            # The real node's stored report and a simulated one have the same shape.
            if parts:
                key, value = next((p for p in parts if '"healthy"' in p[1]), parts[0])
                theirs = json.loads(value)
                one = next(n for n in sims if n is not None)
                ours = json.loads(one.part_value([(1, True)], "base" in theirs, "end" in theirs))
                lease = json.loads(etcd.get("/turnout/nodes/real"))["lease"]
                same = (list(theirs) == list(ours) and theirs["run"] == lease
                        and re.fullmatch(r"/turnout/reports/real/[0-9a-f]{16}/[0-9a-f]{16}", key)
                        and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", theirs["at"]))
                row["notes"].append("report JSON shape = the real node's" if same else
                                    f"report JSON differs: real {key} {str(theirs)[:200]}, simulated {ours}")
            row["placement"] = ("match" if got == real_set else
                                f"{len(got - real_set)} extra, {len(real_set - got)} missing")
            if not ok:
                row["notes"].append("real node had not established all its statuses")
            # And `placed_on` from its API for a few checks.
            rng = random.Random(7)
            bad = 0
            for c in rng.sample(range(n_checks), min(20, n_checks)):
                status, body = real.server.call("GET", f"/v1/checks/c{c}/status", timeout=60)
                want = {names[b][0] for b in place_bytes[c * width:c * width + width] if b != 255}
                if status != 200 or set(body.get("placed_on", [])) != want:
                    bad += 1
            row["placement"] += f"; placed_on {20 - bad}/20"
        else:
            time.sleep(min(INTERVAL_S, 30))
        memory_guard()

        # Measure.
        m0, t0 = etcd.metrics(), time.time()
        r0 = etcd.revision()
        s0 = (stats.txns, stats.keys, stats.reports, stats.events)
        e_cpu0 = proc_cpu(etcd.proc.pid)
        real_cpu0 = proc_cpu(real.server.proc.pid) if real and real.alive() else None
        py0 = os.times()
        rss_peak_real = 0.0
        while time.time() - t0 < DURATION:
            time.sleep(max(0.0, min(2.0, DURATION - (time.time() - t0))))
            memory_guard()
            if real and real.alive():
                rss_peak_real = max(rss_peak_real, proc_rss_mib(real.server.proc.pid))
        m1, t1 = etcd.metrics(), time.time()
        r1 = etcd.revision()
        s1 = (stats.txns, stats.keys, stats.reports, stats.events)
        dt = t1 - t0
        py1 = os.times()

        def rate(name):
            return (m1.get(name, 0) - m0.get(name, 0)) / dt
        row.update(
            txn_s=rate("etcd_mvcc_txn_total"), put_s=rate("etcd_mvcc_put_total"),
            del_s=rate("etcd_mvcc_delete_total"), rev_s=(r1 - r0) / dt,
            events_s=rate("etcd_debugging_mvcc_events_total"),
            fsync_s=rate("etcd_disk_wal_fsync_duration_seconds_count"),
            sim_txn_s=(s1[0] - s0[0]) / dt, sim_keys_s=(s1[1] - s0[1]) / dt,
            sim_reports_s=(s1[2] - s0[2]) / dt, sim_events_s=(s1[3] - s0[3]) / dt,
            etcd_rss=proc_rss_mib(etcd.proc.pid), etcd_cpu=(proc_cpu(etcd.proc.pid) - e_cpu0) / dt,
            db=m1.get("etcd_mvcc_db_total_size_in_bytes", 0) / 2**20,
            db_use=m1.get("etcd_mvcc_db_total_size_in_use_in_bytes", 0) / 2**20,
            keys_total=m1.get("etcd_debugging_mvcc_keys_total", 0),
            slow_watchers=m1.get("etcd_debugging_mvcc_slow_watcher_total", 0),
            pending_proposals=m1.get("etcd_server_proposals_pending", 0),
            slow_applies=m1.get("etcd_server_slow_apply_total", 0) - m0.get("etcd_server_slow_apply_total", 0),
            leases_expired=m1.get("etcd_debugging_lease_revoked_total", 0) - m0.get("etcd_debugging_lease_revoked_total", 0),
            lease_losses=stats.lease_losses,
            registered=len(etcd.range_keys("/turnout/nodes/")),
            py_cpu=((py1.user - py0.user) + (py1.system - py0.system)) / dt,
            flaps_expected_s=n_checks * FLAP_PCT / 100 / 60)
        if real and real.alive():
            row["real_rss"] = max(rss_peak_real, proc_rss_mib(real.server.proc.pid))
            row["real_cpu"] = (proc_cpu(real.server.proc.pid) - real_cpu0) / dt
            row["real_lag"] = etcd.revision() - real.revision()
            measure_served(row, real, sim, flip, etcd)
            broken = real.sync_broken()
            if broken:
                row["notes"].append(f"real node's store sync failed: {broken}")
            lost = sum("registration not renewed" in line for line in real.server.log)
            if lost:
                row["notes"].append(f"real node lost its registration {lost} time(s) (isolated)")
        elif real:
            row["notes"].append(f"real node: {real.failed}")
        if stats.errors:
            row["notes"].append(f"{len(stats.errors)} simulated-node errors, first: {stats.errors[0][:200]}")
        watch_errors = [n.watch_error for n in sims if n is not None and n.watch_error]
        if watch_errors:
            row["notes"].append(f"{len(watch_errors)} simulated watches failed: {watch_errors[0][:200]}")
        sim.stop()
        sim = None
        if real and real.server:
            row["restart"] = restart(real)
        row["setup_s"] = time.time() - t_setup
    except Bent as e:
        row["bent"] = str(e)
        log(f"  stopped: {e}")
    finally:
        if sim:
            sim.stop()
        if real:
            real.stop()
        for p in (etcd.proc, targets):
            p.kill()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)
    return row


def measure_served(row, real, sim, flip, etcd):
    """change -> served on the real node: SAMPLES record changes through its API, and SAMPLES
    flips of the failover primary's check by its checkers' reports."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s = real.server
    limit = 30.0

    def served(name, want, t0):
        while tl_answer(sock, s.dns, name) != want:
            if time.perf_counter() - t0 > limit:
                return None
            time.sleep(0.002)
        return (time.perf_counter() - t0) * 1000

    record, flips = [], []
    for i in range(SAMPLES):
        value = f"192.0.2.{110 + i}"
        batch = {"changes": [{"action": "UPSERT", "record_set": {
            "name": "www", "type": "A", "ttl": 60, "values": [value]}}]}
        t0 = time.perf_counter()
        status, body = s.call("POST", "/v1/zones/sim.test/changes", batch, timeout=120)
        if status != 200:
            row["notes"].append(f"record change {i} refused after {time.perf_counter() - t0:.1f} s: "
                                f"{status} {body.get('error', {}).get('message', body)}")
            record.append(None)
            continue
        record.append(served("www.sim.test", {value}, t0))
    width = K * REGIONS
    checkers = [i for i in sim.place[flip * width:flip * width + width] if i != 255]
    # The primary is answered once the check's reports have reached the real node.
    if served("fo.sim.test", {"192.0.2.1"}, time.perf_counter()) is None:
        row["notes"].append("the failover primary was never answered")
    for i in range(SAMPLES * 2):
        healthy = i % 2 == 1
        t0 = time.perf_counter()
        for n in checkers:
            sim.nodes[n].enqueue(flip, healthy)
        flips.append(served("fo.sim.test", {"192.0.2.1" if healthy else "192.0.2.2"}, t0))
        if flips[-1] is None:
            break   # not served within the limit: the next ones would not be either
    row["record_ms"] = record
    row["flip_ms"] = flips


def tl_answer(sock, server, name):
    try:
        return tl.answer_a(sock, server, name, timeout=0.5)
    except (socket.timeout, OSError):
        return None


def restart(real):
    """Stops the real node and starts it again on the loaded store: does it load it?"""
    real.stop()
    t0 = time.time()
    try:
        real.start()
    except RuntimeError as e:
        m = re.search(r"store sync interrupted \(([^)]*)\)", str(e))
        return f"failed: {m.group(1)[:160] if m else str(e)[-160:]}"
    # Serving may be the local copy; the store must be read too.
    time.sleep(3)
    broken = real.sync_broken()
    if broken:
        return f"failed: {broken[:160]}"
    return f"ok {time.time() - t0:.1f} s"


# ---------------------------------------------------------------------------------------------


def fmt_ms(values):
    vals = [v for v in values or [] if v is not None]
    if not values:
        return "-"
    miss = len(values) - len(vals)
    if not vals:
        return f"none in {len(values)}"
    text = f"{tl.percentile(vals, 50):.0f}/{max(vals):.0f}"
    return text + (f" ({miss} never)" if miss else "")


def print_row(row, header=False):
    cols = [("nodes", 5), ("checks", 8), ("real chk", 8), ("txn/s", 7), ("keys/s", 7),
            ("rev/s", 7), ("events/s", 9), ("etcd RSS", 9), ("etcd CPU", 8), ("DB MiB", 8),
            ("real RSS", 9), ("real CPU", 8), ("rec ms", 13), ("flip ms", 13)]
    if header:
        print("  ".join(f"{n:>{w}}" for n, w in cols))
    g = row.get

    def num(v, f="{:.0f}"):
        return "-" if v is None else f.format(v)
    vals = [row["nodes"], row["checks"], num(g("real_checks")), num(g("txn_s")),
            num(None if g("put_s") is None else g("put_s") + g("del_s")), num(g("rev_s")),
            num(g("events_s")), num(g("etcd_rss"), "{:.0f}M"), num(g("etcd_cpu"), "{:.2f}"),
            num(g("db")), num(g("real_rss"), "{:.0f}M"), num(g("real_cpu"), "{:.2f}"),
            fmt_ms(g("record_ms")), fmt_ms(g("flip_ms"))]
    print("  ".join(f"{str(v):>{w}}" for v, (_, w) in zip(vals, cols)), flush=True)


def print_details(row):
    g = row.get
    if "bent" in row:
        print(f"    stopped: {row['bent']}")
    if g("txn_s") is not None:
        print(f"    etcd: puts {g('put_s'):.0f}/s, deletes {g('del_s'):.0f}/s, fsyncs {g('fsync_s'):.0f}/s, "
              f"keys {g('keys_total'):.0f}, DB in use {g('db_use'):.0f} MiB, slow watchers {g('slow_watchers'):.0f}, "
              f"proposals pending {g('pending_proposals'):.0f}, slow applies {g('slow_applies'):.0f}, "
              f"leases expired {g('leases_expired'):.0f}; nodes registered at the end {g('registered')}/{row['nodes']}, "
              f"simulated leases lost and re-registered {g('lease_losses')}; "
              f"simulated: {g('sim_reports_s'):.0f} reports/s in {g('sim_txn_s'):.0f} txns/s, "
              f"{g('sim_events_s'):.0f} events/s read by {g('watchers')} watchers; "
              f"flaps {g('flaps_expected_s'):.1f}/s; python CPU {g('py_cpu'):.2f}")
    print(f"    checks per node {g('per_node')}, real node's share {g('real_checks')}; "
          f"setup: checks {g('t_checks', 0):.0f} s, statuses {g('t_statuses', 0):.0f} s; "
          f"placement: {g('placement', '-')}; restart: {g('restart', '-')}; real lag {g('real_lag', '-')}")
    for note in row["notes"]:
        print(f"    note: {note}")
    sys.stdout.flush()


def main():
    atexit.register(cleanup)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    if REAL and not os.access(TURNOUT_BIN, os.X_OK):
        raise SystemExit(f"no turnout binary at {TURNOUT_BIN} (set TURNOUT_BIN)")
    print(f"simcluster: 1 etcd member, {REGIONS} regions, checkers_per_region {K}, tcp checks every "
          f"{INTERVAL}, flapping {FLAP_PCT:g} %/min (down {FLAP_DOWN:g} s), DURATION {DURATION:g} s, "
          f"real node {'on' if REAL else 'off'}")
    first = True
    for c in CHECKS:
        for n in NODES:
            log(f"configuration: {n} nodes, {c} checks (available memory {mem_available_gb():.1f} GiB)")
            row = run_config(n, c)
            print_row(row, header=first)
            print_details(row)
            first = False


if __name__ == "__main__":
    main()
