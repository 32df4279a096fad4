//! Cluster-wide state of a rule in Redis: one round trip per request, an atomic Lua script
//! (`EVALSHA`; redis-rs loads it on `NOSCRIPT`, e.g. after a restart) that reads the key's
//! state, decides with the same arithmetic as `algo.rs` and writes it back. Time is Redis's
//! (`TIME`), so edgeproxy nodes with skewed clocks still share one window. Each key is one
//! Redis hash, `<prefix>{<rule>:<key>}`: the braces are a Cluster hash tag, so whatever
//! the script touches for a key lives in one slot (keys longer than 128 bytes are
//! replaced by a 64-bit FNV-1a digest).

use edgeproxy::kit::{RedisClient, RedisFail};
use redis::Script;

use super::algo::{bucket_decision, window_decision, Algorithm, Decision};

/// The window script: `KEYS[1]`, `ARGV` = limit, window ms, sliding (1/0). Returns
/// `{allowed, current, previous, elapsed ms}`.
const WINDOW: &str = r#"
local limit, w, sliding = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1'
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local idx = math.floor(now / w)
local elapsed = now - idx * w
local s = redis.call('HMGET', KEYS[1], 'i', 'c', 'p')
local i, cur, prev = tonumber(s[1]), tonumber(s[2]) or 0, tonumber(s[3]) or 0
if i == nil then cur, prev = 0, 0
elseif i == idx - 1 then prev, cur = cur, 0
elseif i ~= idx then cur, prev = 0, 0 end
if not sliding then prev = 0 end
local allowed = 0
if prev * (w - elapsed) + (cur + 1) * w <= limit * w then
  allowed = 1
  cur = cur + 1
  redis.call('HSET', KEYS[1], 'i', idx, 'c', cur, 'p', prev)
  redis.call('PEXPIRE', KEYS[1], 2 * w)
end
return {allowed, cur, prev, elapsed}
"#;

/// The leaky-bucket script (nginx `limit_req`): `KEYS[1]`, `ARGV` = rate (thousandths of a
/// request per second), burst. Returns `{allowed, excess}` (the excess it would have had
/// when refused).
const BUCKET: &str = r#"
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local s = redis.call('HMGET', KEYS[1], 'e', 't')
local excess, last = tonumber(s[1]), tonumber(s[2])
local new, ms = 0, 0
if excess ~= nil and last ~= nil then
  ms = now - last
  if ms < 0 then ms = 0 end
  new = excess + 1000 - math.floor(rate * ms / 1000)
  if new < 0 then new = 0 end
end
local allowed = 0
if new <= burst * 1000 then
  allowed = 1
  if last == nil or ms > 0 then last = now end
  redis.call('HSET', KEYS[1], 'e', new, 't', last)
  redis.call('PEXPIRE', KEYS[1], math.floor((burst + 1) * 1000000 / rate) + 1000)
end
return {allowed, new}
"#;

/// Keys longer than this are stored by digest.
const MAX_KEY: usize = 128;

/// One rule's limiter in Redis.
pub struct RedisLimiter {
    client: RedisClient,
    algo: Algorithm,
    /// `<prefix>{<rule>:`
    head: String,
    script: Script,
}

impl RedisLimiter {
    /// A limiter for `rule` over `client`; opens no socket.
    pub fn new(client: RedisClient, algo: Algorithm, prefix: &str, rule: &str) -> Self {
        let script = match algo {
            Algorithm::Window { .. } => Script::new(WINDOW),
            Algorithm::Bucket { .. } => Script::new(BUCKET),
        };
        RedisLimiter {
            client,
            algo,
            head: format!("{prefix}{{{rule}:"),
            script,
        }
    }

    /// The Redis key of `key` (`""`: the shared bucket of requests without a key).
    pub fn redis_key(&self, key: &str) -> String {
        let mut k = String::with_capacity(self.head.len() + key.len().min(MAX_KEY) + 1);
        k.push_str(&self.head);
        if key.len() <= MAX_KEY {
            k.push_str(key);
        } else {
            k.push_str(&format!("#{:016x}", fnv1a(key.as_bytes())));
        }
        k.push('}');
        k
    }

    /// Whether the client's breaker keeps calls away from Redis.
    pub fn breaker_open(&self) -> bool {
        self.client.breaker_open()
    }

    /// Decides one request for `key` in Redis: one script call, bounded by the client's
    /// timeout.
    pub async fn decide(&self, key: &str) -> Result<Decision, RedisFail> {
        let mut inv = self.script.key(self.redis_key(key));
        match self.algo {
            Algorithm::Window {
                limit,
                window_ms,
                sliding,
            } => {
                inv.arg(limit).arg(window_ms).arg(u8::from(sliding));
                let r: Vec<u64> = self
                    .client
                    .run(|mut c| async move { inv.invoke_async(&mut c).await })
                    .await?;
                let [allowed, cur, prev, elapsed] = four(&r)?;
                let elapsed = elapsed.min(window_ms - 1);
                let params = (limit, window_ms, sliding);
                Ok(window_decision(params, cur, prev, elapsed, allowed == 1))
            }
            Algorithm::Bucket {
                rate_milli,
                burst,
                delay,
            } => {
                inv.arg(rate_milli).arg(burst);
                let r: Vec<u64> = self
                    .client
                    .run(|mut c| async move { inv.invoke_async(&mut c).await })
                    .await?;
                let (allowed, excess) = match r.as_slice() {
                    [a, e] => (*a == 1, *e),
                    _ => return Err(unexpected(&r)),
                };
                Ok(bucket_decision(rate_milli, burst, delay, excess, allowed))
            }
        }
    }
}

fn four(r: &[u64]) -> Result<[u64; 4], RedisFail> {
    r.try_into().map_err(|_| unexpected(r))
}

fn unexpected(r: &[u64]) -> RedisFail {
    RedisFail::Redis(redis::RedisError::from((
        redis::ErrorKind::TypeError,
        "unexpected rate-limit script reply",
        format!("{r:?}"),
    )))
}

/// FNV-1a, 64 bits: a stable digest (the same in every process and version).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeproxy::kit::{RedisMode, RedisSpec};

    #[test]
    fn keys_are_hash_tagged_and_bounded() {
        let spec = RedisSpec::new(RedisMode::Single("redis://127.0.0.1:1".into()));
        let client = RedisClient::new(
            spec,
            "t",
            prometheus::IntGauge::new("t_open", "t").unwrap(),
            prometheus::IntCounter::new("t_err", "t").unwrap(),
        );
        let algo = Algorithm::Window {
            limit: 1,
            window_ms: 1000,
            sliding: true,
        };
        let l = RedisLimiter::new(client, algo, "rl:", "api");
        assert_eq!(l.redis_key("10.0.0.1"), "rl:{api:10.0.0.1}");
        assert_eq!(l.redis_key(""), "rl:{api:}");
        let long = l.redis_key(&"x".repeat(500));
        assert!(
            long.starts_with("rl:{api:#") && long.ends_with('}') && long.len() < 40,
            "{long}"
        );
        assert_ne!(long, l.redis_key(&"y".repeat(500)));
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
