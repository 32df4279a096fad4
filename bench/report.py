#!/usr/bin/env python3
"""Markdown tables from bench/results/*.json (written by bench.py), for BENCHMARKS.md.

  python3 bench/report.py [RESULTS_DIR]
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def load(d, name):
    p = os.path.join(d, name + ".json")
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)


def us(v):
    return "%.0f µs" % v if v < 10000 else "%.1f ms" % (v / 1000)


def comparison(s):
    out = ["#### " + s["title"], ""]
    out.append("Measured %s, 1-min load average at start %.2f."
               % (s["machine"]["date"], s["load_at_start"]))
    out.append("")
    out.append("| | req/s (max) | p50 (max) | p99 (max) | proxy CPU at max | CPU/req (max) "
               "| req/s (fixed) | p50 (fixed) | p99 (fixed) | CPU/req (fixed) | PSS | noisy runs / max other CPU |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, t in s["targets"].items():
        out.append("| %s | %.0f | %s | %s | %.0f%% | %.1f µs | %.0f | %s | %s | %.1f µs | %.1f MiB | %d / %.0f%% |" % (
            name, t["rps"], us(t["p50_us"]), us(t["p99_us"]), 100 * t["proxy_util_at_max"],
            t["cpu_us_per_req_at_max"], t["fixed_rps"], us(t["fixed_p50_us"]),
            us(t["fixed_p99_us"]), t["cpu_us_per_req_fixed"], t["pss_kib"] / 1024,
            t["noisy_runs"], t["max_other_cpu_pct"]))
    r = s.get("ratios_edgeproxy_over_nginx")
    if r:
        e, n = s["targets"]["edgeproxy"], s["targets"]["nginx"]
        out.append("| **edgeproxy / nginx** | **%.2f** | %.2f | **%.2f** | | %.2f | | %.2f | %.2f | **%.2f** | %.2f | |" % (
            r["rps"], r["p50"], r["p99"], r["cpu_per_req_at_max"],
            e["fixed_p50_us"] / n["fixed_p50_us"], e["fixed_p99_us"] / n["fixed_p99_us"],
            r["cpu_per_req_fixed"], r["pss"]))
    for name, rv in s.get("ratios_over_nginx", {}).items():
        if name != "edgeproxy":
            out.append("| *%s / nginx* | *%.2f* | | *%.2f* | | | | | | *%.2f* | | |"
                       % (name, rv["rps"], rv["p99"], rv["cpu_per_req_fixed"]))
    out.append("")
    out.append("Per repetition (req/s at max): " + "; ".join(
        "%s %s" % (name, ", ".join("%.0f" % x["rps"] for x in t["runs"]))
        for name, t in s["targets"].items()))
    out.extend(spread(s))
    if "mapping_agreement" in s:
        m = s["mapping_agreement"]
        out.append("")
        out.append("Key → backend agreement between edgeproxy and nginx: %d of %d keys."
                   % (m["same_backend"], m["keys"]))
    out.append("")
    return "\n".join(out)


def spread(s):
    """The spread over repetitions: edgeproxy / X per repetition, for every other target X.
    Repetition i of every target ran in the same round (bench/compare.py alternates the
    order), so the pairs share the machine's state of that moment."""
    ts = s["targets"]
    e = ts.get("edgeproxy")
    if not e:
        return []
    out = []
    for name, t in ts.items():
        if name == "edgeproxy" or len(t["runs"]) != len(e["runs"]):
            continue
        rps = [a["rps"] / b["rps"] for a, b in zip(e["runs"], t["runs"]) if b["rps"]]
        p99 = [a["p99_us"] / b["p99_us"] for a, b in zip(e["runs"], t["runs"]) if b["p99_us"]]
        if rps:
            out.append("edgeproxy / %s per repetition: req/s %s (spread %.2f–%.2f), p99 %s."
                       % (name, ", ".join("%.2f" % x for x in rps), min(rps), max(rps),
                          ", ".join("%.2f" % x for x in p99)))
    return [""] + out if out else []


def consul(s):
    return "\n".join([
        "#### " + s["title"], "",
        "Measured %s; %d changes, pause before each write %d–%d ms."
        % (s["machine"]["date"], s["changes"], s["gap_ms"][0], s["gap_ms"][1]), "",
        "| changes | p50 | p99 | max | min | mean |",
        "|---:|---:|---:|---:|---:|---:|",
        "| %d | %.1f ms | %.1f ms | %.1f ms | %.1f ms | %.1f ms |" % (
            s["changes"], s["p50_ms"], s["p99_ms"], s["max_ms"], s["min_ms"], s["mean_ms"]),
        ""])


def instr(s):
    out = ["#### " + s["title"], "",
           "Measured %s; %d requests per target after a warm-up, %d connections."
           % (s["machine"]["date"], s["requests"], s["conns"]), "",
           "| job | target | instructions/request | / nginx | / bare Pingora |",
           "|---|---|---:|---:|---:|"]
    for job, res in s["jobs"].items():
        ng = res.get("nginx", {}).get("per_request")
        base = res.get("pingora-baseline", {}).get("per_request")
        for name, r in res.items():
            out.append("| %s | %s | %.0f | %s | %s |" % (
                job, name, r["per_request"], "%.2f" % (r["per_request"] / ng) if ng else "",
                "%.2f" % (r["per_request"] / base) if base else ""))
    out.append("")
    return "\n".join(out)


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "results")
    names = ["proxy", "respond", "proxy-jemalloc", "hash", "page"]
    names += sorted(f[:-5] for f in os.listdir(d) if f.endswith(".json")
                    and (f.startswith("page-") or f.startswith("twotier")))
    for name in names:
        s = load(d, name)
        if s:
            print(comparison(s))
    s = load(d, "instr")
    if s:
        print(instr(s))
    s = load(d, "consul")
    if s:
        print(consul(s))


if __name__ == "__main__":
    main()
