"""The machinery every benchmark shares (python3 stdlib only): processes started in their own
session and killed by id on exit, config rendering (@PLACEHOLDERS@), /proc accounting (CPU
ticks, PSS), results files. The wrk runs and the side-by-side comparison are in compare.py.
bench.py and the benchmark modules (pagebench.py, twotier.py, instr.py) import both.
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
# The nginx binary (BENCH_NGINX: e.g. the same version built with symbols, for cg_breakdown.py;
# Debian's is stripped).
NGINX = os.environ.get("BENCH_NGINX", "nginx")

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


def start_nginx(name, conf_src, core, run_root, subs, wrap=None):
    """nginx with `conf_src` rendered; `wrap` (e.g. valgrind's argv) runs it as one process
    (`master_process off`), so the wrapper sees the worker."""
    run = os.path.join(run_root, name)
    os.makedirs(run, exist_ok=True)
    subs = dict(subs, RUN=run, USER=user_line(), BENCH=BENCH)
    conf = render(conf_src, os.path.join(run, "nginx.conf"), subs)
    if wrap:
        with open(conf) as f:
            text = f.read()
        with open(conf, "w") as f:
            f.write(text.replace("daemon off;", "daemon off;\nmaster_process off;", 1))
    t = subprocess.run([NGINX, "-t", "-q", "-p", run, "-c", conf, "-e", run + "/error.log"],
                       capture_output=True, text=True, timeout=30)
    if t.returncode != 0:
        die("nginx -t failed for %s (%s):\n%s%s" % (name, conf, t.stdout, t.stderr))
    return start(name, (wrap or []) + [NGINX, "-p", run, "-c", conf, "-e", run + "/error.log"],
                 core, run_root)


def start_edgeproxy(name, binary, conf_src, run_root, subs, core=PROXY_CORE, preload=None,
                    wrap=None, env=None):
    run = os.path.join(run_root, name)
    os.makedirs(run, exist_ok=True)
    subs = dict(subs, RUN=run, BENCH=BENCH)
    conf = render(conf_src, os.path.join(run, "edgeproxy.toml"), subs)
    t = subprocess.run([binary, "-t", "-c", conf], capture_output=True, text=True, timeout=30)
    if t.returncode != 0:
        die("edgeproxy -t failed for %s:\n%s%s" % (conf, t.stdout, t.stderr))
    env = dict(env or {}, EDGEPROXY_LOG="warn")
    if preload:
        env["LD_PRELOAD"] = preload
    p = start(name, (wrap or []) + [binary, "-c", conf], core, run_root, env=env)
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


def machine():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "cpu": model, "kernel": os.uname().release,
            "nginx": subprocess.run([NGINX, "-v"], capture_output=True, text=True).stderr.strip(),
            "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0],
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def params(args):
    return {k: getattr(args, k) for k in ("duration", "warmup", "reps", "conns", "fixed_conns",
                                          "fixed_delay_ms", "fixed_share", "noise_pct",
                                          "steal_pct")}


def save(name, summary, args):
    os.makedirs(args.results, exist_ok=True)
    path = os.path.join(args.results, name + ".json")
    with open(path, "w") as f:
        json.dump(summary, f, indent=1)
    log("results written to %s" % os.path.relpath(path, REPO))


def get(port, path, timeout=5):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
        return r.status, r.headers, r.read()


def start_backend(run_root, ports, name="backend"):
    listen = "\n".join("        listen 127.0.0.1:%d backlog=4096;" % p for p in ports)
    p = start_nginx(name, os.path.join(BENCH, "nginx", "backend.conf"), LOAD_CORE, run_root,
                    {"LISTEN": listen})
    for port in ports:
        wait_port(port, p, name, run_root)
    return p
