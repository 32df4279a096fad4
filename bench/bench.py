#!/usr/bin/env python3
"""edgeproxy vs nginx benchmarks (python3 stdlib only). See BENCHMARKS.md.

  bench.py proxy    issue 2: plain proxying, nginx proxy_pass + upstream keepalive
  bench.py hash     issue 3: hash $arg_productId consistent vs balance = "hash"
  bench.py consul   issue 3: Consul KV write -> first request routed to the new node
  bench.py page     issue 4: product page, nginx + Lua (edgeproxy side once
                    conf/examples/bench-page.toml exists)
  bench.py all      everything above

Every comparison runs both proxies in the same job: the proxy under test is pinned to
core 0 (`taskset -c 0`), wrk and the backend to core 1. Both proxies are started, then
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

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
PROXY_CORE = "0"
LOAD_CORE = "1"
WRK_LUA = os.path.join(BENCH, "wrk", "bench.lua")
TICK = os.sysconf("SC_CLK_TCK")
PAGE_CONFIG = os.path.join(BENCH, "edgeproxy", "page.toml")

PROCS = []  # (name, Popen) of everything we started
STOP_SIGNAL = {}  # pid -> signal that stops it fast (edgeproxy: SIGINT; SIGTERM is graceful)


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def die(msg):
    print("bench: error: " + msg, file=sys.stderr, flush=True)
    sys.exit(2)


# ---------------------------------------------------------------- processes

def stop_all():
    for name, p in reversed(PROCS):
        if p.poll() is None:
            try:
                os.killpg(p.pid, STOP_SIGNAL.get(p.pid, signal.SIGTERM))
            except ProcessLookupError:
                pass
    deadline = time.time() + 5
    for name, p in reversed(PROCS):
        try:
            p.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
    PROCS.clear()


def on_signal(signum, frame):
    sys.exit(128 + signum)


atexit.register(stop_all)
signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)
signal.signal(signal.SIGHUP, on_signal)


def start(name, argv, core, run_dir, env=None):
    logf = open(os.path.join(run_dir, name + ".log"), "wb")
    full_env = dict(os.environ)
    full_env.update(env or {})
    p = subprocess.Popen(["taskset", "-c", core] + argv, stdout=logf, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True, env=full_env)
    PROCS.append((name, p))
    return p


def stop(p):
    if p.poll() is None:
        os.killpg(p.pid, STOP_SIGNAL.get(p.pid, signal.SIGTERM))
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    for i, (_, q) in enumerate(PROCS):
        if q is p:
            del PROCS[i]
            break


def tail(path, n=20):
    try:
        with open(path, "rb") as f:
            return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
    except OSError:
        return "(no log)"


def wait_port(port, p, name, run_dir, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if p.poll() is not None:
            die("%s exited with %s before listening on %d; log:\n%s"
                % (name, p.returncode, port, tail(os.path.join(run_dir, name + ".log"))))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    die("%s did not listen on 127.0.0.1:%d within %ds; log:\n%s"
        % (name, port, timeout, tail(os.path.join(run_dir, name + ".log"))))


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def render(src, dst, subs):
    with open(src) as f:
        text = f.read()
    for k, v in subs.items():
        text = text.replace("@%s@" % k, str(v))
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        die("%s: unfilled placeholders %s" % (src, sorted(set(left))))
    with open(dst, "w") as f:
        f.write(text)
    return dst


def user_line():
    return "user root root;" if os.geteuid() == 0 else ""


def start_nginx(name, conf_src, core, run_root, subs):
    run = os.path.join(run_root, name)
    os.makedirs(run, exist_ok=True)
    subs = dict(subs, RUN=run, USER=user_line(), BENCH=BENCH)
    conf = render(conf_src, os.path.join(run, "nginx.conf"), subs)
    t = subprocess.run(["nginx", "-t", "-q", "-p", run, "-c", conf, "-e", run + "/error.log"],
                       capture_output=True, text=True, timeout=30)
    if t.returncode != 0:
        die("nginx -t failed for %s (%s):\n%s%s" % (name, conf, t.stdout, t.stderr))
    return start(name, ["nginx", "-p", run, "-c", conf, "-e", run + "/error.log"], core, run_root)


def start_edgeproxy(name, binary, conf_src, run_root, subs, core=PROXY_CORE, preload=None):
    run = os.path.join(run_root, name)
    os.makedirs(run, exist_ok=True)
    subs = dict(subs, RUN=run, BENCH=BENCH)
    conf = render(conf_src, os.path.join(run, "edgeproxy.toml"), subs)
    t = subprocess.run([binary, "-t", "-c", conf], capture_output=True, text=True, timeout=30)
    if t.returncode != 0:
        die("edgeproxy -t failed for %s:\n%s%s" % (conf, t.stdout, t.stderr))
    env = {"EDGEPROXY_LOG": "warn"}
    if preload:
        env["LD_PRELOAD"] = preload
    p = start(name, [binary, "-c", conf], core, run_root, env=env)
    STOP_SIGNAL[p.pid] = signal.SIGINT  # Pingora: SIGINT = fast shutdown
    return p


# ---------------------------------------------------------------- /proc

def tree(pid):
    """pid and its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def cpu_ticks(pid):
    """utime + stime (clock ticks) of pid and its descendants, all threads."""
    total = 0
    for p in tree(pid):
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        except OSError:
            pass
    return total


def pss_kib(pid):
    total = 0
    for p in tree(pid):
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def stat_busy():
    """(user+nice+system ticks over all cpus, steal ticks)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[0] + v[1] + v[2], (v[7] if len(v) > 7 else 0)


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


# ---------------------------------------------------------------- wrk

UNITS = {"us": 1.0, "ms": 1000.0, "s": 1e6}


def parse_wrk(out):
    r = {}
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    r["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    r["rps"] = float(m.group(1)) if m else 0.0
    for pct, val, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
        r["p%s_us" % pct] = float(val) * UNITS[unit]
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    return r


def wrk(url, duration, conns, mode, keys=10000, delay_ms=0):
    env = dict(os.environ, BENCH_MODE=mode, BENCH_KEYS=str(keys), BENCH_DELAY_MS=str(delay_ms))
    cmd = ["taskset", "-c", LOAD_CORE, "wrk", "-t1", "-c%d" % conns, "-d%ds" % duration,
           "--latency", "--timeout", "5s", "-s", WRK_LUA, url]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                         start_new_session=True)
    PROCS.append(("wrk", p))
    try:
        out, _ = p.communicate(timeout=duration + 30)
    except subprocess.TimeoutExpired:
        stop(p)
        die("wrk did not finish within %ds: %s" % (duration + 30, " ".join(cmd)))
    stop(p)
    out = out.decode(errors="replace")
    if p.returncode != 0:
        die("wrk failed (%s): %s\n%s" % (p.returncode, " ".join(cmd), out))
    r = parse_wrk(out)
    if r["requests"] == 0 or "p99_us" not in r:
        die("could not parse wrk output:\n" + out)
    r["cmd"] = " ".join(cmd)
    return r


# ---------------------------------------------------------------- comparison runs

class Target:
    def __init__(self, name, url, proc):
        self.name, self.url, self.proc = name, url, proc


def measured_run(t, all_procs, args, mode, keys, delay_ms=0, conns=None):
    """One wrk run against t; CPU of the proxy and of everything else on the machine."""
    load = loadavg()
    ours0 = sum(cpu_ticks(p.pid) for p in all_procs)
    me0 = os.times()
    busy0, steal0 = stat_busy()
    c0 = cpu_ticks(t.proc.pid)
    t0 = time.monotonic()
    r = wrk(t.url, args.duration, conns or args.conns, mode, keys, delay_ms)
    wall = time.monotonic() - t0
    c1 = cpu_ticks(t.proc.pid)
    busy1, steal1 = stat_busy()
    me1 = os.times()
    ours1 = sum(cpu_ticks(p.pid) for p in all_procs)
    mine = (me1.user + me1.system + me1.children_user + me1.children_system
            - me0.user - me0.system - me0.children_user - me0.children_system)
    other_s = (busy1 - busy0 - (ours1 - ours0)) / TICK - mine
    cpu_s = (c1 - c0) / TICK
    r.update(
        target=t.name, load1=load, proxy_cpu_s=cpu_s,
        proxy_util=cpu_s / args.duration,
        cpu_us_per_req=cpu_s * 1e6 / max(r["requests"], 1),
        other_cpu_pct=max(0.0, 100.0 * other_s / wall),
        steal_pct=100.0 * (steal1 - steal0) / TICK / wall,
    )
    errors = r["non2xx"] + r["socket_errors"]
    flag = "  NOISY" if r["other_cpu_pct"] > args.noise_pct else ""
    log("%-10s %-6s rps=%9.0f p50=%7.0fus p99=%7.0fus cpu/req=%6.1fus proxy-cpu=%3.0f%% "
        "other=%4.0f%% load1=%.2f errors=%d%s"
        % (t.name, "fixed" if delay_ms else "max", r["rps"], r["p50_us"], r["p99_us"],
           r["cpu_us_per_req"], 100 * r["proxy_util"], r["other_cpu_pct"], load, errors, flag))
    if errors > 0.001 * r["requests"]:
        die("%s: %d errors in %d requests (non-2xx %d, socket %d): the numbers would be "
            "meaningless; see the logs in %s" % (t.name, errors, r["requests"], r["non2xx"],
                                                  r["socket_errors"], args.run_dir))
    return r


def run_with_retry(t, all_procs, args, mode, keys, delay_ms=0, conns=None):
    r = measured_run(t, all_procs, args, mode, keys, delay_ms, conns)
    tries = 0
    while r["other_cpu_pct"] > args.noise_pct and tries < args.noise_retries:
        tries += 1
        log("other processes used %.0f%% of a core during that run; rerunning (%d/%d)"
            % (r["other_cpu_pct"], tries, args.noise_retries))
        time.sleep(2)
        r = measured_run(t, all_procs, args, mode, keys, delay_ms, conns)
    r["noisy"] = r["other_cpu_pct"] > args.noise_pct
    return r


def wait_for_quiet(args):
    """Bounded wait for the machine to calm down (other engineers compile here)."""
    deadline = time.time() + args.quiet_wait
    l1 = loadavg()
    while l1 > args.max_load and time.time() < deadline:
        log("load average %.2f > %.2f: waiting (at most %ds more)"
            % (l1, args.max_load, int(deadline - time.time())))
        time.sleep(10)
        l1 = loadavg()
    if l1 > args.max_load:
        log("WARNING: load average still %.2f; running anyway, runs are flagged by the "
            "other-CPU column" % l1)
    return l1


def med(rs, key):
    """Median over the runs that were not disturbed by other processes (all runs if every
    one was: the noisy-runs column then says so)."""
    clean = [r for r in rs if not r["noisy"]] or rs
    return statistics.median(r[key] for r in clean)


def compare(title, targets, support, args, mode, keys):
    """Warm-up, args.reps closed-loop runs per target (alternating order), args.reps
    fixed-rate runs per target, then PSS. Returns the summary dict."""
    all_procs = [t.proc for t in targets] + support
    load_start = wait_for_quiet(args)
    log("%s: warm-up %ds per target" % (title, args.warmup))
    for t in targets:
        wrk(t.url, args.warmup, args.conns, mode, keys)
    res = {t.name: {"max": [], "fixed": []} for t in targets}
    for rep in range(args.reps):
        order = targets if rep % 2 == 0 else list(reversed(targets))
        for t in order:
            res[t.name]["max"].append(run_with_retry(t, all_procs, args, mode, keys))
    for rep in range(args.reps):
        order = targets if rep % 2 == 0 else list(reversed(targets))
        for t in order:
            res[t.name]["fixed"].append(run_with_retry(
                t, all_procs, args, mode, keys, delay_ms=args.fixed_delay_ms,
                conns=args.fixed_conns))
    summary = {"title": title, "mode": mode, "keys": keys, "load_at_start": load_start,
               "machine": machine(), "params": params(args), "targets": {}}
    for t in targets:
        mx, fx = res[t.name]["max"], res[t.name]["fixed"]
        summary["targets"][t.name] = {
            "rps": med(mx, "rps"), "p50_us": med(mx, "p50_us"), "p99_us": med(mx, "p99_us"),
            "cpu_us_per_req_at_max": med(mx, "cpu_us_per_req"),
            "proxy_util_at_max": med(mx, "proxy_util"),
            "fixed_rps": med(fx, "rps"), "fixed_p50_us": med(fx, "p50_us"),
            "fixed_p99_us": med(fx, "p99_us"),
            "cpu_us_per_req_fixed": med(fx, "cpu_us_per_req"),
            "pss_kib": pss_kib(t.proc.pid),
            "noisy_runs": sum(1 for r in mx + fx if r["noisy"]),
            "max_other_cpu_pct": max(r["other_cpu_pct"] for r in mx + fx),
            "runs": mx, "fixed_runs": fx,
        }
    names = [t.name for t in targets]
    if "edgeproxy" in names and "nginx" in names:
        e, n = summary["targets"]["edgeproxy"], summary["targets"]["nginx"]
        summary["ratios_edgeproxy_over_nginx"] = {
            "rps": e["rps"] / n["rps"], "p50": e["p50_us"] / n["p50_us"],
            "p99": e["p99_us"] / n["p99_us"],
            "cpu_per_req_fixed": e["cpu_us_per_req_fixed"] / n["cpu_us_per_req_fixed"],
            "cpu_per_req_at_max": e["cpu_us_per_req_at_max"] / n["cpu_us_per_req_at_max"],
            "pss": e["pss_kib"] / n["pss_kib"],
        }
    if "nginx" in names:
        n = summary["targets"]["nginx"]
        summary["ratios_over_nginx"] = {
            name: {"rps": t["rps"] / n["rps"], "p99": t["p99_us"] / n["p99_us"],
                   "cpu_per_req_fixed": t["cpu_us_per_req_fixed"] / n["cpu_us_per_req_fixed"]}
            for name, t in summary["targets"].items() if name != "nginx"}
    print_summary(summary)
    return summary


def print_summary(s):
    print()
    print("### " + s["title"])
    print()
    print("| | req/s | p50 | p99 | CPU/req @fixed rate (rate) | CPU/req @max | proxy CPU @max "
          "| PSS | noisy runs |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, t in s["targets"].items():
        print("| %s | %.0f | %.0f µs | %.0f µs | %.1f µs (%.0f/s) | %.1f µs | %.0f%% | %.1f MiB | %d |"
              % (name, t["rps"], t["p50_us"], t["p99_us"], t["cpu_us_per_req_fixed"],
                 t["fixed_rps"], t["cpu_us_per_req_at_max"], 100 * t["proxy_util_at_max"],
                 t["pss_kib"] / 1024, t["noisy_runs"]))
    r = s.get("ratios_edgeproxy_over_nginx")
    if r:
        print("| **edgeproxy/nginx** | **%.2f** | %.2f | **%.2f** | %.2f | %.2f | | %.2f | |"
              % (r["rps"], r["p50"], r["p99"], r["cpu_per_req_fixed"], r["cpu_per_req_at_max"],
                 r["pss"]))
    print(flush=True)


def machine():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "cpu": model, "kernel": os.uname().release,
            "nginx": subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip(),
            "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0],
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def params(args):
    return {k: getattr(args, k) for k in ("duration", "warmup", "reps", "conns", "fixed_conns",
                                          "fixed_delay_ms", "noise_pct")}


def save(name, summary, args):
    os.makedirs(args.results, exist_ok=True)
    path = os.path.join(args.results, name + ".json")
    with open(path, "w") as f:
        json.dump(summary, f, indent=1)
    log("results written to %s" % os.path.relpath(path, REPO))


def get(port, path, timeout=5):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
        return r.status, r.headers, r.read()


# ---------------------------------------------------------------- benchmarks

def start_backend(run_root, ports, name="backend"):
    listen = "\n".join("        listen 127.0.0.1:%d backlog=4096;" % p for p in ports)
    p = start_nginx(name, os.path.join(BENCH, "nginx", "backend.conf"), LOAD_CORE, run_root,
                    {"LISTEN": listen})
    for port in ports:
        wait_port(port, p, name, run_root)
    return p


def bench_proxy(args):
    run = os.path.join(args.run_dir, "proxy")
    os.makedirs(run)
    bport, eport, nport = free_ports(3)
    backend = start_backend(run, [bport])
    addr = "127.0.0.1:%d" % bport
    ep = start_edgeproxy("edgeproxy", args.edgeproxy, os.path.join(BENCH, "edgeproxy", "proxy.toml"),
                         run, {"LISTEN": "127.0.0.1:%d" % eport, "BACKEND": addr})
    ng = start_nginx("nginx", os.path.join(BENCH, "nginx", "proxy.conf"), PROXY_CORE, run,
                     {"LISTEN": "127.0.0.1:%d" % nport, "BACKEND": addr})
    wait_port(eport, ep, "edgeproxy", run)
    wait_port(nport, ng, "nginx", run)
    for port in (eport, nport):
        st, h, body = get(port, "/hello")
        if st != 200 or h.get("X-Backend") != str(bport):
            die("proxy on %d did not reach the backend (status %s)" % (port, st))
    targets = [Target("edgeproxy", "http://127.0.0.1:%d/hello" % eport, ep),
               Target("nginx", "http://127.0.0.1:%d/hello" % nport, ng)]
    if args.variant_preload:
        # Experiment (no code change): the same binary with another malloc via LD_PRELOAD.
        vport = free_ports(1)[0]
        vname = "edgeproxy+" + os.path.basename(args.variant_preload).split(".")[0]
        vp = start_edgeproxy(vname, args.edgeproxy, os.path.join(BENCH, "edgeproxy", "proxy.toml"),
                             run, {"LISTEN": "127.0.0.1:%d" % vport, "BACKEND": addr},
                             preload=args.variant_preload)
        wait_port(vport, vp, vname, run)
        targets.append(Target(vname, "http://127.0.0.1:%d/hello" % vport, vp))
    if args.baseline:
        # Plain Pingora (bench/pingora_baseline.rs): what Pingora costs without edgeproxy.
        bport2 = free_ports(1)[0]
        bp = start("pingora-baseline", [args.baseline, "127.0.0.1:%d" % bport2, addr],
                   PROXY_CORE, run, env={"RUST_LOG": "warn"})
        STOP_SIGNAL[bp.pid] = signal.SIGINT
        wait_port(bport2, bp, "pingora-baseline", run)
        targets.append(Target("pingora-baseline", "http://127.0.0.1:%d/hello" % bport2, bp))
    s = compare("Plain proxying (issue 2): round robin / proxy_pass, upstream keep-alive",
                targets, [backend], args, "plain", 1)
    save(args.save_as or "proxy", s, args)
    for t in targets:
        stop(t.proc)
    stop(backend)
    return s


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


def page_listen_port(src):
    import tomllib
    doc = tomllib.loads(re.sub(r"@[A-Z_]+@", "x", src))
    blocks = doc.get("servers", [])
    for b in blocks:
        for r in b.get("routes", []):
            if str(r.get("path", r.get("path_prefix", ""))).startswith("/product"):
                return int(b["listen"][0].rsplit(":", 1)[1])
    if not blocks:
        die("%s has no [[servers]] block" % PAGE_CONFIG)
    return int(blocks[0]["listen"][0].rsplit(":", 1)[1])


def bench_page(args):
    run = os.path.join(args.run_dir, "page")
    os.makedirs(run)
    oport, nport, eport = free_ports(3)
    template = os.path.join(BENCH, "templates", "product.html")
    origin = start_nginx("origin", os.path.join(BENCH, "nginx", "origin.conf"), LOAD_CORE, run,
                         {"LISTEN": "127.0.0.1:%d" % oport})
    ng = start_nginx("nginx", os.path.join(BENCH, "nginx", "product.conf"), PROXY_CORE, run,
                     {"LISTEN": "127.0.0.1:%d" % nport, "ORIGIN": "127.0.0.1:%d" % oport,
                      "TEMPLATE": template})
    wait_port(oport, origin, "origin", run)
    wait_port(nport, ng, "nginx", run)
    targets = [Target("nginx", "http://127.0.0.1:%d/" % nport, ng)]
    ports = {"nginx": nport}
    if os.path.exists(PAGE_CONFIG):
        # Contract for conf/examples/bench-page.toml: it may use the placeholders
        # @LISTEN@ (page listener), @ORIGIN@ (origin host:port), @TEMPLATE@ (absolute path of
        # bench/templates/product.html), @RUN@ (scratch dir); without @LISTEN@ the listener
        # of the server block routing /product is used as written.
        with open(PAGE_CONFIG) as f:
            src = f.read()
        if "@LISTEN@" not in src:
            eport = page_listen_port(src)
        ep = start_edgeproxy("edgeproxy", args.edgeproxy, PAGE_CONFIG, run,
                             {"LISTEN": "127.0.0.1:%d" % eport, "ORIGIN": "127.0.0.1:%d" % oport,
                              "TEMPLATE": template})
        wait_port(eport, ep, "edgeproxy", run)
        targets.insert(0, Target("edgeproxy", "http://127.0.0.1:%d/" % eport, ep))
        ports["edgeproxy"] = eport
    else:
        log("edgeproxy side SKIPPED: %s does not exist yet (the `page` plugin is being "
            "written); measuring nginx + Lua alone" % os.path.relpath(PAGE_CONFIG, REPO))
    for name, port in ports.items():
        st, h, body = get(port, "/product?productId=7&shopId=3")
        text = body.decode(errors="replace")
        # handlebars escapes ' as &#x27; (and ` =), Lua as &#39;: both are correct HTML.
        text = text.replace("&#x27;", "&#39;")
        want = ["Product &lt;7&gt; &amp; &#39;friends&#39;", "Shop 3", "0.99",
                "7 days no reason return, free shipping"]
        missing = [w for w in want if w not in text]
        if st != 200 or missing:
            die("%s: /product?productId=7&shopId=3 answered %d, missing %s:\n%s"
                % (name, st, missing, text[:600]))
        log("%s renders the page (%d bytes, content-type %s)"
            % (name, len(body), h.get("Content-Type")))
    s = compare("Application tier page (issue 4): cache hits, %d products x %d shops"
                % (args.page_keys, 100), targets, [origin], args, "page", args.page_keys)
    s["edgeproxy_config"] = PAGE_CONFIG if "edgeproxy" in ports else None
    save("page", s, args)
    for t in targets:
        stop(t.proc)
    stop(origin)
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
    if "page" in which:
        if not os.path.exists("/usr/lib/nginx/modules/ngx_http_lua_module.so"):
            missing.append("the nginx Lua module (apt-get install libnginx-mod-http-lua)")
        if not os.path.exists("/usr/lib/x86_64-linux-gnu/lua/5.1/cjson.so"):
            missing.append("lua-cjson for nginx (apt-get install lua-cjson)")
    if missing:
        die("missing: " + "; ".join(missing))
    if (os.cpu_count() or 1) < 2:
        die("needs at least 2 cores (proxy on core 0, load generator on core 1)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("which", nargs="*", default=["all"],
                    choices=["all", "proxy", "hash", "consul", "page"])
    ap.add_argument("--edgeproxy", help="edgeproxy binary (default: $CARGO_TARGET_DIR or target/release)")
    ap.add_argument("--duration", type=int, default=10, help="seconds per measured run (10)")
    ap.add_argument("--warmup", type=int, default=3, help="warm-up seconds per target (3)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions, median reported (3)")
    ap.add_argument("--conns", type=int, default=64, help="wrk connections, closed loop (64)")
    ap.add_argument("--fixed-conns", type=int, default=16, help="connections of the fixed-rate runs (16)")
    ap.add_argument("--fixed-delay-ms", type=int, default=2,
                    help="per-connection pause of the fixed-rate runs (2 ms: ~16*1000/2.1 = 7.5k req/s)")
    ap.add_argument("--backends", type=int, default=3, help="backends of the hash benchmark (3)")
    ap.add_argument("--keys", type=int, default=10000, help="distinct productId values (10000)")
    ap.add_argument("--page-keys", type=int, default=1000, help="distinct products of the page benchmark (1000)")
    ap.add_argument("--changes", type=int, default=100, help="Consul KV changes (100)")
    ap.add_argument("--gap-ms", type=int, default=100,
                    help="Consul: pause between settling and the next write, uniform in [gap, 2*gap] ms (100)")
    ap.add_argument("--max-load", type=float, default=1.0,
                    help="wait (bounded) for the 1-min load average to drop below this (1.0)")
    ap.add_argument("--quiet-wait", type=int, default=120, help="at most this many seconds (120)")
    ap.add_argument("--noise-pct", type=float, default=10.0,
                    help="a run during which other processes used more than this %% of a core is rerun (10)")
    ap.add_argument("--noise-retries", type=int, default=2)
    ap.add_argument("--variant-preload", metavar="LIB",
                    help="proxy bench: add a third target, edgeproxy with LD_PRELOAD=LIB "
                         "(e.g. /usr/lib/x86_64-linux-gnu/libjemalloc.so.2)")
    ap.add_argument("--baseline", metavar="BIN",
                    help="proxy bench: add plain Pingora (cargo build --release --example "
                         "pingora_baseline) as another target")
    ap.add_argument("--save-as", help="proxy bench: results file name (default proxy)")
    ap.add_argument("--results", default=os.path.join(BENCH, "results"))
    args = ap.parse_args()
    which = ["proxy", "hash", "consul", "page"] if "all" in args.which else args.which
    check_tools(which)
    if set(which) - {"page"} or os.path.exists(PAGE_CONFIG):
        args.edgeproxy = find_edgeproxy(args.edgeproxy)
    args.run_dir = tempfile.mkdtemp(prefix="edgeproxy-bench-")
    log("edgeproxy %s; work dir %s; proxy on core %s, wrk + backend on core %s"
        % (args.edgeproxy, args.run_dir, PROXY_CORE, LOAD_CORE))
    fns = {"proxy": bench_proxy, "hash": bench_hash, "consul": bench_consul, "page": bench_page}
    for w in which:
        fns[w](args)
    stop_all()
    shutil.rmtree(args.run_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
