//! The live canary list: read from Redis (the seed's `set gray "ip1 ip2"`, or a set) or
//! Consul KV by a background task, never on the request path. Requests read the last list
//! that parsed (an `ArcSwap`); a source that fails or holds a bad entry keeps it.
//!
//! - Redis: polled every `refresh`, one script that answers for a string or a set (`TYPE`,
//!   then `GET` or `SMEMBERS`); a missing key is an empty list.
//! - Consul: blocking queries on the key (`?index=`), so a change arrives at once; a
//!   missing key is an empty list.
//!
//! The task starts with the first request (Pingora services each have their own runtime,
//! and `-t` must start nothing); that request waits for the first read, at most
//! [`FIRST_READ_WAIT`]. [`Live`] owns it: it is aborted when the last generation holding
//! the list (carried across reloads while the plugin's config is unchanged) is dropped.

use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use base64::Engine as _;
use edgeproxy::kit::RedisClient;
use edgeproxy::kit::{Background, ConsulClient};
use redis::Script;

use crate::ip_restriction::{parse_lines, Cidr, Table};

/// How long the first request waits for the first read of the list.
pub const FIRST_READ_WAIT: Duration = Duration::from_secs(1);

/// The value of a key as a string or a set, with its type first.
const READ: &str = r#"
local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'string' then return {'string', redis.call('GET', KEYS[1])} end
if t == 'set' then
  local m = redis.call('SMEMBERS', KEYS[1])
  table.insert(m, 1, 'set')
  return m
end
return {t}
"#;

/// Where the list is read.
// Built once per plugin instance and never moved on the request path: no point boxing.
#[allow(clippy::large_enum_variant)]
pub enum Source {
    /// A Redis key (string of addresses, or a set).
    Redis {
        /// The client.
        client: RedisClient,
        /// The key.
        key: String,
        /// Poll interval.
        refresh: Duration,
    },
    /// A Consul KV key.
    Consul {
        /// A client whose prefix is the key.
        client: ConsulClient,
        /// The key.
        key: String,
        /// Wait after a failed read.
        refresh: Duration,
    },
}

/// The list in force: the inline entries plus the last good live ones.
pub struct LiveList {
    inline: Vec<Cidr>,
    table: ArcSwap<Table>,
    /// The last text applied (entries sorted), to skip unchanged reads.
    last: std::sync::Mutex<Option<String>>,
    entries: prometheus::IntGauge,
    errors: prometheus::IntCounter,
    label: String,
}

impl LiveList {
    /// A list of `inline` entries until a live read adds more.
    pub fn new(
        inline: Vec<Cidr>,
        label: String,
        entries: prometheus::IntGauge,
        errors: prometheus::IntCounter,
    ) -> Self {
        entries.set(inline.len() as i64);
        LiveList {
            table: ArcSwap::from_pointee(Table::new(&inline)),
            inline,
            last: std::sync::Mutex::new(None),
            entries,
            errors,
            label,
        }
    }

    /// The table in force.
    pub fn table(&self) -> arc_swap::Guard<Arc<Table>> {
        self.table.load()
    }

    /// Applies a read list (`entries` as written); a bad entry keeps the last list.
    pub fn apply(&self, mut entries: Vec<String>) {
        entries.sort();
        let text = entries.join("\n");
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.as_deref() == Some(text.as_str()) {
            return;
        }
        match parse_lines(&text) {
            Ok(live) => {
                let all: Vec<&Cidr> = self.inline.iter().chain(live.iter()).collect();
                self.table.store(Arc::new(Table::new(all)));
                self.entries.set((self.inline.len() + live.len()) as i64);
                tracing::info!(list = %self.label, entries = live.len(), "gray-release: canary list changed");
            }
            Err(bad) => {
                self.errors.inc();
                let (_, first) = &bad[0];
                tracing::warn!(list = %self.label, bad = bad.len(), "gray-release: canary list not used ({first}); the last good one stays");
            }
        }
        *last = Some(text);
    }

    fn failed(&self, streak: &mut u32, e: &dyn std::fmt::Display) {
        self.errors.inc();
        if *streak == 0 {
            tracing::warn!(list = %self.label, error = %e, "gray-release: cannot read the canary list; the last one stays in force");
        }
        *streak += 1;
    }

    fn answered(&self, streak: &mut u32) {
        if *streak > 0 {
            tracing::info!(list = %self.label, "gray-release: canary list readable again");
        }
        *streak = 0;
    }
}

/// A plugin instance's list, its source and the task reading it (carried across reloads).
pub struct Live {
    list: Arc<LiveList>,
    source: Option<Arc<Source>>,
    /// The reading task, started by the first request (`None` inside: no runtime).
    task: tokio::sync::OnceCell<Option<Background>>,
}

impl Live {
    /// `list`, kept current from `source` once [`started`](Self::started).
    pub fn new(list: LiveList, source: Option<Source>) -> Live {
        Live {
            list: Arc::new(list),
            source: source.map(Arc::new),
            task: tokio::sync::OnceCell::new(),
        }
    }

    /// The list in force.
    pub fn list(&self) -> &LiveList {
        &self.list
    }

    /// Starts the reading task (first call only; it holds the list weakly and is aborted
    /// when `self` is dropped) and waits for its first read.
    pub async fn started(&self) {
        self.task
            .get_or_init(|| async {
                let source = self.source.as_ref()?;
                let (tx, rx) = tokio::sync::oneshot::channel();
                let task = Background::spawn(source.clone().run(Arc::downgrade(&self.list), tx));
                let _ = tokio::time::timeout(FIRST_READ_WAIT, rx).await;
                task
            })
            .await;
    }

    /// Whether the reading task runs.
    pub fn running(&self) -> bool {
        self.task
            .get()
            .and_then(Option::as_ref)
            .is_some_and(|t| !t.is_finished())
    }
}

/// Split a list value: addresses and networks separated by whitespace or commas.
pub fn split_entries(value: &str) -> Vec<String> {
    value
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

impl Source {
    /// Reads the list once into `list` (`first` is signalled after the first attempt), then
    /// keeps it current until `list` is dropped.
    pub async fn run(
        self: Arc<Self>,
        list: Weak<LiveList>,
        first: tokio::sync::oneshot::Sender<()>,
    ) {
        let mut first = Some(first);
        let mut streak = 0u32;
        let mut index = 0u64;
        let script = Script::new(READ);
        loop {
            let Some(l) = list.upgrade() else { return };
            let pause = match &*self {
                Source::Redis {
                    client,
                    key,
                    refresh,
                } => {
                    let inv = script.key(key.as_str());
                    let read: Result<Vec<String>, _> = client
                        .run(|mut c| async move { inv.invoke_async(&mut c).await })
                        .await;
                    match read {
                        Ok(v) => {
                            l.answered(&mut streak);
                            l.apply(redis_entries(&v));
                        }
                        Err(e) => l.failed(&mut streak, &e),
                    }
                    *refresh
                }
                Source::Consul {
                    client,
                    key,
                    refresh,
                } => match client.read(index).await {
                    Ok(r) => {
                        l.answered(&mut streak);
                        // An index that goes backwards (Consul restored) restarts the watch.
                        index = if r.index < index { 0 } else { r.index };
                        let value = r.entries.iter().find(|e| &e.key == key);
                        let text = value
                            .and_then(|e| e.value.as_deref())
                            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                            .map(|b| String::from_utf8_lossy(&b).into_owned())
                            .unwrap_or_default();
                        l.apply(split_entries(&text));
                        if index == 0 {
                            *refresh
                        } else {
                            Duration::ZERO
                        }
                    }
                    Err(e) => {
                        l.failed(&mut streak, &e);
                        *refresh
                    }
                },
            };
            drop(l);
            if let Some(tx) = first.take() {
                let _ = tx.send(());
            }
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
        }
    }
}

/// The entries of the read script's answer: `["string", value]`, `["set", m1, m2, …]`,
/// `["none"]` (empty).
fn redis_entries(reply: &[String]) -> Vec<String> {
    match reply.split_first() {
        Some((t, rest)) if t == "string" => rest.iter().flat_map(|v| split_entries(v)).collect(),
        Some((t, rest)) if t == "set" => rest.iter().flat_map(|v| split_entries(v)).collect(),
        Some((t, _)) if t != "none" => {
            tracing::warn!(kind = %t, "gray-release: the canary key is neither a string nor a set; read as empty");
            Vec::new()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> LiveList {
        LiveList::new(
            vec!["10.9.9.9".parse().unwrap()],
            "t".into(),
            prometheus::IntGauge::new("t_entries", "t").unwrap(),
            prometheus::IntCounter::new("t_errors", "t").unwrap(),
        )
    }

    #[test]
    fn lists_replace_bad_ones_keep_the_last() {
        let l = list();
        let has = |ip: &str| l.table().contains(ip.parse().unwrap());
        assert!(has("10.9.9.9") && !has("1.2.3.4"));
        l.apply(split_entries("1.2.3.4 192.168.0.0/24,\n2001:db8::1"));
        assert!(has("1.2.3.4") && has("192.168.0.7") && has("2001:db8::1") && has("10.9.9.9"));
        l.apply(split_entries("5.6.7.8 not-an-ip"));
        assert!(has("1.2.3.4") && !has("5.6.7.8"), "bad list not used");
        l.apply(Vec::new());
        assert!(
            !has("1.2.3.4") && has("10.9.9.9"),
            "empty live list: inline only"
        );
    }

    #[test]
    fn redis_replies() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            redis_entries(&s(&["string", "1.1.1.1 2.2.2.2"])),
            s(&["1.1.1.1", "2.2.2.2"])
        );
        assert_eq!(
            redis_entries(&s(&["set", "1.1.1.1", "2.2.2.2"])),
            s(&["1.1.1.1", "2.2.2.2"])
        );
        assert!(redis_entries(&s(&["none"])).is_empty());
        assert!(redis_entries(&s(&["hash"])).is_empty());
    }
}
