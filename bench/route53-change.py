#!/usr/bin/env python3
"""ChangeResourceRecordSets -> INSYNC through the Route 53 API (docs/route53-api.md), next to the
same change through Turnout's JSON API in the same run: N single-record UPSERTs, one at a time,
signed by boto3 (SigV4) as any Route 53 client signs them. For each: the ChangeResourceRecordSets
round trip, the time from sending it until GetChange (polled back to back) says INSYNC, and
until the DNS server answers with the new address. The JSON API's figure is
`POST /v1/zones/{zone}/changes?wait=true`, which returns once the change is INSYNC. 20 warm-up
changes of each kind are not counted.

    bench/route53-change.py            # 1,000 changes each way
    N=300 bench/route53-change.py

Runs under target/aws-venv (boto3 from PyPI), which it makes if it is missing.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, "target", "aws-venv")
BOTO3 = "1.44.8"

try:
    import boto3
    import botocore.config
except ImportError:
    python = os.path.join(VENV, "bin", "python")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", f"boto3=={BOTO3}"],
                   check=True, timeout=600)
    os.execv(python, [python, *sys.argv])

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import turnoutlib as tl  # noqa: E402

N = int(os.environ.get("N", "1000"))
WARM = 20


def main():
    binary = tl.build()
    work = tempfile.mkdtemp(prefix="turnout-r53bench.")
    server = tl.Server(binary, os.path.join(work, "data"), extra=("--route53", "127.0.0.1:0"))
    deadline = time.time() + 10
    r53 = None
    while r53 is None and time.time() < deadline:
        for line in server.log:
            if "listening for the Route 53 API on http://" in line:
                r53 = line.split("http://", 1)[1].split()[0]
        time.sleep(0.05)
    assert r53, "no Route 53 listener in the log"
    status, key = server.call("POST", "/v1/tokens", {"name": "bench", "scopes": ["config"], "route53": True})
    assert status == 201, key
    client = boto3.client(
        "route53", endpoint_url=f"http://{r53}", region_name="us-east-1",
        aws_access_key_id=key["access_key_id"], aws_secret_access_key=key["secret_access_key"],
        config=botocore.config.Config(retries={"max_attempts": 1}))
    zone = client.create_hosted_zone(Name="r53.bench", CallerReference="bench")["HostedZone"]["Id"]
    status, body = server.call("POST", "/v1/zones", {"name": "json.bench"})
    assert status == 201, body
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def served(name, value, t0):
        while tl.answer_a(sock, server.dns, name) != {value}:
            if time.perf_counter() > t0 + 10:
                raise SystemExit(f"{name} {value} not served within 10 s")
        return time.perf_counter()

    call_ms, insync_ms, r53_answer_ms = [], [], []
    for i in range(N + WARM):
        value = f"192.0.{(i >> 8) & 255}.{i & 255}"
        t0 = time.perf_counter()
        change = client.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{
            "Action": "UPSERT", "ResourceRecordSet": {
                "Name": "www.r53.bench", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": value}]}}]})
        t1 = time.perf_counter()
        status = change["ChangeInfo"]["Status"]
        while status != "INSYNC":
            if time.perf_counter() > t0 + 10:
                raise SystemExit(f"change {i} not INSYNC within 10 s")
            status = client.get_change(Id=change["ChangeInfo"]["Id"])["ChangeInfo"]["Status"]
        t2 = time.perf_counter()
        t3 = served("www.r53.bench", value, t0)
        if i >= WARM:
            call_ms.append((t1 - t0) * 1000)
            insync_ms.append((t2 - t0) * 1000)
            r53_answer_ms.append((t3 - t0) * 1000)

    json_ms, json_answer_ms = [], []
    for i in range(N + WARM):
        value = f"192.0.{(i >> 8) & 255}.{i & 255}"
        batch = {"changes": [{"action": "UPSERT", "record_set": {
            "name": "www", "type": "A", "ttl": 60, "values": [value]}}]}
        t0 = time.perf_counter()
        status, body = server.call("POST", "/v1/zones/json.bench/changes?wait=true", batch)
        t1 = time.perf_counter()
        assert status == 200 and body["status"] == "INSYNC", body
        t2 = served("www.json.bench", value, t0)
        if i >= WARM:
            json_ms.append((t1 - t0) * 1000)
            json_answer_ms.append((t2 - t0) * 1000)
    rss = server.rss_kib()
    server.stop()
    shutil.rmtree(work, ignore_errors=True)
    print(f"changes: {N} each way, one at a time; server RSS {rss['VmRSS'] / 1024:.1f} MiB")
    tl.print_percentiles((
        ("Route 53: ChangeRRSets call", call_ms),
        ("Route 53: call -> INSYNC", insync_ms),
        ("Route 53: call -> answer", r53_answer_ms),
        ("JSON API: change, wait=true", json_ms),
        ("JSON API: call -> answer", json_answer_ms),
    ), 30)


if __name__ == "__main__":
    main()
