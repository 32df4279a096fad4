//! A fault that repeats on every request must not turn into an unbounded log: each call site
//! writes at most 20 lines a second, and says how many it suppressed.

use std::time::{Duration, Instant};

use crate::common::edge::{Edge, ANY_PORT};
use crate::common::{client, free_addr, wait_until};

#[test]
fn a_repeating_error_is_rate_limited_per_call_site() {
    let (addr, dead) = (ANY_PORT, free_addr());
    let cfg = format!(
        "[upstreams.dead]\nservers = [{{ addr = \"{dead}\" }}]\nretries = 0\nmax_fails = 0\n\n\
         [[servers]]\nlisten = [\"{addr}\"]\n[[servers.routes]]\nupstream = \"dead\"\n"
    );
    let edge = Edge::start(&cfg);
    let addr = edge.addr();
    let c = client();
    let started = Instant::now();
    let requests = 300;
    for _ in 0..requests {
        let status = c.get(format!("http://{addr}/")).send().unwrap().status();
        assert_eq!(status, 502);
    }
    let elapsed = started.elapsed();
    // One more after the window, so the suppression report is written.
    std::thread::sleep(Duration::from_millis(1100)); // the rate window is what is tested
    c.get(format!("http://{addr}/")).send().unwrap();
    wait_until("the suppression report", Duration::from_secs(5), || {
        edge.stderr().contains("suppressed in the last")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", edge.stderr()));
    let log = edge.stderr();
    let lines = log.lines().filter(|l| l.contains("connect failed")).count();
    let windows = elapsed.as_secs() as usize + 2;
    assert!(
        lines <= 20 * windows && lines < requests,
        "{lines} `connect failed` lines for {requests} requests in {elapsed:?}"
    );
}
