//! Request metrics of the server blocks: answered requests by route and status class, their
//! duration, and requests that ended with nothing sent.

use std::time::Duration;

use once_cell::sync::Lazy;
use prometheus::{Histogram, HistogramVec, IntCounter, IntCounterVec};

use super::{counter_vec, histogram_vec, ByStatusClass, DURATION_BUCKETS};

/// The `route` label of requests answered without a route: no route matched, or the
/// request was answered before routing (400 from conformance, 414/431, a server-level
/// plugin's answer). The access log writes `-` for them too.
pub const NO_ROUTE: &str = "-";

/// `edgeproxy_requests_total{server, route, status}`: answered requests by status class.
pub static REQUESTS: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "edgeproxy_requests_total",
        "Requests answered, by server block, route and status class",
        &["server", "route", "status"],
    )
});

/// `edgeproxy_request_duration_seconds{server, route}`: time from the request's arrival to
/// the end of its response, for answered requests.
pub static REQUEST_DURATION: Lazy<HistogramVec> = Lazy::new(|| {
    histogram_vec(
        "edgeproxy_request_duration_seconds",
        "Time to answer a request (until the response is sent), by server block and route",
        &["server", "route"],
        &DURATION_BUCKETS,
    )
});

/// `edgeproxy_requests_aborted_total{server}`: requests that ended with no response sent
/// (the client went away first, or its connection failed).
pub static REQUESTS_ABORTED: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "edgeproxy_requests_aborted_total",
        "Requests that ended before any response was sent (client gone), by server block",
        &["server"],
    )
});

/// Requests answered by this process so far, and how many of them with a 5xx status
/// (summed over every server block and route of `edgeproxy_requests_total`).
pub fn answered_and_5xx() -> (u64, u64) {
    use prometheus::core::Collector;
    let (mut all, mut errors) = (0, 0);
    for family in REQUESTS.collect() {
        for m in family.get_metric() {
            let n = m.get_counter().value() as u64;
            all += n;
            if m.get_label()
                .iter()
                .any(|l| l.name() == "status" && l.value() == "5xx")
            {
                errors += n;
            }
        }
    }
    (all, errors)
}

/// The request metrics of one route of one server block, resolved when the route is built.
pub struct RouteMetrics {
    requests: ByStatusClass,
    duration: Histogram,
    /// gRPC calls by `grpc-status`.
    pub grpc: super::GrpcCounters,
}

impl RouteMetrics {
    /// The metrics of route `route` of server block `server`.
    pub fn new(server: &str, route: &str) -> Self {
        RouteMetrics {
            requests: ByStatusClass::new(&REQUESTS, &[server, route]),
            duration: REQUEST_DURATION.with_label_values(&[server, route]),
            grpc: super::GrpcCounters::new(server, route),
        }
    }

    /// Counts one request answered with `status` after `took`.
    pub fn answered(&self, status: u16, took: Duration) {
        self.requests.inc(status);
        self.duration.observe(took.as_secs_f64());
    }
}

/// The request metrics of one server block that belong to no route: requests answered
/// without one ([`NO_ROUTE`]) and requests aborted before any response.
pub struct ServerMetrics {
    unrouted: RouteMetrics,
    aborted: IntCounter,
}

impl ServerMetrics {
    /// The metrics of server block `server`.
    pub fn new(server: &str) -> Self {
        ServerMetrics {
            unrouted: RouteMetrics::new(server, NO_ROUTE),
            aborted: REQUESTS_ABORTED.with_label_values(&[server]),
        }
    }

    /// Counts one finished request: `status` 0 means nothing was sent (aborted); otherwise
    /// it is counted on `route` (the matched route's metrics, `None` when there was none).
    pub fn finished(&self, route: Option<&RouteMetrics>, status: u16, took: Duration) {
        if status == 0 {
            self.aborted.inc();
        } else {
            route.unwrap_or(&self.unrouted).answered(status, took);
        }
    }

    /// Counts one gRPC call that ended with `code` on `route` (`None`: no route).
    pub fn grpc_finished(&self, route: Option<&RouteMetrics>, code: u32) {
        route.unwrap_or(&self.unrouted).grpc.inc(code);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answered_requests_by_route_and_aborted_ones_apart() {
        let server = ServerMetrics::new("requests-unit");
        let route = RouteMetrics::new("requests-unit", "/api*");
        server.finished(Some(&route), 204, Duration::from_millis(3));
        server.finished(Some(&route), 503, Duration::from_millis(30));
        server.finished(None, 404, Duration::from_millis(1));
        server.finished(Some(&route), 0, Duration::from_secs(1));
        let count = |route: &str, class: &str| {
            REQUESTS
                .with_label_values(&["requests-unit", route, class])
                .get()
        };
        assert_eq!((count("/api*", "2xx"), count("/api*", "5xx")), (1, 1));
        assert_eq!((count(NO_ROUTE, "4xx"), count("/api*", "4xx")), (1, 0));
        let hist = |route: &str| {
            REQUEST_DURATION
                .with_label_values(&["requests-unit", route])
                .get_sample_count()
        };
        assert_eq!((hist("/api*"), hist(NO_ROUTE)), (2, 1), "aborted not timed");
        let aborted = REQUESTS_ABORTED.with_label_values(&["requests-unit"]);
        assert_eq!(aborted.get(), 1);
    }
}
