//! What can go wrong handing software out.

/// Why the controller cannot hand something out.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    /// The request itself is wrong (a version, an architecture, a file that is no release).
    #[error("{0}")]
    Invalid(String),
    #[error("no {0}")]
    NotFound(String),
    /// Fetching from the release site failed; the message names the URL.
    #[error("{0}")]
    Fetch(String),
    #[error("{what}: {error}")]
    Io { what: String, error: std::io::Error },
}

impl DistError {
    pub(super) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |error| Self::Io { what, error }
    }
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
