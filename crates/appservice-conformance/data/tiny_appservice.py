#!/usr/bin/env python3
"""A tiny Matrix appservice in Python's http.server, written the way many are: it works with a
homeserver, but has typical bugs. The conformance suite must find exactly these:

1. A wrong hs_token answers 401 M_UNKNOWN_TOKEN (mautrix-go's answer); the spec says 403 M_FORBIDDEN.
2. Unknown paths get http.server's plain-text/HTML 404, with no Matrix errcode.
3. Unsupported methods get http.server's 501, not 405 M_UNRECOGNIZED.
4. A ping with "transaction_id": null (what Synapse sends) is refused with 400.
5. A user query answers 200 without registering the user first (matrix-appservice-node's stub).
6. Its errors carry no "error" message.

Usage: tiny_appservice.py PORT HS_TOKEN
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

PORT, HS_TOKEN = int(sys.argv[1]), sys.argv[2]
seen_transactions = set()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorized(self):
        auth = self.headers.get("Authorization", "")
        if not auth:
            self.reply(401, {"errcode": "M_MISSING_TOKEN"})
            return False
        if auth != "Bearer " + HS_TOKEN:
            self.reply(401, {"errcode": "M_UNKNOWN_TOKEN"})  # bug 1 (and bug 6)
            return False
        return True

    def body(self):
        length = int(self.headers.get("Content-Length", 0))
        return self.rfile.read(length)

    def do_PUT(self):
        path = urlparse(self.path).path
        if not path.startswith("/_matrix/app/v1/transactions/"):
            return self.send_error(404)  # bug 2
        raw = self.body()
        if not self.authorized():
            return
        try:
            txn = json.loads(raw)
        except ValueError:
            return self.reply(400, {"errcode": "M_NOT_JSON"})
        if not isinstance(txn, dict) or not isinstance(txn.get("events"), list):
            return self.reply(400, {"errcode": "M_BAD_JSON"})
        seen_transactions.add(path.rsplit("/", 1)[1])
        self.reply(200, {})

    def do_POST(self):
        path = urlparse(self.path).path
        if path != "/_matrix/app/v1/ping":
            return self.send_error(404)  # bug 2
        raw = self.body()
        if not self.authorized():
            return
        ping = json.loads(raw or b"{}")
        if "transaction_id" in ping and not isinstance(ping["transaction_id"], str):
            return self.reply(400, {"errcode": "M_BAD_JSON"})  # bug 4
        self.reply(200, {})

    def do_GET(self):
        path = urlparse(self.path).path
        if not self.authorized():
            return
        if path.startswith("/_matrix/app/v1/users/"):
            return self.reply(200, {})  # bug 5: never registered the user
        if path.startswith("/_matrix/app/v1/rooms/") or path.startswith("/_matrix/app/v1/thirdparty/"):
            return self.reply(404, {"errcode": "M_NOT_FOUND"})
        self.send_error(404)  # bug 2


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print("ready", flush=True)
server.serve_forever()
