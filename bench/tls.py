#!/usr/bin/env python3
"""TLS benchmark, edgeproxy vs nginx, side by side (bench.py's method; see BENCHMARKS.md).

  tls.py keepalive    TLS requests/s on kept-alive connections (HTTP/1.1 over TLS 1.3)
  tls.py handshake    full handshakes/s: every request on a new connection (Connection: close)
  tls.py all          both

Both proxies use the same ECDSA P-256 certificate and the system's OpenSSL; each is pinned
to core 0, wrk and the backend to core 1.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as b  # noqa: E402
from compare import compare_args  # noqa: E402


def make_cert(run):
    cert, key = os.path.join(run, "bench.crt"), os.path.join(run, "bench.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "30", "-subj", "/CN=bench.test",
                    "-addext", "subjectAltName=DNS:bench.test"],
                   check=True, capture_output=True)
    return cert, key


def run(args, which):
    run_dir = os.path.join(args.run_dir, "tls")
    os.makedirs(run_dir)
    cert, key = make_cert(run_dir)
    bport, eport, nport = b.free_ports(3)
    backend = b.start_backend(run_dir, [bport])
    addr = "127.0.0.1:%d" % bport
    subs = {"BACKEND": addr, "CERT": cert, "KEY": key}
    ep = b.start_edgeproxy("edgeproxy", args.edgeproxy, os.path.join(b.BENCH, "edgeproxy", "tls.toml"),
                           run_dir, dict(subs, LISTEN="127.0.0.1:%d" % eport))
    ng = b.start_nginx("nginx", os.path.join(b.BENCH, "nginx", "tls.conf"), b.PROXY_CORE, run_dir,
                       dict(subs, LISTEN="127.0.0.1:%d" % nport))
    b.wait_port(eport, ep, "edgeproxy", run_dir)
    b.wait_port(nport, ng, "nginx", run_dir)
    targets = [b.Target("edgeproxy", "https://127.0.0.1:%d/hello" % eport, ep),
               b.Target("nginx", "https://127.0.0.1:%d/hello" % nport, ng)]
    out = {}
    if which in ("all", "keepalive"):
        s = b.compare("TLS 1.3, kept-alive connections (HTTP/1.1)", targets, [backend], args, "plain", 1)
        b.save("tls_keepalive", s, args)
        out["keepalive"] = s
    if which in ("all", "handshake"):
        # wrk() reads WRK_LUA from the module that defines it (bench.py, or harness.py).
        sys.modules[b.wrk.__module__].WRK_LUA = os.path.join(b.BENCH, "wrk", "close.lua")
        s = b.compare("TLS 1.3 full handshakes (a new connection per request)", targets,
                      [backend], args, "plain", 1)
        b.save("tls_handshake", s, args)
        out["handshake"] = s
    for t in targets:
        b.stop(t.proc)
    b.stop(backend)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("which", nargs="?", default="all", choices=["all", "keepalive", "handshake"])
    compare_args(ap, duration=10, warmup=3)
    ap.add_argument("--results", default=os.path.join(b.BENCH, "results"))
    args = ap.parse_args()
    b.check_tools(["proxy"])
    args.edgeproxy = b.find_edgeproxy(args.edgeproxy)
    args.run_dir = tempfile.mkdtemp(prefix="edgeproxy-bench-tls-")
    run(args, args.which)
    b.stop_all()
    shutil.rmtree(args.run_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
