//! The miss path of one key, run once per node per key at a time: L2, then the rebuild
//! lock and the origin, writing back origin → L2 → L1 and L2 → L1.

use std::time::{Duration, Instant};

use super::entry::Entry;
use super::l1::L1;
use super::lock;
use super::origin::{LoadError, Loaded, Loader};
use super::redis::{RedisFail, RedisTier};
use super::spec::Ttls;
use super::CacheLevel;

/// After serving a stale copy, how long it is repeated before L2 and the origin are retried.
const STALE_RETRY: Duration = Duration::from_secs(1);

/// What one level answered: the stored entry (value, version, derived forms) and the level.
pub type Answer = (Entry, CacheLevel);

/// Everything one miss needs.
pub struct Miss<'a> {
    /// The cache key.
    pub key: &'a str,
    /// Lifetimes for write-backs.
    pub ttls: &'a Ttls,
    /// L1 to write back into.
    pub l1: &'a L1,
    /// L2, if configured.
    pub redis: Option<&'a RedisTier>,
    /// This node's lock token.
    pub token: &'a str,
}

impl Miss<'_> {
    /// Resolves the key below L1. `Err` carries the origin error when no stale copy exists.
    pub async fn resolve(&self, loader: &dyn Loader) -> Result<Answer, LoadError> {
        // Another flight may have just filled L1 between the caller's check and ours.
        let mut stale = self.l1.get(self.key).await;
        if let Some(e) = stale.as_ref().filter(|e| e.is_fresh()) {
            return Ok((e.clone(), CacheLevel::L1));
        }
        if let Some(e) = stale.as_ref().filter(|e| e.in_stale_backoff()) {
            return Ok((e.clone(), CacheLevel::Stale));
        }
        let mut redis = self.redis;
        let mut locked = false;
        if let Some(r) = redis {
            match self.read_l2(r, &mut stale).await {
                Ok(Some(answer)) => return Ok(answer),
                Ok(None) => match self.lock_or_wait(r, &mut stale).await {
                    Ok(LockOutcome::Answered(a)) => return Ok(a),
                    Ok(LockOutcome::Owner) => locked = true,
                    Ok(LockOutcome::GaveUp) => {}
                    Err(_) => redis = None,
                },
                Err(_) => redis = None,
            }
        }
        let loaded = loader.load(self.key).await;
        let result = match loaded {
            Ok(l) => Ok(self.write_back(redis, l).await),
            Err(e) => match stale.filter(|s| s.stale_until > Instant::now()) {
                Some(mut s) => {
                    tracing::warn!(key = self.key, error = %e, "cache: serving stale");
                    s.retry_after = Some(Instant::now() + STALE_RETRY);
                    self.l1.put(self.key, s.clone()).await;
                    Ok((s, CacheLevel::Stale))
                }
                None => Err(e),
            },
        };
        if let (true, Some(r)) = (locked, redis) {
            lock::release(r, self.key, self.token).await;
        }
        result
    }

    /// Reads L2: a fresh value is written to L1 and returned; an expired one becomes the
    /// stale candidate if it is newer than L1's.
    async fn read_l2(
        &self,
        r: &RedisTier,
        stale: &mut Option<Entry>,
    ) -> Result<Option<Answer>, RedisFail> {
        let raw: Option<Vec<u8>> = r.query(get_cmd(r.key(self.key))).await?;
        let Some(entry) = raw.and_then(|b| Entry::decode(&b, self.ttls.stale_grace)) else {
            return Ok(None);
        };
        if entry.is_fresh() {
            self.l1.put(self.key, entry.clone()).await;
            return Ok(Some((entry, CacheLevel::L2)));
        }
        if stale
            .as_ref()
            .is_none_or(|s| s.fresh_until < entry.fresh_until)
        {
            *stale = Some(entry);
        }
        Ok(None)
    }

    /// Takes the rebuild lock, or polls L2 while another node holds it (retrying the lock
    /// in case the holder gave up) for at most `lock_wait`.
    async fn lock_or_wait(
        &self,
        r: &RedisTier,
        stale: &mut Option<Entry>,
    ) -> Result<LockOutcome, RedisFail> {
        let wait = r.spec().lock_wait;
        let deadline = Instant::now() + wait;
        let step = (wait / 10).clamp(Duration::from_millis(5), Duration::from_millis(50));
        loop {
            if lock::try_acquire(r, self.key, self.token).await? {
                // Double-check: the previous holder may have written just before releasing.
                if let Some(a) = self.read_l2(r, stale).await? {
                    lock::release(r, self.key, self.token).await;
                    return Ok(LockOutcome::Answered(a));
                }
                return Ok(LockOutcome::Owner);
            }
            if Instant::now() + step > deadline {
                return Ok(LockOutcome::GaveUp);
            }
            tokio::time::sleep(step).await;
            if let Some(a) = self.read_l2(r, stale).await? {
                return Ok(LockOutcome::Answered(a));
            }
        }
    }

    /// Stores an origin answer in L2 (best effort) and L1.
    async fn write_back(&self, redis: Option<&RedisTier>, loaded: Loaded) -> Answer {
        let (value, fresh) = match loaded {
            Loaded::Found(b) => (Some(b), self.ttls.fresh),
            Loaded::NotFound => (None, self.ttls.negative),
        };
        let entry = Entry::new(value, fresh, self.ttls.stale_grace);
        if let Some(r) = redis {
            let px = u64::try_from((fresh + self.ttls.stale_grace).as_millis())
                .unwrap_or(u64::MAX)
                .max(1);
            let mut cmd = redis::cmd("SET");
            cmd.arg(r.key(self.key))
                .arg(entry.encode())
                .arg("PX")
                .arg(px);
            if let Err(e) = r.query::<()>(cmd).await {
                tracing::debug!(key = self.key, error = %e, "cache: L2 write-back failed");
            }
        }
        self.l1.put(self.key, entry.clone()).await;
        (entry, CacheLevel::Origin)
    }
}

enum LockOutcome {
    Answered(Answer),
    Owner,
    GaveUp,
}

fn get_cmd(key: String) -> redis::Cmd {
    let mut c = redis::cmd("GET");
    c.arg(key);
    c
}
