"""The application-tier page benchmark (issue 4, workloads of issue 12): nginx + Lua (the
OpenResty product-page script, which renders every hit), nginx + Lua keeping the rendered
pages in its shared dict too (`nginx+pages`: what edgeproxy's render reuse is measured
against fairly) and edgeproxy's `page` plugin, cache hits only, one workload
after another (bench/workload.py WORKLOADS; `--page-workloads`). Each workload gets fresh
processes: the origin (descriptions of the workload's size), both proxies, a fill of every
product through each proxy (so only hits are measured), then the usual comparison.
"""

import os

from compare import Target, compare
from harness import (BENCH, LOAD_CORE, PROXY_CORE, die, get, log, free_ports, save,
                     start_edgeproxy, start_nginx, stop, wait_port)
import workload

PAGE_CONFIG = os.path.join(BENCH, "edgeproxy", "page.toml")
TEMPLATE = os.path.join(BENCH, "templates", "product.html")


def cache_sizes(w):
    """(nginx lua_shared_dict size, edgeproxy l1_capacity): room for every product."""
    big = w["products"] > 10000 or w["desc"][1] > 0
    return ("1024m", "1GiB") if big else ("128m", "128MiB")


def wrk_mode(w):
    """bench.lua's environment for a page workload."""
    return {"BENCH_MODE": "page", "BENCH_DIST": w["dist"], "BENCH_SHOPS": w["shops"],
            "BENCH_ZIPF_S": w["zipf_s"]}


def start_origin(run, w, name="origin"):
    port = free_ports(1)[0]
    p = start_nginx(name, os.path.join(BENCH, "nginx", "origin.conf"), LOAD_CORE, run,
                    {"LISTEN": "127.0.0.1:%d" % port, "DESC_MIN": w["desc"][0],
                     "DESC_MAX": w["desc"][1]})
    wait_port(port, p, name, run)
    return p, port


def start_nginx_page(name, run, listen_ports, origin_port, dict_size, core=PROXY_CORE,
                     wrap=None, script="product.lua"):
    """nginx + Lua application tier (bench/nginx/product.conf) listening on every port;
    `script` is product.lua (the seed's: renders every hit) or product_cached.lua (keeps
    rendered pages in the shared dict too)."""
    lines = "\n".join("        listen 127.0.0.1:%d reuseport backlog=4096;" % p
                      for p in listen_ports)
    return start_nginx(name, os.path.join(BENCH, "nginx", "product.conf"), core, run,
                       {"LISTEN_LINES": lines, "ORIGIN": "127.0.0.1:%d" % origin_port,
                        "TEMPLATE": TEMPLATE, "DICT": dict_size, "SCRIPT": script}, wrap=wrap)


def check_page(name, port, w):
    """Both proxies render the same page for productId=7&shopId=3, names escaped."""
    st, h, body = get(port, "/product?productId=7&shopId=3")
    text = body.decode(errors="replace")
    # handlebars escapes ' as &#x27; (and ` =), Lua as &#39;: both are correct HTML.
    text = text.replace("&#x27;", "&#39;")
    want = ["Product &lt;7&gt; &amp; &#39;friends&#39;", "Shop 3", "0.99",
            "7 days no reason return, free shipping"]
    if w["desc"][1] > 0:
        want.append("Lorem ipsum dolor sit amet")
    missing = [x for x in want if x not in text]
    if st != 200 or missing:
        die("%s: /product?productId=7&shopId=3 answered %d, missing %s:\n%s"
            % (name, st, missing, text[:600]))
    log("%s renders the page (%d bytes, content-type %s)"
        % (name, len(body), h.get("Content-Type")))


def fill(name, port, w, conns=16):
    """Requests every product once (and every shop), so the measured runs are cache hits."""
    n = sum(1 for _ in workload.fill_paths(w))
    secs, statuses = workload.drive(port, workload.fill_paths(w), n, conns)
    if set(statuses) != {200}:
        die("%s: filling the cache got statuses %s" % (name, statuses))
    log("%s: cache filled with %d pages in %.1fs" % (name, n, secs))


def workloads(args):
    out = []
    for name in args.page_workloads.split(","):
        if name not in workload.WORKLOADS:
            die("unknown page workload %r (known: %s)"
                % (name, ", ".join(workload.WORKLOADS)))
        w = dict(workload.WORKLOADS[name], name=name)
        if args.page_keys:
            w["products"] = args.page_keys
        out.append(w)
    return out


def title(w):
    shape = ("Zipf s=%.1f, shopId follows productId" % w["zipf_s"] if w["dist"] == "zipf"
             else "uniform, productId and shopId independent")
    desc = ("%d-%d B descriptions" % w["desc"]) if w["desc"][1] else "tiny page"
    return ("Application tier page (issue 4) `%s`: cache hits, %d products x %d shops, %s, %s"
            % (w["name"], w["products"], w["shops"], shape, desc))


def bench_page(args):
    results = []
    for w in workloads(args):
        results.append(bench_page_workload(args, w))
    return results


def bench_page_workload(args, w):
    run = os.path.join(args.run_dir, "page-" + w["name"])
    os.makedirs(run)
    origin, oport = start_origin(run, w)
    dict_size, l1 = cache_sizes(w)
    nport, eport, cport = free_ports(3)
    ng = start_nginx_page("nginx", run, [nport], oport, dict_size)
    # The fair comparator for render reuse: nginx + Lua keeping rendered pages as well.
    nc = start_nginx_page("nginx-pages", run, [cport], oport, dict_size,
                          script="product_cached.lua")
    ep = start_edgeproxy("edgeproxy", args.edgeproxy, PAGE_CONFIG, run,
                         {"LISTEN": "127.0.0.1:%d" % eport, "ORIGIN": "127.0.0.1:%d" % oport,
                          "L1": l1})
    wait_port(nport, ng, "nginx", run)
    wait_port(cport, nc, "nginx-pages", run)
    wait_port(eport, ep, "edgeproxy", run)
    targets = [Target("edgeproxy", "http://127.0.0.1:%d/" % eport, ep),
               Target("nginx", "http://127.0.0.1:%d/" % nport, ng),
               Target("nginx+pages", "http://127.0.0.1:%d/" % cport, nc)]
    for t, port in zip(targets, (eport, nport, cport)):
        check_page(t.name, port, w)
        if w["fill"]:
            fill(t.name, port, w)
    s = compare(title(w), targets, [origin], args, wrk_mode(w), w["products"])
    s["workload"] = {k: v for k, v in w.items()}
    s["edgeproxy_config"] = PAGE_CONFIG
    save("page" if w["name"] == "uniform" else "page-" + w["name"], s, args)
    for t in targets:
        stop(t.proc)
    stop(origin)
    return s
