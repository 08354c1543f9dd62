//! A secret value that never prints.
//!
//! Where a secret comes from (an environment variable, a file, a helper) is the caller's
//! business; this crate only carries the value. `Debug` and `Display` show `***`, so a
//! stray `{:?}` in a log line or an error cannot leak it.

use std::fmt;

/// A resolved secret value. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value obtained elsewhere (an environment variable, a file, a Docker config).
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself. Call only where it is sent, never where it is logged.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints() {
        let s = Secret::new("s3cret");
        assert_eq!(s.expose(), "s3cret");
        assert!(!format!("{s:?} {s}").contains("s3cret"));
    }
}
