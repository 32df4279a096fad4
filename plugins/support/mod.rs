//! Helpers shared by the built-in plugins (not plugins themselves): admin answers, the
//! `redis = { … }` table, constant-time secrets and files reloaded when they change.

pub mod admin_response;
pub mod redis_config;
pub mod secret;
pub mod watched_file;
