#!/usr/bin/env python3
"""Where a proxy's instructions per request go, by component, from one callgrind dump of
`bench.py instr --keep-run-dir` (python3 stdlib only; BENCHMARKS.md "Where the floor goes").

  cg_breakdown.py --requests 3000 DUMP            inclusive by component (Pingora or nginx,
                                                  told apart by the dump's command line)
  cg_breakdown.py --requests 3000 --top 40 DUMP   the 40 costliest functions, inclusive
  cg_breakdown.py --requests 3000 --callers memcpy DUMP   who calls a function, and its cost

callgrind_annotate reports a function once per source file its inlined code came from; here
every function is merged by name (recursion levels `'N` too), so a row is the whole of it.
Inclusive cost of a component = the calls into its functions from functions outside it:
what ran while it was on the stack. Rows may nest (a parse allocates); the cross-cutting
rows (allocator, memcpy, header maps) say so. Debian's nginx is stripped but exports most
`ngx_*` functions; a static function (an address in the dump) is named after the nearest
exported symbol below it (`~ngx_x`): the linker keeps an object file's functions together,
so that names its source file.
"""

import argparse
import bisect
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict

# Rows: (label, regex on merged function names) = inclusive: what ran while one of them was
# on the stack; (label, "self", regex) = their own instructions only; (label, "edge", caller
# regex, callee regex) = the calls from the one to the other. Order = table order; "…" rows
# are inside the row above them, "×" rows cut across the others.
PINGORA = [
    ("connection task (`ServerApp::process_new`: every request of a connection)",
     r"as pingora_core::apps::ServerApp>::process_new::\{\{closure\}\}$"),
    ("… the per-request future copied into its `Box` (`#[async_trait] process_new_http`: "
     "memcpy; in edgeproxy from its `Lingering` wrapper)", "edge",
     r"as pingora_core::apps::ServerApp>::process_new::\{\{closure\}\}$|"
     r"Lingering<.*>::process_new_http::\{\{closure\}\}$", r"^__mem(cpy|move)_"),
    ("… pingora-proxy per request (`HttpProxy::process_new_http`)",
     r"pingora_proxy::HttpProxy<.*>::process_new_http::\{\{closure\}\}$"),
    ("… … HTTP/1 read + parse (`HttpSession::read_request`: read, httparse, header map)",
     r"v1::server::HttpSession::read_request::\{\{closure\}\}$"),
    ("… … downstream modules (`HttpModules::build_ctx`, module filters)",
     r"pingora_core::modules::http::"),
    ("… … the user's filters (`ProxyHttp` callbacks; `respond`: building + writing the answer)",
     r"ProxyHttp>::(request_filter|early_request_filter|upstream_peer|upstream_request_filter|"
     r"response_filter|upstream_response_filter|logging|new_ctx)"),
    ("… … `proxy_to_upstream`: peer, pool, request to and response from the upstream, "
     "response to the client", r"pingora_proxy::HttpProxy<.*>::proxy_to_upstream::\{\{closure\}\}$"),
    ("… … … upstream pool: get + put (`reused_stream`, `release_http_session`, the "
     "idle-watch task, `pingora_pool`)",
     r"pingora_pool::|TransportConnector::(reused_stream|release_stream)|"
     r"Connector<.*>::(release_http_session|reused_http_session)|test_reusable_stream"),
    ("… … … request header clone + hop-by-hop strip for the upstream",
     r"<pingora_http::RequestHeader as core::clone::Clone>::clone|"
     r"proxy_common::sanitize_h1_upstream_request"),
    ("… … … response to the client: header + body writes (`write_response_header/body`, "
     "`prepare_response_header`: Date, Connection; for `respond` inside the user's filter)",
     r"server::(Session|HttpSession)::(write_response_header|write_response_body|"
     r"prepare_response_header|write_body|do_write_body|write_response_tasks)|"
     r"pingora_proxy::Session::write_response_tasks"),
    ("… … finish + keep-alive reuse (`Session::finish`, `HttpSession::reuse`)",
     r"server::(Session|HttpSession)::(finish|reuse)"),
    ("timers (pingora-timeout's timer registration + wheel, tokio's time driver; not the "
     "futures they wrap)",
     r"pingora_timeout::(fast_timeout|timer)::|drop_in_place<pingora_timeout::timer|"
     r"tokio::runtime::time::|tokio::time::"),
    ("event loop: tokio scheduler + IO driver, own instructions", "self",
     r"^tokio::runtime::(scheduler|io|driver|task|context)|^mio::|^epoll_wait$"),
    ("× allocator (jemalloc / malloc)",
     r"^(_rjem_|je_|malloc$|free$|realloc$|calloc$|_int_malloc|_int_free|sdallocx|mallocx|"
     r"rallocx|__rust_alloc|__rust_dealloc|__rust_realloc|tikv_jemallocator)"),
    ("× memcpy / memmove", r"^__mem(cpy|move)_"),
    ("× header maps: `http::HeaderMap` + pingora-http's case map",
     r"^(http::header::|pingora_http::)"),
]

NGINX = [
    ("event loop (`ngx_process_events_and_timers`: epoll, then every handler)",
     r"^ngx_process_events_and_timers$"),
    ("… its own instructions (`ngx_epoll_process_events`, posted events, time update, "
     "`epoll_wait`)", "self",
     r"^(ngx_process_events_and_timers|ngx_epoll_process_events|ngx_event_process_posted|"
     r"ngx_time_update|epoll_wait|ngx_handle_read_event|ngx_handle_write_event)$"),
    ("… timers (`ngx_event_expire_timers`, `ngx_event_find_timer`, rbtree insert + delete)",
     r"^(ngx_event_expire_timers|ngx_event_find_timer|ngx_rbtree_|ngx_event_add_timer|"
     r"ngx_event_del_timer)"),
    ("… read + parse the client's request (`ngx_http_read_request_header`, "
     "`ngx_http_parse_*_line`, header hash lookups)", "edge",
     r"^ngx_http_(init_connection|wait_request_handler|keepalive_handler|"
     r"process_request_line|process_request_headers)$",
     r"^(ngx_http_read_request_header|ngx_unix_recv|recv|ngx_http_parse_request_line|"
     r"ngx_http_parse_header_line|ngx_http_process_request_uri|ngx_http_validate_host|"
     r"ngx_hash_find|ngx_http_process_host|ngx_http_process_connection|"
     r"ngx_http_process_user_agent|ngx_http_process_request_header|"
     r"ngx_http_alloc_large_header_buffer)$"),
    ("… … `ngx_http_parse_request_line` + `ngx_http_parse_header_line` on it", "edge",
     r"^ngx_http_process_request_(line|headers)$", r"^ngx_http_parse_(request|header)_line$"),
    ("… request object + its pool (`ngx_http_create_request`, `ngx_http_free_request`)",
     r"^(ngx_http_create_request|ngx_http_alloc_request|ngx_http_free_request)$"),
    ("… location + phases (`ngx_http_core_find_config_phase`, rewrite phases)",
     r"^(ngx_http_core_find_config_phase|ngx_http_core_find_location|"
     r"ngx_http_core_generic_phase|ngx_http_core_post_rewrite_phase|"
     r"ngx_http_update_location_config)$"),
    ("… upstream (`ngx_http_upstream_*`: create + send the request, read + parse the "
     "response, pass the body on)", r"^ngx_http_upstream_"),
    ("… … proxy module: build the upstream request (`ngx_http_proxy_create_request`)",
     r"^ngx_http_proxy_create_request$"),
    ("… … … `$request_id` (`ngx_http_variable_request_id`: OpenSSL `RAND_bytes`)",
     r"^ngx_http_variable_request_id$"),
    ("… … proxy module: parse the upstream response (`ngx_http_proxy_process_*`, with "
     "`ngx_http_parse_status_line` + `ngx_http_parse_header_line`)",
     r"^ngx_http_proxy_process_"),
    ("… … upstream keepalive module (`ngx_http_upstream_get/free_keepalive_peer`)",
     r"^ngx_http_upstream_(get|free|init)_keepalive_peer|^ngx_http_upstream_keepalive_"),
    ("… … connect (`ngx_event_connect_peer`: a cached connection)",
     r"^ngx_event_connect_peer$"),
    ("… response header: header filter chain (`ngx_http_send_header`)",
     r"^ngx_http_send_header$"),
    ("… response body: body filter chain + write (`ngx_http_output_filter`)",
     r"^ngx_http_output_filter$"),
    ("… … the write itself (`ngx_http_write_filter` → `ngx_linux_sendfile_chain` → writev)",
     r"^ngx_http_write_filter$"),
    ("… finalize + keep-alive (`ngx_http_finalize_request`, `ngx_http_set_keepalive`)",
     r"^(ngx_http_finalize_request|ngx_http_finalize_connection.*|ngx_http_set_keepalive)$"),
    ("× memory: pools + malloc (`ngx_palloc`, `ngx_create_pool`, malloc)",
     r"^(ngx_palloc.*|ngx_pnalloc|ngx_pcalloc|ngx_create_pool|ngx_destroy_pool|ngx_alloc|"
     r"ngx_calloc|ngx_pfree|ngx_reset_pool|ngx_memalign|malloc|free|_int_malloc|_int_free|"
     r"posix_memalign|_mid_memalign.*)$"),
    ("× memcpy / memset", r"^__mem(cpy|move|set)_"),
]


# Own instructions by source file: (label, regex on the file path, first match wins; None =
# everything else). Inlined code counts where it was written.
PINGORA_SOURCES = [
    ("pingora-core HTTP/1 server session (`v1/server.rs`, `server.rs`, `v1/common.rs`, body)",
     r"pingora-core-[^/]*/src/protocols/http/(v1/(server|common|body)|server|body_buffer)\.rs"),
    ("httparse", r"/httparse"),
    ("pingora-core HTTP/1 client (upstream session)",
     r"pingora-core-[^/]*/src/protocols/http/v1/client\.rs"),
    ("upstream pool + connectors (`pingora-pool`, `connectors/`, peer hashing)",
     r"pingora-pool-|pingora-core-[^/]*/src/(connectors|upstreams)/|/lru-|/dashmap-"),
    ("pingora-core L4 streams (buffered reads and writes)",
     r"pingora-core-[^/]*/src/protocols/(l4|raw_connect|mod)"),
    ("pingora-proxy (per-request machinery, phases, `proxy_1to1`)", r"pingora-proxy-"),
    ("pingora-core apps, services, modules", r"pingora-core-[^/]*/src/(apps|services|modules)/"),
    ("pingora-http (request/response header, case map)", r"pingora-http-"),
    ("`http` crate: `HeaderMap`, header names + values", r"/http-[0-9.]+/src/header/"),
    ("`bytes` (`Bytes`, `BytesMut` buffers)", r"/bytes-[0-9.]+/"),
    ("timers (`pingora-timeout`, tokio's time driver)",
     r"pingora-timeout-|tokio-[^/]*/src/(runtime/)?time/"),
    ("tokio runtime + IO driver, mio", r"/tokio-[^/]*/|/mio-"),
    ("allocator (jemalloc, malloc)", r"jemalloc|/malloc/|malloc\.c"),
    ("memcpy / memmove / memset", r"mem(move|cpy|set)"),
    ("the application (bench/pingora_baseline.rs; edgeproxy's crates)",
     r"pingora_baseline\.rs|/edgeproxy|/src/(proxy|plugin|route|config|server)"),
    ("Rust std/core/alloc (fmt, Vec, String, hashing, atomics)", r"^/rustc/"),
    ("everything else (libc, other crates)", None),
]

NGINX_SOURCES = [
    ("event loop + epoll (`ngx_event.c`, `ngx_epoll_module.c`, posted events)",
     r"src/event/(ngx_event\.c|ngx_event_posted|modules/ngx_epoll)"),
    ("timers (`ngx_event_timer.c`, `ngx_rbtree.c`)", r"ngx_event_timer|ngx_rbtree"),
    ("HTTP request: read, parse, header lookups, finalize, keep-alive (`ngx_http_request.c`, "
     "`ngx_http_parse.c`, `ngx_hash.c`)", r"src/http/ngx_http_(request|parse)\.c|ngx_hash\.c"),
    ("phases + location (`ngx_http_core_module.c`)", r"src/http/ngx_http_core_module\.c"),
    ("variables + scripts (`ngx_http_variables.c`, `ngx_http_script.c`)",
     r"src/http/ngx_http_(variables|script)\.c"),
    ("OpenSSL (`RAND_bytes` for `$request_id`)", r"libcrypto|openssl"),
    ("upstream (`ngx_http_upstream.c`, round robin)", r"src/http/ngx_http_upstream"),
    ("upstream keepalive module", r"ngx_http_upstream_keepalive_module"),
    ("proxy module", r"ngx_http_proxy_module"),
    ("header + body filters (`*_filter_module.c`, `ngx_http_write_filter_module.c`, "
     "`ngx_output_chain.c`)", r"filter_module|ngx_output_chain|ngx_http_copy_filter"),
    ("writev / sendfile / recv (`src/os/unix`)", r"src/os/unix/"),
    ("memory: pools + malloc (`ngx_palloc.c`, `ngx_alloc.c`, malloc)",
     r"ngx_palloc|ngx_alloc|/malloc/|malloc\.c"),
    ("memcpy / memmove / memset", r"mem(move|cpy|set)"),
    ("everything else (other nginx sources, libc)", None),
]


def nginx_symbols(binary):
    """Sorted (address, name) of the exported functions of a stripped nginx."""
    out = subprocess.run(["nm", "-D", "--defined-only", "-n", binary], capture_output=True,
                         text=True, check=True).stdout
    syms = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "Tt":
            syms.append((int(parts[0], 16), parts[2]))
    return syms


def parse(path):
    """(self cost by function, inclusive cost by (caller, callee), self cost by source file,
    total, command line). A function without a symbol (`0x…`) is named with its object
    (`0x… @libcrypto.so.3`); so is a file without debug information (`??? @libc.so.6`).
    Self cost by file puts inlined code where it was written, whatever it was inlined into."""
    selfc, calls, files = defaultdict(int), defaultdict(int), defaultdict(int)
    names, objs, fnames, total, cmd, npos = {}, {}, {}, 0, "", 1
    fn = callee = None
    ob = cob = fl = fi = ""
    in_call = False

    def name(s, table):
        s = s.strip()
        m = re.match(r"\((\d+)\)(?: (.*))?$", s)
        if m:
            if m.group(2) is not None:
                table[m.group(1)] = m.group(2)
            s = table.get(m.group(1), s)
        return s

    def func(s, obj):
        s = re.sub(r"'\d+$", "", name(s, names))
        return s + " @" + obj.rsplit("/", 1)[-1] if s.startswith("0x") else s

    with open(path, errors="replace") as f:
        for line in f:
            c = line[:1]
            if c.isdigit() or c in "+-*":
                parts = line.split()
                cost = int(parts[npos]) if len(parts) > npos else 0
                if in_call:
                    calls[(fn, callee)] += cost
                    in_call = False
                else:
                    selfc[fn] += cost
                    src = fi or fl
                    files[src + " @" + ob.rsplit("/", 1)[-1] if src == "???" else src] += cost
            elif line.startswith("fl="):
                fl, fi = name(line[3:], fnames), ""
            elif line.startswith(("fi=", "fe=")):
                fi = name(line[3:], fnames)
            elif line.startswith("ob="):
                ob = cob = name(line[3:], objs)
            elif line.startswith("cob="):
                cob = name(line[4:], objs)
            elif line.startswith("fn="):
                fn = func(line[3:], ob)
                cob, fi = ob, ""
            elif line.startswith("cfn="):
                callee = func(line[4:], cob)
            elif line.startswith("calls="):
                in_call = True
            elif line.startswith("positions:"):
                npos = len(line.split()) - 1
            elif line.startswith(("summary:", "totals:")):
                total = max(total, int(line.split()[1]))
            elif line.startswith("cmd:"):
                cmd = line[4:].strip()
    return selfc, calls, files, total, cmd


def rename_addresses(selfc, calls, syms):
    """Names nginx's static functions (`0x…` in the dump) after the exported one below."""
    addrs = [a for a, _ in syms]

    def fix(n):
        if not n or not n.startswith("0x") or not n.endswith(" @nginx"):
            return n
        i = bisect.bisect_right(addrs, int(n.split()[0], 16)) - 1
        return "~" + syms[i][1] if i >= 0 else n

    s2, c2 = defaultdict(int), defaultdict(int)
    for k, v in selfc.items():
        s2[fix(k)] += v
    for (a, b), v in calls.items():
        c2[(fix(a), fix(b))] += v
    return s2, c2


def inclusive(selfc, calls):
    inc = defaultdict(int, selfc)
    for (a, b), v in calls.items():
        if a != b:
            inc[a] += v
    return inc


def matching(selfc, calls, rx):
    m = re.compile(rx)
    return {f for f in set(selfc) | {b for _, b in calls} if f and m.search(f)}


def component(selfc, calls, inc, row):
    """The cost of one row (see PINGORA): inclusive, "self" or "edge"."""
    if row[1] == "self":
        return sum(selfc.get(f, 0) for f in matching(selfc, calls, row[2]))
    if row[1] == "edge":
        ca, ce = re.compile(row[2]), re.compile(row[3])
        return sum(v for (a, b), v in calls.items()
                   if a and b and a != b and ca.search(a) and ce.search(b))
    # Inclusive: the calls into it from outside, plus the whole of its functions that
    # nothing called (thread roots).
    inside = matching(selfc, calls, row[1])
    entered = sum(v for (a, b), v in calls.items() if b in inside and a not in inside)
    called = {b for (a, b) in calls if a != b}
    return entered + sum(inc[f] for f in inside if f not in called)


def load(path):
    """(self costs, calls, costs by file, total, program) of a dump; nginx's static
    functions named."""
    selfc, calls, files, total, cmd = parse(path)
    prog = cmd.split()[0] if cmd else path
    if re.search(r"(^|/)nginx$", prog):
        binary = shutil.which(prog) or prog
        selfc, calls = rename_addresses(selfc, calls, nginx_symbols(binary))
    return selfc, calls, files, total, prog


def fmt(v):
    return "{:,.0f}".format(v)


def table(title, rows, dumps, n, cost):
    """One markdown table: a row per component, a column per dump (`cost(dump, row)`)."""
    print()
    print("| %s | %s |" % (title, " | ".join(d["label"] for d in dumps)))
    print("|---|%s" % ("---:|" * len(dumps)))
    print("| **total** | %s |" % " | ".join("**%s**" % fmt(d["total"] / n) for d in dumps))
    for row in rows:
        cells = []
        for d in dumps:
            v = cost(d, row)
            cells.append("%s (%.0f %%)" % (fmt(v / n), 100.0 * v / max(d["total"], 1)))
        print("| %s | %s |" % (row[0], " | ".join(cells)))


def by_source(d, row):
    """Self cost of the source files matching the row (the last row takes the rest)."""
    if row[1] is None:
        return d["total"] - sum(v for f, v in d["files"].items()
                                if any(re.search(r[1], f) for r in d["source_rows"] if r[1]))
    m = re.compile(row[1])
    earlier = [re.compile(r[1]) for r in d["source_rows"][:d["source_rows"].index(row)]
               if r[1]]
    return sum(v for f, v in d["files"].items()
               if m.search(f) and not any(e.search(f) for e in earlier))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dumps", nargs="+", metavar="DUMP",
                    help="one dump, or several of the same kind (Pingora-based or nginx): "
                         "one column each")
    ap.add_argument("--requests", type=int, required=True, help="requests each dump covers")
    ap.add_argument("--top", type=int, help="list the N costliest functions (inclusive)")
    ap.add_argument("--callers", metavar="REGEX", help="list the callers of these functions")
    args = ap.parse_args()
    n = args.requests
    dumps = []
    for path in args.dumps:
        selfc, calls, files, total, prog = load(path)
        nginx = bool(re.search(r"(^|/)nginx$", prog))
        # Column: the program, and the instr job from the kept run dir (`instr-JOB/`).
        job = os.path.basename(os.path.dirname(os.path.abspath(path)))
        label = os.path.basename(path).split(".cg.")[0] + (
            " `%s`" % job[len("instr-"):] if job.startswith("instr-") else "")
        dumps.append({"self": selfc, "calls": calls, "files": files, "total": total,
                      "prog": prog, "nginx": nginx, "inc": inclusive(selfc, calls),
                      "label": label,
                      "source_rows": NGINX_SOURCES if nginx else PINGORA_SOURCES})
        print("%s — %s instructions/request (%d requests)" % (prog, fmt(total / n), n))
    if len({d["nginx"] for d in dumps}) > 1:
        print("cg_breakdown: mix of nginx and Pingora dumps; one kind per table", file=sys.stderr)
        return 2
    selfc, calls, inc = dumps[0]["self"], dumps[0]["calls"], dumps[0]["inc"]
    if args.top:
        for f, v in sorted(inc.items(), key=lambda kv: -kv[1])[:args.top]:
            print("%10s  %10s self  %s" % (fmt(v / n), fmt(selfc.get(f, 0) / n), f[:160]))
        return 0
    if args.callers:
        m = re.compile(args.callers)
        rows = defaultdict(int)
        for (a, b), v in calls.items():
            if b and m.search(b) and a != b:
                rows[(a, b)] += v
        for (a, b), v in sorted(rows.items(), key=lambda kv: -kv[1]):
            print("%10s  %s  <-  %s" % (fmt(v / n), b[:60], a[:140]))
        return 0
    nginx = dumps[0]["nginx"]
    table("inclusive, by component", NGINX if nginx else PINGORA, dumps, n,
          lambda d, row: component(d["self"], d["calls"], d["inc"], row))
    table("own instructions, by the source file they were written in (sums to the total)",
          dumps[0]["source_rows"], dumps, n, by_source)
    return 0


if __name__ == "__main__":
    sys.exit(main())
