#!/usr/bin/env python3
"""Reload in place, measured (BENCHMARKS.md, "Reload in place"). Python stdlib only.

  python3 bench/reload.py --edgeproxy PATH [--products 500] [--reloads 100]

An application node (page route, L1 + Redis) is warmed with N products, then:
  1. one `-s reload` (in place) and every product requested again: the origin and Redis
     requests the reload caused, and the X-Cache levels that answered;
  2. the same after one `-s upgrade` (the process hand-over, what a reload was before);
  3. `--reloads` reloads alternating two configs: command wall time (p50/p99), and whether a
     new connection right after the command returns answers from the new config.
Loopback only; every process is started here and killed on exit.
"""

import argparse
import http.client
import http.server
import json
import os
import signal
import socket
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time

PROCS = []
WORK = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"port {port} never opened")


class Origin(http.server.BaseHTTPRequestHandler):
    hits = 0
    lock = threading.Lock()

    def do_GET(self):
        with Origin.lock:
            Origin.hits += 1
        pid = self.path.rsplit("/", 1)[-1]
        body = json.dumps({"id": pid, "name": f"Product {pid}"}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def config(listen, origin, redis, version):
    return f"""
[server]
pid_file = "edgeproxy.pid"
upgrade_sock = "upgrade.sock"
grace_period = "1s"
graceful_shutdown_timeout = "2s"

[upstreams.origin]
servers = [{{ addr = "127.0.0.1:{origin}" }}]

[caches.main]
l1_capacity = "64MiB"
[caches.main.redis]
mode = "single"
addresses = ["127.0.0.1:{redis}"]

[[servers]]
listen = ["127.0.0.1:{listen}"]

[[servers.routes]]
path = "/version"
plugins = [{{ name = "respond", config = {{ body = "{version}" }} }}]

[[servers.routes]]
path = "/product"
[[servers.routes.plugins]]
name = "page"
[servers.routes.plugins.config]
cache = "main"
template = "page.hbs"
params = {{ productId = {{ pattern = "[0-9]{{1,12}}" }} }}
sources = [{{ name = "p", key = "p_{{productId}}", origin = "origin", path = "/p/{{productId}}", ttl = "10m" }}]
"""


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read().decode()
    cache = r.getheader("x-cache")
    c.close()
    return r.status, body, cache


def redis_calls(port):
    out = subprocess.run(["redis-cli", "-p", str(port), "info", "commandstats"],
                         capture_output=True, text=True).stdout
    calls = 0
    for line in out.splitlines():
        if line.startswith("cmdstat_"):
            calls += int(line.split("calls=")[1].split(",")[0])
    return calls


def sweep(port, n):
    levels = {}
    for i in range(1, n + 1):
        status, _, cache = get(port, f"/product?productId={i}")
        assert status == 200, status
        levels[cache] = levels.get(cache, 0) + 1
    return levels


def control(binary, action, conf):
    t = time.perf_counter()
    out = subprocess.run([binary, "-s", action, "-c", conf], capture_output=True, text=True)
    took = time.perf_counter() - t
    if out.returncode != 0:
        sys.exit(f"-s {action} failed: {out.stderr}")
    return took


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edgeproxy", required=True)
    ap.add_argument("--products", type=int, default=500)
    ap.add_argument("--reloads", type=int, default=100)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="reload-bench-")
    WORK.append(work)
    redis = free_port()
    PROCS.append(subprocess.Popen(
        ["redis-server", "--port", str(redis), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, start_new_session=True))
    wait_port(redis)
    origin_port = free_port()
    srv = Server(("127.0.0.1", origin_port), Origin)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    listen = free_port()
    conf = os.path.join(work, "edge.toml")
    with open(os.path.join(work, "page.hbs"), "w") as f:
        f.write("<h1>{{p.name}}</h1>")
    with open(conf, "w") as f:
        f.write(config(listen, origin_port, redis, "v0"))
    PROCS.append(subprocess.Popen([a.edgeproxy, "-c", conf], cwd=work,
                                  stderr=open(os.path.join(work, "err.log"), "w"),
                                  start_new_session=True))
    wait_port(listen)
    n = a.products
    sweep(listen, n)
    warm = sweep(listen, n)
    print(f"warm sweep: {warm}")

    results = {}
    for action in ["reload", "upgrade"]:
        hits, calls = Origin.hits, redis_calls(redis)
        with open(conf, "w") as f:
            f.write(config(listen, origin_port, redis, action))
        took = control(a.edgeproxy, action, conf)
        levels = sweep(listen, n)
        results[action] = {
            "command_s": round(took, 3),
            "origin_requests": Origin.hits - hits,
            # less the INFO call of the measurement itself
            "redis_commands": redis_calls(redis) - calls - 1,
            "x_cache": levels,
        }
        print(f"after one -s {action}: {results[action]}")
        sweep(listen, n)  # warm again for the next step

    times, stale = [], 0
    for i in range(a.reloads):
        version = f"r{i}"
        with open(conf, "w") as f:
            f.write(config(listen, origin_port, redis, version))
        times.append(control(a.edgeproxy, "reload", conf))
        if get(listen, "/version")[1] != version:
            stale += 1
    ms = [t * 1000 for t in times]
    print(f"{a.reloads} reloads: command p50 {pct(ms, 50):.1f} ms, p99 {pct(ms, 99):.1f} ms, "
          f"max {max(ms):.1f} ms; new connection right after the command answered the "
          f"old config {stale} times")


def cleanup():
    for p in PROCS:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
    # The upgraded edgeproxy runs as a daemon in its own session: kill it by its pid file.
    for work in WORK:
        try:
            with open(os.path.join(work, "edgeproxy.pid")) as f:
                os.kill(int(f.read().strip()), signal.SIGKILL)
        except (OSError, ValueError):
            pass


if __name__ == "__main__":
    try:
        main()
    finally:
        cleanup()
