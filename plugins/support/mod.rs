//! Helpers shared by the built-in plugins (not plugins themselves): admin answers, the
//! `redis = { … }` table, constant-time secrets, files reloaded when they change, state
//! carried across reloads, and where authentication plugins read (and hide) a credential.

pub mod admin_response;
pub mod carried;
pub mod credentials;
pub mod redis_config;
pub mod secret;
pub mod watched_file;
