"""wrk runs and the side-by-side comparison (python3 stdlib only): warm-up, repetitions in
alternating order, fixed-rate runs, medians over the runs other processes did not disturb,
ratios. Uses harness.py for processes and /proc.
"""

import os
import re
import statistics
import subprocess
import time

from harness import (LOAD_CORE, PROCS, TICK, WRK_LUA, cpu_ticks, die, log, loadavg, machine,
                     params, pss_kib, stat_busy, stop)

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


def wrk_env(mode):
    """bench.lua's environment for `mode`: a mode name ("plain", "hash", "page"), or a dict of
    BENCH_* variables (a workload: mode, distribution, shops, ...)."""
    if isinstance(mode, dict):
        return {k: str(v) for k, v in mode.items()}
    return {"BENCH_MODE": mode}


def wrk(url, duration, conns, mode, keys=10000, delay_ms=0):
    env = dict(os.environ, BENCH_KEYS=str(keys), BENCH_DELAY_MS=str(delay_ms))
    env.update(wrk_env(mode))
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

def compare_args(ap, duration, warmup):
    """The options `compare` reads, for the scripts that run it outside bench.py."""
    ap.add_argument("--edgeproxy")
    ap.add_argument("--duration", type=int, default=duration)
    ap.add_argument("--warmup", type=int, default=warmup)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--fixed-conns", type=int, default=16)
    ap.add_argument("--fixed-delay-ms", type=int, default=2)
    ap.add_argument("--fixed-share", type=float, default=0.5)
    ap.add_argument("--max-load", type=float, default=1.0)
    ap.add_argument("--quiet-wait", type=int, default=120)
    ap.add_argument("--noise-pct", type=float, default=10.0)
    ap.add_argument("--steal-pct", type=float, default=5.0)
    ap.add_argument("--noise-retries", type=int, default=2)


class Target:
    """One thing under load: `proc` answers `url`; its CPU and memory are those of `procs`
    (default: `proc` and its children; a two-tier setup lists every tier's process)."""

    def __init__(self, name, url, proc, procs=None):
        self.name, self.url, self.proc = name, url, proc
        self.procs = procs or [proc]

    def cpu_ticks(self):
        return sum(cpu_ticks(p.pid) for p in self.procs)

    def pss_kib(self):
        return sum(pss_kib(p.pid) for p in self.procs)


def measured_run(t, all_procs, args, mode, keys, delay_ms=0, conns=None):
    """One wrk run against t; CPU of the proxy and of everything else on the machine."""
    load = loadavg()
    ours0 = sum(cpu_ticks(p.pid) for p in all_procs)
    me0 = os.times()
    busy0, steal0 = stat_busy()
    c0 = t.cpu_ticks()
    t0 = time.monotonic()
    r = wrk(t.url, args.duration, conns or args.conns, mode, keys, delay_ms)
    wall = time.monotonic() - t0
    c1 = t.cpu_ticks()
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
    flag = "  NOISY" if noisy(r, args) else ""
    log("%-10s %-6s rps=%9.0f p50=%7.0fus p99=%7.0fus cpu/req=%6.1fus proxy-cpu=%3.0f%% "
        "other=%4.0f%% steal=%4.1f%% load1=%.2f errors=%d%s"
        % (t.name, "fixed" if delay_ms else "max", r["rps"], r["p50_us"], r["p99_us"],
           r["cpu_us_per_req"], 100 * r["proxy_util"], r["other_cpu_pct"], r["steal_pct"],
           load, errors, flag))
    if errors > 0.001 * r["requests"]:
        die("%s: %d errors in %d requests (non-2xx %d, socket %d): the numbers would be "
            "meaningless; see the logs in %s" % (t.name, errors, r["requests"], r["non2xx"],
                                                  r["socket_errors"], args.run_dir))
    return r


def noisy(r, args):
    """A run disturbed by other processes on this VM or by the hypervisor (steal: the
    host ran someone else on our vCPUs; CPU per request and req/s are both off then)."""
    return r["other_cpu_pct"] > args.noise_pct or r["steal_pct"] > args.steal_pct


def run_with_retry(t, all_procs, args, mode, keys, delay_ms=0, conns=None):
    r = measured_run(t, all_procs, args, mode, keys, delay_ms, conns)
    tries = 0
    while noisy(r, args) and tries < args.noise_retries:
        tries += 1
        log("other processes used %.0f%% of a core and steal was %.1f%% during that run; "
            "rerunning (%d/%d)" % (r["other_cpu_pct"], r["steal_pct"], tries, args.noise_retries))
        time.sleep(2)
        r = measured_run(t, all_procs, args, mode, keys, delay_ms, conns)
    r["noisy"] = noisy(r, args)
    return r


def fixed_delay_ms(res, args):
    """The per-connection pause of the fixed-rate runs: the configured one, or longer so that
    the rate is at most `fixed_share` of the slowest target's closed-loop rate — every target
    then runs the same rate below its saturation, and CPU per request compares like with
    like (a saturated target's "fixed" rate would be its maximum)."""
    slowest = min(med(v["max"], "rps") for v in res.values())
    rate = min(args.fixed_conns * 1000.0 / args.fixed_delay_ms, slowest * args.fixed_share)
    return max(args.fixed_delay_ms, int(round(args.fixed_conns * 1000.0 / max(rate, 1.0)))), rate


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
    all_procs = [p for t in targets for p in t.procs] + support
    load_start = wait_for_quiet(args)
    log("%s: warm-up %ds per target" % (title, args.warmup))
    for t in targets:
        wrk(t.url, args.warmup, args.conns, mode, keys)
    res = {t.name: {"max": [], "fixed": []} for t in targets}
    for rep in range(args.reps):
        order = targets if rep % 2 == 0 else list(reversed(targets))
        for t in order:
            res[t.name]["max"].append(run_with_retry(t, all_procs, args, mode, keys))
    delay_ms, rate = fixed_delay_ms(res, args)
    log("fixed-rate runs: %d connections, %d ms apart (about %.0f req/s each target)"
        % (args.fixed_conns, delay_ms, rate))
    for rep in range(args.reps):
        order = targets if rep % 2 == 0 else list(reversed(targets))
        for t in order:
            res[t.name]["fixed"].append(run_with_retry(
                t, all_procs, args, mode, keys, delay_ms=delay_ms, conns=args.fixed_conns))
    summary = {"title": title, "mode": mode, "keys": keys, "load_at_start": load_start,
               "machine": machine(), "params": params(args), "targets": {},
               "fixed_delay_ms": delay_ms}
    for t in targets:
        mx, fx = res[t.name]["max"], res[t.name]["fixed"]
        summary["targets"][t.name] = {
            "rps": med(mx, "rps"), "p50_us": med(mx, "p50_us"), "p99_us": med(mx, "p99_us"),
            "cpu_us_per_req_at_max": med(mx, "cpu_us_per_req"),
            "proxy_util_at_max": med(mx, "proxy_util"),
            "fixed_rps": med(fx, "rps"), "fixed_p50_us": med(fx, "p50_us"),
            "fixed_p99_us": med(fx, "p99_us"),
            "cpu_us_per_req_fixed": med(fx, "cpu_us_per_req"),
            "pss_kib": t.pss_kib(),
            "noisy_runs": sum(1 for r in mx + fx if r["noisy"]),
            "max_other_cpu_pct": max(r["other_cpu_pct"] for r in mx + fx),
            "max_steal_pct": max(r["steal_pct"] for r in mx + fx),
            "runs": mx, "fixed_runs": fx,
        }
    rates = [t["fixed_rps"] for t in summary["targets"].values()]
    # Equal within 5 %: otherwise a target saturated or lagged, and CPU/req @fixed is
    # not a like-for-like comparison (the table says so).
    summary["fixed_rates_equal"] = max(rates) <= 1.05 * min(rates)
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
          "| PSS | noisy runs (max other CPU / steal) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, t in s["targets"].items():
        print("| %s | %.0f | %.0f µs | %.0f µs | %.1f µs (%.0f/s) | %.1f µs | %.0f%% | %.1f MiB "
              "| %d (%.0f%% / %.1f%%) |"
              % (name, t["rps"], t["p50_us"], t["p99_us"], t["cpu_us_per_req_fixed"],
                 t["fixed_rps"], t["cpu_us_per_req_at_max"], 100 * t["proxy_util_at_max"],
                 t["pss_kib"] / 1024, t["noisy_runs"], t["max_other_cpu_pct"],
                 t["max_steal_pct"]))
    r = s.get("ratios_edgeproxy_over_nginx")
    if r:
        print("| **edgeproxy/nginx** | **%.2f** | %.2f | **%.2f** | %.2f | %.2f | | %.2f | |"
              % (r["rps"], r["p50"], r["p99"], r["cpu_per_req_fixed"], r["cpu_per_req_at_max"],
                 r["pss"]))
    if not s.get("fixed_rates_equal", True):
        print("\n(fixed-rate runs did not reach equal rates (more than 5 % apart): the "
              "CPU/req @fixed column is not like for like)")
    print(flush=True)
