#!/usr/bin/env python3
"""edgeproxy vs nginx benchmarks (python3 stdlib only). See BENCHMARKS.md.

  bench.py proxy    issue 2: plain proxying, nginx proxy_pass + upstream keepalive (floor.py)
  bench.py respond  issue 23: a local 32-byte answer, no upstream (floor.py)
  bench.py hash     issue 3: hash $arg_productId consistent vs balance = "hash"
  bench.py consul   issue 3: Consul KV write -> first request routed to the new node
  bench.py page     issue 4: product page, nginx + Lua vs the `page` plugin, per workload
                    (--page-workloads; pagebench.py, workload.py)
  bench.py twotier  issue 12: the whole two-tier system (twotier.py)
  bench.py instr    issue 12: CPU instructions per request under callgrind (instr.py)
  bench.py all      everything above

`proxy`, `respond` and `instr` also run bare Pingora (--baseline) and Pingap (--pingap, or
its cached build from `make -C bench pingap`; without it they run and say so).
Every comparison runs all its proxies in the same job: the proxy under test is pinned to
core 0 (`taskset -c 0`), wrk and the backend to core 1. All of them are started, then
loaded one at a time, alternating order per repetition. Loopback only; every process is
started in its own session and killed (by its id) on exit.
"""

import argparse
import atexit
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import pingap_peer
from harness import *  # noqa: F401,F403 (the shared machinery)
from compare import *  # noqa: F401,F403
from harness import BENCH, LOAD_CORE, PROXY_CORE, REPO  # noqa: F401

from floor import bench_proxy, bench_respond  # noqa: E402
from pagebench import bench_page  # noqa: E402
from twotier import bench_twotier  # noqa: E402
from instr import bench_instr  # noqa: E402


# ---------------------------------------------------------------- benchmarks

def bench_hash(args):
    run = os.path.join(args.run_dir, "hash")
    os.makedirs(run)
    ports = free_ports(args.backends + 2)
    bports, eport, nport = ports[:-2], ports[-2], ports[-1]
    backend = start_backend(run, bports)
    ep = start_edgeproxy(
        "edgeproxy", args.edgeproxy, os.path.join(BENCH, "edgeproxy", "hash.toml"), run,
        {"LISTEN": "127.0.0.1:%d" % eport,
         "SERVERS": ", ".join('{ addr = "127.0.0.1:%d", weight = 1 }' % p for p in bports)})
    ng = start_nginx("nginx", os.path.join(BENCH, "nginx", "hash.conf"), PROXY_CORE, run,
                     {"LISTEN": "127.0.0.1:%d" % nport,
                      "SERVERS": "\n".join("        server 127.0.0.1:%d;" % p for p in bports)})
    wait_port(eport, ep, "edgeproxy", run)
    wait_port(nport, ng, "nginx", run)
    # Sanity: both spread keys over every backend, and (issue 3) map keys the same way.
    same, seen = 0, {"edgeproxy": set(), "nginx": set()}
    n = 1000
    for k in range(1, n + 1):
        got = []
        for name, port in (("edgeproxy", eport), ("nginx", nport)):
            st, h, _ = get(port, "/product?productId=%d" % k)
            if st != 200:
                die("%s answered %d for productId=%d" % (name, st, k))
            got.append(h.get("X-Backend"))
            seen[name].add(h.get("X-Backend"))
        same += got[0] == got[1]
    log("key->backend agreement edgeproxy vs nginx over %d keys: %d/%d; backends used: "
        "edgeproxy %d, nginx %d" % (n, same, n, len(seen["edgeproxy"]), len(seen["nginx"])))
    s = compare("Distribution tier (issue 3): consistent hash on $arg_productId over %d backends, "
                "%d keys" % (args.backends, args.keys),
                [Target("edgeproxy", "http://127.0.0.1:%d/" % eport, ep),
                 Target("nginx", "http://127.0.0.1:%d/" % nport, ng)],
                [backend], args, "hash", args.keys)
    s["mapping_agreement"] = {"keys": n, "same_backend": same}
    save("hash", s, args)
    for p in (ep, ng, backend):
        stop(p)
    return s


def pctl(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def bench_consul(args):
    run = os.path.join(args.run_dir, "consul")
    os.makedirs(run)
    changes = args.changes
    ports = free_ports(2 + changes + 1)
    base, newports, eport = ports[:2], ports[2:2 + changes], ports[-1]
    backend = start_backend(run, base + newports)
    port_file = os.path.join(run, "consul.addr")
    consul = start("consul-double", [sys.executable, os.path.join(BENCH, "consul_double.py"),
                                     "--port-file", port_file], LOAD_CORE, run)
    deadline = time.time() + 10
    while not os.path.exists(port_file):
        if consul.poll() is not None or time.time() > deadline:
            die("the Consul double did not start; log:\n" + tail(os.path.join(run, "consul-double.log")))
        time.sleep(0.05)
    with open(port_file) as f:
        consul_addr = f.read().strip()
    prefix = "upstreams/bench/"

    def kv(method, key, value=b""):
        req = urllib.request.Request("http://%s/v1/kv/%s%s" % (consul_addr, prefix, key),
                                     data=value if method == "PUT" else None, method=method)
        with urllib.request.urlopen(req, timeout=5) as r:
            r.read()

    for p in base:
        kv("PUT", "127.0.0.1:%d" % p, b'{"weight":1}')
    ep = start_edgeproxy("edgeproxy", args.edgeproxy, os.path.join(BENCH, "edgeproxy", "consul.toml"),
                         run, {"LISTEN": "127.0.0.1:%d" % eport, "CONSUL": consul_addr})
    wait_port(eport, ep, "edgeproxy", run)
    os.sched_setaffinity(0, {int(LOAD_CORE)})  # this poller runs on the load core

    conn = [http.client.HTTPConnection("127.0.0.1", eport, timeout=5)]
    key = [0]

    def probe():
        key[0] = key[0] % args.keys + 1
        for attempt in (1, 2):
            try:
                conn[0].request("GET", "/product?productId=%d" % key[0])
                r = conn[0].getresponse()
                r.read()
                return r.status, r.getheader("X-Backend")
            except (http.client.HTTPException, OSError):
                conn[0].close()
                conn[0] = http.client.HTTPConnection("127.0.0.1", eport, timeout=5)
        die("edgeproxy stopped answering during the Consul benchmark")

    deadline = time.time() + 10
    while probe()[0] != 200:
        if time.time() > deadline:
            die("edgeproxy never routed to the Consul-provided backends")
        time.sleep(0.05)
    wait_for_quiet(args)
    lat, probes, prev = [], [], None
    for i, port in enumerate(newports):
        if prev is not None:
            kv("DELETE", "127.0.0.1:%d" % prev)
            # settle: 50 consecutive requests not on the removed node (bounded)
            ok, t_end = 0, time.time() + 5
            while ok < 50:
                if time.time() > t_end:
                    die("requests still reach a node deleted from Consul 5 s later")
                st, b = probe()
                ok = ok + 1 if (st == 200 and b != str(prev)) else 0
        # Isolated changes: the watcher's blocking query is parked again before the write
        # (it starts at most one query per 50 ms); --gap-ms 0 measures bursts instead.
        time.sleep(random.uniform(args.gap_ms, 2 * args.gap_ms) / 1000)
        t0 = time.perf_counter()
        kv("PUT", "127.0.0.1:%d" % port, b'{"weight":10}')
        n = 0
        while True:
            n += 1
            st, b = probe()
            if b == str(port):
                break
            if time.perf_counter() - t0 > 5:
                die("change %d: no request reached the new node 127.0.0.1:%d within 5 s" % (i, port))
        lat.append((time.perf_counter() - t0) * 1000)
        probes.append(n)
        prev = port
    s = {"title": "KV write -> first routed request (issue 3)", "changes": changes,
         "gap_ms": [args.gap_ms, 2 * args.gap_ms],
         "machine": machine(), "load1_end": loadavg(),
         "p50_ms": pctl(lat, 0.5), "p99_ms": pctl(lat, 0.99), "max_ms": max(lat),
         "min_ms": min(lat), "mean_ms": statistics.mean(lat),
         "median_probes": statistics.median(probes), "latencies_ms": lat,
         "edgeproxy_pss_kib": pss_kib(ep.pid)}
    print()
    print("### " + s["title"])
    print()
    print("| changes | p50 | p99 | max | min | probes to hit (median) |")
    print("|---:|---:|---:|---:|---:|---:|")
    print("| %d | %.1f ms | %.1f ms | %.1f ms | %.1f ms | %d |"
          % (changes, s["p50_ms"], s["p99_ms"], s["max_ms"], s["min_ms"], s["median_probes"]))
    print(flush=True)
    os.sched_setaffinity(0, set(range(os.cpu_count())))
    save("consul", s, args)
    for p in (ep, consul, backend):
        stop(p)
    return s


# ---------------------------------------------------------------- main

def find_edgeproxy(given):
    cands = [given] if given else []
    cands += [os.path.join(os.environ.get("CARGO_TARGET_DIR", ""), "release", "edgeproxy")
              if os.environ.get("CARGO_TARGET_DIR") else None,
              os.path.join(REPO, "target", "release", "edgeproxy")]
    for c in cands:
        if c and os.access(c, os.X_OK):
            return os.path.abspath(c)
    die("edgeproxy release binary not found (tried %s): run `cargo build --release` "
        "(or `make -C bench bench`, which builds it) or pass --edgeproxy PATH"
        % ", ".join(c for c in cands if c))


def check_tools(which):
    missing = []
    for tool, pkg in (("nginx", "nginx"), ("wrk", "wrk"), ("taskset", "util-linux")):
        if not shutil.which(tool):
            missing.append("%s (apt-get install %s)" % (tool, pkg))
    if set(which) & {"page", "twotier", "instr"}:
        if not os.path.exists("/usr/lib/nginx/modules/ngx_http_lua_module.so"):
            missing.append("the nginx Lua module (apt-get install libnginx-mod-http-lua)")
        if not os.path.exists("/usr/lib/x86_64-linux-gnu/lua/5.1/cjson.so"):
            missing.append("lua-cjson for nginx (apt-get install lua-cjson)")
    if "instr" in which and not shutil.which("valgrind"):
        missing.append("valgrind (apt-get install valgrind)")
    if missing:
        die("missing: " + "; ".join(missing))
    if (os.cpu_count() or 1) < 2:
        die("needs at least 2 cores (proxy on core 0, load generator on core 1)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("which", nargs="*", default=["all"],
                    choices=["all", "proxy", "respond", "hash", "consul", "page", "twotier",
                             "instr"])
    ap.add_argument("--edgeproxy", help="edgeproxy binary (default: $CARGO_TARGET_DIR or target/release)")
    ap.add_argument("--duration", type=int, default=10, help="seconds per measured run (10)")
    ap.add_argument("--warmup", type=int, default=3, help="warm-up seconds per target (3)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions, median reported (3)")
    ap.add_argument("--conns", type=int, default=64, help="wrk connections, closed loop (64)")
    ap.add_argument("--fixed-conns", type=int, default=16, help="connections of the fixed-rate runs (16)")
    ap.add_argument("--fixed-delay-ms", type=int, default=2,
                    help="shortest per-connection pause of the fixed-rate runs (2 ms: ~16*1000/2.1 "
                         "= 7.5k req/s); longer when --fixed-share of the slowest target is less")
    ap.add_argument("--fixed-share", type=float, default=0.5,
                    help="fixed-rate runs go at most at this share of the slowest target's "
                         "closed-loop req/s, the same rate for every target (0.5)")
    ap.add_argument("--backends", type=int, default=3, help="backends of the hash benchmark (3)")
    ap.add_argument("--keys", type=int, default=10000, help="distinct productId values (10000)")
    ap.add_argument("--page-keys", type=int,
                    help="page: distinct products of every workload (default: the workload's)")
    ap.add_argument("--page-workloads", default="uniform,zipf",
                    help="page: workloads of bench/workload.py, comma-separated (uniform,zipf)")
    ap.add_argument("--twotier-workloads", default="zipf", help="twotier: workloads (zipf)")
    ap.add_argument("--twotier-targets",
                    help="twotier: systems, comma-separated (default all: edgeproxy,"
                         "edgeproxy+hot,nginx,nginx+proxy_cache)")
    ap.add_argument("--instr-jobs", default="respond,proxy,page-uniform,page-zipf,twotier",
                    help="instr: jobs (respond,proxy,page-uniform,page-zipf,twotier; instr.py)")
    ap.add_argument("--instr-requests", type=int, default=3000,
                    help="instr: measured requests per target (3000)")
    ap.add_argument("--instr-conns", type=int, default=16, help="instr: connections (16)")
    ap.add_argument("--instr-warm-dump", action="store_true",
                    help="instr: also dump start-up, fill and warm-up before the measured "
                         "requests (NAME.cg.PID.1; the measured ones are then .2), for "
                         "bench/hot_order.py (with --keep-run-dir)")
    ap.add_argument("--changes", type=int, default=100, help="Consul KV changes (100)")
    ap.add_argument("--gap-ms", type=int, default=100,
                    help="Consul: pause between settling and the next write, uniform in [gap, 2*gap] ms (100)")
    ap.add_argument("--max-load", type=float, default=1.0,
                    help="wait (bounded) for the 1-min load average to drop below this (1.0)")
    ap.add_argument("--quiet-wait", type=int, default=120, help="at most this many seconds (120)")
    ap.add_argument("--noise-pct", type=float, default=10.0,
                    help="a run during which other processes used more than this %% of a core is rerun (10)")
    ap.add_argument("--steal-pct", type=float, default=5.0,
                    help="a run with more hypervisor steal than this %% is noisy and rerun (5)")
    ap.add_argument("--noise-retries", type=int, default=2)
    ap.add_argument("--variant-preload", metavar="LIB",
                    help="proxy bench: add edgeproxy with LD_PRELOAD=LIB (e.g. "
                         "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2); proxy, respond and instr: "
                         "Pingap with LD_PRELOAD=LIB too")
    ap.add_argument("--baseline", metavar="BIN",
                    help="proxy, respond and instr: add plain Pingora (cargo build --release "
                         "--example pingora_baseline) as another target")
    ap.add_argument("--pingap", metavar="BIN",
                    help="proxy, respond and instr: Pingap binary (default: the cached build "
                         "of `make -C bench pingap`, %s, when present)" % pingap_peer.DEFAULT_BINARY)
    ap.add_argument("--save-as", help="proxy, respond and instr: results file name (default: "
                                      "the job's name)")
    ap.add_argument("--results", default=os.path.join(BENCH, "results"))
    ap.add_argument("--keep-run-dir", action="store_true",
                    help="keep the work dir (logs, rendered configs, callgrind dumps for "
                         "callgrind_annotate)")
    args = ap.parse_args()
    which = (["proxy", "respond", "hash", "consul", "page", "twotier", "instr"]
             if "all" in args.which else args.which)
    check_tools(which)
    args.edgeproxy = find_edgeproxy(args.edgeproxy)
    args.pingap = (pingap_peer.find(args.pingap) if set(which) & {"proxy", "respond", "instr"}
                   else None)
    args.run_dir = tempfile.mkdtemp(prefix="edgeproxy-bench-")
    log("edgeproxy %s; work dir %s; proxy on core %s, wrk + backend on core %s"
        % (args.edgeproxy, args.run_dir, PROXY_CORE, LOAD_CORE))
    fns = {"proxy": bench_proxy, "respond": bench_respond, "hash": bench_hash,
           "consul": bench_consul, "page": bench_page,
           "twotier": bench_twotier, "instr": bench_instr}
    for w in which:
        fns[w](args)
    stop_all()
    if args.keep_run_dir:
        log("kept the work dir %s (logs, configs, callgrind dumps)" % args.run_dir)
    else:
        shutil.rmtree(args.run_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
