"""CPU instructions per request, independent of the host's noise: each target runs under
`valgrind --tool=callgrind` (pinned to core 0; backend, origin and client natively on core 1),
is warmed up, has its counters zeroed (`callgrind_control -z`), answers exactly N requests
from bench/workload.py's fixed-count client, and is dumped (`callgrind_control -d`); the dump's
total instruction count (user space, every thread; not the kernel's work) divided by N is the
figure. Every target gets the same request sequence (seeded), so small differences are real.

Jobs (`--instr-jobs`):
  respond      the local-response floor: a fixed 32-byte answer (edgeproxy `respond`
               plugin, bare Pingora answering in `request_filter`, Pingap's `mock` plugin,
               nginx `return 200`), no upstream
  proxy        plain proxying: edgeproxy, bare Pingora doing the same job
               (`pingora-baseline`: the three forwarding headers; `-timeouts`: and the
               deadlines edgeproxy enforces by default; `-noheaders`: neither), Pingap (the
               three headers and edgeproxy's deadlines, bench/pingap/proxy.toml), nginx
  page-NAME    the page of workload NAME (bench/workload.py): edgeproxy, nginx + Lua
  twotier      the two-tier system on the zipf workload (bench/twotier.py)
"""

import collections
import os
import re
import shutil
import signal
import subprocess
import time

from harness import (BENCH, LOAD_CORE, PROXY_CORE, STOP_SIGNAL, die, free_ports, log,
                     machine, save, start, start_backend, start_edgeproxy, start_nginx, stop,
                     wait_port)
import pagebench
import pingap_peer
import twotier
import workload


# Extra callgrind options, e.g. BENCH_CALLGRIND_ARGS="--cache-sim=yes": the cache misses a
# run simulates (I1, D1, last level) are then logged per request beside the instructions.
EXTRA = os.environ.get("BENCH_CALLGRIND_ARGS", "").split()


def valgrind(run, name):
    # Uncompressed names: every dump (one per `-d`) is readable by callgrind_annotate alone.
    return ["valgrind", "--tool=callgrind", "--compress-strings=no",
            "--callgrind-out-file=%s/%s.cg.%%p" % (run, name)] + EXTRA


def control(pid, what):
    r = subprocess.run(["callgrind_control", what, str(pid)], capture_output=True, text=True,
                       timeout=120)
    if r.returncode != 0 or "OK" not in r.stdout:
        die("callgrind_control %s %d failed:\n%s%s" % (what, pid, r.stdout, r.stderr))


def dumped_totals(run, name, pid):
    """{event: count} of the last dump of process `pid` (Ir: instructions; with
    --cache-sim=yes also I1mr, D1mr, D1mw, ILmr, DLmr, DLmw)."""
    deadline = time.time() + 60
    prefix = "%s.cg.%d." % (name, pid)
    while time.time() < deadline:
        dumps = sorted((f for f in os.listdir(run) if f.startswith(prefix)),
                       key=lambda f: int(f.rsplit(".", 1)[1]))
        if dumps:
            with open(os.path.join(run, dumps[-1])) as f:
                text = f.read()
            events = re.search(r"^events:\s+(.*)$", text, re.M)
            m = re.search(r"^totals:\s+([\d ]+)$", text, re.M)
            if events and m:
                return dict(zip(events.group(1).split(), map(int, m.group(1).split())))
        time.sleep(0.2)
    die("no callgrind dump for %s (pid %d) in %s" % (name, pid, run))


# Seconds between the warm-up's end and zeroing the counters: one-off start-up work must
# not land in the measured window. edgeproxy drops its start-up text from memory 2 s after
# its services run (src/resident.rs), ~2.07M instructions on its main thread once: inside a
# 2,000-request window that read as ~1,000 instructions per request. The services ran
# before the warm-up's first answer (the port itself is bound earlier, at start-up).
SETTLE = 2.5


def measure(run, name, procs, port, fill_paths, warm_paths, paths, n, conns, warm_dump=False):
    """Requests every path of `fill_paths` (a list, or None) once, `warm_paths` n/5 times,
    waits SETTLE seconds, zeroes the counters, drives `n` requests from `paths`, dumps:
    instructions per request."""
    if fill_paths:
        workload.drive(port, iter(fill_paths), len(fill_paths), conns)
    workload.drive(port, warm_paths, max(200, n // 5), conns)
    time.sleep(SETTLE)
    for _, p in procs:
        if warm_dump:  # start-up, fill and warm-up in a dump of their own (hot_order.py)
            control(p.pid, "-d")
        control(p.pid, "-z")
    secs, st = workload.drive(port, paths, n, conns)
    if set(st) != {200}:
        die("%s: statuses %s during the measured requests" % (name, st))
    time.sleep(0.5)  # let the last responses' bookkeeping (log phase) finish
    totals = collections.Counter()
    for pname, p in procs:
        control(p.pid, "-d")
        totals.update(dumped_totals(run, pname, p.pid))
    total = totals["Ir"]
    log("%-22s %8.0f instructions/request (%d requests, %.1fs under valgrind)"
        % (name, total / n, n, secs))
    misses = ["%s %.0f" % (e, totals[e] / n) for e in ("I1mr", "D1mr", "D1mw", "ILmr", "DLmr",
                                                       "DLmw") if e in totals]
    if misses:
        log("%-22s simulated cache misses/request: %s" % (name, ", ".join(misses)))
    return {"instructions": total, "requests": n, "per_request": total / n, "seconds": secs}


def proxy_targets(run, args, backend_addr):
    """(name, [(process name, Popen)], port) of the plain-proxy job, started lazily."""
    def edge():
        port = free_ports(1)[0]
        p = start_edgeproxy("edgeproxy", args.edgeproxy, os.path.join(BENCH, "edgeproxy",
                            "proxy.toml"), run, {"LISTEN": "127.0.0.1:%d" % port,
                                                 "BACKEND": backend_addr},
                            wrap=valgrind(run, "edgeproxy"))
        return [("edgeproxy", p)], port

    def baseline(*flags):
        return baseline_target(run, args, backend_addr, *flags)

    def nginx():
        port = free_ports(1)[0]
        p = start_nginx("nginx", os.path.join(BENCH, "nginx", "proxy.conf"), PROXY_CORE, run,
                        {"LISTEN": "127.0.0.1:%d" % port, "BACKEND": backend_addr},
                        wrap=valgrind(run, "nginx"))
        return [("nginx", p)], port

    out = [("edgeproxy", edge)]
    if args.baseline:
        out += [("pingora-baseline", baseline("headers")),
                ("pingora-baseline-timeouts", baseline("headers", "timeouts")),
                ("pingora-baseline-noheaders", baseline())]
    return out + pingap_target(run, args, "proxy", {"BACKEND": backend_addr}) + [("nginx", nginx)]


def respond_targets(run, args):
    """The local-response floor: edgeproxy's `respond` plugin vs nginx `return 200`."""
    def edge():
        port = free_ports(1)[0]
        p = start_edgeproxy("edgeproxy", args.edgeproxy,
                            os.path.join(BENCH, "edgeproxy", "respond.toml"), run,
                            {"LISTEN": "127.0.0.1:%d" % port}, wrap=valgrind(run, "edgeproxy"))
        return [("edgeproxy", p)], port

    def nginx():
        port = free_ports(1)[0]
        p = start_nginx("nginx", os.path.join(BENCH, "nginx", "respond.conf"), PROXY_CORE, run,
                        {"LISTEN": "127.0.0.1:%d" % port}, wrap=valgrind(run, "nginx"))
        return [("nginx", p)], port

    base = [("pingora-baseline", baseline_target(run, args, "127.0.0.1:9", "respond",
                                                  "timeouts")),
            # the same answer on pingora-core's session alone, without pingora-proxy
            ("pingora-core-session", baseline_target(run, args, "127.0.0.1:9", "respond",
                                                     "session"))] if args.baseline else []
    return ([("edgeproxy", edge)] + base + pingap_target(run, args, "respond", {})
            + [("nginx", nginx)])


def pingap_target(run, args, job, subs):
    """[(name, starter)] of Pingap with bench/pingap/`job`.toml: as shipped and, with
    `--variant-preload LIB`, on LIB (pingap_peer.variants); [] without Pingap."""
    def starter(name, preload):
        def go():
            port = free_ports(1)[0]
            p = pingap_peer.start_pingap(name, args.pingap, job, run,
                                         dict(subs, LISTEN="127.0.0.1:%d" % port),
                                         wrap=valgrind(run, name), preload=preload)
            return [(name, p)], port
        return go
    return [(name, starter(name, lib)) for name, lib in pingap_peer.variants(args)]


def baseline_target(run, args, backend_addr, *flags):
    """bench/pingora_baseline.rs with `flags` (headers, timeouts, respond), started lazily."""
    def go():
        port = free_ports(1)[0]
        name = "pingora-baseline" + ("" if "headers" in flags or "respond" in flags else
                                     "-noheaders") + ("-timeouts" if "timeouts" in flags
                                                      and "respond" not in flags else "")
        if "session" in flags:
            name = "pingora-core-session"
        argv = [args.baseline, "127.0.0.1:%d" % port, backend_addr] + list(flags)
        p = start(name, valgrind(run, name) + argv, PROXY_CORE, run, env={"RUST_LOG": "warn"})
        STOP_SIGNAL[p.pid] = signal.SIGINT
        return [(name, p)], port
    return go


def run_job(args, job, run):
    """Measures every target of `job`; returns {target: result}."""
    n, conns = args.instr_requests, args.instr_conns
    support, res = [], {}
    if job == "respond":
        targets = respond_targets(run, args)
        fill = None
        paths = lambda: workload.repeat("/hello")  # noqa: E731
        warm = paths
    elif job == "proxy":
        bport = free_ports(1)[0]
        support.append(start_backend(run, [bport]))
        targets = proxy_targets(run, args, "127.0.0.1:%d" % bport)
        fill = None
        paths = lambda: workload.repeat("/hello")  # noqa: E731
        warm = paths
    else:
        wname = "zipf" if job == "twotier" else job[len("page-"):]
        if wname not in workload.WORKLOADS:
            die("unknown instr job %r" % job)
        w = dict(workload.WORKLOADS[wname], name=wname)
        origin, oport = pagebench.start_origin(run, w)
        support.append(origin)
        seq = list(next_n(workload.page_paths(w, seed=12345), n))
        fill = sorted(set(seq))  # every page measured is a cache hit
        paths = lambda: iter(seq)  # noqa: E731
        warm = lambda: workload.page_paths(w, seed=777)  # noqa: E731
        if job == "twotier":
            targets = twotier.instr_targets(run, args, w, oport, valgrind)
        else:
            targets = page_targets(run, args, w, oport)
    for name, starter in targets:
        procs, port = starter()
        for pname, p in procs:
            wait_port(port, p, pname, run, timeout=120)
        # Helpers of a system that do not run under valgrind (the hot system's Redis).
        profiled = [(pname, p) for pname, p in procs if pname not in twotier.UNPROFILED]
        res[name] = measure(run, name, profiled, port, list(fill) if fill else None, warm(),
                            paths(), n, conns, args.instr_warm_dump)
        for _, p in procs:
            stop(p)
    for p in support:
        stop(p)
    return res


def next_n(it, n):
    for _ in range(n):
        yield next(it)


def page_targets(run, args, w, oport):
    dict_size, l1 = pagebench.cache_sizes(w)

    def edge():
        port = free_ports(1)[0]
        p = start_edgeproxy("edgeproxy", args.edgeproxy, pagebench.PAGE_CONFIG, run,
                            {"LISTEN": "127.0.0.1:%d" % port, "ORIGIN": "127.0.0.1:%d" % oport,
                             "L1": l1}, wrap=valgrind(run, "edgeproxy"))
        return [("edgeproxy", p)], port

    def nginx():
        port = free_ports(1)[0]
        p = pagebench.start_nginx_page("nginx", run, [port], oport, dict_size,
                                       wrap=valgrind(run, "nginx"))
        return [("nginx", p)], port

    return [("edgeproxy", edge), ("nginx", nginx)]


def bench_instr(args):
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        die("valgrind is missing (apt-get install valgrind)")
    summary = {"title": "CPU instructions per request (callgrind)", "machine": machine(),
               "requests": args.instr_requests, "conns": args.instr_conns, "jobs": {}}
    for job in args.instr_jobs.split(","):
        run = os.path.join(args.run_dir, "instr-" + job)
        os.makedirs(run)
        log("instructions per request: job %s" % job)
        summary["jobs"][job] = run_job(args, job, run)
    print_instr(summary)
    save(args.save_as or "instr", summary, args)
    return summary


def print_instr(s):
    print()
    print("### " + s["title"])
    print()
    print("| job | target | instructions/request | / nginx | / bare Pingora | / Pingap |")
    print("|---|---|---:|---:|---:|---:|")
    for job, res in s["jobs"].items():
        ng = res.get("nginx", {}).get("per_request")
        base = res.get("pingora-baseline", {}).get("per_request")
        peer = res.get("pingap", {}).get("per_request")
        for name, r in res.items():
            print("| %s | %s | %.0f | %s | %s | %s |" % (
                job, name, r["per_request"],
                "%.2f" % (r["per_request"] / ng) if ng else "",
                "%.2f" % (r["per_request"] / base) if base else "",
                "%.2f" % (r["per_request"] / peer) if peer else ""))
    print(flush=True)
