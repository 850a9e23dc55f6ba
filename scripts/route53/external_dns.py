"""The external-dns webhook provider protocol on a running Turnout node (docs/external-dns.md),
driven as external-dns's webhook client drives it: negotiation with its media type (and the
Vary and Content-Type headers the client checks), GET /records, POST /adjustendpoints and
POST /records with a plan's changes, the way external-dns v0.15+ encodes them. external-dns
itself (a Go program) is not in the package registries this test may install from, so this
script speaks its protocol; run by scripts/test-route53 with

  TURNOUT_API     the JSON API's URL        TURNOUT_DNS     the node's DNS address:port
  TURNOUT_HOOK    a token with `config`     TURNOUT_READ    a token with `read` only
"""

import json
import os
import subprocess
import time
import urllib.error
import urllib.request

API = os.environ["TURNOUT_API"]
DNS_HOST, DNS_PORT = os.environ["TURNOUT_DNS"].rsplit(":", 1)
MEDIA = "application/external.dns.webhook+json;version=1"


def token(path):
    with open(path) as f:
        return json.load(f)["token"]


HOOK, READ = token(os.environ["TURNOUT_HOOK"]), token(os.environ["TURNOUT_READ"])
BASE = f"{API}/external-dns/{HOOK}"


def call(method, url, body=None, headers=None, bearer=None):
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", MEDIA)
    if data is not None:
        request.add_header("Content-Type", MEDIA)
    if bearer:
        request.add_header("Authorization", "Bearer " + bearer)
    for k, v in (headers or {}).items():
        request.add_header(k, v)
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            raw = r.read()
            return r.status, r.headers, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, e.headers, json.loads(raw) if raw else None


def api(method, path, body=None):
    status, _, out = call(method, API + path, body, bearer=HOOK)
    assert status < 300, (status, out)
    return out


def dig(name, rtype="A"):
    out = subprocess.run(["dig", "+short", "+tries=1", "+time=2", "@" + DNS_HOST, "-p", DNS_PORT, name, rtype],
                         capture_output=True, text=True, timeout=10, check=True).stdout
    return sorted(out.split("\n")[:-1])


def until(what, check, seconds=10):
    end = time.time() + seconds
    while not check():
        if time.time() > end:
            raise AssertionError(f"{what}: not within {seconds}s")
        time.sleep(0.1)


def passed(what):
    print(f"PASS: {what}", flush=True)


def records():
    status, headers, out = call("GET", BASE + "/records")
    assert status == 200 and headers.get("Content-Type") == MEDIA, (status, headers)
    return {(e["dnsName"], e["recordType"], e.get("setIdentifier", "")): e for e in out}


# Not external-dns's, but this node is at hand: GET /v1/checkers names its probe source.
checkers = api("GET", "/v1/checkers")["checkers"]
assert [c["source_addresses"] for c in checkers] == [["127.0.0.1"]], checkers
passed(f"GET /v1/checkers: {checkers[0]['name']} in {checkers[0]['region']} probes from {checkers[0]['source_addresses']}")

api("POST", "/v1/zones", {"name": "k8s.test"})
api("PUT", "/v1/checks/k8s-web", {"type": "tcp", "ip": "127.0.0.1", "port": 9, "disabled": True})

# Negotiation: the client checks both headers.
status, headers, negotiated = call("GET", BASE)
assert status == 200, (status, negotiated)
assert headers.get("Vary") == "Content-Type" and headers.get("Content-Type") == MEDIA, headers
assert "k8s.test" in negotiated["include"], negotiated
assert call("GET", f"{API}/external-dns/turnout_notatoken/records")[0] == 401
assert call("GET", f"{API}/external-dns/{READ}/records")[0] == 403
passed(f"negotiation: {MEDIA}, Vary: Content-Type, the domain filter {negotiated['include']}; an unknown token is 401, a read-only one 403")

OWNER = "heritage=external-dns,external-dns/owner=default,external-dns/resource=service/default/web"
desired = [
    {"dnsName": "www.k8s.test.", "targets": ["192.0.2.2", "192.0.2.1"], "recordType": "A",
     "labels": {"owner": "default"}, "providerSpecific": [{"name": "aws/weight", "value": "1"}]},
    {"dnsName": "a-www.k8s.test", "targets": [OWNER], "recordType": "TXT"},
    {"dnsName": "app.k8s.test", "targets": ["www.k8s.test"], "recordType": "CNAME", "recordTTL": 60},
    {"dnsName": "api.k8s.test", "targets": ["192.0.2.10"], "recordType": "A", "setIdentifier": "east",
     "providerSpecific": [{"name": "webhook/failover", "value": "primary"},
                          {"name": "webhook/health-check", "value": "k8s-web"}]},
    {"dnsName": "api.k8s.test", "targets": ["192.0.2.20"], "recordType": "A", "setIdentifier": "west",
     "providerSpecific": [{"name": "webhook/failover", "value": "SECONDARY"}]},
]
status, _, adjusted = call("POST", BASE + "/adjustendpoints", desired)
assert status == 200, adjusted
assert adjusted[0]["dnsName"] == "www.k8s.test" and adjusted[0]["recordTTL"] == 300, adjusted[0]
assert adjusted[0]["targets"] == ["192.0.2.1", "192.0.2.2"] and "providerSpecific" not in adjusted[0], adjusted[0]
assert adjusted[0]["labels"] == {"owner": "default"}, adjusted[0]
assert adjusted[3]["providerSpecific"] == [{"name": "webhook/failover", "value": "PRIMARY"},
                                           {"name": "webhook/health-check", "value": "k8s-web"}], adjusted[3]
passed("adjustendpoints: names without the dot, the default TTL, sorted targets, only Turnout's properties, normalised")

status, _, out = call("POST", BASE + "/records", {"create": desired})
assert status == 204, (status, out)
until("www answers", lambda: dig("www.k8s.test") == ["192.0.2.1", "192.0.2.2"])
assert dig("a-www.k8s.test", "TXT") == [f'"{OWNER}"']
assert dig("app.k8s.test", "CNAME") == ["www.k8s.test."]
until("the failover group answers its live member", lambda: dig("api.k8s.test") in (["192.0.2.10"], ["192.0.2.20"]))
listed = records()
for e in adjusted:
    got = listed[(e["dnsName"], e["recordType"], e.get("setIdentifier", ""))]
    want = {k: v for k, v in e.items() if k != "labels"}
    assert got == want, (got, want)
assert not any(t in ("SOA", "NS") for _, t, _ in listed), listed.keys()
passed("POST /records creates A, TXT (external-dns's ownership record), CNAME and a failover pair with a health check; dig answers; GET /records lists them exactly as adjustendpoints said, without SOA and apex NS")

old = adjusted[0]
new = dict(old, targets=["192.0.2.3"])
status, _, out = call("POST", BASE + "/records", {"updateOld": [old], "updateNew": [new], "delete": [adjusted[2]]})
assert status == 204, (status, out)
until("the update answers", lambda: dig("www.k8s.test") == ["192.0.2.3"])
assert dig("app.k8s.test", "CNAME") == []
passed("POST /records: an update (updateOld/updateNew) and a delete, as one batch")

before = records()
bad = {"create": [{"dnsName": "new.k8s.test", "targets": ["192.0.2.50"], "recordType": "A"},
                  {"dnsName": "www.k8s.test", "targets": ["192.0.2.51"], "recordType": "A"}]}
status, _, out = call("POST", BASE + "/records", bad)
assert status == 400 and out["error"]["code"] == "InvalidChangeBatch", (status, out)
status, _, out = call("POST", BASE + "/records", {"create": [{"dnsName": "elsewhere.example", "targets": ["192.0.2.1"], "recordType": "A"}]})
assert status == 400 and out["error"]["field"] == "create[0].dnsName", (status, out)
status, _, out = call("POST", BASE + "/records", {"create": [{"dnsName": "x.k8s.test", "targets": ["192.0.2.1"], "recordType": "A",
                                                             "providerSpecific": [{"name": "webhook/weight", "value": "heavy"}]}]})
assert status == 400 and out["error"]["field"] == "create[0].providerSpecific.webhook/weight", (status, out)
status, _, out = call("POST", BASE + "/records", {"updateOld": [new], "updateNew": [new],
                                                 "delete": [{"dnsName": "gone.example", "targets": ["192.0.2.1"], "recordType": "A"}]})
assert status == 400 and out["error"]["field"] == "delete[0].dnsName", (status, out)
status, _, out = call("POST", BASE + "/records", b"not json")
assert status == 400, (status, out)
assert records() == before and dig("new.k8s.test") == []
passed("a batch with one bad change is refused whole (InvalidChangeBatch), a name outside the zones and a bad property name their field; nothing changed")

audit = api("GET", "/v1/audit?token=external-dns&limit=100")["writes"]
writes = [w for w in audit if w["request"].startswith("external-dns ")]
assert [w["request"] for w in writes] == ["external-dns POST /records"] * 2, [w["request"] for w in audit]
assert not any(HOOK in json.dumps(w) for w in audit)
passed(f"every write is in the audit trail as the token's ({writes[0]['request']!r}), never with the token in it")
