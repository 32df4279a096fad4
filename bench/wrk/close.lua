-- wrk script of the TLS handshake bench: every request on a new connection (a full TLS
-- handshake each), the same for edgeproxy and nginx.
wrk.headers["Connection"] = "close"
