#!/usr/bin/env python3
"""A million records through the store, next to Knot loading the same zone files.

Two shapes: one zone of 1,000,000 records (SOA, NS and 999,998 A records) and 1,000 zones of
1,000 records each. For each shape it measures, on loopback only:

  knot           knotd loading the zone file(s): start to the last name answering, RSS
  zone file      `turnout serve --zone-file ...`: the same
  import         `turnout import FILE` into a node on the embedded store, until every
                 batch is INSYNC (1,000-record batches, as the API takes them)
  embedded       that node restarted: start to the last name answering, RSS, bytes per record
  etcd           the same import into a node on a one-member etcd, its restart (which resumes
                 from the node's local replica), and a start with the replica deleted (which
                 reads the whole store, as a first start does)
  export         `turnout export ZONE` of the 1M zone back to a zone file (one shape only)

RSS is read 3 s after the last name answers (after the start's scratch memory is handed back).
Bytes per record = RSS / records, the whole process included, as for Knot.

    bench/million.py                       # both shapes, etcd included
    SHAPES=one BACKENDS=embedded bench/million.py     # the 1M zone on the embedded store only
    BACKENDS=etcd REFERENCE=0 bench/million.py        # etcd only, without Knot and zone files
    N=200000 SHAPES=one bench/million.py   # smaller

Knobs (environment): SHAPES ("one many"), N (1000000: records of the one-zone shape), ZONES
(1000) and PER_ZONE (1000) for the other, BACKENDS ("embedded etcd"), REFERENCE (1: Knot and
`--zone-file` too), BIN (a turnout binary; built with cargo when not given), LOGS (a directory
that keeps each node's log, `NN-name.log` in the order of the starts; the work directory with
its logs is removed at the end). Needs knotd (Debian's knot), etcd (etcd-server) and dig; installs none.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHAPES = os.environ.get("SHAPES", "one many").split()
N = int(os.environ.get("N", "1000000"))
ZONES = int(os.environ.get("ZONES", "1000"))
PER_ZONE = int(os.environ.get("PER_ZONE", "1000"))
BACKENDS = os.environ.get("BACKENDS", "embedded etcd").split()
ETCD = "etcd" in BACKENDS
REFERENCE = os.environ.get("REFERENCE", "1") == "1"
DEADLINE = 900  # seconds any one step may take
LOGS = os.environ.get("LOGS", "")  # a directory to keep every node's log in, numbered by start
STARTS = [0]

procs = []


def say(*a):
    print("bench/million.py:", *a, file=sys.stderr, flush=True)


def cleanup(*_):
    for p in procs:
        if p.poll() is None:
            p.kill()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def start(args, log, **kw):
    p = subprocess.Popen(args, stdout=open(log, "w"), stderr=subprocess.STDOUT, **kw)
    procs.append(p)
    return p


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wait_log(log, pattern, proc, what):
    end = time.time() + DEADLINE
    while time.time() < end:
        text = open(log).read()
        m = re.search(pattern, text)
        if m:
            return m
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited:\n{text[-3000:]}")
        time.sleep(0.02)
    raise SystemExit(f"{what}: {pattern!r} not in its log after {DEADLINE} s")


def answers(port, name):
    out = subprocess.run(["dig", "+short", "+time=1", "+tries=1", "-p", str(port), "@127.0.0.1", name, "A"],
                         capture_output=True, text=True).stdout.strip()
    return bool(out) and not out.startswith(";")


def wait_answer(port, name, proc, what):
    end = time.time() + DEADLINE
    while time.time() < end:
        if answers(port, name):
            return time.time()
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited before answering {name}")
        time.sleep(0.02)
    raise SystemExit(f"{what} did not answer {name} within {DEADLINE} s")


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def zone_text(origin, records):
    lines = [f"$ORIGIN {origin}\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 60\n@ NS ns1\n"]
    for i in range(records - 2):
        lines.append(f"host{i} A 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}\n")
    return "".join(lines)


def shape_files(work, shape):
    """[(origin, path)], total records, a name that answers last (the highest-numbered)."""
    d = os.path.join(work, shape)
    os.makedirs(d)
    if shape == "one":
        path = os.path.join(d, "million.test.zone")
        with open(path, "w") as f:
            f.write(zone_text("million.test.", N))
        return [("million.test.", path)], N, f"host{N - 3}.million.test."
    files = []
    for z in range(ZONES):
        origin = f"z{z:04d}.test."
        path = os.path.join(d, f"{origin}zone")
        with open(path, "w") as f:
            f.write(zone_text(origin, PER_ZONE))
        files.append((origin, path))
    return files, ZONES * PER_ZONE, f"host{PER_ZONE - 3}.{files[-1][0]}"


def knot(work, files, last):
    d = tempfile.mkdtemp(dir=work)
    port = free_port()
    conf = [f"server:\n  rundir: {d}\n  listen: 127.0.0.1@{port}\n  background-workers: 2\n",
            f"database:\n  storage: {d}\n", "log:\n  - target: stderr\n    any: warning\n",
            f"template:\n  - id: default\n    storage: {d}\n    journal-content: none\n    zonefile-sync: -1\n",
            "zone:\n"]
    conf += [f"  - domain: {origin}\n    file: {path}\n" for origin, path in files]
    with open(os.path.join(d, "knot.conf"), "w") as f:
        f.write("".join(conf))
    t0 = time.time()
    p = start(["knotd", "-c", os.path.join(d, "knot.conf")], os.path.join(d, "knot.log"))
    t1 = wait_answer(port, last, p, "knotd")
    time.sleep(3)
    rss = rss_mib(p.pid)
    stop(p)
    return t1 - t0, rss


def serve_args(data, extra=()):
    return [BIN, "serve", "--dns", "127.0.0.1:0", "--api", "127.0.0.1:0", "--controls", "127.0.0.1:0",
            "--udp-workers", "2", "--data-dir", data, *extra]


def turnout_start(work, name, extra, last):
    """Starts a node; returns (process, seconds to the last name answering, RSS MiB, API URL)."""
    data = os.path.join(work, name)
    os.makedirs(data, exist_ok=True)
    log = os.path.join(work, f"{name}.log")
    if LOGS:
        os.makedirs(LOGS, exist_ok=True)
        STARTS[0] += 1
        log = os.path.join(LOGS, f"{STARTS[0]:02d}-{name}.log")
    t0 = time.time()
    p = start(serve_args(data, extra), log)
    port = int(wait_log(log, r"listening for DNS/UDP on 127\.0\.0\.1:(\d+)", p, name).group(1))
    api = wait_log(log, r"API on (http://[0-9.:]+)", p, name).group(1)
    t1 = wait_answer(port, last, p, name) if last else time.time()
    time.sleep(3)
    return p, t1 - t0, rss_mib(p.pid), api, data


def import_all(api, data, files):
    t0 = time.time()
    for _, path in files:
        subprocess.run([BIN, "import", path, "--api", api, "--data-dir", data, "--output", "json"],
                       check=True, stdout=subprocess.DEVNULL, timeout=DEADLINE)
    return time.time() - t0


def etcd_start(work):
    d = os.path.join(work, "etcd")
    client, peer = free_port(), free_port()
    p = start(["etcd", "--name", "m0", "--data-dir", d,
               "--listen-client-urls", f"http://127.0.0.1:{client}", "--advertise-client-urls", f"http://127.0.0.1:{client}",
               "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
               "--initial-cluster", f"m0=http://127.0.0.1:{peer}", "--max-txn-ops", "10000",
               "--max-request-bytes", "8388608", "--quota-backend-bytes", str(8 << 30),
               "--auto-compaction-mode", "revision", "--auto-compaction-retention", "10000"],
              os.path.join(work, "etcd.log"))
    wait_log(os.path.join(work, "etcd.log"), "ready to serve client requests", p, "etcd")
    return p, f"etcd://127.0.0.1:{client}"


def main():
    global BIN
    for tool in ("knotd", "dig") + (("etcd",) if ETCD else ()):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            raise SystemExit(f"{tool} not found")
    BIN = os.environ.get("BIN")
    if not BIN:
        subprocess.run(["cargo", "build", "--release", "--locked", "-p", "turnout",
                        "--manifest-path", os.path.join(ROOT, "Cargo.toml")], check=True)
        BIN = os.path.join(ROOT, "target/release/turnout")
    work = tempfile.mkdtemp(prefix="turnout-million.")
    rows = []
    try:
        for shape in SHAPES:
            files, records, last = shape_files(work, shape)
            label = "1 zone of %d" % N if shape == "one" else f"{ZONES} zones of {PER_ZONE}"
            if REFERENCE:
                say(f"{label}: knot")
                secs, rss = knot(work, files, last)
                rows.append((label, "Knot (zone file)", f"{secs:.2f} s", f"{rss:.0f}", f"{rss * 1048576 / records:.0f}"))
                say(f"{label}: turnout serve --zone-file")
                extra = [a for _, path in files for a in ("--zone-file", path)]
                p, secs, rss, _, _ = turnout_start(work, f"{shape}-zonefile", extra, last)
                stop(p)
                rows.append((label, "Turnout (zone file)", f"{secs:.2f} s", f"{rss:.0f}", f"{rss * 1048576 / records:.0f}"))
            backends = [("embedded", [])] if "embedded" in BACKENDS else []
            etcd = None
            if ETCD:
                etcd_dir = os.path.join(work, f"{shape}-etcd")
                os.makedirs(etcd_dir)
                etcd, url = etcd_start(etcd_dir)
                backends.append(("etcd", ["--store", url, "--node-name", "bench"]))
            for backend, extra in backends:
                say(f"{label}: import into a node on the {backend} store")
                p, _, _, api, data = turnout_start(work, f"{shape}-node-{backend}", extra, None)
                secs = import_all(api, data, files)
                rows.append((label, f"`turnout import` ({backend})", f"{secs:.1f} s", "-", "-"))
                if shape == "one" and backend == BACKENDS[0]:
                    t0 = time.time()
                    with open(os.path.join(work, "export.zone"), "w") as out:
                        subprocess.run([BIN, "export", files[0][0], "--api", api, "--data-dir", data],
                                       check=True, stdout=out, timeout=DEADLINE)
                    secs = time.time() - t0
                    exported = sum(1 for line in open(os.path.join(work, "export.zone")) if line.strip() and not line.startswith((";", "$")))
                    rows.append((label, f"`turnout export` ({exported} records)", f"{secs:.1f} s", "-", "-"))
                stop(p)
                say(f"{label}: restart on the {backend} store")
                p, secs, rss, _, data = turnout_start(work, f"{shape}-node-{backend}", extra, last)
                stop(p)
                rows.append((label, f"Turnout ({backend} store), restart", f"{secs:.2f} s", f"{rss:.0f}", f"{rss * 1048576 / records:.0f}"))
                if backend == "etcd":
                    # Without its local replica a node reads the whole store (a first start).
                    say(f"{label}: start on the etcd store without the local replica")
                    os.remove(os.path.join(data, "store-replica.redb"))
                    p, secs, rss, _, _ = turnout_start(work, f"{shape}-node-{backend}", extra, last)
                    stop(p)
                    rows.append((label, "Turnout (etcd store), start without its replica", f"{secs:.2f} s", f"{rss:.0f}", f"{rss * 1048576 / records:.0f}"))
            if etcd:
                stop(etcd)
            shutil.rmtree(os.path.join(work, shape))
    finally:
        cleanup()
        shutil.rmtree(work, ignore_errors=True)
    widths = [max(len(r[i]) for r in rows + [("shape", "server", "start / time", "RSS MiB", "bytes/record")]) for i in range(5)]
    for r in [("shape", "server", "start / time", "RSS MiB", "bytes/record")] + rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    main()
