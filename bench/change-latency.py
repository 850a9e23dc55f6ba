#!/usr/bin/env python3
"""API commit -> DNS answer latency: sends N single-record UPSERTs through the HTTP API, one at a
time, and after each polls the DNS server over UDP until it answers with the new address. Prints
the percentiles of (a) the API round trip (the batch is durable when it returns) and (b) the time
from sending the request to the first DNS answer carrying the change.

    bench/change-latency.py                  # 1,000 changes, zone of ~10 records
    ZONE_RECORDS=100000 bench/change-latency.py   # the same against a 100,000-record zone
"""

import os
import shutil
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import turnoutlib as tl  # noqa: E402

N = int(os.environ.get("N", "1000"))
ZONE_RECORDS = int(os.environ.get("ZONE_RECORDS", "0"))


def main():
    binary = tl.build()
    work = tempfile.mkdtemp(prefix="turnout-latency.")
    server = tl.Server(binary, os.path.join(work, "data"))
    status, _ = server.call("POST", "/v1/zones", {"name": "lat.test"})
    assert status == 201
    for start in range(0, ZONE_RECORDS, 1000):
        changes = [{"action": "CREATE", "record_set": {
            "name": f"h{i}", "type": "A", "ttl": 60,
            "values": [f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"]}}
            for i in range(start, min(start + 1000, ZONE_RECORDS))]
        status, body = server.call("POST", "/v1/zones/lat.test/changes?wait=true", {"changes": changes})
        assert status == 200, body
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    api, served = [], []
    for i in range(N + 20):
        value = f"192.0.{(i >> 8) & 255}.{i & 255}"
        batch = {"changes": [{"action": "UPSERT", "record_set": {
            "name": "www", "type": "A", "ttl": 60, "values": [value]}}]}
        t0 = time.perf_counter()
        status, body = server.call("POST", "/v1/zones/lat.test/changes", batch)
        t1 = time.perf_counter()
        assert status == 200, body
        deadline = t0 + 10
        while tl.answer_a(sock, server.dns, "www.lat.test") != {value}:
            if time.perf_counter() > deadline:
                raise SystemExit(f"change {i} not served within 10 s")
        t2 = time.perf_counter()
        if i >= 20:  # warm-up
            api.append((t1 - t0) * 1000)
            served.append((t2 - t0) * 1000)
    rss = server.rss_kib()
    server.stop()
    shutil.rmtree(work, ignore_errors=True)
    print(f"changes: {N}; zone records besides SOA/NS/www: {ZONE_RECORDS}; server RSS {rss['VmRSS'] / 1024:.1f} MiB")
    tl.print_percentiles((("API commit (durable)", api), ("commit -> answer served", served)), 28)


if __name__ == "__main__":
    main()
