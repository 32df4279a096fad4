#!/usr/bin/env python3
"""A tiny Consul KV double for the benchmarks (python3 stdlib only).

Follows the documented KV API closely enough for edgeproxy's watcher:
  GET    /v1/kv/<key>[?recurse][&index=N&wait=30s]   blocking query, X-Consul-Index
  PUT    /v1/kv/<key>        body = raw value          -> true
  DELETE /v1/kv/<key>                                   -> true (tombstone keeps the index)
Values are returned base64-encoded; an empty value is `null`. A prefix with no keys answers
404 with X-Consul-Index. Loopback only.

Usage: consul_double.py [--port 0] [--port-file FILE]
The chosen port is printed on stdout as "listening 127.0.0.1:PORT" (and written to
--port-file when given).
"""

import argparse
import base64
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

MAX_WAIT = 600.0


class Kv:
    def __init__(self):
        self.cond = threading.Condition()
        self.index = 1
        self.entries = {}  # key -> (value bytes, create index, modify index)
        self.tombstones = {}  # key -> delete index

    def prefix_index(self, prefix):
        idx = [m for k, (_, _, m) in self.entries.items() if k.startswith(prefix)]
        idx += [i for k, i in self.tombstones.items() if k.startswith(prefix)]
        return max(max(idx, default=self.index), 1)

    def put(self, key, value):
        with self.cond:
            self.index += 1
            i = self.index
            create = self.entries.get(key, (None, i, i))[1]
            self.entries[key] = (value, create, i)
            self.tombstones.pop(key, None)
            self.cond.notify_all()
            return i

    def delete(self, key):
        with self.cond:
            self.index += 1
            i = self.index
            self.entries.pop(key, None)
            self.tombstones[key] = i
            self.cond.notify_all()
            return i


def parse_wait(s):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)?", s or "")
    if not m:
        return 300.0
    v = float(m.group(1))
    unit = m.group(2) or "s"
    return min(v / 1000 if unit == "ms" else v * 60 if unit == "m" else v, MAX_WAIT)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "consul-double"
    # Headers and body are separate writes: without TCP_NODELAY, Nagle + the client's
    # delayed ACK hold the body back ~40 ms, which would be measured as watcher latency.
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):  # quiet
        pass

    def reply(self, status, body=b"", index=None):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if index is not None:
            self.send_header("X-Consul-Index", str(index))
        self._headers_buffer.append(b"\r\n" + body)  # one write: head and body together
        self.flush_headers()

    def key_and_query(self):
        parts = urlsplit(self.path)
        if not parts.path.startswith("/v1/kv/"):
            return None, {}
        return unquote(parts.path[len("/v1/kv/"):]), parse_qs(parts.query, keep_blank_values=True)

    def do_GET(self):
        kv = self.server.kv
        key, q = self.key_and_query()
        if key is None:
            return self.reply(404)
        recurse = "recurse" in q
        wanted = int((q.get("index") or ["0"])[0] or 0)
        with kv.cond:
            if wanted > 0:
                deadline = time.monotonic() + parse_wait((q.get("wait") or [""])[0])
                while kv.prefix_index(key) <= wanted:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    kv.cond.wait(left)
            index = kv.prefix_index(key)
            items = []
            for k in sorted(kv.entries):
                if (recurse and k.startswith(key)) or k == key:
                    v, c, m = kv.entries[k]
                    items.append({
                        "Key": k,
                        "Value": base64.b64encode(v).decode() if v else None,
                        "CreateIndex": c, "ModifyIndex": m, "LockIndex": 0, "Flags": 0,
                    })
        if not items:
            return self.reply(404, b"", index)
        self.reply(200, json.dumps(items).encode(), index)

    def do_PUT(self):
        key, _ = self.key_and_query()
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if key is None:
            return self.reply(404)
        self.reply(200, b"true", self.server.kv.put(key, body))

    def do_DELETE(self):
        key, _ = self.key_and_query()
        if key is None:
            return self.reply(404)
        self.reply(200, b"true", self.server.kv.delete(key))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    args = ap.parse_args()
    srv = Server(("127.0.0.1", args.port), Handler)
    srv.kv = Kv()
    addr = "127.0.0.1:%d" % srv.server_address[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(addr)
        import os
        os.replace(args.port_file + ".tmp", args.port_file)
    print("listening", addr, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
