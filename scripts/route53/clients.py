"""The Route 53 API of a running Turnout node, driven by the real AWS clients (boto3 and
aws-cli from PyPI): run by scripts/test-route53, which starts the node and passes

  TURNOUT_ROUTE53  the API's URL            TURNOUT_DNS     the node's DNS address:port
  TURNOUT_WRITER   a token with `config`    TURNOUT_READER  a token with `read` only
  AWS_CLI          the aws command (checked.py aws: responses checked against botocore's model)
  TURNOUT_MODEL_SEEN  the file each checked operation is appended to

Every response, boto3's and aws-cli's, is checked against botocore's service model
(model_check.py) before it is parsed.

Each step prints PASS or raises; the first failure ends the run with its traceback.
"""

import datetime
import hashlib
import hmac
import json
import os
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import boto3
import botocore.config
from botocore.exceptions import ClientError

import model_check

model_check.install()

ENDPOINT = os.environ["TURNOUT_ROUTE53"]
DNS_HOST, DNS_PORT = os.environ["TURNOUT_DNS"].rsplit(":", 1)


def keys(path):
    with open(path) as f:
        t = json.load(f)
    return t["access_key_id"], t["secret_access_key"]


WRITER = keys(os.environ["TURNOUT_WRITER"])
READER = keys(os.environ["TURNOUT_READER"])


def client(key=WRITER, region="eu-west-3"):
    """A Route 53 client signing with `key`, in any region (Turnout accepts any)."""
    return boto3.client(
        "route53",
        endpoint_url=ENDPOINT,
        region_name=region,
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def error_code(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"]
    raise AssertionError("the call succeeded")


def dig(name, rtype="A"):
    out = subprocess.run(
        ["dig", "+short", "+tries=1", "+time=2", "@" + DNS_HOST, "-p", DNS_PORT, name, rtype],
        capture_output=True, text=True, timeout=10, check=True,
    ).stdout
    return sorted(out.split())


def until(what, check, seconds=10):
    end = time.time() + seconds
    while True:
        if check():
            return
        if time.time() > end:
            raise AssertionError(f"{what}: not within {seconds}s")
        time.sleep(0.1)


def passed(what):
    print(f"PASS: {what}", flush=True)


r53 = client()
model_check.self_test(r53)
passed("the botocore model check refuses an unknown element, a missing required one, a bad integer and an unmodelled error")

# --- hosted zones ---
created = r53.create_hosted_zone(
    Name="r53.test", CallerReference="ref-r53", HostedZoneConfig={"Comment": "made by boto3"})
zone_id = created["HostedZone"]["Id"]
assert zone_id.startswith("/hostedzone/Z"), zone_id
assert created["HostedZone"]["Name"] == "r53.test."
assert created["HostedZone"]["ResourceRecordSetCount"] == 2
assert len(created["DelegationSet"]["NameServers"]) >= 1
assert created["ChangeInfo"]["Id"].startswith("/change/C")
assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
passed(f"CreateHostedZone made {zone_id}")

code, _ = error_code(lambda: r53.create_hosted_zone(Name="other.test", CallerReference="ref-r53"))
assert code == "HostedZoneAlreadyExists", code
got = r53.get_hosted_zone(Id=zone_id)
assert got["HostedZone"]["Config"]["Comment"] == "made by boto3"
r53.update_hosted_zone_comment(Id=zone_id, Comment="renamed")
assert r53.get_hosted_zone(Id=zone_id)["HostedZone"]["Config"]["Comment"] == "renamed"
names = [z["Name"] for z in r53.list_hosted_zones()["HostedZones"]]
assert "r53.test." in names, names
by_name = r53.list_hosted_zones_by_name(DNSName="r53.test")
assert by_name["HostedZones"][0]["Id"] == zone_id
assert r53.get_hosted_zone_count()["HostedZoneCount"] == len(names)
code, message = error_code(lambda: r53.get_hosted_zone(Id="ZNOSUCHZONE"))
assert (code, message) == ("NoSuchHostedZone", "No hosted zone found with ID: ZNOSUCHZONE"), message
passed("HostedZoneAlreadyExists on a reused CallerReference; Get, UpdateComment, List, ListByName, Count; NoSuchHostedZone")

# --- record sets: every routing policy, one batch, to INSYNC ---
def rrs(name, **kw):
    out = {"Name": name, "Type": kw.pop("Type", "A")}
    values = kw.pop("values", None)
    if values is not None:
        out["TTL"] = kw.pop("TTL", 60)
        out["ResourceRecords"] = [{"Value": v} for v in values]
    out.update(kw)
    return out


sets = [
    rrs("www.r53.test", values=["192.0.2.1", "192.0.2.2"]),
    rrs("fo.r53.test", SetIdentifier="primary", Failover="PRIMARY", values=["192.0.2.10"]),
    rrs("fo.r53.test", SetIdentifier="secondary", Failover="SECONDARY", values=["192.0.2.11"]),
    rrs("w.r53.test", SetIdentifier="a", Weight=90, values=["192.0.2.20"]),
    rrs("w.r53.test", SetIdentifier="b", Weight=10, values=["192.0.2.21"]),
    rrs("geo.r53.test", SetIdentifier="de", GeoLocation={"CountryCode": "DE"}, values=["192.0.2.30"]),
    rrs("geo.r53.test", SetIdentifier="eu", GeoLocation={"ContinentCode": "EU"}, values=["192.0.2.31"]),
    rrs("geo.r53.test", SetIdentifier="any", GeoLocation={"CountryCode": "*"}, values=["192.0.2.32"]),
    rrs("mv.r53.test", SetIdentifier="one", MultiValueAnswer=True, values=["192.0.2.40"]),
    rrs("mv.r53.test", SetIdentifier="two", MultiValueAnswer=True, values=["192.0.2.41"]),
    rrs("txt.r53.test", Type="TXT", values=['"hello world"']),
    rrs("alias.r53.test", AliasTarget={
        "HostedZoneId": zone_id.split("/")[-1], "DNSName": "www.r53.test",
        "EvaluateTargetHealth": False}),
]
change = r53.change_resource_record_sets(
    HostedZoneId=zone_id,
    ChangeBatch={"Comment": "every policy", "Changes": [{"Action": "CREATE", "ResourceRecordSet": s} for s in sets]},
)
change_id = change["ChangeInfo"]["Id"]
r53.get_waiter("resource_record_sets_changed").wait(Id=change_id, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
assert r53.get_change(Id=change_id)["ChangeInfo"]["Status"] == "INSYNC"
passed("ChangeResourceRecordSets with failover, weighted, geolocation, multivalue, TXT and alias; the waiter saw INSYNC")

assert dig("www.r53.test") == ["192.0.2.1", "192.0.2.2"], dig("www.r53.test")
assert dig("fo.r53.test") == ["192.0.2.10"]
assert dig("alias.r53.test") == ["192.0.2.1", "192.0.2.2"]
passed("dig answers what the API wrote")

# --- listing: the same record sets at every page size ---
def listed(max_items):
    out, kw = [], {}
    while True:
        page = r53.list_resource_record_sets(HostedZoneId=zone_id, MaxItems=str(max_items), **kw)
        assert len(page["ResourceRecordSets"]) <= max_items
        out.extend(page["ResourceRecordSets"])
        if not page["IsTruncated"]:
            return out
        kw = {"StartRecordName": page["NextRecordName"], "StartRecordType": page["NextRecordType"]}
        if "NextRecordIdentifier" in page:
            kw["StartRecordIdentifier"] = page["NextRecordIdentifier"]


everything = listed(100)
assert listed(1) == everything and listed(2) == everything
assert len(everything) == len(sets) + 2, len(everything)
by_key = {(s["Name"], s["Type"], s.get("SetIdentifier")): s for s in everything}
for s in sets:
    name = s["Name"] + "."
    back = by_key[(name, s["Type"], s.get("SetIdentifier"))]
    for field in ("Failover", "Weight", "GeoLocation", "MultiValueAnswer", "TTL", "ResourceRecords"):
        assert back.get(field) == s.get(field), (field, back, s)
    if "AliasTarget" in s:
        assert back["AliasTarget"]["DNSName"] == "www.r53.test."
passed(f"ListResourceRecordSets at MaxItems 1, 2 and 100: the same {len(everything)} record sets, as written")

# --- a bad batch is refused whole ---
before = listed(100)
code, message = error_code(lambda: r53.change_resource_record_sets(
    HostedZoneId=zone_id,
    ChangeBatch={"Changes": [
        {"Action": "UPSERT", "ResourceRecordSet": rrs("new.r53.test", values=["192.0.2.99"])},
        {"Action": "CREATE", "ResourceRecordSet": rrs("www.r53.test", values=["192.0.2.9"])},
    ]},
))
assert code == "InvalidChangeBatch", (code, message)
assert listed(100) == before
assert dig("new.r53.test") == []
code, _ = error_code(lambda: r53.change_resource_record_sets(
    HostedZoneId=zone_id,
    ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": rrs("x.other.test", values=["192.0.2.9"])}]},
))
assert code == "InvalidChangeBatch", code
passed(f"a batch with an existing record set is refused whole ({message!r}); nothing changed")

code, _ = error_code(lambda: r53.delete_hosted_zone(Id=zone_id))
assert code == "HostedZoneNotEmpty", code
passed("DeleteHostedZone of a zone with records: HostedZoneNotEmpty")

# --- who may do what ---
reader = client(READER)
assert reader.get_hosted_zone(Id=zone_id)["HostedZone"]["Name"] == "r53.test."
code, _ = error_code(lambda: reader.create_hosted_zone(Name="nope.test", CallerReference="ref-nope"))
assert code == "AccessDenied", code
code, _ = error_code(lambda: client((WRITER[0], "not-the-secret")).get_hosted_zone_count())
assert code == "SignatureDoesNotMatch", code
code, _ = error_code(lambda: client(("AKTOUNKNOWNKEY0000", WRITER[1])).get_hosted_zone_count())
assert code == "InvalidClientTokenId", code


def signed_at(when):
    """GET hostedzonecount signed by hand (SigV4) as of `when`."""
    host = ENDPOINT.split("//", 1)[1]
    amz = when.strftime("%Y%m%dT%H%M%SZ")
    day = amz[:8]
    path = "/2013-04-01/hostedzonecount"
    canonical = "\n".join(["GET", path, "", f"host:{host}\nx-amz-date:{amz}\n", "host;x-amz-date",
                           hashlib.sha256(b"").hexdigest()])
    scope = f"{day}/us-east-1/route53/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + WRITER[1]).encode()
    for part in (day, "us-east-1", "route53", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    auth = f"AWS4-HMAC-SHA256 Credential={WRITER[0]}/{scope}, SignedHeaders=host;x-amz-date, Signature={sig}"
    request = urllib.request.Request(ENDPOINT + path, headers={"X-Amz-Date": amz, "Authorization": auth})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


now = datetime.datetime.now(datetime.timezone.utc)
status, body = signed_at(now)
assert status == 200 and "<HostedZoneCount>" in body, body
status, body = signed_at(now - datetime.timedelta(minutes=10))
assert status == 403 and "<Code>SignatureDoesNotMatch</Code>" in body and "Signature expired" in body, body
passed("a read-only key reads and may not write (AccessDenied); a wrong secret, an unknown key and a skewed clock are refused with AWS's codes")

# --- aws-cli ---
env = dict(os.environ, AWS_ACCESS_KEY_ID=WRITER[0], AWS_SECRET_ACCESS_KEY=WRITER[1],
           AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")


def aws(*args):
    out = subprocess.run([*os.environ["AWS_CLI"].split(), "route53", *args, "--endpoint-url", ENDPOINT, "--output", "json"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else {}


made = aws("create-hosted-zone", "--name", "cli.test", "--caller-reference", "ref-cli")
cli_zone = made["HostedZone"]["Id"]
with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
    json.dump({"Changes": [{"Action": "UPSERT", "ResourceRecordSet": rrs("www.cli.test", values=["192.0.2.50"])}]}, f)
changed = aws("change-resource-record-sets", "--hosted-zone-id", cli_zone, "--change-batch", "file://" + f.name)
until("get-change INSYNC", lambda: aws("get-change", "--id", changed["ChangeInfo"]["Id"])["ChangeInfo"]["Status"] == "INSYNC")
listed_cli = aws("list-resource-record-sets", "--hosted-zone-id", cli_zone)["ResourceRecordSets"]
assert any(s["Name"] == "www.cli.test." for s in listed_cli), listed_cli
assert dig("www.cli.test") == ["192.0.2.50"]
passed("aws route53 create-hosted-zone, change-resource-record-sets, get-change until INSYNC, list-resource-record-sets; dig answers")

# --- the seeds' walkthrough, with aws-cli: a health check on a local backend, a failover pair,
# the backend stops, the answer moves ---
import http.server
import threading


class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args):
        pass


backend = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
threading.Thread(target=backend.serve_forever, daemon=True).start()
port = backend.server_address[1]
config = {"IPAddress": "127.0.0.1", "Port": port, "Type": "HTTP", "ResourcePath": "/",
          "RequestInterval": 10, "FailureThreshold": 1, "MeasureLatency": True}
check = aws("create-health-check", "--caller-reference", "walk-primary",
            "--health-check-config", json.dumps(config))["HealthCheck"]
check_id = check["Id"]
assert len(check_id) == 36 and check["HealthCheckConfig"]["Type"] == "HTTP", check
walk = aws("create-hosted-zone", "--name", "walk.test", "--caller-reference", "ref-walk")["HostedZone"]["Id"]
with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
    json.dump({"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": rrs("www.walk.test", SetIdentifier="primary", Failover="PRIMARY",
                                                       HealthCheckId=check_id, values=["192.0.2.10"])},
        {"Action": "CREATE", "ResourceRecordSet": rrs("www.walk.test", SetIdentifier="secondary", Failover="SECONDARY",
                                                       values=["192.0.2.20"])},
    ]}, f)
changed = aws("change-resource-record-sets", "--hosted-zone-id", walk, "--change-batch", "file://" + f.name)
until("get-change INSYNC", lambda: aws("get-change", "--id", changed["ChangeInfo"]["Id"])["ChangeInfo"]["Status"] == "INSYNC")
until("the primary answers", lambda: dig("www.walk.test") == ["192.0.2.10"])
passed(f"aws route53 create-health-check ({check_id}) on a local backend, a PRIMARY and a SECONDARY record, INSYNC; dig shows the primary")

backend.shutdown()
backend.server_close()
until("the secondary answers", lambda: dig("www.walk.test") == ["192.0.2.20"], seconds=30)
status = aws("get-health-check-status", "--health-check-id", check_id)["HealthCheckObservations"]
assert any(o["StatusReport"]["Status"].startswith("Failure") for o in status), status
reason = aws("get-health-check-last-failure-reason", "--health-check-id", check_id)["HealthCheckObservations"]
assert reason and reason[0]["StatusReport"]["Status"].startswith("Failure"), reason
passed(f"the backend stops: dig shows the secondary; get-health-check-status says {status[0]['StatusReport']['Status']!r}")

# CreateHealthCheck is idempotent by CallerReference; other settings under it are refused.
again = r53.create_health_check(CallerReference="walk-primary", HealthCheckConfig=config)
assert again["HealthCheck"]["Id"] == check_id
code, _ = error_code(lambda: r53.create_health_check(
    CallerReference="walk-primary", HealthCheckConfig=dict(config, FailureThreshold=3)))
assert code == "HealthCheckAlreadyExists", code
read_back = r53.get_health_check(HealthCheckId=check_id)["HealthCheck"]["HealthCheckConfig"]
assert all(read_back[k] == v for k, v in config.items()), (read_back, config)
assert check_id in [c["Id"] for c in r53.list_health_checks()["HealthChecks"]]
assert r53.get_health_check_count()["HealthCheckCount"] >= 1
code, _ = error_code(lambda: r53.delete_health_check(HealthCheckId=check_id))
assert code == "HealthCheckInUse", code
code, _ = error_code(lambda: r53.get_health_check(HealthCheckId="00000000-0000-4000-8000-000000000000"))
assert code == "NoSuchHealthCheck", code
r53.change_tags_for_resource(ResourceType="healthcheck", ResourceId=check_id,
                             AddTags=[{"Key": "Name", "Value": "www.walk.test primary"}, {"Key": "team", "Value": "edge"}])
r53.change_tags_for_resource(ResourceType="healthcheck", ResourceId=check_id, RemoveTagKeys=["team"])
tags = r53.list_tags_for_resource(ResourceType="healthcheck", ResourceId=check_id)["ResourceTagSet"]["Tags"]
assert tags == [{"Key": "Name", "Value": "www.walk.test primary"}], tags
zone_bare = walk.split("/")[-1]
r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_bare, AddTags=[{"Key": "env", "Value": "dr"}])
sets_of = r53.list_tags_for_resources(ResourceType="hostedzone", ResourceIds=[zone_bare])["ResourceTagSets"]
assert sets_of[0]["Tags"] == [{"Key": "env", "Value": "dr"}], sets_of
code, _ = error_code(lambda: r53.list_tags_for_resource(ResourceType="hostedzone", ResourceId="ZNOSUCHZONE"))
assert code == "NoSuchHostedZone", code
passed("tags: ChangeTagsForResource adds and removes on a health check and a hosted zone; ListTagsForResource(s) read them back; NoSuchHostedZone")
passed("CreateHealthCheck again: the same check; it reads back as written; other settings: HealthCheckAlreadyExists; Get, List, Count; HealthCheckInUse; NoSuchHealthCheck")

# UpdateHealthCheck: versions, partial updates, ResetElements.
assert r53.get_health_check(HealthCheckId=check_id)["HealthCheck"]["HealthCheckVersion"] == 1
updated = r53.update_health_check(HealthCheckId=check_id, HealthCheckVersion=1, FailureThreshold=2,
                                  ResourcePath="/health", FullyQualifiedDomainName="www.walk.test")["HealthCheck"]
assert updated["HealthCheckVersion"] == 2, updated
cfg = updated["HealthCheckConfig"]
assert (cfg["FailureThreshold"], cfg["ResourcePath"], cfg["FullyQualifiedDomainName"], cfg["Port"]) == \
    (2, "/health", "www.walk.test", port), cfg
code, message = error_code(lambda: r53.update_health_check(HealthCheckId=check_id, HealthCheckVersion=1, Disabled=True))
assert code == "HealthCheckVersionMismatch", (code, message)
assert r53.get_health_check(HealthCheckId=check_id)["HealthCheck"]["HealthCheckConfig"]["Disabled"] is False
reset = r53.update_health_check(HealthCheckId=check_id, ResetElements=["FullyQualifiedDomainName", "ResourcePath"])
cfg = reset["HealthCheck"]["HealthCheckConfig"]
assert "FullyQualifiedDomainName" not in cfg and "ResourcePath" not in cfg and reset["HealthCheck"]["HealthCheckVersion"] == 3, cfg
code, _ = error_code(lambda: r53.update_health_check(HealthCheckId=check_id, SearchString="OK"))
assert code == "InvalidInput", code
code, _ = error_code(lambda: r53.update_health_check(HealthCheckId=check_id, Regions=["us-east-1", "eu-west-1", "sa-east-1"]))
assert code == "InvalidInput", code
code, _ = error_code(lambda: r53.update_health_check(HealthCheckId="00000000-0000-4000-8000-000000000000", Disabled=True))
assert code == "NoSuchHealthCheck", code
assert r53.get_health_check(HealthCheckId=check_id)["HealthCheck"]["HealthCheckVersion"] == 3
passed("UpdateHealthCheck: a partial update bumps HealthCheckVersion; a stale version is HealthCheckVersionMismatch and changes nothing; ResetElements clears; what cannot apply is InvalidInput")

# CIDR collections: create (CallerReference), change (CollectionVersion), list with paging,
# records naming them by id, delete refused while used.
made = r53.create_cidr_collection(Name="offices", CallerReference="ref-offices")["Collection"]
coll = made["Id"]
assert len(coll) == 36 and made["Version"] == 1 and made["Arn"].endswith(coll), made
assert r53.create_cidr_collection(Name="offices", CallerReference="ref-offices")["Collection"]["Id"] == coll
code, _ = error_code(lambda: r53.create_cidr_collection(Name="offices", CallerReference="other"))
assert code == "CidrCollectionAlreadyExistsException", code
change_id = r53.change_cidr_collection(Id=coll, CollectionVersion=1, Changes=[
    {"LocationName": "paris", "Action": "PUT", "CidrList": ["192.0.2.0/24", "2001:db8:1::/48"]},
    {"LocationName": "tokyo", "Action": "PUT", "CidrList": ["198.51.100.0/24"]}])["Id"]
until("the collection change INSYNC", lambda: r53.get_change(Id=change_id)["ChangeInfo"]["Status"] == "INSYNC")
code, _ = error_code(lambda: r53.change_cidr_collection(Id=coll, CollectionVersion=1, Changes=[
    {"LocationName": "oslo", "Action": "PUT", "CidrList": ["203.0.113.0/24"]}]))
assert code == "CidrCollectionVersionMismatchException", code
code, message = error_code(lambda: r53.change_cidr_collection(Id=coll, Changes=[
    {"LocationName": "oslo", "Action": "PUT", "CidrList": ["203.0.113.0/25", "nope"]}]))
assert code == "InvalidInput" and "nope" in message, (code, message)
collections = r53.list_cidr_collections()["CidrCollections"]
assert [(c["Name"], c["Version"]) for c in collections] == [("offices", 2)], collections
locations = r53.list_cidr_locations(CollectionId=coll, MaxResults="1")
assert [l["LocationName"] for l in locations["CidrLocations"]] == ["paris"] and "NextToken" in locations, locations
rest = r53.list_cidr_locations(CollectionId=coll, NextToken=locations["NextToken"])
assert [l["LocationName"] for l in rest["CidrLocations"]] == ["tokyo"] and "NextToken" not in rest, rest
paged, token = [], None
while True:
    page = r53.list_cidr_blocks(CollectionId=coll, MaxResults="1", **({"NextToken": token} if token else {}))
    paged += [(b["LocationName"], b["CidrBlock"]) for b in page["CidrBlocks"]]
    token = page.get("NextToken")
    if not token:
        break
assert paged == [("paris", "192.0.2.0/24"), ("paris", "2001:db8:1::/48"), ("tokyo", "198.51.100.0/24")], paged
only = r53.list_cidr_blocks(CollectionId=coll, LocationName="tokyo")["CidrBlocks"]
assert [b["CidrBlock"] for b in only] == ["198.51.100.0/24"], only
code, _ = error_code(lambda: r53.list_cidr_blocks(CollectionId=coll, LocationName="oslo"))
assert code == "NoSuchCidrLocationException", code
code, _ = error_code(lambda: r53.list_cidr_locations(CollectionId="00000000-0000-4000-8000-000000000000"))
assert code == "NoSuchCidrCollectionException", code
cidr_zone = r53.create_hosted_zone(Name="cidr.test", CallerReference="ref-cidr")["HostedZone"]["Id"]
r53.change_resource_record_sets(HostedZoneId=cidr_zone, ChangeBatch={"Changes": [
    {"Action": "CREATE", "ResourceRecordSet": rrs("www.cidr.test", SetIdentifier="paris", values=["192.0.2.71"],
                                                   CidrRoutingConfig={"CollectionId": coll, "LocationName": "paris"})},
    {"Action": "CREATE", "ResourceRecordSet": rrs("www.cidr.test", SetIdentifier="rest", values=["192.0.2.72"],
                                                   CidrRoutingConfig={"CollectionId": coll, "LocationName": "*"})}]})
cidr_sets = r53.list_resource_record_sets(HostedZoneId=cidr_zone, StartRecordName="www.cidr.test")["ResourceRecordSets"]
assert {s["CidrRoutingConfig"]["CollectionId"] for s in cidr_sets if "CidrRoutingConfig" in s} == {coll}, cidr_sets
until("a Paris client gets the Paris answer", lambda: subprocess.run(
    ["dig", "+short", "+subnet=192.0.2.0/24", "@" + DNS_HOST, "-p", DNS_PORT, "www.cidr.test", "A"],
    capture_output=True, text=True, timeout=10).stdout.split() == ["192.0.2.71"])
code, _ = error_code(lambda: r53.change_cidr_collection(Id=coll, Changes=[
    {"LocationName": "paris", "Action": "DELETE_IF_EXISTS", "CidrList": ["192.0.2.0/24", "2001:db8:1::/48"]}]))
assert code == "CidrBlockInUseException", code
code, _ = error_code(lambda: r53.delete_cidr_collection(Id=coll))
assert code == "CidrCollectionInUseException", code
r53.change_cidr_collection(Id=coll, Changes=[
    {"LocationName": "tokyo", "Action": "DELETE_IF_EXISTS", "CidrList": ["198.51.100.0/24"]}])
assert [l["LocationName"] for l in r53.list_cidr_locations(CollectionId=coll)["CidrLocations"]] == ["paris"]
spare = r53.create_cidr_collection(Name="spare", CallerReference="ref-spare")["Collection"]["Id"]
r53.delete_cidr_collection(Id=spare)
assert [c["Name"] for c in r53.list_cidr_collections()["CidrCollections"]] == ["offices"]
passed("CIDR collections: Create (CallerReference), Change (CollectionVersion, all or nothing), ListCidrCollections/Locations/Blocks with paging; records name one by id and dig answers by subnet; in-use blocks and collections are refused; Delete")

# GetDNSSEC and the limits calls answer what Turnout does.
dnssec = r53.get_dnssec(HostedZoneId=cidr_zone)
assert dnssec["Status"]["ServeSignature"] == "NOT_SIGNING" and dnssec["KeySigningKeys"] == [], dnssec
zones_limit = r53.get_account_limit(Type="MAX_HOSTED_ZONES_BY_OWNER")
assert zones_limit["Count"] == r53.get_hosted_zone_count()["HostedZoneCount"], zones_limit
assert r53.get_account_limit(Type="MAX_HEALTH_CHECKS_BY_OWNER")["Count"] == r53.get_health_check_count()["HealthCheckCount"]
rrsets_limit = r53.get_hosted_zone_limit(HostedZoneId=cidr_zone, Type="MAX_RRSETS_BY_ZONE")
assert rrsets_limit["Count"] == 4, rrsets_limit
code, _ = error_code(lambda: r53.get_hosted_zone_limit(HostedZoneId=cidr_zone, Type="MAX_VPCS_ASSOCIATED_BY_ZONE"))
assert code == "HostedZoneNotPrivate", code
code, _ = error_code(lambda: r53.get_reusable_delegation_set_limit(DelegationSetId="N0000", Type="MAX_ZONES_BY_REUSABLE_DELEGATION_SET"))
assert code == "NoSuchDelegationSet", code
tested = r53.test_dns_answer(HostedZoneId=cidr_zone, RecordName="www.cidr.test", RecordType="A",
                             EDNS0ClientSubnetIP="192.0.2.77", EDNS0ClientSubnetMask="24")
assert (tested["RecordData"], tested["ResponseCode"], tested["Protocol"]) == (["192.0.2.71"], "NOERROR", "UDP"), tested
tested = r53.test_dns_answer(HostedZoneId=cidr_zone, RecordName="www.cidr.test", RecordType="A", ResolverIP="203.0.113.9")
assert tested["RecordData"] == ["192.0.2.72"], tested
tested = r53.test_dns_answer(HostedZoneId=cidr_zone, RecordName="nowhere.cidr.test", RecordType="A")
assert (tested["RecordData"], tested["ResponseCode"]) == ([], "NXDOMAIN"), tested
code, _ = error_code(lambda: r53.test_dns_answer(HostedZoneId=cidr_zone, RecordName="www.other.test", RecordType="A"))
assert code == "InvalidInput", code
passed("TestDNSAnswer answers as the DNS server does now: by EDNS0 client subnet, by resolver, NXDOMAIN; a name outside the zone is InvalidInput")
assert r53.get_checker_ip_ranges()["CheckerIpRanges"] == ["127.0.0.1/32"]
passed("GetDNSSEC says NOT_SIGNING; GetAccountLimit and GetHostedZoneLimit count zones, checks and record sets; no private zones, no reusable delegation sets; GetCheckerIpRanges gives the node's probe source")

# --- ARC's data plane, with aws-cli route53-recovery-cluster ---
FLIPPER = keys(os.environ["TURNOUT_FLIPPER"])
arc_env = dict(env, AWS_ACCESS_KEY_ID=FLIPPER[0], AWS_SECRET_ACCESS_KEY=FLIPPER[1], AWS_DEFAULT_REGION="us-west-2")
PANEL = "arn:aws:route53-recovery-control::000000000000:controlpanel/main"
EAST, WEST = PANEL + "/routingcontrol/us-east", PANEL + "/routingcontrol/us-west"
RULE = PANEL + "/safetyrule/keep-one-region"


def arc(*args, key_env=arc_env):
    return subprocess.run([*os.environ["AWS_CLI"].split(), "route53-recovery-cluster", *args, "--endpoint-url", ENDPOINT,
                           "--output", "json"], capture_output=True, text=True, env=key_env, timeout=60)


def arc_ok(*args):
    out = arc(*args)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else {}


arc_ok("update-routing-control-states", "--update-routing-control-state-entries", json.dumps([
    {"RoutingControlArn": EAST, "RoutingControlState": "On"},
    {"RoutingControlArn": WEST, "RoutingControlState": "On"}]))
listed_controls = arc_ok("list-routing-controls")["RoutingControls"]
assert sorted(c["RoutingControlName"] for c in listed_controls) == ["us-east", "us-west"], listed_controls
assert all(c["RoutingControlState"] == "On" for c in listed_controls), listed_controls
arc_ok("update-routing-control-state", "--routing-control-arn", EAST, "--routing-control-state", "Off")
assert arc_ok("get-routing-control-state", "--routing-control-arn", EAST)["RoutingControlState"] == "Off"
refused = arc("update-routing-control-state", "--routing-control-arn", WEST, "--routing-control-state", "Off")
assert refused.returncode != 0 and "ConflictException" in refused.stderr and RULE in refused.stderr, refused.stderr
assert arc_ok("get-routing-control-state", "--routing-control-arn", WEST)["RoutingControlState"] == "On"
arc_ok("update-routing-control-state", "--routing-control-arn", WEST, "--routing-control-state", "Off",
       "--safety-rules-to-override", RULE)
assert arc_ok("get-routing-control-state", "--routing-control-arn", WEST)["RoutingControlState"] == "Off"
denied = arc("update-routing-control-state", "--routing-control-arn", EAST, "--routing-control-state", "On",
             key_env=dict(arc_env, AWS_ACCESS_KEY_ID=WRITER[0], AWS_SECRET_ACCESS_KEY=WRITER[1]))
assert denied.returncode != 0 and "AccessDenied" in denied.stderr, denied.stderr
passed("aws route53-recovery-cluster: update-routing-control-states, list, update, get; a flip the safety rule refuses is a ConflictException naming the rule's ARN, and goes through with --safety-rules-to-override; a config-only key may not flip")

if os.environ.get("TURNOUT_MODEL_SEEN"):
    with open(os.environ["TURNOUT_MODEL_SEEN"], "a") as f:
        f.writelines(f"{line}\n" for line in sorted(model_check.seen))
