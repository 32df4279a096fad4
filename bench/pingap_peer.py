"""Pingap, another Pingora-based proxy, as a benchmark target beside nginx, bare Pingora and
edgeproxy (issue 23 item 6): the plain-proxy and local-answer jobs (floor.py) and their
instruction counts (instr.py). Pingap is the crates.io release (`pingap`, version VERSION),
built once by `make -C bench pingap` into the tools cache; the benchmarks run without it
(and say so) when it is not there.

Its configs are bench/pingap/JOB.toml (`proxy`, `respond`), rendered like the others
(@PLACEHOLDERS@), checked with `pingap -t` and run with one worker thread, no work stealing,
no access log, pinned to the proxy core. Pingap as shipped allocates with glibc's malloc
(its own allocator is for musl builds only) where edgeproxy and bare Pingora link jemalloc:
with `--variant-preload LIB` the benchmarks also run `pingap+LIB` (LD_PRELOAD), the same
binary on that allocator.
"""

import os
import signal
import subprocess

from harness import BENCH, PROXY_CORE, STOP_SIGNAL, die, log, render, start

VERSION = "0.13.1"
TOOLS = os.environ.get("EDGEPROXY_TOOLS") or os.path.join(os.path.expanduser("~"), ".cache",
                                                           "edgeproxy", "tools")
DEFAULT_BINARY = os.path.join(TOOLS, "pingap-%s" % VERSION, "bin", "pingap")


def find(given):
    """The Pingap binary to run: `given` (it must exist), else the cached build; None when
    there is none (the benchmarks then run without Pingap, and say so here)."""
    if given:
        if not os.access(given, os.X_OK):
            die("--pingap %s: no such executable" % given)
        return os.path.abspath(given)
    if os.access(DEFAULT_BINARY, os.X_OK):
        return DEFAULT_BINARY
    log("Pingap not found (%s): running without it; `make -C bench pingap` builds it once"
        % DEFAULT_BINARY)
    return None


def variants(args):
    """[(target name, LD_PRELOAD or None)]: Pingap as shipped, and on `--variant-preload`."""
    if not args.pingap:
        return []
    out = [("pingap", None)]
    if args.variant_preload:
        out.append(("pingap+" + os.path.basename(args.variant_preload).split(".")[0],
                    args.variant_preload))
    return out


def start_pingap(name, binary, job, run_root, subs, wrap=None, preload=None):
    """Pingap with bench/pingap/`job`.toml rendered with `subs`, pinned to the proxy core;
    `wrap` (valgrind's argv) runs it under a tool, `preload` on another malloc."""
    run = os.path.join(run_root, name)
    os.makedirs(run, exist_ok=True)
    conf = render(os.path.join(BENCH, "pingap", job + ".toml"), os.path.join(run, "pingap.toml"),
                  dict(subs, RUN=run))
    t = subprocess.run([binary, "-t", "-c", conf], capture_output=True, text=True, timeout=60)
    if t.returncode != 0:
        die("pingap -t failed for %s:\n%s%s" % (conf, t.stdout, t.stderr))
    p = start(name, (wrap or []) + [binary, "-c", conf], PROXY_CORE, run_root,
              env={"LD_PRELOAD": preload} if preload else None)
    STOP_SIGNAL[p.pid] = signal.SIGINT  # Pingora: SIGINT = fast shutdown
    return p
