#!/usr/bin/env python3
"""The HTTP response cache (issue 20) beside nginx `proxy_cache`, one node each, side by
side: the same origin (bench/nginx/cache-origin.conf: every object cacheable for 600 s),
Zipf(1) over more objects than the cache holds, for 1 KB and 64 KB objects. Each proxy on
core 0, one worker/thread; wrk and the origin on core 1; nginx's cache on tmpfs.

  respcache.py --edgeproxy target/release/edgeproxy [--duration 8 --reps 3]

Reported per object size: the usual comparison (req/s, p50/p99, CPU per request) and the hit
ratio of each proxy: 1 - origin requests / requests over a run of its own after the warm-up
(the origin counts itself in its access log). Results: bench/results/respcache-SIZE.json.
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import Target, compare, compare_args, wrk  # noqa: E402
from harness import (BENCH, LOAD_CORE, PROXY_CORE, die, free_ports, get, log, save,  # noqa: E402
                     start_edgeproxy, start_nginx, stop, stop_all, wait_port)
from bench import find_edgeproxy  # noqa: E402

# (object size, objects, cache size): the working set is four times the cache.
JOBS = {"1k": (1024, 100000, "25MiB", "25m"), "64k": (65536, 4000, "64MiB", "64m")}


def origin_requests(run):
    try:
        with open(os.path.join(run, "origin", "access.log"), "rb") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


def hit_ratio(t, run, args, mode, keys):
    before = origin_requests(run)
    r = wrk(t.url, args.duration, args.conns, mode, keys)
    fetched = origin_requests(run) - before
    return 1.0 - fetched / max(r["requests"], 1)


def job(args, name):
    size, objects, edge_max, nginx_max = JOBS[name]
    run = os.path.join(args.run_dir, "respcache-" + name)
    os.makedirs(run)
    oport, eport, nport = free_ports(3)
    origin = start_nginx("origin", os.path.join(BENCH, "nginx", "cache-origin.conf"), LOAD_CORE,
                         run, {"LISTEN": "127.0.0.1:%d" % oport, "SIZE": size})
    cache_dir = tempfile.mkdtemp(prefix="edgeproxy-bench-proxy-cache-", dir="/dev/shm")
    ng = start_nginx("nginx", os.path.join(BENCH, "nginx", "proxy-cache.conf"), PROXY_CORE, run,
                     {"LISTEN": "127.0.0.1:%d" % nport, "ORIGIN": "127.0.0.1:%d" % oport,
                      "MAX": nginx_max, "CACHE_DIR": cache_dir})
    ep = start_edgeproxy("edgeproxy", args.edgeproxy, os.path.join(BENCH, "edgeproxy", "respcache.toml"),
                         run, {"LISTEN": "127.0.0.1:%d" % eport, "ORIGIN": "127.0.0.1:%d" % oport,
                               "MAX": edge_max})
    for port, p, n in ((oport, origin, "origin"), (nport, ng, "nginx"), (eport, ep, "edgeproxy")):
        wait_port(port, p, n, run)
    for port, n in ((eport, "edgeproxy"), (nport, "nginx")):
        get(port, "/product?productId=1")
        st, h, body = get(port, "/product?productId=1")
        if st != 200 or len(body) != size or h.get("X-Cache") != "HIT":
            die("%s: second request for one object: status %s, %d bytes, X-Cache %s"
                % (n, st, len(body), h.get("X-Cache")))
    targets = [Target("edgeproxy", "http://127.0.0.1:%d/" % eport, ep),
               Target("nginx", "http://127.0.0.1:%d/" % nport, ng)]
    mode = {"BENCH_MODE": "hash", "BENCH_DIST": "zipf", "BENCH_ZIPF_S": "1.0"}
    title = ("Response cache (issue 20), %s objects: Zipf(1) over %d objects, cache %s (a quarter "
             "of the working set)" % (name, objects, edge_max))
    s = compare(title, targets, [origin], args, mode, objects)
    for t in targets:
        s["targets"][t.name]["hit_ratio"] = hit_ratio(t, run, args, mode, objects)
        log("%s hit ratio %.1f%%" % (t.name, 100 * s["targets"][t.name]["hit_ratio"]))
    print("| hit ratio | edgeproxy %.1f %% | nginx %.1f %% |\n"
          % (100 * s["targets"]["edgeproxy"]["hit_ratio"], 100 * s["targets"]["nginx"]["hit_ratio"]))
    save("respcache-" + name, s, args)
    for p in (ep, ng, origin):
        stop(p)
    import shutil
    shutil.rmtree(cache_dir, ignore_errors=True)
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", default="1k,64k")
    compare_args(ap, duration=8, warmup=5)
    ap.add_argument("--results", default=os.path.join(BENCH, "results"))
    args = ap.parse_args()
    args.edgeproxy = find_edgeproxy(args.edgeproxy)
    args.run_dir = tempfile.mkdtemp(prefix="edgeproxy-respcache-")
    for name in args.jobs.split(","):
        job(args, name)
    stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
