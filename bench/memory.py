#!/usr/bin/env python3
"""Where the memory goes at the page bench's workloads (issue 23 item 5; BENCHMARKS.md
"Memory at small working sets"). Python 3 stdlib only.

For each page workload (bench/workload.py) it starts what `bench.py page` starts — the origin,
nginx + Lua (the seed's script) and edgeproxy with bench/edgeproxy/page.toml, plus any
`--variant` of edgeproxy — fills every product through each, drives the same load as the page
bench does before it reads PSS (a warm-up, closed-loop runs with --conns connections, then
fixed-rate runs with --fixed-conns connections 2 ms apart; wrk on core 1, proxies on core 0),
and prints each process tree's PSS split by mapping: the program's own file (text, read-only
data, data), anonymous memory (heap, jemalloc's arenas, thread stacks), shared libraries.

  python3 bench/memory.py --edgeproxy BIN [--variant NAME=BIN[,ENV=VALUE...][,render_cache=SIZE]]
                          [--page-workloads uniform,zipf] [--duration 5] [--reps 1]

A variant is the same setup with another binary, environment (e.g.
`_RJEM_MALLOC_CONF=dirty_decay_ms:0`) or the page plugin's `render_cache`.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

from compare import wrk
from harness import (BENCH, die, free_ports, log, pss_kib, start_edgeproxy, stop, stop_all,
                     tree, wait_port)
from pagebench import (PAGE_CONFIG, cache_sizes, check_page, fill, start_nginx_page,
                       start_origin, wrk_mode)
import pagebench


def classify(path, perms, exe):
    """The bucket of one mapping of /proc/PID/smaps."""
    if path == exe or (exe and os.path.basename(path) == os.path.basename(exe)):
        if "x" in perms:
            return "program text"
        return "program data" if "w" in perms else "program rodata"
    if path.startswith("[stack"):
        return "stacks"
    if path in ("", "[heap]", "[anon]") or path.startswith("[anon:"):
        return "anon"
    if ".so" in path:
        return "libraries"
    return "other"


def pss_split(pid):
    """{bucket: PSS KiB} over pid's process tree."""
    out = {}
    for p in tree(pid):
        try:
            exe = os.readlink("/proc/%d/exe" % p)
            with open("/proc/%d/smaps" % p) as f:
                lines = f.readlines()
        except OSError:
            continue
        bucket = None
        for line in lines:
            head = line.split()
            if not head:
                continue
            if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
                path = head[5] if len(head) > 5 else ""
                bucket = classify(path, head[1], exe)
            elif head[0] == "Pss:" and bucket:
                out[bucket] = out.get(bucket, 0) + int(head[1])
    return out


def load(url, args, w):
    """What `compare` drives before it reads PSS, shortened by --duration/--reps."""
    mode = wrk_mode(w)
    wrk(url, args.warmup, args.conns, mode, w["products"])
    rps = [wrk(url, args.duration, args.conns, mode, w["products"])["rps"]
           for _ in range(args.reps)]
    for _ in range(args.reps):
        wrk(url, args.duration, args.fixed_conns, mode, w["products"],
            delay_ms=args.fixed_delay_ms)
    return rps


def jemalloc_stats(pid):
    """jemalloc's malloc_stats_print, called in the running process by gdb: the text goes to
    the process's stderr (its log in the work dir)."""
    subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex",
                    "call (void)_rjem_malloc_stats_print(0, 0, 0)"],
                   capture_output=True, timeout=60)


def parse_variant(spec):
    name, _, rest = spec.partition("=")
    parts = rest.split(",")
    binary, env, render_cache = parts[0], {}, None
    for kv in parts[1:]:
        k, _, v = kv.partition("=")
        if k == "render_cache":
            render_cache = v
        else:
            env[k] = v
    return name, binary, env, render_cache


def page_config(run, render_cache):
    """bench/edgeproxy/page.toml, with another `render_cache` when asked."""
    if render_cache is None:
        return PAGE_CONFIG
    with open(PAGE_CONFIG) as f:
        text = f.read()
    text = text.replace('cache = "local"\n',
                        'cache = "local"\nrender_cache = "%s"\n' % render_cache, 1)
    path = os.path.join(run, "page-%s.toml" % render_cache)
    with open(path, "w") as f:
        f.write(text)
    return path


def one_workload(args, w, run):
    origin, oport = start_origin(run, w)
    dict_size, l1 = cache_sizes(w)
    targets = [("nginx", None, {}, None)] + [("edgeproxy", args.edgeproxy, {}, None)]
    targets += [parse_variant(v) for v in args.variant]
    rows = []
    for name, binary, env, render_cache in targets:
        port = free_ports(1)[0]
        if binary is None:
            p = start_nginx_page(name, run, [port], oport, dict_size)
        else:
            p = start_edgeproxy(name, binary, page_config(run, render_cache), run,
                                {"LISTEN": "127.0.0.1:%d" % port,
                                 "ORIGIN": "127.0.0.1:%d" % oport, "L1": l1}, env=env)
        wait_port(port, p, name, run)
        check_page(name, port, w)
        if w["fill"]:
            fill(name, port, w)
        after_fill = pss_kib(p.pid)
        rps = load("http://127.0.0.1:%d/" % port, args, w)
        split = pss_split(p.pid)
        rows.append((name, after_fill, pss_kib(p.pid), split, rps))
        if args.jemalloc_stats and binary is not None:
            jemalloc_stats(p.pid)
        stop(p)
    stop(origin)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edgeproxy", required=True)
    ap.add_argument("--variant", action="append", default=[],
                    help="NAME=BIN[,ENV=VALUE...][,render_cache=SIZE] (repeatable)")
    ap.add_argument("--page-workloads", default="uniform,zipf")
    ap.add_argument("--page-keys", type=int)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--fixed-conns", type=int, default=16)
    ap.add_argument("--fixed-delay-ms", type=int, default=2)
    ap.add_argument("--jemalloc-stats", action="store_true",
                    help="after the load, print jemalloc's stats into each edgeproxy's log "
                         "(gdb; use with --keep-run-dir)")
    ap.add_argument("--keep-run-dir", action="store_true",
                    help="keep the work dir (each process's log: e.g. jemalloc's stats_print)")
    args = ap.parse_args()
    for tool in ("wrk", "nginx", "taskset"):
        if not shutil.which(tool):
            die("%s is needed (make -C bench deps)" % tool)
    run_root = tempfile.mkdtemp(prefix="edgeproxy-memory-")
    buckets = ["program text", "program rodata", "program data", "anon", "stacks",
               "libraries", "other"]
    for w in pagebench.workloads(args):
        run = os.path.join(run_root, w["name"])
        os.makedirs(run)
        log("workload %s" % w["name"])
        rows = one_workload(args, w, run)
        print()
        print("### PSS (MiB) at page `%s`, after the fill and after the load" % w["name"])
        print()
        print("| target | after fill | after load | " + " | ".join(buckets)
              + " | req/s (closed loop) |")
        print("|---|" + "---:|" * (len(buckets) + 3))
        for name, filled, loaded, split, rps in rows:
            print("| %s | %.1f | %.1f | %s | %s |"
                  % (name, filled / 1024, loaded / 1024,
                     " | ".join("%.1f" % (split.get(b, 0) / 1024) for b in buckets),
                     ", ".join("%.0f" % r for r in rps)))
        print(flush=True)
    stop_all()
    if args.keep_run_dir:
        log("kept the work dir %s" % run_root)
    else:
        shutil.rmtree(run_root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
