"""The whole two-tier system (issue 12): client -> distribution tier -(hash $arg_productId)->
two application nodes -> origin, on realistic traffic (bench/workload.py `zipf` by default;
`--twotier-workloads`), every tier of one system pinned to core 0, the origin and wrk on
core 1. Targets (CPU and PSS summed over each system's processes):

  edgeproxy           both tiers in one process (bench/edgeproxy/twotier.toml)
  nginx               the seed: a distribution nginx (bench/nginx/twotier-dist.conf, one worker)
                      and an application nginx + Lua (bench/nginx/product.conf, one worker
                      listening on both application ports)
  nginx+proxy_cache   the same with proxy_cache on the distribution tier (second anchor)

Every system is filled with every product first (through its distribution tier), so the
measured runs are cache hits. TARGETS lists the systems; a variant adds its own builder.
"""

import os

from compare import Target, compare
from harness import (BENCH, PROXY_CORE, die, free_ports, log, save, start_edgeproxy,
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


def edgeproxy_system(args, run, w, oport, wrap=None):
    """Both tiers in one edgeproxy process: ([(name, Popen)], distribution port)."""
    port, a1, a2 = free_ports(3)
    _, l1 = pagebench.cache_sizes(w)
    p = start_edgeproxy("edgeproxy", args.edgeproxy, TWOTIER_CONFIG, run,
                        {"LISTEN": "127.0.0.1:%d" % port, "APP1": "127.0.0.1:%d" % a1,
                         "APP2": "127.0.0.1:%d" % a2, "ORIGIN": "127.0.0.1:%d" % oport,
                         "L1": l1}, wrap=wrap and wrap(run, "edgeproxy"))
    return [("edgeproxy", p)], port


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
    ("nginx", nginx_system("nginx", cached=False)),
    ("nginx+proxy_cache", nginx_system("nginx-pc", cached=True)),
]


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
    for name, build in TARGETS:
        procs, port = build(args, run, w, oport)
        wait_port(port, procs[0][1], procs[0][0], run)
        targets.append(Target(name, "http://127.0.0.1:%d/" % port, procs[0][1],
                              [p for _, p in procs]))
        pagebench.check_page(name, port, w)
        pagebench.fill(name, port, w)
    log("two-tier: %s" % ", ".join(t.name for t in targets))
    s = compare(title(w), targets, [origin], args, pagebench.wrk_mode(w), w["products"])
    s["workload"] = dict(w)
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
