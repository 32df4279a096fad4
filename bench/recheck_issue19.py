#!/usr/bin/env python3
"""Issue 19, items 1-12, re-checked from outside against a built edgeproxy binary:
real clients (curl, openssl s_client, brotli -t, raw sockets), a Python origin that
speaks HTTP/1.0 and records what reached it, all on 127.0.0.1 ports it picks.

  python3 bench/recheck_issue19.py $CARGO_TARGET_DIR/release/edgeproxy

Prints PASS/FAIL per check and `N passed, M failed`; needs curl, openssl and brotli."""
import base64, hashlib, hmac, http.server, json, os, socket, subprocess, sys, tempfile, threading, time

BIN = sys.argv[1]
D = tempfile.mkdtemp(prefix="recheck19-")
SEEN = []
PAGE = "".join("<p class=row data-n=%d>row %d: the quick brown fox %d</p>\n" % (i * 7919 % 10007, i, i * i % 977) for i in range(3000)).encode()

class Origin(http.server.BaseHTTPRequestHandler):  # protocol HTTP/1.0 (the default)
    def log_message(self, *a): pass
    def handle_one(self, method):
        n = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(n) if n else b""
        SEEN.append((method, self.path, dict(self.headers.items()), body))
        out = PAGE if self.path.startswith("/page") else json.dumps({"headers": self.headers.items()}).encode()
        self.send_response(200)
        self.send_header("content-type", "text/html" if self.path.startswith("/page") else "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        if method != "HEAD": self.wfile.write(out)
    def do_GET(self): self.handle_one("GET")
    def do_HEAD(self): self.handle_one("HEAD")
    def do_POST(self): self.handle_one("POST")

def free():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

origin = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Origin)
threading.Thread(target=origin.serve_forever, daemon=True).start()
OP = origin.server_address[1]
H1, H2C, TLS = free(), free(), free()
for name, cn in (("default", "default.example"), ("shop", "shop.example.com")):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=" + cn,
                    "-addext", "subjectAltName=DNS:" + cn, "-keyout", f"{D}/{name}.key", "-out", f"{D}/{name}.crt"],
                   check=True, capture_output=True)
SECRET = "recheck-secret-0123456789abcdef-0123"
open(f"{D}/edge.toml", "w").write(f'''
[upstreams.app]
servers = [{{ addr = "127.0.0.1:{OP}" }}]

[[servers]]
listen = ["127.0.0.1:{H1}", {{ addr = "127.0.0.1:{H2C}", http2 = true }},
  {{ addr = "127.0.0.1:{TLS}", tls = {{ certificates = [ {{ cert = "default.crt", key = "default.key" }}, {{ cert = "shop.crt", key = "shop.key" }} ] }} }}]
compression = {{ min_length = 256 }}
plugins = [{{ name = "access-log", config = {{ path = "{D}/access.log", format = "$uri $consumer $status" }} }}]

[[servers.routes]]
path_prefix = "/jwt"
upstream = "app"
plugins = [{{ name = "jwt-auth", config = {{ algorithms = ["HS256"], secret_env = "RC_SECRET", token_sources = ["bearer", "query:access_token"], claims_to_headers = {{ sub = "x-user-id" }} }} }}]

[[servers.routes]]
path_prefix = "/key"
upstream = "app"
plugins = [{{ name = "key-auth", config = {{ keys_env = "RC_KEYS", hide_credentials = true }} }},
           {{ name = "rate-limit", config = {{ rule = "per-consumer", key = "$consumer", limit = 2, window = "1m" }} }}]

[[servers.routes]]
path_prefix = "/waf"
upstream = "app"
max_body_bytes = "16m"
plugins = [{{ name = "waf", config = {{}} }}]

[[servers.routes]]
path_prefix = "/"
upstream = "app"
''')
env = dict(os.environ, RC_SECRET=SECRET, RC_KEYS="alice:ka-0123456789,bob:kb-0123456789")
edge = subprocess.Popen([BIN, "-c", f"{D}/edge.toml"], env=env, stdout=subprocess.DEVNULL, stderr=open(f"{D}/edge.err", "w"))
for _ in range(300):  # up to 30 s on a busy machine
    try: socket.create_connection(("127.0.0.1", H1), 0.2).close(); break
    except OSError: time.sleep(0.1)

RESULTS = []
def item(n, what, ok, detail=""):
    RESULTS.append(ok)
    print(("PASS" if ok else "FAIL"), f"item {n}: {what}", detail)

def raw(port, data, tls=False):
    s = socket.create_connection(("127.0.0.1", port), 5); s.settimeout(5); s.sendall(data)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b: break
            out += b
    except socket.timeout: pass
    s.close(); return out

def curl(*args):
    r = subprocess.run(["curl", "-sS", "--max-time", "20", *args], capture_output=True)
    return r

def b64(x): return base64.urlsafe_b64encode(x).rstrip(b"=").decode()
def token(sub):
    h = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()); p = b64(json.dumps({"sub": sub, "exp": int(time.time()) + 3600}).encode())
    return f"{h}.{p}." + b64(hmac.new(SECRET.encode(), f"{h}.{p}".encode(), hashlib.sha256).digest())

try:
    url = f"http://127.0.0.1:{H1}"
    # 1. brotli finished, body past 16 KiB, h1 and h2
    for proto, extra in (("h1", []), ("h2c", ["--http2-prior-knowledge"])):
        port = H1 if proto == "h1" else H2C
        r = curl(*extra, "-H", "accept-encoding: br", "-o", f"{D}/page.br", "-D", "-", f"http://127.0.0.1:{port}/page.html")
        t = subprocess.run(["brotli", "-t", f"{D}/page.br"], capture_output=True)
        d = subprocess.run(["brotli", "-dc", f"{D}/page.br"], capture_output=True)
        item(1, f"brotli {proto}: `brotli -t` accepts, {len(PAGE)} bytes decoded", b"content-encoding: br" in r.stdout.lower() and t.returncode == 0 and d.stdout == PAGE, f"(rc {t.returncode}, {len(d.stdout)} bytes)")
    # 2. an HTTP/1.0 upstream: the client gets HTTP/1.1, no TE: chunked with 1.0
    r = curl("-H", "accept-encoding: gzip", "-D", "-", "-o", "/dev/null", url + "/page.html")
    item(2, "HTTP/1.0 upstream answered as HTTP/1.1", r.stdout.startswith(b"HTTP/1.1 200"), r.stdout.split(b"\r\n")[0].decode())
    # 3. bare LF in a chunk extension: 400, nothing forwarded
    n = len(SEEN)
    out = raw(H1, b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext\nhello\r\n0\r\n\r\n")
    item(3, "bare LF in a chunk extension refused, no body byte forwarded", out.startswith(b"HTTP/1.1 400") and all(not r[3] for r in SEEN[n:]), out[:20])
    # 4. SNI acknowledged; h2c bad preface -> GOAWAY
    s = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{TLS}", "-servername", "shop.example.com", "-tlsextdebug", "-tls1_2"],
                       input=b"", capture_output=True, timeout=20)
    item(4, "SNI acknowledged in ServerHello (TLS 1.2), shop cert chosen", b"server name" in s.stdout and b"shop.example.com" in s.stdout)
    out = raw(H2C, b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + b"\0" * 30)
    types, i = [], 0
    while i + 9 <= len(out):
        types.append(out[i + 3]); i += 9 + int.from_bytes(out[i:i + 3], "big")
    item(4, "h2c invalid preface gets a GOAWAY frame", 7 in types, str(types))
    tok = token("user-42")
    def send(target, headers):
        req = f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n"
        o = raw(H1, req.encode()); return int(o[9:12] or 0)
    # 5. underscore / case variants dropped
    n = len(SEEN)
    st = send("/jwt/a", [f"Authorization: Bearer {tok}", "X_User_Id: admin", "X-User_Id: admin"])
    hdrs = {k.lower(): v for k, v in SEEN[-1][2].items()} if len(SEEN) > n else {}
    item(5, "underscore variants of X-User-Id never reach the origin", st == 200 and hdrs.get("x-user-id") == "user-42" and "x_user_id" not in hdrs and "x-user_id" not in hdrs, str(st))
    # 6. Connection: x-user-id refused
    item(6, "`Connection: x-user-id` refused", send("/jwt/a", [f"Authorization: Bearer {tok}", "Connection: x-user-id"]) == 400)
    # 7. duplicate credentials 400
    st = [send("/jwt/a", [f"Authorization: Bearer {tok}", "Authorization: Bearer forged"]),
          send(f"/jwt/a?access_token={tok}", [f"Authorization: Bearer {tok}"]),
          send(f"/jwt/a?access_token={tok}&access_token={tok}", [])]
    item(7, "two credentials -> 400 (two headers, header+query, query twice)", st == [400, 400, 400], str(st))
    # 8. key-auth: $consumer per consumer, hide_credentials
    n = len(SEEN)
    a = [send("/key/a", ["x-api-key: ka-0123456789"]) for _ in range(3)]
    b = send("/key/a", ["x-api-key: kb-0123456789"])
    hid = all("x-api-key" not in {k.lower() for k in r[2]} for r in SEEN[n:])
    log = open(f"{D}/access.log").read()
    item(8, "rate-limit by $consumer per consumer, key hidden, $consumer logged", a == [200, 200, 429] and b == 200 and hid and "/key/a alice 200" in log and "/key/a bob 200" in log, f"{a} {b}")
    # 9-11. WAF
    n = len(SEEN)
    pad = b"pad=" + b"a" * (1024 * 1024) + b"&q=1+union+select+1"
    open(f"{D}/pad", "wb").write(pad)
    r = curl("-o", "/dev/null", "-w", "%{http_code}", "-H", "expect:", "-H", "content-type: application/x-www-form-urlencoded", "--data-binary", f"@{D}/pad", url + "/waf/f")
    item(9, "1 MiB padded attack refused (413), nothing reached the origin", r.stdout == b"413" and len(SEEN) == n, r.stdout.decode())
    j = b'\xef\xbb\xbf{"q":"\\u003cscript\\u003ealert(1)","q":"ok"}'
    r = curl("-o", "/dev/null", "-w", "%{http_code}", "-H", "content-type: text/json", "--data-binary", j, url + "/waf/j")
    item(9, "JSON with a BOM, text/json, duplicate keys: 403", r.stdout == b"403", r.stdout.decode())
    mp = "--XyZ\nContent-Disposition: form-data; name=\"q\"\n\n<script>alert(1)</script>\n--XyZ--\n"
    r = curl("-o", "/dev/null", "-w", "%{http_code}", "-H", "content-type: multipart/form-data; boundary=XyZ", "--data-binary", mp, url + "/waf/m")
    item(10, "LF-only multipart refused (400)", r.stdout == b"400", r.stdout.decode())
    r = curl("-o", "/dev/null", "-w", "%{http_code}", "-H", "content-type: multipart/form-data; boundary=a; boundary=XyZ", "--data-binary", mp.replace("\n", "\r\n"), url + "/waf/m")
    item(10, "two boundary parameters refused (400)", r.stdout == b"400", r.stdout.decode())
    open(f"{D}/n.txt", "w").write("select a shop\n")
    r = curl("-o", "/dev/null", "-w", "%{http_code}", "-F", "q=O'Brien", "-F", f"f=@{D}/n.txt", url + "/waf/m")
    item(10, "curl -F multipart passes", r.stdout == b"200", r.stdout.decode())
    attacks = ["/waf/s?q=1%a0union%a0select%a01", "/waf/s?q=1%27+OR+0x1=0x1--", "/waf/s?q=1+or+1+between+0+and+2",
               "/waf/s?q=%22+autofocus+onfocus=alert(1)+x=%22", "/waf/r?u=java%26%23x09;script:alert(1)", "/waf/f?file=/etc/./passwd",
               "/waf/f?file=..;/..;/etc/hosts", "/waf/s?id=1%27+OR&id=1=1", "/waf/s?id=1;+DROP+TABLE+users--"]
    benign = ["/waf/s?q=O%27Brien", "/waf/s?q=select+a+shop", "/waf/s?q=1+or+2+items", "/waf/s?q=drop+by+our+store", "/waf/s?q=%3Cb%3Ebold%3C/b%3E"]
    sa = [send(t, []) for t in attacks]; sb = [send(t, []) for t in benign]
    item(11, f"{len(attacks)} gap attacks refused, {len(benign)} look-alikes pass", all(s == 403 for s in sa) and all(s == 200 for s in sb), f"{sa} {sb}")
    # 12. HEAD carries GET's compression headers; docs/tls.md
    g = curl("-H", "accept-encoding: gzip", "-D", "-", "-o", "/dev/null", url + "/page.html").stdout.lower()
    h = curl("-I", "-H", "accept-encoding: gzip", url + "/page.html").stdout.lower()
    ce = lambda x: [l for l in x.split(b"\r\n") if l.startswith((b"content-encoding", b"vary"))]
    item(12, "HEAD carries GET's Content-Encoding and Vary", ce(g) == ce(h) and ce(h) != [], str(ce(h)))
finally:
    edge.terminate(); edge.wait(); origin.shutdown()
print(f"{sum(RESULTS)} passed, {len(RESULTS) - sum(RESULTS)} failed")
