#!/usr/bin/env python3
"""Probe load of a cluster with and without placement: a real three-member etcd (Debian's
etcd-server) on loopback, three release `turnout serve --store etcd://...` nodes in one region,
and CHECKS tcp checks (1 s interval) of a local listener that accepts and closes.

Prints, for each node, the probes per second it sends and the CPU it uses over DURATION
seconds: first with every node probing every check (the default), then with the same checks
given `checkers_per_region: 1`, so that each check is probed by one node of the region.

    bench/placement.py                    # CHECKS=2000, DURATION=10
    CHECKS=1000 DURATION=5 bench/placement.py
"""

import concurrent.futures
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import turnoutlib as tl  # noqa: E402
from cluster import cpu_seconds, start_etcd, start_node  # noqa: E402

CHECKS = int(os.environ.get("CHECKS", "2000"))
DURATION = int(os.environ.get("DURATION", "10"))


def listener():
    """A TCP listener that accepts and closes as fast as it can; returns its port."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(4096)

    def serve():
        while True:
            c, _ = s.accept()
            c.close()
    threading.Thread(target=serve, daemon=True).start()
    return s.getsockname()[1]


def probes_total(node):
    """The node's probes so far, summed over its checks and results."""
    with urllib.request.urlopen(f"http://{node.api}/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
               if l.startswith("turnout_health_check_probes_total{"))


def put_checks(node, port, extra):
    def put(i):
        spec = {"type": "tcp", "ip": "127.0.0.1", "port": port, "interval": "1s",
                "failure_threshold": 1, **extra}
        status, body = node.call("PUT", f"/v1/checks/c{i}", spec)
        assert status in (200, 201), body
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(CHECKS)))


def measure(nodes):
    before = [(probes_total(n), cpu_seconds(n.proc.pid)) for n in nodes]
    t0 = time.time()
    time.sleep(DURATION)
    after = [(probes_total(n), cpu_seconds(n.proc.pid)) for n in nodes]
    elapsed = time.time() - t0
    return [((a[0] - b[0]) / elapsed, (a[1] - b[1]) / elapsed) for b, a in zip(before, after)]


def main():
    binary = tl.build()
    work = tempfile.mkdtemp(prefix="turnout-placement.")
    etcd, url = start_etcd(work)
    port = listener()
    nodes = []
    try:
        for _ in range(3):
            start_node(binary, work, url, nodes)
        rows = []
        for label, extra in [("every node probes every check", {}),
                             ("checkers_per_region: 1", {"checkers_per_region": 1})]:
            put_checks(nodes[0], port, extra)
            time.sleep(3)  # every task restarted and past its first interval
            rows.append((label, measure(nodes)))
    finally:
        for n in nodes:
            n.kill()
        for p in etcd:
            p.kill()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{CHECKS} tcp checks at 1 s; 3 nodes in one region on a 3-member etcd; {DURATION} s")
    print(f"{'':<32}{'node':>6}{'probes/s':>11}{'CPU (cores)':>13}")
    for label, per_node in rows:
        for i, (probes, cpu) in enumerate(per_node):
            print(f"{label if i == 0 else '':<32}{'n' + str(i):>6}{probes:>11.0f}{cpu:>13.2f}")
        total = sum(p for p, _ in per_node)
        print(f"{'':<32}{'all':>6}{total:>11.0f}{sum(c for _, c in per_node):>13.2f}")


if __name__ == "__main__":
    main()
