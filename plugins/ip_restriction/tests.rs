use super::*;
use crate::test_shared;
use edgeproxy::kit::Registry;

fn build(config: &str) -> Result<Arc<dyn Plugin>, String> {
    let mut r = Registry::new();
    r.register::<IpRestriction>();
    r.build_str("ip-restriction", config, &test_shared())
        .map_err(|e| e.to_string())
}

async fn status(plugin: &Arc<dyn Plugin>, client: Option<&str>) -> u16 {
    let req = RequestHeader::build("GET", b"/", None).unwrap();
    let mut ctx = RequestCtx::for_test();
    ctx.client_addr = client.map(|ip| std::net::SocketAddr::new(ip.parse().unwrap(), 40000));
    match plugin.access(&req, &mut ctx).await.unwrap() {
        Flow::Continue => 200,
        Flow::Respond(r) => r.status(),
    }
}

#[tokio::test]
async fn deny_wins_and_an_allow_list_denies_the_rest() {
    let p =
        build(r#"{ allow = ["10.0.0.0/8", "2001:db8::/32"], deny = ["10.0.66.0/24"] }"#).unwrap();
    assert_eq!(status(&p, Some("10.1.2.3")).await, 200);
    assert_eq!(
        status(&p, Some("::ffff:10.1.2.3")).await,
        200,
        "mapped IPv4"
    );
    assert_eq!(status(&p, Some("2001:db8::7")).await, 200);
    assert_eq!(status(&p, Some("10.0.66.1")).await, 403, "deny wins");
    assert_eq!(
        status(&p, Some("::ffff:10.0.66.1")).await,
        403,
        "mapped IPv4 denied"
    );
    assert_eq!(status(&p, Some("192.0.2.1")).await, 403, "not allowed");
    assert_eq!(status(&p, Some("::1")).await, 403);
    assert_eq!(status(&p, None).await, 403, "unknown client");
}

#[tokio::test]
async fn deny_only_allows_the_rest_with_custom_status_and_message() {
    let p =
        build(r#"{ deny = ["127.0.0.0/8", "::1"], status = 451, message = "go away\n" }"#).unwrap();
    assert_eq!(status(&p, Some("127.0.0.1")).await, 451);
    assert_eq!(status(&p, Some("::1")).await, 451);
    assert_eq!(status(&p, Some("192.0.2.1")).await, 200);
    let req = RequestHeader::build("GET", b"/", None).unwrap();
    let mut ctx = RequestCtx::for_test();
    ctx.client_addr = Some("127.0.0.1:1".parse().unwrap());
    let Ok(Flow::Respond(r)) = p.access(&req, &mut ctx).await else {
        panic!("denied expected");
    };
    assert_eq!(&r.body[..], b"go away\n");
}

#[test]
fn config_mistakes_are_errors() {
    let err = |c: &str| build(c).err().unwrap_or_else(|| panic!("accepted: {c}"));
    assert!(err(r#"{ deny = ["10.0.0.0/8", "10.0.0.300"] }"#).contains("invalid CIDR `10.0.0.300`"));
    assert!(err(r#"{ allow = ["10.0.0.1/8"] }"#).contains("did you mean `10.0.0.0/8`"));
    assert!(err(r#"{ allow = [] }"#).contains("deny every request"));
    assert!(err(r#"{ }"#).contains("no list"));
    assert!(err(r#"{ deny = ["all"], status = 200 }"#).contains("not an error status"));
    assert!(err(r#"{ deny = ["all"], denny = [] }"#).contains("unknown field"));
    assert!(err(r#"{ deny_file = "/nonexistent/deny.txt" }"#).contains("cannot read"));
    assert!(err(r#"{ deny = ["all"], check_every = "soon" }"#).contains("invalid duration"));
}

#[tokio::test]
async fn allow_file_empty_denies_everything_and_is_combined_with_inline() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("allow.txt");
    std::fs::write(&file, "# nobody yet\n").unwrap();
    let cfg = format!(r#"{{ allow_file = "{}" }}"#, file.display());
    let p = build(&cfg).unwrap();
    assert_eq!(
        status(&p, Some("10.0.0.1")).await,
        403,
        "an empty allow file fails closed"
    );
    let cfg = format!(
        r#"{{ allow = ["10.0.0.1"], allow_file = "{}" }}"#,
        file.display()
    );
    let p = build(&cfg).unwrap();
    assert_eq!(status(&p, Some("10.0.0.1")).await, 200);
    assert_eq!(status(&p, Some("10.0.0.2")).await, 403);
}
