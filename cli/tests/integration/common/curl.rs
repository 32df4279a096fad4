//! The real `curl` command line client: one request, its status, headers, the body as curl
//! wrote it (decoded with `--compressed`) and how many body bytes crossed the wire.

use std::process::Command;

/// What one `curl` run got.
#[derive(Debug)]
pub struct Curled {
    /// Status of the (last) response.
    pub status: u16,
    /// Headers of the (last) response, names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// The body curl wrote (decoded when `--compressed` was given).
    pub body: Vec<u8>,
    /// Body bytes received (`%{size_download}`: before decoding).
    pub downloaded: u64,
}

impl Curled {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Runs `curl -sS --max-time 10 ARGS URL` (redirects not followed) and reads what it got;
/// panics with curl's stderr when curl fails.
pub fn curl(args: &[&str], url: &str) -> Curled {
    let dir = tempfile::tempdir().expect("tempdir");
    let (hdr, body) = (dir.path().join("head"), dir.path().join("body"));
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-w", "%{size_download}", "-D"])
        .arg(&hdr)
        .arg("-o")
        .arg(&body)
        .args(args)
        .arg(url)
        .output()
        .expect("run curl (Debian package `curl`)");
    assert!(
        out.status.success(),
        "curl {args:?} {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let head = std::fs::read_to_string(&hdr).unwrap_or_default();
    // With interim (1xx) responses the file holds several heads: the last one counts.
    let last = head.trim_end().rsplit("\r\n\r\n").next().unwrap_or("");
    let mut lines = last.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Curled {
        status,
        headers,
        body: std::fs::read(&body).unwrap_or_default(),
        downloaded: String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0),
    }
}
