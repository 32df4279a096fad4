//! Per-request variables that plugins set and templates read: `$consumer` (the client an
//! authentication plugin recognised) and `$jwt_NAME` (claims `jwt-auth` exposes).
//! Templates ([`crate::request::template`]: keys, log formats, locations) read them by name.
//!
//! A request carries a handful at most, so they are a small vector searched linearly (no
//! hashing, one allocation when the first is set).

/// The variable an authentication plugin sets to name the client (`$consumer`).
pub const CONSUMER: &str = "consumer";

/// Variables set for one request, by name (without the `$`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Vars {
    entries: Vec<(Box<str>, String)>,
}

impl Vars {
    /// No variables.
    pub const fn new() -> Self {
        Vars {
            entries: Vec::new(),
        }
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `name` to `value`, replacing an earlier value.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.entries.iter_mut().find(|(n, _)| &**n == name) {
            Some((_, v)) => *v = value,
            None => self.entries.push((name.into(), value)),
        }
    }

    /// Removes `name`.
    pub fn remove(&mut self, name: &str) {
        self.entries.retain(|(n, _)| &**n != name);
    }

    /// Every variable, in the order first set.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(n, v)| (&**n, v.as_str()))
    }

    /// True when none is set.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Whether `$name` is a variable that plugins set (so a template may name it even though
/// no plugin is known when the template is parsed): `consumer` and `jwt_NAME`.
pub fn is_plugin_variable(name: &str) -> bool {
    name == CONSUMER || name.strip_prefix("jwt_").is_some_and(|c| !c.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_replace_remove() {
        let mut v = Vars::new();
        assert_eq!(v.get(CONSUMER), None);
        v.set(CONSUMER, "alice");
        v.set("jwt_sub", "u-1");
        v.set(CONSUMER, "bob");
        assert_eq!(v.get(CONSUMER), Some("bob"));
        assert_eq!(v.iter().count(), 2);
        v.remove(CONSUMER);
        assert_eq!(v.get(CONSUMER), None);
        assert_eq!(v.get("jwt_sub"), Some("u-1"));
    }

    #[test]
    fn plugin_variable_names() {
        assert!(is_plugin_variable("consumer"));
        assert!(is_plugin_variable("jwt_sub"));
        assert!(!is_plugin_variable("jwt_"));
        assert!(!is_plugin_variable("consumers"));
    }
}
