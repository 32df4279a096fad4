//! Test harness: real servers and doubles on free ports, cleaned up on `Drop`.
#![allow(dead_code)]

pub mod cache_env;
pub mod cache_origin;
pub mod redis;
