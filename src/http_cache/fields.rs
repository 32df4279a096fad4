//! Header fields whose value is a comma-separated list of field names (`Connection`,
//! `Vary`), read the one way both need.

/// The names listed in every `name` field of `headers`, trimmed and lower-cased, empty
/// members dropped.
pub fn listed_names(headers: &http::HeaderMap, name: http::header::HeaderName) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect()
}
