"""Helpers for the whole-system scripts under bench/: run `turnout serve` on loopback ports
read from its log, call its API with the data directory's admin token, and ask it DNS
questions over UDP. Python standard library only; nothing leaves the machine."""

import json
import os
import random
import re
import socket
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def build():
    """Builds the release binary and returns its path."""
    subprocess.run(["cargo", "build", "--release", "--locked", "-p", "turnout",
                    "--manifest-path", os.path.join(ROOT, "Cargo.toml")],
                   check=True, stdout=subprocess.DEVNULL)
    return os.path.join(ROOT, "target", "release", "turnout")


class Server:
    """A `turnout serve` process on free loopback ports, with its log collected."""

    def __init__(self, binary, data_dir, extra=()):
        self.binary, self.data_dir = binary, data_dir
        self.proc = subprocess.Popen(
            [binary, "serve", "--dns", "127.0.0.1:0", "--api", "127.0.0.1:0",
             "--controls", "127.0.0.1:0", "--udp-workers", "1", "--data-dir", data_dir, *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "RUST_LOG": os.environ.get("BENCH_LOG", "info")})
        self.log, self.api, self.dns, self.serving = [], None, None, False
        self.controls = None
        ready = threading.Event()

        def drain():
            for line in self.proc.stderr:
                self.log.append(line)
                m = re.search(r"listening for the API on http://(\S+)", line)
                if m:
                    self.api = m.group(1)
                m = re.search(r"listening for routing controls on http://(\S+)", line)
                if m:
                    self.controls = m.group(1)
                m = re.search(r"listening for DNS/UDP on (\S+)", line)
                if m:
                    host, port = m.group(1).rsplit(":", 1)
                    self.dns = (host, int(port))
                if "serving store revision" in line:
                    self.serving = True
                if self.serving and self.api and self.dns and self.controls:
                    ready.set()
        threading.Thread(target=drain, daemon=True).start()
        if not ready.wait(30) or self.api is None or self.dns is None:
            self.proc.kill()
            raise RuntimeError("turnout did not start:\n" + "".join(self.log))
        with open(os.path.join(data_dir, "admin.token")) as f:
            self.token = f.read().strip()

    def call(self, method, path, body=None, timeout=30, base=None):
        """Returns (status, decoded JSON); raises OSError when the server is unreachable.
        `base` is another listener (the routing-control API: `self.controls`)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://{base or self.api}{path}", data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            return {k: int(v.split()[0]) for k, v in
                    (l.split(":", 1) for l in f if l.startswith(("VmRSS", "VmHWM")))}


def query(name, qtype=1):
    """A DNS query packet (RD clear) and its id."""
    qid = random.randrange(65536)
    packet = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        packet += bytes([len(label)]) + label.encode()
    return packet + b"\x00" + struct.pack(">HH", qtype, 1), qid


def answers(sock, server, name, qtype=1, timeout=1.0):
    """The answer records of a UDP query, as (type, rdata bytes) pairs."""
    packet, qid = query(name, qtype)
    sock.settimeout(timeout)
    sock.sendto(packet, server)
    while True:
        data, _ = sock.recvfrom(4096)
        if struct.unpack(">H", data[:2])[0] == qid:
            break
    ancount = struct.unpack(">H", data[6:8])[0]
    i = 12
    while data[i] != 0:      # the question name
        i += data[i] + 1
    i += 5
    out = []
    for _ in range(ancount):
        if data[i] & 0xC0 == 0xC0:
            i += 2
        else:
            while data[i] != 0:
                i += data[i] + 1
            i += 1
        rtype, _, _, rdlen = struct.unpack(">HHIH", data[i:i + 10])
        i += 10
        out.append((rtype, data[i:i + rdlen]))
        i += rdlen
    return out


def answer_a(sock, server, name, timeout=1.0):
    """The A records of `name` (a set of dotted quads), asked over UDP."""
    return {".".join(str(b) for b in rdata)
            for rtype, rdata in answers(sock, server, name, 1, timeout) if rtype == 1}


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def print_percentiles(rows, width=34):
    """Prints one line per (label, values in ms): p50, p90, p99 and max."""
    print(f"{'ms':<{width}}{'p50':>8}{'p90':>8}{'p99':>8}{'max':>8}")
    for label, values in rows:
        print(f"{label:<{width}}" + "".join(f"{percentile(values, p):8.2f}" for p in (50, 90, 99, 100)))
