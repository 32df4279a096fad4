//! The Consul KV calls the fleet needs: reads of one key or one folder (blocking with
//! `index`), single-key check-and-set, and transactions (`PUT /v1/txn`), all under the
//! fleet's prefix, with the ACL token and datacenter of its spec.
//!
//! Beside `upstream::consul` (a blocking reader of one prefix, for members) rather than in
//! it: writes, transactions and `dc` are the fleet's alone.

use std::time::Duration;

use base64::Engine;
use serde::Deserialize;

use super::spec::FleetSpec;
use crate::upstream::consul::{consul_index, ConsulError, PLAIN_READ_TIMEOUT};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// One key as read.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The key, relative to the fleet prefix.
    pub key: String,
    /// The value's bytes.
    pub value: Vec<u8>,
    /// `ModifyIndex`: what a check-and-set names.
    pub modify_index: u64,
}

/// One operation of a transaction.
#[derive(Debug, Clone)]
pub enum Op {
    /// Write `key` unconditionally.
    Set(String, Vec<u8>),
    /// Write `key` only if its `ModifyIndex` is still `index` (0: only if it does not exist).
    Cas(String, Vec<u8>, u64),
    /// Delete `key` only if its `ModifyIndex` is still `index`.
    DeleteCas(String, u64),
}

/// Why a transaction was not applied.
#[derive(Debug, thiserror::Error)]
pub enum TxnError {
    /// A check-and-set failed: somebody changed the key since it was read.
    #[error("changed meanwhile: {0}")]
    Conflict(String),
    /// Consul could not be reached or answered an error.
    #[error(transparent)]
    Consul(#[from] ConsulError),
}

/// A KV client for one fleet prefix.
#[derive(Debug, Clone)]
pub struct Kv {
    http: reqwest::Client,
    address: String,
    prefix: String,
    token: Option<String>,
    dc: Option<String>,
    wait: Duration,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawEntry {
    key: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    modify_index: u64,
}

impl Kv {
    /// A client for `spec`'s Consul and prefix (no I/O yet).
    pub fn new(spec: &FleetSpec) -> Result<Self, ConsulError> {
        let http = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ConsulError::Transport {
                address: spec.consul.address.clone(),
                reason: e.to_string(),
            })?;
        Ok(Kv {
            http,
            address: spec.consul.address.trim_end_matches('/').to_string(),
            prefix: spec.prefix().to_string(),
            token: spec.consul.token.clone(),
            dc: spec.dc.clone(),
            wait: spec.consul.wait.max(Duration::from_secs(1)),
        })
    }

    fn url(&self, path: &str, query: &str) -> String {
        let mut url = format!("{}{path}?{query}", self.address);
        if let Some(dc) = &self.dc {
            url.push_str("&dc=");
            url.push_str(
                &percent_encoding::utf8_percent_encode(dc, percent_encoding::NON_ALPHANUMERIC)
                    .to_string(),
            );
        }
        url
    }

    fn key_path(&self, key: &str) -> String {
        format!("/v1/kv/{}/{key}", self.prefix)
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        timeout: Duration,
    ) -> Result<(u16, u64, bytes::Bytes), ConsulError> {
        let req = match &self.token {
            Some(t) => req.header("X-Consul-Token", t),
            None => req,
        };
        let transport = |e: reqwest::Error| ConsulError::Transport {
            address: self.address.clone(),
            reason: if e.is_timeout() {
                format!("no answer within {timeout:?}")
            } else {
                e.to_string()
            },
        };
        let resp = req.timeout(timeout).send().await.map_err(transport)?;
        let index = consul_index(&resp);
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(transport)?;
        Ok((status, index, body))
    }

    fn status_error(url: &str, status: u16, body: &[u8]) -> ConsulError {
        ConsulError::Status {
            status,
            url: url.to_string(),
            body: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
        }
    }

    /// Every key under `folder` (relative to the prefix) and the folder's index. With
    /// `index > 0` a blocking query: it returns when something changed past `index`, or
    /// after the spec's `wait`.
    pub async fn list(&self, folder: &str, index: u64) -> Result<(Vec<Entry>, u64), ConsulError> {
        let (query, timeout) = match index {
            0 => ("recurse".to_string(), PLAIN_READ_TIMEOUT),
            i => (
                format!("recurse&index={i}&wait={}s", self.wait.as_secs()),
                self.wait + self.wait / 16 + Duration::from_secs(1),
            ),
        };
        let url = self.url(&self.key_path(folder), &query);
        let (status, index, body) = self.send(self.http.get(&url), timeout).await?;
        if status == 404 {
            return Ok((Vec::new(), index));
        }
        if status != 200 {
            return Err(Self::status_error(&url, status, &body));
        }
        let raw: Vec<RawEntry> =
            serde_json::from_slice(&body).map_err(|e| ConsulError::Decode {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        let base = format!("{}/", self.prefix);
        let mut out = Vec::with_capacity(raw.len());
        for r in raw {
            let value = match r.value {
                None => Vec::new(),
                Some(v) => B64.decode(v.as_bytes()).map_err(|e| ConsulError::Decode {
                    url: url.clone(),
                    reason: format!("key {}: {e}", r.key),
                })?,
            };
            let key = r.key.strip_prefix(&base).unwrap_or(&r.key).to_string();
            out.push(Entry {
                key,
                value,
                modify_index: r.modify_index,
            });
        }
        Ok((out, index))
    }

    /// One key (relative to the prefix), or `None` when it does not exist.
    pub async fn get(&self, key: &str) -> Result<Option<Entry>, ConsulError> {
        let (entries, _) = self.list(key, 0).await?;
        Ok(entries.into_iter().find(|e| e.key == key))
    }

    /// Applies `ops` (keys relative to the prefix) all or nothing.
    pub async fn txn(&self, ops: &[Op]) -> Result<(), TxnError> {
        let key = |k: &str| format!("{}/{k}", self.prefix);
        let body: Vec<serde_json::Value> = ops
            .iter()
            .map(|op| match op {
                Op::Set(k, v) => serde_json::json!({"KV": {"Verb": "set", "Key": key(k), "Value": B64.encode(v)}}),
                Op::Cas(k, v, i) => serde_json::json!({"KV": {"Verb": "cas", "Key": key(k), "Value": B64.encode(v), "Index": i}}),
                Op::DeleteCas(k, i) => serde_json::json!({"KV": {"Verb": "delete-cas", "Key": key(k), "Index": i}}),
            })
            .collect();
        let url = self.url("/v1/txn", "");
        let req = self.http.put(&url).json(&body);
        let (status, _, resp) = self.send(req, PLAIN_READ_TIMEOUT).await?;
        match status {
            200 => Ok(()),
            409 => Err(TxnError::Conflict(
                String::from_utf8_lossy(&resp[..resp.len().min(300)]).into_owned(),
            )),
            s => Err(Self::status_error(&url, s, &resp).into()),
        }
    }
}
