"""The whole two-tier system (issue 12): client -> distribution tier -(hash $arg_productId)->
two application nodes -> origin, on realistic traffic (bench/workload.py `zipf` by default;
`--twotier-workloads`), every tier of one system pinned to core 0, the origin and wrk on
core 1. Targets (CPU and PSS summed over each system's processes):

  edgeproxy           both tiers in one process (bench/edgeproxy/twotier.toml)
  edgeproxy+hot       the same with hot-key handling (issue 9): the hottest keys found in the
                      distribution tier are spread and their pages answered at the first hop
                      (X-Cache: EDGE, 2 s TTL, dropped by purges); needs a Redis (reports and
                      purges travel on its pub/sub), which runs on the system's core and
                      counts in its CPU and PSS
  nginx               the seed: a distribution nginx (bench/nginx/twotier-dist.conf, one worker)
                      and an application nginx + Lua (bench/nginx/product.conf, one worker
                      listening on both application ports)
  nginx+proxy_cache   the same with proxy_cache on the distribution tier (second anchor)

Every system is filled with every product first (through its distribution tier), so the
measured runs are cache hits. TARGETS lists the systems; a variant adds its own builder.
"""

import os
import re

from compare import Target, compare
from harness import (BENCH, PROXY_CORE, die, free_ports, get, log, save, start, start_edgeproxy,
                     start_nginx, stop, wait_port)
import pagebench
import workload

TWOTIER_CONFIG = os.path.join(BENCH, "edgeproxy", "twotier.toml")
DIST_CONF = os.path.join(BENCH, "nginx", "twotier-dist.conf")
PROXY_CACHE = (
    "    proxy_cache_path @RUN@/pcache levels=1:2 keys_zone=pages:64m max_size=4g "
    "inactive=60m use_temp_path=off;",
    "            proxy_cache pages;\n"
    "            proxy_cache_key $request_uri;\n"
    "            proxy_cache_valid 200 10m;",
)


# The hot variant's tables. Thresholds by share only (0.1 % of the group's requests, about
# the 80 most popular products of Zipf(1) over 100,000: ~40 % of all requests), so the same
# keys are hot whatever the request rate.
HOT = """[upstreams.app.hot]
cache = "local"
window = "2s"
min_rate = 0
min_share = 0.001
max_keys = 128

[upstreams.app.hot.edge]
max_keys = 128
ttl = "2s"
"""

ADMIN = """[[servers]]
name = "admin"
listen = ["127.0.0.1:%d"]
[[servers.routes]]
path = "/metrics"
plugins = [{ name = "metrics" }]
"""
ADMIN_PORTS = {}  # distribution port -> admin port (the hot variant's metrics)
# Processes of a system that bench/instr.py does not run under callgrind.
UNPROFILED = {"redis"}


def first_hop_counts(port):
    """(requests answered at the first hop, all requests) of the distribution tier so far."""
    text = get(ADMIN_PORTS[port], "/metrics")[2].decode()
    count = lambda pat: sum(int(float(x)) for x in re.findall(pat, text, re.M))  # noqa: E731
    return (count(r'^edgeproxy_hot_requests_total\{[^}]*handling="edge"[^}]*\} (\S+)'),
            count(r'^edgeproxy_requests_total\{[^}]*server="distribution"[^}]*\} (\S+)'))


def edgeproxy_system(args, run, w, oport, wrap=None, hot=False):
    """Both tiers in one edgeproxy process (and, with `hot`, its Redis):
    ([(name, Popen)], distribution port)."""
    port, a1, a2 = free_ports(3)
    _, l1 = pagebench.cache_sizes(w)
    name = "edgeproxy-hot" if hot else "edgeproxy"
    procs, subs = [], {"HOT": "", "REDIS": "", "TAGS": "false", "ADMIN": ""}
    if hot:
        rport = free_ports(1)[0]
        redis = start("redis", ["redis-server", "--port", str(rport), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no"], PROXY_CORE, run)
        wait_port(rport, redis, "redis", run)
        procs.append(("redis", redis))
        admin = free_ports(1)[0]
        ADMIN_PORTS[port] = admin
        subs = {"HOT": HOT, "TAGS": "true", "ADMIN": ADMIN % admin,
                "REDIS": '[caches.local.redis]\naddresses = ["127.0.0.1:%d"]' % rport}
    subs.update({"LISTEN": "127.0.0.1:%d" % port, "APP1": "127.0.0.1:%d" % a1,
                 "APP2": "127.0.0.1:%d" % a2, "ORIGIN": "127.0.0.1:%d" % oport, "L1": l1})
    p = start_edgeproxy(name, args.edgeproxy, TWOTIER_CONFIG, run, subs,
                        wrap=wrap and wrap(run, name))
    return [(name, p)] + procs, port


def nginx_system(name, cached):
    """The seed's two nginx tiers (optionally proxy_cache on the distribution tier)."""
    def build(args, run, w, oport, wrap=None):
        port, a1, a2 = free_ports(3)
        dict_size, _ = pagebench.cache_sizes(w)
        app_name, dist_name = name + "-app", name + "-dist"
        app = pagebench.start_nginx_page(app_name, run, [a1, a2], oport, dict_size,
                                         wrap=wrap and wrap(run, app_name))
        cache_http, cache_loc = PROXY_CACHE if cached else ("", "")
        cache_http = cache_http.replace("@RUN@", os.path.join(run, dist_name))
        dist = start_nginx(dist_name, DIST_CONF, PROXY_CORE, run,
                           {"LISTEN": "127.0.0.1:%d" % port,
                            "SERVERS": "        server 127.0.0.1:%d;\n        server 127.0.0.1:%d;"
                                       % (a1, a2),
                            "CACHE_HTTP": cache_http, "CACHE_LOCATION": cache_loc},
                           wrap=wrap and wrap(run, dist_name))
        wait_port(a1, app, app_name, run, timeout=120)
        wait_port(a2, app, app_name, run, timeout=120)
        return [(dist_name, dist), (app_name, app)], port
    return build


# (target name, builder(args, run, workload, origin port, wrap) -> ([(name, Popen)], port))
TARGETS = [
    ("edgeproxy", edgeproxy_system),
    ("edgeproxy+hot", lambda *a, **k: edgeproxy_system(*a, hot=True, **k)),
    ("nginx", nginx_system("nginx", cached=False)),
    ("nginx+proxy_cache", nginx_system("nginx-pc", cached=True)),
]


def port_of(t):
    return int(t.url.rsplit(":", 1)[1].strip("/"))


def title(w):
    return ("Two-tier system `%s`: client -> distribution (hash $arg_productId) -> 2 application "
            "nodes -> origin, %s" % (w["name"], pagebench.title(w).split(": ", 1)[1]))


def bench_twotier(args):
    out = []
    for name in args.twotier_workloads.split(","):
        if name not in workload.WORKLOADS:
            die("unknown workload %r (known: %s)" % (name, ", ".join(workload.WORKLOADS)))
        out.append(bench_twotier_workload(args, dict(workload.WORKLOADS[name], name=name)))
    return out


def bench_twotier_workload(args, w):
    run = os.path.join(args.run_dir, "twotier-" + w["name"])
    os.makedirs(run)
    origin, oport = pagebench.start_origin(run, w)
    targets = []
    wanted = args.twotier_targets.split(",") if args.twotier_targets else [n for n, _ in TARGETS]
    unknown = set(wanted) - {n for n, _ in TARGETS}
    if unknown:
        die("unknown two-tier systems %s (known: %s)"
            % (sorted(unknown), ", ".join(n for n, _ in TARGETS)))
    for name, build in TARGETS:
        if name not in wanted:
            continue
        procs, port = build(args, run, w, oport)
        wait_port(port, procs[0][1], procs[0][0], run)
        targets.append(Target(name, "http://127.0.0.1:%d/" % port, procs[0][1],
                              [p for _, p in procs]))
        pagebench.check_page(name, port, w)
        pagebench.fill(name, port, w)
    log("two-tier: %s" % ", ".join(t.name for t in targets))
    before = {t.name: first_hop_counts(port_of(t)) for t in targets if port_of(t) in ADMIN_PORTS}
    s = compare(title(w), targets, [origin], args, pagebench.wrk_mode(w), w["products"])
    s["workload"] = dict(w)
    for name, (edge0, total0) in before.items():
        t = next(t for t in targets if t.name == name)
        edge, total = first_hop_counts(port_of(t))
        share = (edge - edge0) / max(total - total0, 1)
        s["targets"][name]["first_hop_share"] = share
        log("%s: %.1f %% of the measured requests answered at the first hop"
            % (name, 100 * share))
    save("twotier" if w["name"] == "zipf" else "twotier-" + w["name"], s, args)
    for t in targets:
        for p in t.procs:
            stop(p)
    stop(origin)
    return s


def instr_targets(run, args, w, oport, valgrind):
    """The systems for bench/instr.py (every process under `valgrind(run, name)`)."""
    return [(name, (lambda b=build: b(args, run, w, oport, wrap=valgrind)))
            for name, build in TARGETS]
