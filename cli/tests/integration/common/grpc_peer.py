"""A real gRPC server and client (Python grpcio, generic handlers on raw bytes: no protobuf
code generation) for the gRPC tests (cli/tests/integration/grpc_proxy.rs).

  grpc_peer.py serve PORT_FILE [CERT KEY]   serve test.Echo on a free loopback port (TLS
                                            with CERT/KEY), write the port to PORT_FILE
  grpc_peer.py call TARGET CASE [CA NAME]   run one case through TARGET (TLS: trust CA,
                                            expect NAME), print one JSON line, exit 0

Environment: GRPC_AUTHORITY (the :authority sent), GRPC_METADATA ("k=v,k2=v2", sent with
unary, deadline, error and status calls).

Cases: unary, server_stream, client_stream, bidi (10,000 messages), pingpong (100 messages, each sent once
the one before was answered), big (a 10 MB message
both ways), deadline (a slow call under a 300 ms deadline), error (an error status with
trailing metadata), status (a unary call, whatever it answers: code, details, metadata).
"""

import json
import os
import queue
import sys
import time
from concurrent import futures

import grpc

MAX = 64 * 1024 * 1024
OPTS = [("grpc.max_receive_message_length", MAX), ("grpc.max_send_message_length", MAX)]
BIDI = 10_000
BIG = 10 * 1024 * 1024


def unary(request, context):
    context.send_initial_metadata((("x-served-by", os.environ.get("PEER_NAME", "peer")),))
    context.set_trailing_metadata((("x-trailer", "t1"),))
    return request


def server_stream(request, context):
    for i in range(int(request.decode())):
        yield b"item-%d" % i


def client_stream(request_iterator, context):
    count = total = 0
    for m in request_iterator:
        count += 1
        total += len(m)
    return b"%d %d" % (count, total)


def bidi(request_iterator, context):
    for m in request_iterator:
        yield m


def slow(request, context):
    deadline = context.time_remaining()
    context.set_trailing_metadata((("x-deadline-seen", "%.3f" % (deadline or -1)),))
    time.sleep(float(request.decode()))
    return b"late"


def fail(request, context):
    context.set_trailing_metadata(
        (("x-reason", "because"), ("x-detail-bin", b"\x00\x01\xfe"))
    )
    context.abort(grpc.StatusCode.FAILED_PRECONDITION, "precondition failed: 42")


def serve(port_file, cert=None, key=None):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), options=OPTS)
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        "Slow": grpc.unary_unary_rpc_method_handler(slow),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Echo", handlers),))
    if cert:
        creds = grpc.ssl_server_credentials(((open(key, "rb").read(), open(cert, "rb").read()),))
        port = server.add_secure_port("127.0.0.1:0", creds)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(port))
    os.rename(tmp, port_file)
    server.wait_for_termination()


def md(metadata):
    out = {}
    for k, v in metadata or ():
        out[k] = v.hex() if isinstance(v, bytes) else v
    return out


def status(e):
    return {"code": e.code().name, "details": e.details(), "trailers": md(e.trailing_metadata())}


def run(channel, case):
    m = lambda kind, name: getattr(channel, kind)("/test.Echo/" + name)
    sent = [tuple(kv.split("=", 1)) for kv in os.environ.get("GRPC_METADATA", "").split(",") if kv]
    if case == "unary":
        resp, call = m("unary_unary", "Unary").with_call(b"hello", timeout=10, metadata=sent)
        return {"body": resp.decode(), "headers": md(call.initial_metadata()),
                "trailers": md(call.trailing_metadata()), "code": call.code().name}
    if case == "server_stream":
        items = list(m("unary_stream", "ServerStream")(b"1000", timeout=20))
        return {"count": len(items), "last": items[-1].decode()}
    if case == "client_stream":
        msgs = (b"x" * (i % 100) for i in range(5000))
        return {"body": m("stream_unary", "ClientStream")(msgs, timeout=20).decode()}
    if case == "bidi":
        sent = [b"msg-%d" % i for i in range(BIDI)]
        got = list(m("stream_stream", "Bidi")(iter(sent), timeout=60))
        return {"count": len(got), "same": got == sent}
    if case == "pingpong":
        # each message waits for the answer to the one before: nothing may be held back
        q = queue.Queue()
        q.put(b"ping-0")
        replies = m("stream_stream", "Bidi")(iter(q.get, None), timeout=20)
        n = 0
        for _ in replies:
            n += 1
            q.put(None if n == 100 else b"ping-%d" % n)
        return {"count": n}
    if case == "big":
        body = bytes(range(256)) * (BIG // 256)
        resp = m("unary_unary", "Unary")(body, timeout=60)
        return {"len": len(resp), "same": resp == body}
    calls = {
        "deadline": lambda: m("unary_unary", "Slow")(b"5", timeout=0.3, metadata=sent),
        "error": lambda: m("unary_unary", "Fail")(b"", timeout=10, metadata=sent),
        "status": lambda: m("unary_unary", "Unary")(b"hello", timeout=10, metadata=sent),
    }
    if case not in calls:
        raise SystemExit("unknown case " + case)
    try:
        calls[case]()
        return {"code": "OK"}
    except grpc.RpcError as e:
        return status(e)


def call(target, case, ca=None, name=None):
    global OPTS
    if os.environ.get("GRPC_AUTHORITY"):
        OPTS = OPTS + [("grpc.default_authority", os.environ["GRPC_AUTHORITY"])]
    if ca:
        creds = grpc.ssl_channel_credentials(open(ca, "rb").read())
        opts = OPTS + [("grpc.ssl_target_name_override", name)]
        channel = grpc.secure_channel(target, creds, options=opts)
    else:
        channel = grpc.insecure_channel(target, options=OPTS)
    with channel:
        print(json.dumps(run(channel, case)))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(*sys.argv[2:])
    else:
        call(*sys.argv[2:])
