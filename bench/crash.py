#!/usr/bin/env python3
"""Crash test of the embedded store: sends change batches while `turnout serve` is killed with
SIGKILL at random moments and restarted, then checks that every acknowledged batch is present and
that no batch is half-applied. Prints one table; exits 1 on any violation.

Each batch i is one UPSERT of two record sets, b<i> and c<i> (TXT "batch <i>"), so a batch that
was cut in half would leave one without the other. A batch is acknowledged when the API answered
200 with a change id; a batch in flight when the server died is retried after the restart (an
UPSERT is idempotent). At the end the zone must hold, for every batch, both or neither record,
every acknowledged batch, and an SOA serial of at least 1 + the number of batches (each commit
bumps it once; a batch that committed just before a kill commits again when it is retried).

    bench/crash.py                 # 1,000 batches, a kill every 0.02-0.2 s
    BATCHES=200 bench/crash.py
"""

import os
import random
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import turnoutlib as tl  # noqa: E402

BATCHES = int(os.environ.get("BATCHES", "1000"))
KILL_MIN, KILL_MAX = float(os.environ.get("KILL_MIN", "0.02")), float(os.environ.get("KILL_MAX", "0.2"))
SEED = int(os.environ.get("SEED", str(int(time.time()))))


def main():
    random.seed(SEED)
    binary = tl.build()
    work = tempfile.mkdtemp(prefix="turnout-crash.")
    data = os.path.join(work, "data")
    server = tl.Server(binary, data)
    status, _ = server.call("POST", "/v1/zones", {"name": "crash.test"})
    assert status == 201, status
    lock = threading.Lock()
    state = {"server": server, "kills": 0, "done": False}

    def killer():
        while not state["done"]:
            time.sleep(random.uniform(KILL_MIN, KILL_MAX))
            with lock:
                if state["done"]:
                    return
                state["server"].kill()
                state["kills"] += 1
                state["server"] = tl.Server(binary, data)

    threading.Thread(target=killer, daemon=True).start()
    acked, retries, started = set(), 0, time.time()
    for i in range(BATCHES):
        batch = {"comment": f"crash batch {i}", "changes": [
            {"action": "UPSERT", "record_set": {"name": f"{p}{i}", "type": "TXT", "ttl": 60,
                                                "values": [f'"batch {i}"']}}
            for p in ("b", "c")]}
        while True:
            with lock:
                current = state["server"]
            try:
                status, body = current.call("POST", "/v1/zones/crash.test/changes", batch, timeout=10)
            except OSError:
                retries += 1
                time.sleep(0.01)
                continue
            if status == 200 and body.get("id", "").startswith("C"):
                acked.add(i)
                break
            raise SystemExit(f"batch {i}: unexpected answer {status} {body}")
    with lock:
        state["done"] = True
        final = state["server"]
    elapsed = time.time() - started
    # One clean restart more, then read everything back.
    final.kill()
    final = tl.Server(binary, data)
    records = {}
    marker = ""
    while True:
        status, page = final.call("GET", f"/v1/zones/crash.test/rrsets?max_items=300{marker}")
        assert status == 200, (status, page)
        for rs in page["record_sets"]:
            records[rs["name"]] = rs
        if not page["is_truncated"]:
            break
        marker = f"&name={page['next_name']}&type={page['next_type']}"
    numbered = {n: int(m.group(2)) for n in records
                if (m := re.match(r"^([bc])(\d+)\.crash\.test\.$", n))}
    present_b = {i for n, i in numbered.items() if n.startswith("b")}
    present_c = {i for n, i in numbered.items() if n.startswith("c")}
    half = present_b ^ present_c
    lost = acked - present_b
    wrong = [n for n, i in numbered.items() if records[n]["values"] != [f'"batch {i}"']]
    soa = next(rs for rs in records.values() if rs["type"] == "SOA")
    serial = int(soa["values"][0].split()[2])
    committed = len(present_b)
    # A retried batch that had committed before the kill commits again: one more serial bump.
    serial_ok = serial >= 1 + committed
    # The DNS data plane serves the last batch after the restart.
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    last = max(acked) if acked else None
    dns_ok = last is None or len(tl.answers(sock, final.dns, f"b{last}.crash.test", 16)) == 1
    final.stop()
    rows = [
        ("batches sent", BATCHES), ("acknowledged", len(acked)), ("SIGKILLs", state["kills"]),
        ("requests retried after a kill", retries), ("batches present", committed),
        ("acknowledged but missing", len(lost)), ("half-applied", len(half)),
        ("wrong values", len(wrong)), ("SOA serial", serial),
        ("last batch answered over DNS", dns_ok), ("seconds", round(elapsed, 1)),
        ("seed", SEED),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    shutil.rmtree(work, ignore_errors=True)
    ok = not lost and not half and not wrong and serial_ok and len(acked) == BATCHES and dns_ok
    print("result: " + ("PASS" if ok else "FAIL"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    main()
