"""The two jobs that sit on Pingora's per-request floor, measured side by side with wrk
(compare.py): plain proxying (`bench.py proxy`, issue 2) and a local 32-byte answer with no
upstream (`bench.py respond`, issue 23). Every run has edgeproxy and nginx, plus bare Pingora
(bench/pingora_baseline.rs, `--baseline`) and Pingap (pingap_peer.py, `--pingap` or its cached
build; with `--variant-preload LIB` also on that allocator) when they are there, each with one
worker thread pinned to the proxy core.
"""

import os
import signal

from harness import (BENCH, PROXY_CORE, STOP_SIGNAL, die, free_ports, get, save, start,
                     start_backend, start_edgeproxy, start_nginx, stop, wait_port)
from compare import Target, compare
import pingap_peer


def bench_proxy(args):
    run = os.path.join(args.run_dir, "proxy")
    os.makedirs(run)
    bport, eport, nport = free_ports(3)
    backend = start_backend(run, [bport])
    addr = "127.0.0.1:%d" % bport
    subs = {"BACKEND": addr}
    targets = [edgeproxy(args, run, "proxy.toml", subs), nginx(run, "proxy.conf", subs)]
    if args.variant_preload:
        # Experiment (no code change): the same binary with another malloc via LD_PRELOAD.
        vname = "edgeproxy+" + os.path.basename(args.variant_preload).split(".")[0]
        targets.append(edgeproxy(args, run, "proxy.toml", subs, name=vname,
                                 preload=args.variant_preload))
    if args.baseline:
        # Plain Pingora doing the same job (the three forwarding headers): what Pingora costs
        # without edgeproxy.
        targets.append(baseline(args, run, addr, "headers"))
    targets += [pingap(args, run, "proxy", subs, name, lib)
                for name, lib in pingap_peer.variants(args)]
    for t in targets:
        st, h, _ = get(port_of(t), "/hello")
        if st != 200 or h.get("X-Backend") != str(bport):
            die("%s did not reach the backend (status %s)" % (t.name, st))
    s = compare("Plain proxying (issue 2): round robin / proxy_pass, upstream keep-alive",
                targets, [backend], args, "plain", 1)
    save(args.save_as or "proxy", s, args)
    for t in targets:
        stop(t.proc)
    stop(backend)
    return s


def bench_respond(args):
    run = os.path.join(args.run_dir, "respond")
    os.makedirs(run)
    targets = [edgeproxy(args, run, "respond.toml", {}), nginx(run, "respond.conf", {})]
    if args.baseline:
        # Answering in request_filter, with the client keep-alive deadline edgeproxy sets
        # (as instr.py's respond job).
        targets.append(baseline(args, run, "127.0.0.1:9", "respond", "timeouts"))
    targets += [pingap(args, run, "respond", {}, name, lib)
                for name, lib in pingap_peer.variants(args)]
    for t in targets:
        st, _, body = get(port_of(t), "/hello")
        if st != 200 or len(body) != 32:
            die("%s answered %s with %d bytes, not 200 with 32" % (t.name, st, len(body)))
    s = compare("Local 32-byte answer (issue 23): `respond` plugin / return 200 / "
                "request_filter / mock plugin, no upstream", targets, [], args, "plain", 1)
    save(args.save_as or "respond", s, args)
    for t in targets:
        stop(t.proc)
    return s


# ---------------------------------------------------------------- targets, started and ready

def port_of(t):
    return int(t.url.rsplit(":", 1)[1].split("/", 1)[0])


def ready(name, proc, port, run):
    wait_port(port, proc, name, run)
    return Target(name, "http://127.0.0.1:%d/hello" % port, proc)


def edgeproxy(args, run, conf, subs, name="edgeproxy", preload=None):
    port = free_ports(1)[0]
    p = start_edgeproxy(name, args.edgeproxy, os.path.join(BENCH, "edgeproxy", conf), run,
                        dict(subs, LISTEN="127.0.0.1:%d" % port), preload=preload)
    return ready(name, p, port, run)


def nginx(run, conf, subs):
    port = free_ports(1)[0]
    p = start_nginx("nginx", os.path.join(BENCH, "nginx", conf), PROXY_CORE, run,
                    dict(subs, LISTEN="127.0.0.1:%d" % port))
    return ready("nginx", p, port, run)


def baseline(args, run, backend_addr, *flags):
    """bench/pingora_baseline.rs with `flags` (headers, timeouts, respond)."""
    port = free_ports(1)[0]
    p = start("pingora-baseline", [args.baseline, "127.0.0.1:%d" % port, backend_addr]
              + list(flags), PROXY_CORE, run, env={"RUST_LOG": "warn"})
    STOP_SIGNAL[p.pid] = signal.SIGINT
    return ready("pingora-baseline", p, port, run)


def pingap(args, run, job, subs, name, preload):
    port = free_ports(1)[0]
    p = pingap_peer.start_pingap(name, args.pingap, job, run,
                                 dict(subs, LISTEN="127.0.0.1:%d" % port), preload=preload)
    return ready(name, p, port, run)
