//! The page plugin's one error type: what is wrong with its config or its template, named.

/// A page config or template problem (bad pattern or parameter rule, template that does not
/// compile or render); the message names the file, field or parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PageError(pub String);
