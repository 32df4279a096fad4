#!/usr/bin/env python3
"""Hot-products benchmark (issue 9): the two-tier system (client -> distribution ->
application -> Redis/origin) under Zipf traffic with a flash crowd, with and without hot-key
handling. python3 stdlib only; reuses bench.py's process, wrk and /proc helpers.

  hot_bench.py [--flash 300] [--duration 10] [--reps 3]

Targets (one edgeproxy process each, the whole system in it, pinned to core 0; wrk, Redis
and the nginx origin on core 1; run one at a time, order alternating per repetition):

  hash        plain hashing: the flash product's node does its share and the others idle
  hot         [upstreams.app.hot]: detected, spread over the three nodes, prewarmed
  hot+edge    ... and the hottest pages answered by the distribution tier (X-Cache: EDGE)
  bounded1.1  plain hashing with hash_balance_factor = 1.1 (bounded loads, docs/distribution.md)
  bounded1.05 ... with 1.05 (the bound is on requests in flight, rounded up: with 64
              connections over three nodes, 1.1 lets a node reach ceil(1.1 x 21.3) = 24,
              1.125x the mean; 1.05 caps at 23, 1.08x)
  bounded1.25 ... with 1.25

--targets NAME,... runs only those (e.g. --targets hash,bounded1.05).

Reported per target: req/s, p50/p99, CPU per request, the share answered at the first hop,
the per-application-node load max/mean (from each node's request counter), and the share
of the application nodes' data lookups answered by their own L1 (what moving keys costs). All three
run on one core, so spreading shows in the per-node balance, not in req/s; first-hop
serving shows in req/s (the second hop is not made). Results: bench/results/hot.json.
"""

import argparse
import os
import re
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as b  # noqa: E402

CONFIG = os.path.join(b.BENCH, "edgeproxy", "hot.toml")
LUA = os.path.join(b.BENCH, "wrk", "hot.lua")

HOT = """[upstreams.app.hot]
cache = "shared"
window = "1s"
min_rate = 50
min_share = 0.05
hold = "10s"
"""
EDGE = """
[upstreams.app.hot.edge]
max_keys = 8
ttl = "2s"
"""
VARIANTS = [("hash", "", "false"), ("hot", HOT, "false"), ("hot+edge", HOT + EDGE, "true"),
            ("bounded1.05", "hash_balance_factor = 1.05\n", "false"),
            ("bounded1.1", "hash_balance_factor = 1.1\n", "false"),
            ("bounded1.25", "hash_balance_factor = 1.25\n", "false")]


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        return r.read().decode()


def app_requests(text):
    """Requests served by each application node so far."""
    out = {}
    for m in re.finditer(r'^edgeproxy_requests_total\{([^}]*)\} (\d+)', text, re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if labels.get("server", "").startswith("app-"):
            out[labels["server"]] = out.get(labels["server"], 0) + int(m.group(2))
    return out


def series(text, name, **labels):
    total = 0.0
    for m in re.finditer(r'^%s\{([^}]*)\} ([\d.e+]+)' % re.escape(name), text, re.M):
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(m.group(2))
    return total


def run_wrk(url, args):
    env = dict(os.environ, HOT_PRODUCTS=str(args.products), HOT_FLASH=str(args.flash))
    cmd = ["taskset", "-c", b.LOAD_CORE, "wrk", "-t1", "-c%d" % args.conns,
           "-d%ds" % args.duration, "--latency", "--timeout", "5s", "-s", LUA, url]
    out = b.subprocess.run(cmd, capture_output=True, text=True, env=env,
                           timeout=args.duration + 30).stdout
    r = b.parse_wrk(out)
    if r["requests"] == 0 or "p99_us" not in r:
        b.die("could not parse wrk output:\n" + out)
    return r


def measure(t, args):
    before = metrics(t["admin"])
    c0 = b.cpu_ticks(t["proc"].pid)
    r = run_wrk(t["url"], args)
    cpu_s = (b.cpu_ticks(t["proc"].pid) - c0) / b.TICK
    after = metrics(t["admin"])
    a0, a1 = app_requests(before), app_requests(after)
    per_node = [a1.get(k, 0) - a0.get(k, 0) for k in sorted(a1)]
    mean = sum(per_node) / max(len(per_node), 1)
    l1 = sum(series(after, "edgeproxy_cache_lookups_total", cache=c, level="L1")
             - series(before, "edgeproxy_cache_lookups_total", cache=c, level="L1")
             for c in ("app1", "app2", "app3"))
    looked = sum(series(after, "edgeproxy_cache_lookups_total", cache=c)
                 - series(before, "edgeproxy_cache_lookups_total", cache=c)
                 for c in ("app1", "app2", "app3"))
    edge = (series(after, "edgeproxy_hot_requests_total", handling="edge")
            - series(before, "edgeproxy_hot_requests_total", handling="edge"))
    r.update(cpu_us_per_req=cpu_s * 1e6 / max(r["requests"], 1), per_node=per_node,
             imbalance=max(per_node) / mean if mean else 0.0,
             edge_share=edge / max(r["requests"], 1), l1_share=l1 / looked if looked else 0.0,
             lookups_per_req=looked / max(r["requests"], 1))
    b.log("%-9s rps=%8.0f p50=%6.0fus p99=%6.0fus cpu/req=%6.1fus edge=%4.1f%% "
          "nodes=%s max/mean=%.2f L1=%.1f%% lookups/req=%.2f errors=%d"
          % (t["name"], r["rps"], r["p50_us"], r["p99_us"], r["cpu_us_per_req"],
             100 * r["edge_share"], per_node, r["imbalance"], 100 * r["l1_share"],
             r["lookups_per_req"], r["non2xx"] + r["socket_errors"]))
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edgeproxy", help="edgeproxy release binary")
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--products", type=int, default=10000)
    ap.add_argument("--flash", type=int, default=300, help="per mille of requests for one product (300)")
    ap.add_argument("--results", default=os.path.join(b.BENCH, "results"))
    ap.add_argument("--targets", help="only these targets, comma-separated (default: all)")
    args = ap.parse_args()
    known = [v[0] for v in VARIANTS]
    wanted = args.targets.split(",") if args.targets else known
    unknown = [t for t in wanted if t not in known]
    if unknown:
        b.die("--targets: unknown %s (known: %s)" % (", ".join(unknown), ", ".join(known)))
    variants = [v for v in VARIANTS if v[0] in wanted]
    args.edgeproxy = b.find_edgeproxy(args.edgeproxy)
    for tool in ("wrk", "nginx", "taskset", "redis-server"):
        if not b.shutil.which(tool):
            b.die("missing %s" % tool)
    run = tempfile.mkdtemp(prefix="edgeproxy-hot-bench-")
    oport, rport = b.free_ports(2)
    origin = b.start_nginx("origin", os.path.join(b.BENCH, "nginx", "origin.conf"), b.LOAD_CORE,
                           run, {"LISTEN": "127.0.0.1:%d" % oport, "DESC_MIN": 0, "DESC_MAX": 0})
    redis = b.start("redis", ["redis-server", "--port", str(rport), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no"], b.LOAD_CORE, run)
    b.wait_port(oport, origin, "origin", run)
    b.wait_port(rport, redis, "redis", run)
    targets = []
    for name, hot, tags in variants:
        listen, a1, a2, a3, admin = b.free_ports(5)
        subs = {"LISTEN": "127.0.0.1:%d" % listen, "ADMIN": "127.0.0.1:%d" % admin,
                "APP1": "127.0.0.1:%d" % a1, "APP2": "127.0.0.1:%d" % a2,
                "APP3": "127.0.0.1:%d" % a3, "ORIGIN": "127.0.0.1:%d" % oport,
                "REDIS": "127.0.0.1:%d" % rport, "HOT": hot, "TAGS": tags}
        p = b.start_edgeproxy(name.replace("+", "-"), args.edgeproxy, CONFIG, run, subs)
        b.wait_port(listen, p, name.replace("+", "-"), run)
        b.wait_port(admin, p, name.replace("+", "-"), run)
        targets.append({"name": name, "proc": p, "admin": admin,
                        "url": "http://127.0.0.1:%d" % listen})
    b.log("warm-up %ds per target (fills the caches, makes the flash product hot)" % args.warmup)
    for t in targets:
        run_wrk(t["url"], argparse.Namespace(**dict(vars(args), duration=args.warmup)))
    res = {t["name"]: [] for t in targets}
    for rep in range(args.reps):
        for t in (targets if rep % 2 == 0 else list(reversed(targets))):
            res[t["name"]].append(measure(t, args))
    summary = {"title": "Hot products (issue 9): two tiers on one core, Zipf(1) over %d "
                        "products + %d per mille on one product" % (args.products, args.flash),
               "machine": b.machine(), "params": vars(args), "targets": {}}
    med = b.statistics.median
    print("\n| | req/s | p50 | p99 | CPU/req | first hop | per-node load max/mean (spread) "
          "| L1 share of lookups |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, rs in res.items():
        s = {k: med(r[k] for r in rs) for k in
             ("rps", "p50_us", "p99_us", "cpu_us_per_req", "edge_share", "imbalance",
              "l1_share")}
        s["runs"] = rs
        summary["targets"][name] = s
        spread = "%.2f–%.2f" % (min(r["imbalance"] for r in rs), max(r["imbalance"] for r in rs))
        print("| %s | %.0f | %.0f µs | %.0f µs | %.1f µs | %.0f%% | %.2f (%s) | %.1f%% |"
              % (name, s["rps"], s["p50_us"], s["p99_us"], s["cpu_us_per_req"],
                 100 * s["edge_share"], s["imbalance"], spread, 100 * s["l1_share"]))
    base = summary["targets"].get("hash")
    if base:
        summary["ratios_over_hash"] = {n: {"rps": t["rps"] / base["rps"],
                                           "p99": t["p99_us"] / base["p99_us"]}
                                       for n, t in summary["targets"].items()}
    os.makedirs(args.results, exist_ok=True)
    out = os.path.join(args.results, "hot.json")
    with open(out, "w") as f:
        b.json.dump(summary, f, indent=1)
    b.log("results written to %s" % out)
    b.stop_all()
    b.shutil.rmtree(run, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
