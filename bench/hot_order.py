#!/usr/bin/env python3
"""The hot-code order file (cli/hot-symbols.txt): every function of the edgeproxy binary that
ran while it answered requests, hottest first, by demangled name (`nm -C`: no symbol hash, no
`.llvm.N` suffix, so the list outlives code changes and build profiles; cli/build.rs's link
wrapper maps the names to each build's own symbols for the linker's
`--symbol-ordering-file`), so that the code requests run sits together in the text instead of
being spread over all of it (BENCHMARKS.md, "Memory at small working sets"). Python 3 stdlib
and binutils' `nm`.

  python3 bench/bench.py --edgeproxy BIN --instr-jobs respond,proxy,page-uniform,page-zipf \\
      --instr-warm-dump --keep-run-dir instr    # callgrind dumps in the kept work dir
  python3 bench/hot_order.py --binary BIN DIR/instr-*/edgeproxy.cg.*.2 \\
      --then DIR/instr-*/edgeproxy.cg.*.1 > cli/hot-symbols.txt

DUMP: callgrind dumps of edgeproxy (`edgeproxy.cg.PID.N` in the work dir). Functions are
matched to the binary's symbols by their demangled names (the dumps are demangled); a name
shared by several symbols (generic instances) lays out all of them. A stale file is
harmless: names that no longer exist are skipped, new functions are laid out as before.
"""

import argparse
import collections
import re
import subprocess
import sys


def costs(dump, binary_name):
    """{demangled function name: instructions} of the functions in `binary_name`'s object."""
    out = collections.Counter()
    ob, fn, names = None, None, {"ob": {}, "fn": {}}
    skip = False
    with open(dump, errors="replace") as f:
        for line in f:
            m = re.match(r"^(c?)(ob|fn)=(?:\((\d+)\))?\s*(.*)$", line.rstrip("\n"))
            if m:
                called, kind, ident, name = m.groups()
                if ident and name:
                    names[kind][ident] = name
                elif ident:
                    name = names[kind].get(ident, "")
                if not called:
                    if kind == "ob":
                        ob = name
                    else:
                        fn = name
                continue
            if line.startswith("calls="):
                skip = True  # the next cost line is the call's inclusive cost
                continue
            if line[:1] in "0123456789+-*":
                if skip:
                    skip = False
                    continue
                parts = line.split()
                if fn and ob and ob.endswith(binary_name) and len(parts) >= 2:
                    out[fn] += int(parts[1]) if parts[1].isdigit() else 0
    return out


def symbols(binary):
    """{demangled name without hash: [mangled names]} of the binary's text symbols."""
    def nm(extra):
        r = subprocess.run(["nm", "-p", "--defined-only"] + extra + [binary], capture_output=True,
                           text=True, check=True)
        return r.stdout.splitlines()
    table = collections.defaultdict(list)
    for raw, pretty in zip(nm([]), nm(["-C"])):
        a, b = raw.split(" ", 2), pretty.split(" ", 2)
        if len(a) == 3 and a[1] in "tTwW" and len(b) == 3:
            table[re.sub(r"\.llvm\.\d+$", "", b[2])].append(a[2])
    return table


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", required=True, help="the edgeproxy binary the dumps ran")
    ap.add_argument("--then", nargs="*", default=[], metavar="DUMP",
                    help="dumps whose functions come after those of DUMP (start-up, fill "
                         "and warm-up: cache misses, connection set-up)")
    ap.add_argument("dumps", nargs="+", metavar="DUMP", help="dumps of the measured requests")
    args = ap.parse_args()
    name = args.binary.rsplit("/", 1)[-1]
    hot, then = collections.Counter(), collections.Counter()
    for d in args.dumps:
        hot.update(costs(d, name))
    for d in args.then:
        then.update(costs(d, name))
    table = symbols(args.binary)
    seen, found, lines = set(), 0, []
    order = [fn for fn, _ in hot.most_common()]
    order += [fn for fn, _ in then.most_common() if fn not in hot]
    total = set(order)
    symbols_laid_out = 0
    for fn in order:
        name = fn if fn in table else re.sub(r"::h[0-9a-f]{16}$", "", fn)
        if name not in table or name in seen:
            continue
        found += 1
        seen.add(name)
        lines.append(name)
        symbols_laid_out += len(table[name])
    print("\n".join(lines))
    print("hot_order: %d functions ran, %d matched, %d names (%d symbols in this build)"
          % (len(total), found, len(lines), symbols_laid_out), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
