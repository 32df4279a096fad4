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
import re
import subprocess
import sys
from collections import defaultdict

# (component, regex on merged function names). Order = table order.
PINGORA = [
    ("whole connection task (`ServerApp::process_new`: accept → every request → close)",
     r"as pingora_core::apps::ServerApp>::process_new::\{\{closure\}\}$"),
    ("pingora-proxy per request (`HttpProxy::process_new_http`)",
     r"pingora_proxy::HttpProxy<.*>::process_new_http::\{\{closure\}\}$"),
    ("… `process_request` (filters, upstream, response)",
     r"pingora_proxy::HttpProxy<.*>::process_request::\{\{closure\}\}$"),
    ("… downstream modules (`HttpModules::build_ctx`, module filters)",
     r"pingora_core::modules::http::"),
    ("… the request's user filters (`ProxyHttp` callbacks)",
     r"ProxyHttp>::(request_filter|early_request_filter|upstream_peer|upstream_request_filter|"
     r"response_filter|upstream_response_filter|logging|new_ctx)"),
    ("HTTP/1 read + parse (`HttpSession::read_request`: read, httparse, request header map)",
     r"v1::server::HttpSession::read_request::\{\{closure\}\}$"),
    ("HTTP/1 response header + body write (`write_response_header/body`, `prepare_response_header`)",
     r"server::(Session|HttpSession)::(write_response_header|write_response_body|"
     r"prepare_response_header|write_body|do_write_body)"),
    ("HTTP/1 finish + keep-alive reuse (`Session::finish`, `HttpSession::reuse`)",
     r"server::(Session|HttpSession)::(finish|reuse)"),
    ("upstream: connect / pool get + put (`TransportConnector`, `pingora_pool`)",
     r"pingora_core::connectors::|pingora_pool::"),
    ("upstream: HTTP/1 client (write request, read response header and body)",
     r"v1::client::HttpSession::"),
    ("proxy body/response forwarding (`proxy_1to1`, `proxy_handle_*`)",
     r"pingora_proxy::.*(proxy_1to1|proxy_handle_downstream|proxy_handle_upstream|"
     r"proxy_to_h1_upstream|h1_response_filter|send_body_to1)"),
    ("timers (`pingora_timeout`, tokio timer wheel)",
     r"pingora_timeout::|tokio::runtime::time::|tokio::time::"),
    ("event loop: tokio scheduler + IO driver (epoll), outside the tasks",
     r"tokio::runtime::io::|mio::|epoll_wait"),
    ("syscalls (libc wrappers: read/recv/write/writev/sendto)",
     r"^(__libc_)?(read|recv|recvfrom|write|writev|send|sendto|__GI___libc_write|"
     r"__GI___libc_read)$"),
    ("× allocator (jemalloc / malloc; across the rows above)",
     r"^(_rjem_|je_|malloc$|free$|realloc$|calloc$|_int_malloc|_int_free|sdallocx|mallocx|"
     r"rallocx|__rust_alloc|__rust_dealloc|__rust_realloc|tikv_jemallocator)"),
    ("× memcpy / memmove (across the rows above)", r"^__mem(cpy|move)_"),
    ("× header maps: `http::HeaderMap` + pingora-http's case map (across the rows above)",
     r"^(http::header::|pingora_http::)"),
]

NGINX = [
    ("event loop (`ngx_process_events_and_timers`: epoll, posted events, timers)",
     r"^ngx_process_events_and_timers$"),
    ("… epoll_wait (the kernel wait itself, user side)", r"^epoll_wait$"),
    ("… timers (`ngx_event_expire_timers`, `ngx_event_find_timer`, rbtree)",
     r"^(ngx_event_expire_timers|ngx_event_find_timer|ngx_rbtree_|ngx_event_add_timer|"
     r"ngx_event_del_timer)"),
    ("read + parse the request (`ngx_http_wait_request_handler` … `ngx_http_process_request`)",
     r"^(~?ngx_http_init_connection|~?ngx_http_wait_request_handler|"
     r"ngx_http_process_request_line|ngx_http_process_request_headers)"),
    ("… `ngx_http_parse_request_line`", r"^ngx_http_parse_request_line$"),
    ("… `ngx_http_parse_header_line`", r"^ngx_http_parse_header_line$"),
    ("… header handlers (`ngx_hash_find`, `ngx_http_process_request_header`)",
     r"^(ngx_hash_find|ngx_http_process_request_header|ngx_http_process_host|"
     r"ngx_http_process_connection|ngx_http_process_user_agent)$"),
    ("phases + handler (`ngx_http_core_run_phases`, `return` / `proxy_pass` start)",
     r"^ngx_http_core_run_phases$"),
    ("upstream (`ngx_http_upstream_*`: request, process header, pass the body)",
     r"^~?ngx_http_upstream_"),
    ("… upstream keepalive module (`ngx_http_upstream_keepalive_*`: get, free, cache)",
     r"^~?ngx_http_upstream_(init_keepalive|get_keepalive|free_keepalive|keepalive)"),
    ("… proxy module (`ngx_http_proxy_*`: create request, parse status + headers)",
     r"^~?ngx_http_proxy_"),
    ("output: header filter + body filters (`ngx_http_send_header`, `ngx_http_output_filter`)",
     r"^(ngx_http_send_header|ngx_http_output_filter)$"),
    ("… write (`ngx_writev`, `ngx_linux_sendfile_chain`, `writev`)",
     r"^(ngx_writev|ngx_writev_chain|ngx_linux_sendfile_chain|writev)$"),
    ("finalize + keep-alive (`ngx_http_finalize_request`, `ngx_http_set_keepalive`)",
     r"^(ngx_http_finalize_request|~?ngx_http_set_keepalive|ngx_http_free_request|"
     r"ngx_http_run_posted_requests)$"),
    ("× memory pools + malloc (`ngx_palloc`, `ngx_create_pool`, malloc; across the rows above)",
     r"^(ngx_palloc|ngx_pnalloc|ngx_pcalloc|ngx_create_pool|ngx_destroy_pool|ngx_alloc|"
     r"ngx_calloc|ngx_pfree|ngx_reset_pool|~ngx_palloc|~ngx_create_pool|malloc|free|"
     r"_int_malloc|_int_free|posix_memalign|_mid_memalign)"),
    ("× memcpy / memset (across the rows above)", r"^__mem(cpy|move|set)_"),
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
    """(self cost by function, inclusive cost by (caller, callee), total, command line)."""
    selfc, calls = defaultdict(int), defaultdict(int)
    names, total, cmd, npos = {}, 0, "", 1
    fn = callee = None
    in_call = False

    def name(s):
        s = s.strip()
        m = re.match(r"\((\d+)\)(?: (.*))?$", s)
        if m:
            if m.group(2) is not None:
                names[m.group(1)] = m.group(2)
            s = names.get(m.group(1), s)
        return re.sub(r"'\d+$", "", s)

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
            elif line.startswith("fn="):
                fn = name(line[3:])
            elif line.startswith("cfn="):
                callee = name(line[4:])
            elif line.startswith("calls="):
                in_call = True
            elif line.startswith("positions:"):
                npos = len(line.split()) - 1
            elif line.startswith(("summary:", "totals:")):
                total = max(total, int(line.split()[1]))
            elif line.startswith("cmd:"):
                cmd = line[4:].strip()
    return selfc, calls, total, cmd


def rename_addresses(selfc, calls, syms):
    """Names nginx's static functions (`0x…` in the dump) after the exported one below."""
    addrs = [a for a, _ in syms]

    def fix(n):
        if not n or not n.startswith("0x"):
            return n
        i = bisect.bisect_right(addrs, int(n, 16)) - 1
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


def component(selfc, calls, inc, rx):
    """Instructions run while a function matching `rx` was on the stack: the calls into it
    from outside, plus the whole of its functions that nothing called (thread roots)."""
    m = re.compile(rx)
    inside = {f for f in set(selfc) | {b for _, b in calls} if f and m.search(f)}
    entered = sum(v for (a, b), v in calls.items() if b in inside and a not in inside)
    called = {b for (a, b) in calls if a != b}
    return entered + sum(inc[f] for f in inside if f not in called)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dump")
    ap.add_argument("--requests", type=int, required=True, help="requests the dump covers")
    ap.add_argument("--top", type=int, help="list the N costliest functions (inclusive)")
    ap.add_argument("--callers", metavar="REGEX", help="list the callers of these functions")
    args = ap.parse_args()
    selfc, calls, total, cmd = parse(args.dump)
    n = args.requests
    is_nginx = re.search(r"(^|/)nginx\b", cmd.split()[0] if cmd else "")
    if is_nginx:
        selfc, calls = rename_addresses(selfc, calls, nginx_symbols("/usr/sbin/nginx"))
    print("%s — %s instructions/request (%d requests)" % (cmd.split()[0] if cmd else args.dump,
                                                          "{:,.0f}".format(total / n), n))
    if args.top:
        inc = inclusive(selfc, calls)
        for f, v in sorted(inc.items(), key=lambda kv: -kv[1])[:args.top]:
            print("%10s  %10s self  %s" % ("{:,.0f}".format(v / n),
                                           "{:,.0f}".format(selfc.get(f, 0) / n), f[:160]))
        return 0
    if args.callers:
        m = re.compile(args.callers)
        rows = defaultdict(int)
        for (a, b), v in calls.items():
            if b and m.search(b) and a != b:
                rows[(a, b)] += v
        for (a, b), v in sorted(rows.items(), key=lambda kv: -kv[1]):
            print("%10s  %s  <-  %s" % ("{:,.0f}".format(v / n), b[:60], a[:140]))
        return 0
    print()
    print("| component | instructions/request | share |")
    print("|---|---:|---:|")
    inc = inclusive(selfc, calls)
    for label, rx in (NGINX if is_nginx else PINGORA):
        v = component(selfc, calls, inc, rx) / n
        print("| %s | %s | %.1f %% |" % (label, "{:,.0f}".format(v), 100.0 * v * n / total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
