"""Request mixes and a fixed-count HTTP/1.1 client (python3 stdlib only).

The mixes are the same as bench/wrk/bench.lua's (same formulas): wrk drives the timed runs,
this module drives what needs an exact request count (cache fill, callgrind instruction
counts). A page workload is a dict:

  dist      "uniform": productId uniform in 1..products, shopId uniform in 1..shops
                       (independent, the historical page bench);
            "zipf":    productId Zipf(s) over 1..products (rank = id), shopId = shop_of(id)
                       (each product belongs to one shop)
  products, shops, zipf_s
  desc      (min, max) bytes of product description the origin sends (0, 0 = none)
  fill      request every product once before measuring (so only cache hits are measured)
"""

import bisect
import random
import selectors
import socket
import time

WORKLOADS = {
    # The page bench of issue 4: 1,000 products x 100 shops, uniform, tiny pages.
    "uniform": {"dist": "uniform", "products": 1000, "shops": 100, "zipf_s": 1.0,
                "desc": (0, 0), "fill": True},
    # Realistic: Zipf s=1.0 over 100,000 products, each in one of 1,000 shops, 4-8 KB
    # descriptions (pages of 5-9 KB).
    "zipf": {"dist": "zipf", "products": 100000, "shops": 1000, "zipf_s": 1.0,
             "desc": (4096, 8192), "fill": True},
    # The same popularity with the tiny page (isolates the page size).
    "zipf-small": {"dist": "zipf", "products": 100000, "shops": 1000, "zipf_s": 1.0,
                   "desc": (0, 0), "fill": True},
    # Uniform with large pages (isolates the popularity).
    "uniform-large": {"dist": "uniform", "products": 1000, "shops": 100, "zipf_s": 1.0,
                      "desc": (4096, 8192), "fill": True},
}


def shop_of(product, shops):
    """The one shop a product belongs to (bench.lua: the same formula)."""
    return (product * 7919) % shops + 1


def desc_len(product, lo, hi):
    """Description length of a product (bench/nginx/lua/origin.lua: the same formula)."""
    if hi <= 0:
        return 0
    return lo + (product * 2654435761) % (hi - lo + 1)


class Zipf:
    """Zipf(s) over ranks 1..n by inverse CDF (binary search), like bench.lua."""

    def __init__(self, n, s, rng):
        acc, cdf = 0.0, []
        for k in range(1, n + 1):
            acc += 1.0 / (k ** s)
            cdf.append(acc)
        self.cdf, self.total, self.rng = cdf, acc, rng

    def __call__(self):
        return bisect.bisect_left(self.cdf, self.rng.random() * self.total) + 1


def page_paths(w, seed=12345):
    """Endless /product?productId=..&shopId=.. paths of workload `w` (deterministic)."""
    rng = random.Random(seed)
    if w["dist"] == "zipf":
        z = Zipf(w["products"], w["zipf_s"], rng)
        while True:
            p = z()
            yield "/product?productId=%d&shopId=%d" % (p, shop_of(p, w["shops"]))
    while True:
        yield "/product?productId=%d&shopId=%d" % (rng.randint(1, w["products"]),
                                                   rng.randint(1, w["shops"]))


def fill_paths(w):
    """Every product once (with its shop; every shop too when products >= shops)."""
    for p in range(1, w["products"] + 1):
        s = shop_of(p, w["shops"]) if w["dist"] == "zipf" else (p - 1) % w["shops"] + 1
        yield "/product?productId=%d&shopId=%d" % (p, s)
    for s in range(w["products"] + 1, w["shops"] + 1):
        yield "/product?productId=1&shopId=%d" % s


def repeat(path):
    while True:
        yield path


class _Conn:
    def __init__(self, port):
        self.port = port
        self.sock = None
        self.buf = b""
        self.open()

    def open(self):
        if self.sock:
            self.sock.close()
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.buf = b""

    def response_done(self):
        """(status, complete) for the buffered response; consumes it when complete.
        Content-Length and chunked bodies (nginx + Lua answers chunked)."""
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return None, False
        head = self.buf[:end].decode("latin-1")
        status = int(head.split(" ", 2)[1])
        length, chunked = 0, False
        for line in head.split("\r\n")[1:]:
            k, _, v = line.partition(":")
            k = k.strip().lower()
            if k == "content-length":
                length = int(v.strip())
            elif k == "transfer-encoding":
                chunked = "chunked" in v.lower()
        pos = end + 4
        if not chunked:
            if len(self.buf) < pos + length:
                return status, False
            self.buf = self.buf[pos + length:]
            return status, True
        while True:  # chunk-size CRLF data CRLF ... 0 CRLF CRLF (no trailers expected)
            eol = self.buf.find(b"\r\n", pos)
            if eol < 0:
                return status, False
            size = int(self.buf[pos:eol].split(b";")[0], 16)
            if size == 0:
                if len(self.buf) < eol + 4:
                    return status, False
                self.buf = self.buf[eol + 4:]
                return status, True
            pos = eol + 2 + size + 2
            if len(self.buf) < pos:
                return status, False


def drive(port, paths, n, conns=8, timeout=600):
    """Sends exactly `n` GET requests from `paths` over `conns` keep-alive connections (one
    request in flight per connection) and waits for every answer. Returns (seconds,
    {status: count})."""
    sel = selectors.DefaultSelector()
    statuses = {}
    sent = done = 0
    t0 = time.monotonic()
    pool = [_Conn(port) for _ in range(min(conns, n))]

    def send(c):
        nonlocal sent
        req = ("GET %s HTTP/1.1\r\nHost: bench\r\n\r\n" % next(paths)).encode()
        c.sock.setblocking(True)
        c.sock.sendall(req)
        c.sock.setblocking(False)
        sent += 1

    for c in pool:
        send(c)
        sel.register(c.sock, selectors.EVENT_READ, c)
    while done < n:
        if time.monotonic() - t0 > timeout:
            raise RuntimeError("fixed-count client: %d of %d answers after %ds"
                               % (done, n, timeout))
        for key, _ in sel.select(timeout=5):
            c = key.data
            data = c.sock.recv(1 << 20)
            if not data:
                raise RuntimeError("fixed-count client: connection closed by port %d" % port)
            c.buf += data
            while True:
                status, complete = c.response_done()
                if not complete:
                    break
                statuses[status] = statuses.get(status, 0) + 1
                done += 1
                if sent < n:
                    send(c)
    for c in pool:
        sel.unregister(c.sock)
        c.sock.close()
    return time.monotonic() - t0, statuses
