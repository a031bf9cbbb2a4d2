#!/usr/bin/env python3
"""A stand-in for Rekor v1's search and entry API (no Rekor can run here): serves
POST /api/v1/index/retrieve {"hash": "sha256:<hex>"} and GET /api/v1/log/entries/<uuid> from a
JSON file the test writes (re-read on every request): {"<uuid>": {"hash": "<hex>", "entry":
<LogEntryAnon>}}. Every request is appended to LOG. The entries are made by the test with its
private Rekor key; this server only stores and returns them, as Rekor's API does.

Usage: rekor_search.py ENTRIES.json LOG   (prints the port, then serves on 127.0.0.1)
"""
import http.server
import json
import sys

entries_file, log_file = sys.argv[1], sys.argv[2]


def entries():
    try:
        with open(entries_file) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def note(self):
        with open(log_file, "a") as f:
            f.write(f"{self.command} {self.path}\n")

    def reply(self, status, value):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        self.note()
        if self.path != "/api/v1/index/retrieve":
            return self.reply(404, {"message": "not found"})
        query = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        want = query.get("hash", "").removeprefix("sha256:")
        self.reply(200, [u for u, e in entries().items() if e["hash"] == want])

    def do_GET(self):
        self.note()
        prefix = "/api/v1/log/entries/"
        uuid = self.path[len(prefix):] if self.path.startswith(prefix) else None
        e = entries().get(uuid) if uuid else None
        if e is None:
            return self.reply(404, {"message": "entry not found"})
        self.reply(200, {uuid: e["entry"]})


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
