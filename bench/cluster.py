#!/usr/bin/env python3
"""Cluster mode against one node: a real three-member etcd (Debian's etcd-server) on loopback
and three `turnout serve --store etcd://...` nodes (release build), next to one node on the
embedded store.

Prints (a) the percentiles of the time from sending a one-record UPSERT to node 1's API until
*every* node answers the new address over UDP (and until node 1 does, on the embedded store),
N changes one at a time; (b) DNS answers per CPU-second of the serving process, dnsperf over
loopback for DURATION seconds against a cluster node and against the single node (the CPU
counts the whole turnout process: answers, lease renewals, watch, health).

    bench/cluster.py                      # N=300 changes, DURATION=10
    N=100 DURATION=5 bench/cluster.py
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import turnoutlib as tl  # noqa: E402

N = int(os.environ.get("N", "300"))
DURATION = int(os.environ.get("DURATION", "10"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_etcd(work):
    members = [(f"m{i}", free_port(), free_port()) for i in range(3)]
    cluster = ",".join(f"{n}=http://127.0.0.1:{peer}" for n, _, peer in members)
    procs = []
    for name, client, peer in members:
        log = open(os.path.join(work, f"{name}.log"), "w")
        procs.append(subprocess.Popen(
            ["etcd", "--name", name, "--data-dir", os.path.join(work, name),
             "--listen-client-urls", f"http://127.0.0.1:{client}",
             "--advertise-client-urls", f"http://127.0.0.1:{client}",
             "--listen-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-cluster", cluster, "--initial-cluster-state", "new",
             "--max-txn-ops", "10000", "--max-request-bytes", "8388608",
             "--auto-compaction-mode", "periodic", "--auto-compaction-retention", "1h"],
            stdout=log, stderr=subprocess.STDOUT))
    url = "etcd://" + ",".join(f"127.0.0.1:{c}" for _, c, _ in members)
    deadline = time.time() + 30
    for name, _, _ in members:
        while "ready to serve client requests" not in open(os.path.join(work, f"{name}.log")).read():
            if time.time() > deadline:
                raise SystemExit(f"etcd member {name} did not start")
            time.sleep(0.1)
    return procs, url


def start_node(binary, work, url, nodes):
    """Starts node n<len(nodes)> on the etcd cluster at `url` and appends it to `nodes`. The
    first node makes the admin token; the others get a copy, as an operator does."""
    i = len(nodes)
    data = os.path.join(work, f"node{i}")
    if nodes:
        os.makedirs(data, mode=0o700, exist_ok=True)
        shutil.copy(os.path.join(nodes[0].data_dir, "admin.token"), data)
    nodes.append(tl.Server(binary, data, ("--store", url, "--node-name", f"n{i}")))


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def answers_per_cpu_second(server, work, label):
    qfile = os.path.join(work, "queries.txt")
    with open(qfile, "w") as f:
        f.write("www.cl.test A\nstatic.cl.test A\n")
    c0 = cpu_seconds(server.proc.pid)
    out = subprocess.run(
        ["dnsperf", "-s", server.dns[0], "-p", str(server.dns[1]), "-d", qfile, "-c", "8",
         "-T", "2", "-l", str(DURATION), "-q", "200"],
        capture_output=True, text=True, check=True).stdout
    c1 = cpu_seconds(server.proc.pid)
    qps = float(next(l.split()[3] for l in out.splitlines() if "Queries per second" in l))
    lost = next(l.split()[2] for l in out.splitlines() if "Queries lost" in l)
    return label, qps, (qps * DURATION) / max(c1 - c0, 1e-9), c1 - c0, lost


def changes(entry, nodes, zone):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    api, first, all_served = [], [], []
    for i in range(N + 20):
        value = f"192.0.{(i >> 8) & 255}.{i & 255}"
        batch = {"changes": [{"action": "UPSERT", "record_set": {
            "name": "www", "type": "A", "ttl": 60, "values": [value]}}]}
        t0 = time.perf_counter()
        status, body = entry.call("POST", f"/v1/zones/{zone}/changes", batch)
        t1 = time.perf_counter()
        assert status == 200, body
        pending, t_first = list(nodes), None
        deadline = t0 + 10
        while pending:
            pending = [n for n in pending if tl.answer_a(sock, n.dns, f"www.{zone}") != {value}]
            if t_first is None and len(pending) < len(nodes):
                t_first = time.perf_counter()
            if time.perf_counter() > deadline:
                raise SystemExit(f"change {i} not served everywhere within 10 s")
        t2 = time.perf_counter()
        if i >= 20:  # warm-up
            api.append((t1 - t0) * 1000)
            first.append((t_first - t0) * 1000)
            all_served.append((t2 - t0) * 1000)
    return api, first, all_served


def setup(server, zone):
    status, body = server.call("POST", "/v1/zones", {"name": zone})
    assert status == 201, body
    batch = {"changes": [{"action": "CREATE", "record_set": {
        "name": "static", "type": "A", "ttl": 300, "values": ["192.0.2.1"]}}]}
    status, body = server.call("POST", f"/v1/zones/{zone}/changes?wait=true", batch)
    assert status == 200, body


def main():
    binary = tl.build()
    work = tempfile.mkdtemp(prefix="turnout-cluster.")
    etcd, url = start_etcd(work)
    nodes = []
    single = None
    try:
        for _ in range(3):
            start_node(binary, work, url, nodes)
        setup(nodes[0], "cl.test")
        api, first, everywhere = changes(nodes[0], nodes, "cl.test")
        single = tl.Server(binary, os.path.join(work, "single"))
        setup(single, "cl.test")
        s_api, s_first, _ = changes(single, [single], "cl.test")
        rows = [answers_per_cpu_second(nodes[1], work, "cluster node (etcd, 3 nodes)"),
                answers_per_cpu_second(single, work, "single node (embedded store)")]
    finally:
        for s in nodes + ([single] if single else []):
            s.kill()
        for p in etcd:
            p.kill()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)
    print(f"changes: {N}, one at a time; 3 etcd members and 3 nodes on loopback")
    tl.print_percentiles((
        ("cluster: API commit (durable)", api),
        ("cluster: commit -> first node", first),
        ("cluster: commit -> all 3 nodes", everywhere),
        ("single: API commit (durable)", s_api),
        ("single: commit -> served", s_first),
    ), 34)
    print()
    print(f"{'dnsperf ' + str(DURATION) + ' s, 8 clients':<34}{'answers/s':>11}{'CPU s':>8}{'answers/CPU-s':>15}{'lost':>6}")
    for label, qps, per_cpu, cpu, lost in rows:
        print(f"{label:<34}{qps:>11.0f}{cpu:>8.2f}{per_cpu:>15.0f}{lost:>6}")


if __name__ == "__main__":
    main()
