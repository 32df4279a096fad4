#!/usr/bin/env python3
"""Per-plugin cost: instructions per request added by each gateway plugin, edgeproxy and
nginx + Lua (the seed's scripts) side by side, counted by callgrind. See BENCHMARKS.md.

  python3 bench/plugins.py [--requests 2000] [--edgeproxy PATH] [--skip-nginx]

Instruction counts do not move with other processes on the machine (the wall-clock
benchmarks in bench.py do): each proxy runs under `valgrind --tool=callgrind
--instr-atstart=no`, and for every route the script turns instrumentation on, zeroes the
counters, sends N requests over one keep-alive connection, dumps, and divides the total by
N. Everything in the process is counted (all threads: Pingora's, background tasks such as
gray-release's poll), so the figure is the whole cost of a request on that route; the
plugin's cost is the difference with the plain route (`/none`). The backend (nginx, core 1)
and redis-server (core 1) run natively. Uses bench.py's process helpers.
"""

import argparse
import base64
import glob
import hashlib
import hmac
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as b  # noqa: E402  (process helpers, cleanup on exit)

SECRET = "bench-secret-of-at-least-32-bytes-0123456789"

# Request bodies for the POST rows (issue 19: the WAF reads bodies): a 2 KiB form and the
# same text as JSON, with the punctuation of real input (quotes, parentheses, @, #).
COMMENT = ("Bought the 3-pack (red; blue; green) for my O'Brien cousins -- great value, "
           "#1 on my list! Contact me @ jane.doe@example.com; size 10 (wide) fits. ") * 13
FORM_BODY = ("name=Jane+O%27Brien&email=jane.doe%40example.com&rating=5&comment="
             + COMMENT.replace(" ", "+").replace("#", "%23").replace(";", "%3B")).encode()
JSON_BODY = json.dumps({"name": "Jane O'Brien", "email": "jane.doe@example.com", "rating": 5,
                        "comment": COMMENT}).encode()
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}

# (name, path, headers, has an nginx + Lua version[, request body: POST])
ROUTES = [
    ("none (plain proxy)", "/none/p?id=7", {}, True),
    ("rate-limit, local", "/rate-local/p?id=7", {}, True),
    ("rate-limit, redis", "/rate-redis/p?id=7", {}, False),
    ("ip-restriction (1000 denied)", "/ip/p?id=7", {}, True),
    ("waf (default rules)", "/waf/p?q=red+running+shoes&page=2&sort=price", {}, True),
    ("jwt-auth (HS256)", "/jwt/p?id=7", None, False),
    ("gray-release (redis list)", "/gray/p?id=7", {}, True),
    ("none, POST 2 KiB form", "/none/p", FORM, False, FORM_BODY),
    ("waf, POST 2 KiB form", "/waf/p", FORM, False, FORM_BODY),
    ("none, POST 2 KiB JSON", "/none/p", JSON, False, JSON_BODY),
    ("waf, POST 2 KiB JSON", "/waf/p", JSON, False, JSON_BODY),
]


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_token():
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"sub": "u-1", "exp": int(time.time()) + 86400}).encode())
    sig = hmac.new(SECRET.encode(), ("%s.%s" % (head, body)).encode(), hashlib.sha256).digest()
    return "%s.%s.%s" % (head, body, b64(sig))


def under_callgrind(name, argv, run, env=None):
    out = os.path.join(run, name + ".callgrind")
    cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--smc-check=all-non-file",
           "--callgrind-out-file=" + out] + argv
    p = b.start(name, cmd, b.PROXY_CORE, run, env=env)
    return p, out


class Client:
    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(self, path, headers, body=None):
        method = "POST" if body is not None else "GET"
        self.conn.request(method, path, body=body, headers=headers)
        r = self.conn.getresponse()
        r.read()
        if r.status != 200:
            b.die("%s %s on %d answered %d" % (method, path, self.port, r.status))


def control(pid, flag, client, path, headers, body=None):
    """callgrind_control FLAG PID; Valgrind reads commands only while the process runs,
    so requests keep it busy until the command is done. Returns how many were sent."""
    p = subprocess.Popen(["callgrind_control", flag, str(pid)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    pokes = 0
    while p.poll() is None:
        client.get(path, headers, body)
        pokes += 1
    if p.returncode != 0:
        b.die("callgrind_control %s %d failed" % (flag, pid))
    return pokes


def total_ir(files_before, out):
    new = sorted(set(glob.glob(out + "*")) - files_before, key=os.path.getmtime)
    if not new:
        b.die("no callgrind dump appeared for %s" % out)
    with open(new[-1]) as f:
        for line in f:
            m = re.match(r"(summary|totals):\s+(\d+)", line)
            if m:
                return int(m.group(2))
    b.die("no totals in %s" % new[-1])


def measure(pid, out, port, path, headers, n, warmup, body=None):
    c = Client(port)
    for _ in range(warmup):
        c.get(path, headers, body)
    control(pid, "--instr=on", c, path, headers, body)
    control(pid, "-z", c, path, headers, body)
    for _ in range(n):
        c.get(path, headers, body)
    before = set(glob.glob(out + "*"))
    extra = control(pid, "--dump", c, path, headers, body)
    ir = total_ir(before, out)
    control(pid, "--instr=off", c, path, headers, body)
    c.conn.close()
    return ir / (n + extra), extra


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edgeproxy", help="edgeproxy binary (default: release build)")
    ap.add_argument("--requests", type=int, default=2000, help="measured requests per route")
    ap.add_argument("--warmup", type=int, default=300, help="unmeasured requests first")
    ap.add_argument("--skip-nginx", action="store_true")
    ap.add_argument("--results", default=os.path.join(b.BENCH, "results"))
    args = ap.parse_args()
    for tool in ("valgrind", "callgrind_control", "redis-server", "redis-cli", "nginx"):
        if not b.shutil.which(tool):
            b.die("missing %s (apt-get install valgrind redis-server nginx)" % tool)
    args.edgeproxy = b.find_edgeproxy(args.edgeproxy)
    run = tempfile.mkdtemp(prefix="edgeproxy-plugins-bench-")
    os.sched_setaffinity(0, {int(b.LOAD_CORE)})
    bport, eport, nport, rport = b.free_ports(4)
    backend = b.start_backend(run, [bport])
    redis = b.start("redis", ["redis-server", "--port", str(rport), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no"], b.LOAD_CORE, run)
    b.wait_port(rport, redis, "redis", run)
    subprocess.run(["redis-cli", "-p", str(rport), "SET", "gray", "10.1.1.1 10.1.1.2"],
                   check=True, capture_output=True)
    deny = ["10.%d.%d.%d" % (i // 65536 % 256, i // 256 % 256, i % 256) for i in range(1000)]
    with open(os.path.join(run, "deny.txt"), "w") as f:
        f.write("\n".join(deny) + "\n")
    subs = {"RUN": run, "BACKEND": "127.0.0.1:%d" % bport, "LISTEN": "127.0.0.1:%d" % eport,
            "REDIS_PORT": rport, "BENCH": b.BENCH}
    conf = b.render(os.path.join(b.BENCH, "edgeproxy", "plugins.toml"),
                    os.path.join(run, "edgeproxy.toml"), subs)
    env = {"EDGEPROXY_LOG": "warn", "BENCH_JWT_SECRET": SECRET}
    t = subprocess.run([args.edgeproxy, "-t", "-c", conf], capture_output=True, text=True,
                       env=dict(os.environ, **env))
    if t.returncode != 0:
        b.die("edgeproxy -t failed:\n" + t.stderr)
    targets = []
    ep, ep_out = under_callgrind("edgeproxy", [args.edgeproxy, "-c", conf], run, env)
    b.STOP_SIGNAL[ep.pid] = b.signal.SIGINT
    b.wait_port(eport, ep, "edgeproxy", run, timeout=120)
    targets.append(("edgeproxy", ep, ep_out, eport))
    if not args.skip_nginx:
        nrun = os.path.join(run, "nginx")
        os.makedirs(nrun)
        nconf = b.render(os.path.join(b.BENCH, "nginx", "plugins.conf"),
                         os.path.join(nrun, "nginx.conf"),
                         dict(subs, RUN=nrun, LISTEN="127.0.0.1:%d" % nport, USER=b.user_line(),
                              DENY_COUNT=len(deny)))
        ng, ng_out = under_callgrind("nginx", ["nginx", "-p", nrun, "-c", nconf, "-e",
                                               nrun + "/error.log"], run)
        b.wait_port(nport, ng, "nginx", run, timeout=120)
        targets.append(("nginx", ng, ng_out, nport))
    token = hs256_token()
    results = {"requests": args.requests, "routes": {}, "machine": b.machine(),
               "valgrind": subprocess.run(["valgrind", "--version"], capture_output=True,
                                          text=True).stdout.strip()}
    for name, path, headers, in_nginx, *body in ROUTES:
        body = body[0] if body else None
        headers = headers if headers is not None else {"Authorization": "Bearer " + token}
        row = results["routes"].setdefault(name, {})
        for tname, p, out, port in targets:
            if tname == "nginx" and not in_nginx:
                continue
            ir, extra = measure(p.pid, out, port, path, headers, args.requests, args.warmup,
                                body)
            row[tname] = ir
            b.log("%-30s %-9s %9.0f instructions/request (%d measured + %d)"
                  % (name, tname, ir, args.requests, extra))
    base = results["routes"]["none (plain proxy)"]
    print()
    print("| route | edgeproxy Ir/req | added by the plugin | nginx + Lua Ir/req | added by the Lua |")
    print("|---|---:|---:|---:|---:|")
    for name, row in results["routes"].items():
        cells = []
        for tname in ("edgeproxy", "nginx"):
            if tname in row:
                cells += ["%.0f" % row[tname], "%+.0f" % (row[tname] - base[tname])]
            else:
                cells += ["—", "—"]
        print("| %s | %s |" % (name, " | ".join(cells)))
    print()
    os.makedirs(args.results, exist_ok=True)
    path = os.path.join(args.results, "plugins.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    b.log("results written to %s" % os.path.relpath(path, b.REPO))
    b.stop_all()
    b.shutil.rmtree(run, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
