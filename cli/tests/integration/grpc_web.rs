//! gRPC-Web (docs/grpc.md): a route with `grpc_web = true` translates a browser-style client's
//! calls — HTTP/1.1 POSTs, binary and base64 text — to gRPC for a real grpcio server, and
//! its answers back: messages, the trailers as the final frame, errors and the proxy's own
//! refusals as gRPC statuses.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::common::edge::Edge;
use crate::common::grpc::GrpcServer;

/// One length-prefixed message.
fn frame(msg: &[u8]) -> Vec<u8> {
    let mut f = vec![0];
    f.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    f.extend_from_slice(msg);
    f
}

/// The messages and the trailer text of a gRPC-Web body.
fn frames(mut body: &[u8]) -> (Vec<Vec<u8>>, String) {
    let (mut msgs, mut trailers) = (Vec::new(), String::new());
    while body.len() >= 5 {
        let len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
        let data = &body[5..5 + len];
        match body[0] {
            0x80 => trailers.push_str(&String::from_utf8_lossy(data)),
            _ => msgs.push(data.to_vec()),
        }
        body = &body[5 + len..];
    }
    assert!(body.is_empty(), "a whole number of frames");
    (msgs, trailers)
}

/// POSTs `msg` to `/test.Echo/{method}` as gRPC-Web (`text`: base64); the content type, the
/// messages and the trailers (from the body, or the header of a trailers-only answer).
fn call(
    edge: &Edge,
    host: &str,
    method: &str,
    msg: &[u8],
    text: bool,
) -> (String, Vec<Vec<u8>>, String) {
    let (ct, body) = match text {
        true => (
            "application/grpc-web-text+proto",
            STANDARD.encode(frame(msg)).into_bytes(),
        ),
        false => ("application/grpc-web+proto", frame(msg)),
    };
    let r = crate::common::client()
        .post(format!("http://{}/test.Echo/{method}", edge.addr()))
        .header("host", host)
        .header("content-type", ct)
        .header("x-grpc-web", "1")
        .body(body)
        .send()
        .expect("POST");
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    // A trailers-only answer carries its status in the header.
    let in_header: String = ["grpc-status", "grpc-message"]
        .iter()
        .filter_map(|n| {
            Some(format!(
                "{n}:{}\r\n",
                r.headers().get(*n)?.to_str().unwrap()
            ))
        })
        .collect();
    let raw = r.bytes().unwrap();
    let raw = match text {
        true => STANDARD.decode(&raw).expect("one base64 stream"),
        false => raw.to_vec(),
    };
    let (msgs, trailers) = frames(&raw);
    (ct, msgs, trailers + &in_header)
}

#[test]
fn grpc_web_binary_and_text_calls_reach_a_grpc_server() {
    let server = GrpcServer::start("a");
    let edge = Edge::start(&format!(
        r#"
[upstreams.grpc]
servers = [{{ addr = "{}" }}]
protocol = "h2c"
[[servers]]
listen = ["127.0.0.1:0"]
[[servers.routes]]
hosts = ["denied"]
path_prefix = "/test.Echo/"
upstream = "grpc"
grpc_web = true
plugins = [{{ name = "ip-restriction", config = {{ deny = ["127.0.0.0/8"] }} }}]
[[servers.routes]]
path_prefix = "/test.Echo/"
upstream = "grpc"
grpc_web = true
"#,
        server.addr()
    ));
    for text in [false, true] {
        let (ct, msgs, trailers) = call(&edge, "shop", "Unary", b"hello", text);
        // The server's own content type (grpcio: `application/grpc`), in its web form.
        let want = match text {
            true => "application/grpc-web-text",
            false => "application/grpc-web",
        };
        assert_eq!(ct, want);
        assert_eq!(msgs, vec![b"hello".to_vec()]);
        assert!(trailers.contains("grpc-status:0\r\n"), "{trailers}");
        assert!(trailers.contains("x-trailer:t1\r\n"), "{trailers}");

        let (_, msgs, trailers) = call(&edge, "shop", "ServerStream", b"3", text);
        assert_eq!(
            msgs,
            vec![b"item-0".to_vec(), b"item-1".to_vec(), b"item-2".to_vec()]
        );
        assert!(trailers.contains("grpc-status:0\r\n"), "{trailers}");

        let (_, msgs, trailers) = call(&edge, "shop", "Fail", b"", text);
        assert!(msgs.is_empty());
        assert!(trailers.contains("grpc-status:9\r\n"), "{trailers}");
        assert!(
            trailers.contains("grpc-message:precondition failed: 42\r\n"),
            "{trailers}"
        );

        let (ct, _, trailers) = call(&edge, "denied", "Unary", b"hello", text);
        assert!(ct.starts_with("application/grpc-web"), "{ct}");
        assert!(
            trailers.contains("grpc-status:7\r\n"),
            "a refusal is a status: {trailers}"
        );
    }
}
