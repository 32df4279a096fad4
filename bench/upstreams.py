#!/usr/bin/env python3
"""Issue 22: gRPC over h2c and TCP stream proxying, edgeproxy side by side with nginx
(`grpc_pass`, `stream { proxy_pass; }`) on the same backends.

  python3 bench/upstreams.py --edgeproxy PATH [--requests N] [--reps N]

The proxy under test is pinned to core 0 (edgeproxy `threads = 1`, nginx one worker); the
load generator and the backend share core 1. gRPC: h2load (8 connections x 16 streams)
POSTing a 5-byte gRPC message with `content-type: application/grpc` and `te: trailers`
to a backend nginx answering a gRPC message and `grpc-status: 0` trailers over h2c.
Stream: redis-benchmark (50 clients, SET and GET) to a redis-server, directly and through
each proxy. Prints requests/s (best of the reps) and latency (h2load: mean and max per
request; redis-benchmark: p50). Bounded: every run has a request count; nothing but
127.0.0.1.
"""

import argparse
import os
import re
import subprocess
import tempfile

import harness


def run(name, cmd, core, port, dir):
    """`cmd` pinned to `core` (harness.start: logged, stopped at exit), once it listens."""
    p = harness.start(name, cmd, str(core), dir)
    harness.wait_port(port, p, name, dir)
    return p


def nginx(dir, name, body, core, port):
    conf = os.path.join(dir, name + ".conf")
    with open(conf, "w") as f:
        f.write(f"""load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1; daemon off; pid {dir}/{name}.pid; error_log {dir}/{name}.err;
events {{ worker_connections 4096; }}
{body}
""")
    return run(name, ["nginx", "-p", dir, "-c", conf, "-e", f"{dir}/{name}.err"], core, port, dir)


def h2load(port, n, msg):
    out = subprocess.run(
        ["taskset", "-c", "1", "h2load", "-n", str(n), "-c", "8", "-m", "16", "-t", "1",
         "-d", msg, "-H", "content-type: application/grpc", "-H", "te: trailers",
         f"http://127.0.0.1:{port}/bench.Echo/Unary"],
        capture_output=True, text=True, timeout=300).stdout
    rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))
    ok = re.search(r"(\d+) succeeded, (\d+) failed", out)
    lat = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)", out)
    return rps, f"mean {lat.group(3)} max {lat.group(2)}", f"{ok.group(1)} ok {ok.group(2)} failed"


def redis_bench(port, n):
    out = subprocess.run(
        ["taskset", "-c", "1", "redis-benchmark", "-p", str(port), "-n", str(n), "-c", "50",
         "-t", "set,get", "-q"], capture_output=True, text=True, timeout=300).stdout
    rows = re.findall(r"(SET|GET): ([\d.]+) requests per second, p50=([\d.]+) msec", out)
    return {k: (float(r), float(p)) for k, r, p in rows}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edgeproxy", required=True)
    ap.add_argument("--requests", type=int, default=40000)
    ap.add_argument("--reps", type=int, default=2)
    a = ap.parse_args()
    dir = tempfile.mkdtemp(prefix="edgeproxy-upstreams-bench-")
    msg = os.path.join(dir, "msg")
    with open(msg, "wb") as f:
        f.write(b"\x00\x00\x00\x00\x05hello")
    backend, ep_grpc, ng_grpc, redis, ep_tcp, ng_tcp = harness.free_ports(6)
    procs = []
    try:
        # keepalive_requests: nginx's default (1000) would GOAWAY every 1000 streams.
        procs.append(nginx(dir, "backend", f"""http {{ access_log off; keepalive_requests 100000000;
  server {{ listen 127.0.0.1:{backend} http2;
    location / {{ default_type application/grpc; add_trailer grpc-status 0;
                  return 200 "AAAAAok"; }} }} }}""", 1, backend))
        procs.append(run("redis-server", ["redis-server", "--port", str(redis), "--save", "",
                                          "--appendonly", "no"], 1, redis, dir))
        procs.append(nginx(dir, "proxy", f"""http {{ access_log off; keepalive_requests 100000000;
  upstream g {{ server 127.0.0.1:{backend}; keepalive 64; keepalive_requests 100000000; }}
  server {{ listen 127.0.0.1:{ng_grpc} http2; location / {{ grpc_pass grpc://g; }} }} }}
stream {{ server {{ listen 127.0.0.1:{ng_tcp}; proxy_pass 127.0.0.1:{redis}; }} }}""", 0, ng_grpc))
        conf = os.path.join(dir, "edgeproxy.toml")
        with open(conf, "w") as f:
            f.write(f"""[server]
threads = 1
[upstreams.g]
servers = [{{ addr = "127.0.0.1:{backend}" }}]
protocol = "h2c"
[upstreams.r]
servers = [{{ addr = "127.0.0.1:{redis}" }}]
[[servers]]
listen = [{{ addr = "127.0.0.1:{ep_grpc}", http2 = true }}]
[[servers.routes]]
path_prefix = "/"
upstream = "g"
[[streams]]
listen = ["127.0.0.1:{ep_tcp}"]
upstream = "r"
""")
        procs.append(run("edgeproxy", [a.edgeproxy, "-c", conf], 0, ep_grpc, dir))
        print(f"gRPC unary over h2c, {a.requests} calls, 8 connections x 16 streams (best of {a.reps})")
        for name, port in [("direct", backend), ("nginx grpc_pass", ng_grpc), ("edgeproxy h2c", ep_grpc)]:
            best = max((h2load(port, a.requests, msg) for _ in range(a.reps)), key=lambda r: r[0])
            print(f"  {name:18} {best[0]:10.0f} req/s   {best[1]:24}  {best[2]}")
        print(f"TCP stream: redis-benchmark -n {a.requests} -c 50 SET/GET (best of {a.reps})")
        for name, port in [("direct", redis), ("nginx stream", ng_tcp), ("edgeproxy stream", ep_tcp)]:
            runs = [redis_bench(port, a.requests) for _ in range(a.reps)]
            for op in ("SET", "GET"):
                rps, p50 = max((r[op] for r in runs if op in r), key=lambda x: x[0])
                print(f"  {name:18} {op} {rps:10.0f} req/s   p50 {p50} ms")
    finally:
        for p in procs:
            harness.stop(p)


if __name__ == "__main__":
    main()
