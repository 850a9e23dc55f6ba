"""octoDNS (octodns + octodns-route53 from PyPI) syncing a zone to a running Turnout node
through its Route 53 API: run by scripts/test-route53, with the environment clients.py gets
(TURNOUT_ROUTE53, TURNOUT_DNS, TURNOUT_WRITER) and OCTODNS_SYNC, the octodns-sync command
(checked.py octodns-sync: every response checked against botocore's model).

The config holds plain records (A, MX, TXT, CNAME) and two dynamic records: one with
failover, weighted and geo rules and health checks, one with subnet rules (a CIDR
collection). The first sync creates them; a second plans no changes (octoDNS recognises its
health checks by CallerReference and equal settings, and its CIDR locations by their blocks).
"""

import json
import os
import subprocess
import tempfile

import boto3
import botocore.config

import model_check

model_check.install()

ENDPOINT = os.environ["TURNOUT_ROUTE53"]
DNS_HOST, DNS_PORT = os.environ["TURNOUT_DNS"].rsplit(":", 1)
with open(os.environ["TURNOUT_WRITER"]) as f:
    key = json.load(f)

CONFIG = """\
providers:
  config:
    class: octodns.provider.yaml.YamlProvider
    directory: {directory}
  turnout:
    class: octodns_route53.Route53Provider
    access_key_id: env/AWS_ACCESS_KEY_ID
    secret_access_key: env/AWS_SECRET_ACCESS_KEY
zones:
  octo.test.:
    sources: [config]
    targets: [turnout]
"""

# octoDNS wants every mapping's keys in order.
ZONE = """\
---
'':
  - type: A
    values: [192.0.2.1, 192.0.2.2]
  - type: MX
    values:
      - exchange: mx1.octo.test.
        preference: 10
  - type: TXT
    value: v=spf1 -all
app:
  dynamic:
    pools:
      europe:
        fallback: primary
        values:
          - value: 127.0.0.31
      primary:
        fallback: secondary
        values:
          - value: 127.0.0.11
            weight: 2
          - value: 127.0.0.12
            weight: 1
      secondary:
        values:
          - value: 127.0.0.21
    rules:
      - geos: [EU]
        pool: europe
      - pool: primary
  octodns:
    healthcheck:
      host: app.octo.test
      path: /health
      port: 9
      protocol: HTTP
  type: A
  value: 127.0.0.9
office:
  dynamic:
    pools:
      lan:
        values:
          - status: up
            value: 127.0.0.41
      wan:
        values:
          - status: up
            value: 127.0.0.42
    rules:
      - pool: lan
        subnets: [10.1.0.0/16, 10.2.0.0/16]
      - pool: wan
  type: A
  value: 127.0.0.40
www:
  type: CNAME
  value: web.octo.test.
"""


def passed(what):
    print(f"PASS: {what}", flush=True)


def dig(name, rtype="A", *extra):
    out = subprocess.run(
        ["dig", "+short", "+tries=1", "+time=2", *extra, "@" + DNS_HOST, "-p", DNS_PORT, name, rtype],
        capture_output=True, text=True, timeout=10, check=True,
    ).stdout
    return sorted(out.split())


work = tempfile.mkdtemp(prefix="turnout-octodns.")
os.mkdir(os.path.join(work, "config"))
with open(os.path.join(work, "config", "octo.test.yaml"), "w") as f:
    f.write(ZONE)
with open(os.path.join(work, "octodns.yaml"), "w") as f:
    f.write(CONFIG.format(directory=os.path.join(work, "config")))
env = dict(os.environ, AWS_ACCESS_KEY_ID=key["access_key_id"], AWS_SECRET_ACCESS_KEY=key["secret_access_key"],
           AWS_ENDPOINT_URL_ROUTE_53=ENDPOINT, AWS_DEFAULT_REGION="us-east-1",
           AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")


def sync(*args):
    out = subprocess.run([*os.environ["OCTODNS_SYNC"].split(), "--config-file", os.path.join(work, "octodns.yaml"), *args],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    return out.stdout + out.stderr


first = sync("--doit")
assert "Creates=6" in first, first[-3000:]
passed("octodns-sync --doit creates the zone, 4 plain and 2 dynamic records (failover + weighted + geo with health checks; subnets)")

assert dig("octo.test", "MX") == ["10", "mx1.octo.test."]
assert dig("www.octo.test", "CNAME") == ["web.octo.test."]
assert dig("octo.test") == ["192.0.2.1", "192.0.2.2"]
assert dig("app.octo.test")[0] in {"127.0.0.11", "127.0.0.12", "127.0.0.21", "127.0.0.31"}
assert dig("office.octo.test", "A", "+subnet=10.2.3.0/24") == ["127.0.0.41"]
assert dig("office.octo.test", "A", "+subnet=192.0.2.0/24") == ["127.0.0.42"]
passed("dig answers what octoDNS wrote: MX, CNAME, A; the dynamic record from its pools; the subnet rule by client subnet")

r53 = boto3.client("route53", endpoint_url=ENDPOINT, region_name="us-east-1",
                   aws_access_key_id=key["access_key_id"], aws_secret_access_key=key["secret_access_key"],
                   config=botocore.config.Config(retries={"max_attempts": 1}))
checks = [c for c in r53.list_health_checks()["HealthChecks"] if c["CallerReference"].startswith("0001:A:app.octo.test.")]
assert len(checks) == 4, [c["CallerReference"] for c in checks]
tags = r53.list_tags_for_resource(ResourceType="healthcheck", ResourceId=checks[0]["Id"])["ResourceTagSet"]["Tags"]
assert tags and tags[0]["Key"] == "Name" and tags[0]["Value"].startswith("app.octo.test.:A"), tags
collections = {c["Name"]: c["Id"] for c in r53.list_cidr_collections()["CidrCollections"]}
blocks = r53.list_cidr_blocks(CollectionId=collections["octodns"])["CidrBlocks"]
assert sorted(b["CidrBlock"] for b in blocks) == ["10.1.0.0/16", "10.2.0.0/16"], blocks
passed("octoDNS made one health check per value (CallerReference 0001:A:app.octo.test.:..., a Name tag) and its 'octodns' CIDR collection")

second = sync()
assert "No changes were planned" in second, second[-3000:]
passed("a second octodns-sync plans no changes")

with open(os.path.join(work, "config", "octo.test.yaml"), "w") as f:
    f.write(ZONE.replace("127.0.0.42", "127.0.0.43"))
third = sync("--doit")
assert "Updates=1" in third, third[-3000:]
assert dig("office.octo.test", "A", "+subnet=192.0.2.0/24") == ["127.0.0.43"]
assert "No changes were planned" in sync()
passed("an edited value syncs as one update and dig answers it; the next sync plans no changes")

if os.environ.get("TURNOUT_MODEL_SEEN"):
    with open(os.environ["TURNOUT_MODEL_SEEN"], "a") as f:
        f.writelines(f"{line}\n" for line in sorted(model_check.seen))
