#!/usr/bin/env python3
"""A webhook receiver that verifies Turnout's signatures (docs/health-checks.md, "Webhooks").

Usage: webhook-receiver.py SECRET_FILE [PORT [CERT KEY]]

Listens on 127.0.0.1:PORT (0, the default, picks a free port and prints it), over HTTPS when
given a certificate and key. Answers 204 to a delivery whose signature holds and 401 to any
other, and prints one JSON line per request: whether it was verified, its headers, its body.
"""
import hashlib
import hmac
import http.server
import json
import ssl
import sys
import time


def verify(secret: bytes, headers, body: bytes, tolerance: int = 300) -> bool:
    """True when the body was signed with the secret within `tolerance` seconds."""
    timestamp = headers.get("Turnout-Timestamp", "")
    signature = headers.get("Turnout-Signature", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False
    mac = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest("v1=" + mac, signature)


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        secret = f.readline().strip().encode()
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            ok = verify(secret, self.headers, body)
            self.send_response(204 if ok else 401)
            self.end_headers()
            headers = {k.lower(): v for k, v in self.headers.items()}
            line = {"verified": ok, "headers": headers, "body": body.decode("utf-8", "replace")}
            print(json.dumps(line), flush=True)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    if len(sys.argv) > 4:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[3], sys.argv[4])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
