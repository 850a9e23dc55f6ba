#!/usr/bin/env python3
"""API commit -> DNS answer latency: sends N single-record UPSERTs through the HTTP API, one at a
time, and after each polls the DNS server over UDP until it answers with the new address. Prints
the percentiles of (a) the API round trip (the batch is durable when it returns) and (b) the time
from sending the request to the first DNS answer carrying the change.

    bench/change-latency.py                  # 1,000 changes, zone of ~10 records
    ZONE_RECORDS=100000 bench/change-latency.py   # the same against a 100,000-record zone
    OTHER_ZONES=1000 OTHER_RECORDS=1000 bench/change-latency.py
                                             # a small zone while 1,000 other zones of
                                             # 1,000 records each are served
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
OTHER_ZONES = int(os.environ.get("OTHER_ZONES", "0"))
OTHER_RECORDS = int(os.environ.get("OTHER_RECORDS", "1000"))


def fill(server, zone, count):
    """Adds `count` A records h0..h<count-1> to `zone`, 1,000 per batch, each batch served."""
    for start in range(0, count, 1000):
        changes = [{"action": "CREATE", "record_set": {
            "name": f"h{i}", "type": "A", "ttl": 60,
            "values": [f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"]}}
            for i in range(start, min(start + 1000, count))]
        status, body = server.call("POST", f"/v1/zones/{zone}/changes?wait=true", {"changes": changes})
        assert status == 200, body


def main():
    binary = tl.build()
    work = tempfile.mkdtemp(prefix="turnout-latency.")
    server = tl.Server(binary, os.path.join(work, "data"))
    loaded = time.perf_counter()
    for z in range(OTHER_ZONES):
        status, body = server.call("POST", "/v1/zones", {"name": f"other{z}.test"})
        assert status == 201, body
        fill(server, f"other{z}.test", OTHER_RECORDS)
    if OTHER_ZONES:
        print(f"{OTHER_ZONES} other zones of {OTHER_RECORDS} records loaded in "
              f"{time.perf_counter() - loaded:.1f} s")
    status, _ = server.call("POST", "/v1/zones", {"name": "lat.test"})
    assert status == 201
    fill(server, "lat.test", ZONE_RECORDS)
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
    if os.environ.get("BENCH_LOG"):
        sys.stderr.write("".join(server.log[-10:]))
    server.stop()
    shutil.rmtree(work, ignore_errors=True)
    print(f"changes: {N}; zone records besides SOA/NS/www: {ZONE_RECORDS}; "
          f"other zones: {OTHER_ZONES} of {OTHER_RECORDS} records; "
          f"server RSS {rss['VmRSS'] / 1024:.1f} MiB")
    tl.print_percentiles((("API commit (durable)", api), ("commit -> answer served", served)), 28)


if __name__ == "__main__":
    main()
