//! gRPC calls by `grpc-status`: `edgeproxy_grpc_responses_total{server, route, grpc_status}`.
//! A route's counters are resolved at its first gRPC answer (a route that never sees gRPC
//! exports none), then read without hashing a label.

use once_cell::sync::{Lazy, OnceCell};
use prometheus::{IntCounter, IntCounterVec};

use super::counter_vec;

/// Codes with a counter of their own (0..=16); others count as `other`.
const CODES: usize = 17;

/// `edgeproxy_grpc_responses_total{server, route, grpc_status}`.
pub static GRPC_RESPONSES: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "edgeproxy_grpc_responses_total",
        "gRPC calls answered, by server block, route and grpc-status (from the upstream's \
         trailers, or the proxy's own gRPC error answer)",
        &["server", "route", "grpc_status"],
    )
});

/// One route's counters by `grpc-status`.
pub struct GrpcCounters {
    server: String,
    route: String,
    by_code: OnceCell<Box<[IntCounter]>>,
}

impl GrpcCounters {
    /// The counters of route `route` of server block `server` (resolved on first use).
    pub fn new(server: &str, route: &str) -> Self {
        GrpcCounters {
            server: server.to_string(),
            route: route.to_string(),
            by_code: OnceCell::new(),
        }
    }

    /// Counts one call that ended with `code`.
    pub fn inc(&self, code: u32) {
        let by_code = self.by_code.get_or_init(|| {
            (0..=CODES)
                .map(|c| {
                    let label = match c {
                        CODES => "other".to_string(),
                        c => c.to_string(),
                    };
                    GRPC_RESPONSES.with_label_values(&[&self.server, &self.route, &label])
                })
                .collect()
        });
        by_code[(code as usize).min(CODES)].inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_by_code() {
        let c = GrpcCounters::new("grpc-unit", "r");
        c.inc(0);
        c.inc(14);
        c.inc(99);
        let get = |code: &str| {
            GRPC_RESPONSES
                .with_label_values(&["grpc-unit", "r", code])
                .get()
        };
        assert_eq!((get("0"), get("14"), get("other"), get("2")), (1, 1, 1, 0));
    }
}
