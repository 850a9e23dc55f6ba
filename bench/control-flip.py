#!/usr/bin/env python3
"""Routing-control flip -> DNS answer latency: a failover pair whose primary follows a routing
control (a `control` health check); flips the control N times through the routing-control
API, alternating Off and On, and after each polls the DNS server over UDP until the answer
changes. Prints the percentiles of (a) the routing-control API round trip (the update is
checked against the safety rules and durable when it returns) and (b) the time from sending
the request to the first DNS answer that follows it.

    bench/control-flip.py            # 200 flips
    N=1000 bench/control-flip.py
"""

import os
import shutil
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import turnoutlib as tl  # noqa: E402

N = int(os.environ.get("N", "200"))


def main():
    binary = tl.build()
    work = tempfile.mkdtemp(prefix="turnout-flip.")
    server = tl.Server(binary, os.path.join(work, "data"))
    panel = {"controls": ["east", "west"], "rules": [
        {"name": "keep-one", "type": "assertion", "controls": ["east", "west"],
         "rule": {"kind": "atleast", "threshold": 1}, "wait_period": "0s"}]}
    status, body = server.call("PUT", "/v1/panels/main", panel)
    assert status == 201, body
    status, body = server.call("PUT", "/v1/checks/east", {"type": "control", "control": "main/east"})
    assert status == 201, body
    status, _ = server.call("POST", "/v1/zones", {"name": "flip.test"})
    assert status == 201
    batch = {"changes": [
        {"action": "CREATE", "record_set": {"name": "www", "type": "A", "ttl": 60, "set_id": "east",
                                            "failover": "primary", "health_check": "east",
                                            "values": ["192.0.2.1"]}},
        {"action": "CREATE", "record_set": {"name": "www", "type": "A", "ttl": 60, "set_id": "west",
                                            "failover": "secondary", "values": ["192.0.2.2"]}}]}
    status, body = server.call("POST", "/v1/zones/flip.test/changes?wait=true", batch)
    assert status == 200, body
    status, body = server.call("POST", "/v1/controls/main", {
        "states": {"west": "On"}, "reason": "bench"}, base=server.controls)
    assert status == 200, body
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    api, served = [], []
    for i in range(N + 10):
        on = i % 2 == 0
        want = {"192.0.2.1"} if on else {"192.0.2.2"}
        t0 = time.perf_counter()
        status, body = server.call("PUT", "/v1/controls/main/east",
                                   {"state": "On" if on else "Off", "reason": f"flip {i}"},
                                   base=server.controls)
        t1 = time.perf_counter()
        assert status == 200, body
        deadline = t0 + 10
        while tl.answer_a(sock, server.dns, "www.flip.test") != want:
            if time.perf_counter() > deadline:
                raise SystemExit(f"flip {i} not served within 10 s")
        t2 = time.perf_counter()
        if i >= 10:  # warm-up
            api.append((t1 - t0) * 1000)
            served.append((t2 - t0) * 1000)
    server.stop()
    shutil.rmtree(work, ignore_errors=True)
    print(f"flips: {N}")
    tl.print_percentiles((("control API round trip (durable)", api),
                          ("request -> answer follows", served)))


if __name__ == "__main__":
    main()
