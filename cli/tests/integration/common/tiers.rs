//! The whole two-tier system through the real binary, for the hot-key tests:
//! distribution nodes (each its own process, hashing `$arg_productId`, with a
//! `[upstreams.app.hot]` table) in front of application nodes (one process, one server
//! block per node, each rendering the product page from its own L1 over a shared
//! redis-server and a counting origin). Every application node names itself in
//! `X-App-Node`; its pages carry `Surrogate-Key`.

use std::net::SocketAddr;
use std::time::Duration;

use super::edge::{Edge, ANY_PORT};
use super::origin::Origin;
use super::redis::RedisServer;

/// What to build.
pub struct Tiers {
    /// Distribution nodes (processes).
    pub dists: usize,
    /// Application nodes (server blocks of one process).
    pub apps: usize,
    /// Lines of `[upstreams.app.hot]` (besides `cache`).
    pub hot: Vec<String>,
    /// Lines of `[upstreams.app.hot.edge]`; none = no first-hop serving.
    pub edge: Vec<String>,
}

/// A running two-tier system; everything is stopped on drop.
pub struct Running {
    /// Distribution nodes' listen addresses.
    pub dists: Vec<SocketAddr>,
    /// Their admin addresses (`/status/hot`, `/metrics`).
    pub dist_admins: Vec<SocketAddr>,
    /// The application process's admin address (`/purge` with token `t0ken`, `/metrics`).
    pub app_admin: SocketAddr,
    /// The origin (`/p/ID` answers `{"v":"/p/ID","version":N}`).
    pub origin: Origin,
    /// The processes: application first, then the distribution nodes.
    pub edges: Vec<Edge>,
    _redis: RedisServer,
    _tpl: tempfile::TempDir,
}

/// The admin token of the application process's `/purge`.
pub const TOKEN: &str = "t0ken";

impl Tiers {
    /// `dists` distribution nodes in front of `apps` application nodes, hot keys with
    /// `hot` settings.
    pub fn new(dists: usize, apps: usize, hot: &[&str]) -> Tiers {
        Tiers {
            dists,
            apps,
            hot: hot.iter().map(|s| s.to_string()).collect(),
            edge: Vec::new(),
        }
    }

    /// Turns first-hop serving on with these `[upstreams.app.hot.edge]` lines.
    pub fn edge(mut self, lines: &[&str]) -> Tiers {
        self.edge = lines.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Starts everything and waits until it listens.
    pub fn start(self) -> Running {
        let origin = Origin::builder()
            .template(r#"{"v":"{target}","version":{version}}"#)
            .start();
        let redis = RedisServer::start();
        let tpl = tempfile::tempdir().expect("tempdir");
        let template = tpl.path().join("page.hbs");
        std::fs::write(&template, "{{product.v}} v{{product.version}}").expect("template");
        let app_cfg = app_config(
            &vec![ANY_PORT; self.apps],
            ANY_PORT,
            origin.addr,
            redis.node.port,
            &template.display().to_string(),
        );
        let env = [("EDGEPROXY_ADMIN_TOKEN", TOKEN)];
        let app = Edge::start_with(&app_cfg, &env);
        // The admin block comes first in the config, then one block per node.
        let (app_admin, apps) = (app.addr(), app.addrs()[1..].to_vec());
        let mut edges = vec![app];
        let (mut dists, mut dist_admins) = (Vec::new(), Vec::new());
        for i in 0..self.dists {
            let cfg = self.dist_config(i, ANY_PORT, ANY_PORT, &apps, redis.node.port);
            let edge = Edge::start(&cfg);
            let [listen, admin] = edge.listening();
            edges.push(edge);
            dists.push(listen);
            dist_admins.push(admin);
        }
        Running {
            dists,
            dist_admins,
            app_admin,
            origin,
            edges,
            _redis: redis,
            _tpl: tpl,
        }
    }

    fn dist_config(
        &self,
        i: usize,
        listen: SocketAddr,
        admin: SocketAddr,
        apps: &[SocketAddr],
        redis: u16,
    ) -> String {
        let servers: Vec<String> = apps
            .iter()
            .map(|a| format!("{{ addr = \"{a}\" }}"))
            .collect();
        let mut s = format!(
            "[server]\nthreads = 2\nnode_name = \"dist-{i}\"\npid_file = \"{{dir}}/d.pid\"\nupgrade_sock = \"{{dir}}/d.sock\"\n\n\
             [caches.shared]\nl1_capacity = \"1MiB\"\n[caches.shared.redis]\nmode = \"single\"\naddresses = [\"127.0.0.1:{redis}\"]\n\n\
             [upstreams.app]\nservers = [{}]\nbalance = \"hash\"\nhash_key = \"$arg_productId\"\n\n\
             [upstreams.app.hot]\ncache = \"shared\"\n",
            servers.join(", ")
        );
        for l in &self.hot {
            s.push_str(l);
            s.push('\n');
        }
        if !self.edge.is_empty() {
            s.push_str("\n[upstreams.app.hot.edge]\n");
            for l in &self.edge {
                s.push_str(l);
                s.push('\n');
            }
        }
        s.push_str(&format!(
            "\n[[servers]]\nname = \"dist\"\nlisten = [\"{listen}\"]\n[[servers.routes]]\nname = \"product\"\npath = \"/product\"\nupstream = \"app\"\n\n\
             [[servers]]\nname = \"admin\"\nlisten = [\"{admin}\"]\n\
             [[servers.routes]]\npath = \"/status/hot\"\nplugins = [{{ name = \"hot-status\" }}]\n\
             [[servers.routes]]\npath = \"/metrics\"\nplugins = [{{ name = \"metrics\" }}]\n"
        ));
        s
    }
}

fn app_config(
    apps: &[SocketAddr],
    admin: SocketAddr,
    origin: SocketAddr,
    redis: u16,
    template: &str,
) -> String {
    let mut s = format!(
        "[server]\nthreads = 2\npid_file = \"{{dir}}/a.pid\"\nupgrade_sock = \"{{dir}}/a.sock\"\n\n\
         [upstreams.origin]\nservers = [{{ addr = \"{origin}\" }}]\nmax_fails = 0\n\n\
         [[servers]]\nname = \"admin\"\nlisten = [\"{admin}\"]\n\
         [[servers.routes]]\npath = \"/purge\"\nplugins = [{{ name = \"admin-token\", config = {{ token_env = \"EDGEPROXY_ADMIN_TOKEN\" }} }}, {{ name = \"cache-purge\" }}]\n\
         [[servers.routes]]\npath = \"/metrics\"\nplugins = [{{ name = \"metrics\" }}]\n"
    );
    for (i, addr) in apps.iter().enumerate() {
        s.push_str(&format!(
            "\n[caches.app{i}]\nl1_capacity = \"16MiB\"\n[caches.app{i}.redis]\nmode = \"single\"\naddresses = [\"127.0.0.1:{redis}\"]\ntimeout = \"200ms\"\n\n\
             [[servers]]\nname = \"app-{i}\"\nlisten = [\"{addr}\"]\n\
             plugins = [{{ name = \"response-headers\", config = {{ set = {{ \"x-app-node\" = \"app-{i}\" }} }} }}]\n\
             [[servers.routes]]\npath = \"/product\"\n\
             plugins = [{{ name = \"page\", config = {{ cache = \"app{i}\", template = \"{template}\", surrogate_keys = true, \
             params = {{ productId = {{ pattern = \"[0-9]{{1,12}}\" }} }}, \
             sources = [{{ name = \"product\", key = \"product_info_{{productId}}\", origin = \"origin\", path = \"/p/{{productId}}\", ttl = \"10m\" }}] }} }}]\n"
        ));
    }
    s
}

/// One answer as the tests look at it.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status.
    pub status: u16,
    /// `X-App-Node` (`app-i`), if any.
    pub node: Option<String>,
    /// `X-Cache`, if any.
    pub cache: Option<String>,
    /// Whether `Surrogate-Key` reached the client.
    pub tagged: bool,
    /// The body.
    pub body: String,
}

/// GETs `/product?productId={id}` from `addr` with `http`.
pub fn product(http: &reqwest::blocking::Client, addr: SocketAddr, id: u64) -> Answer {
    match http
        .get(format!("http://{addr}/product?productId={id}"))
        .send()
    {
        Ok(r) => {
            let header = |n: &str| {
                r.headers()
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let (node, cache, tagged) = (
                header("x-app-node"),
                header("x-cache"),
                header("surrogate-key").is_some(),
            );
            Answer {
                status: r.status().as_u16(),
                node,
                cache,
                tagged,
                body: r.text().unwrap_or_default(),
            }
        }
        Err(_) => Answer {
            status: 0,
            node: None,
            cache: None,
            tagged: false,
            body: String::new(),
        },
    }
}

/// A Zipf(1) sampler over `1..=n` (inverse CDF on a precomputed table).
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    /// Over `1..=n`, exponent 1.
    pub fn new(n: usize) -> Zipf {
        let mut acc = 0.0;
        let mut cdf: Vec<f64> = (1..=n)
            .map(|k| {
                acc += 1.0 / k as f64;
                acc
            })
            .collect();
        let total = acc;
        cdf.iter_mut().for_each(|c| *c /= total);
        Zipf { cdf }
    }

    /// A sample for a uniform `u` in `[0, 1)`.
    pub fn sample(&self, u: f64) -> u64 {
        self.cdf.partition_point(|c| *c < u) as u64 + 1
    }
}

/// max / mean of `counts` (1.0 = perfectly even).
pub fn imbalance(counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    if total == 0 || counts.is_empty() {
        return 0.0;
    }
    let mean = total as f64 / counts.len() as f64;
    *counts.iter().max().unwrap_or(&0) as f64 / mean
}

/// How long a test waits for something the system should do within about a second.
pub const PATIENCE: Duration = Duration::from_secs(15);
