//! [`StoreError`]: what went wrong with a location, naming it; the user's mistakes (a bad URL,
//! missing credentials, an object that is not there) apart from failures of the store itself.
//! Every message passes through [`redact`], so no credential can leak into a log or stats.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A location the user wrote that sluice cannot use.
    #[error("{url}: {message}")]
    BadLocation { url: String, message: String },
    /// The store cannot be set up (credentials, region, endpoint): the user's environment.
    #[error("{url}: cannot connect to object storage: {message}")]
    Config { url: String, message: String },
    #[error("{url}: no such object")]
    NotFound { url: String },
    /// The store failed after its retries (or refused the request).
    #[error("{url}: {op} failed: {message}")]
    Remote {
        url: String,
        op: &'static str,
        message: String,
    },
    #[error("{path}: {source}")]
    Local {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    pub(crate) fn remote(
        url: &impl std::fmt::Display,
        op: &'static str,
        e: impl std::fmt::Display,
    ) -> Self {
        StoreError::Remote {
            url: url.to_string(),
            op,
            message: redact(&e.to_string()),
        }
    }

    pub(crate) fn local(path: &std::path::Path, source: std::io::Error) -> Self {
        StoreError::Local {
            path: path.display().to_string(),
            source,
        }
    }

    /// Whether the object was missing (as opposed to unreadable).
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }
}

/// The credential values sluice knows of (environment and profile file), replaced by `***`
/// in `message`.
pub fn redact(message: &str) -> String {
    let mut out = message.to_string();
    for secret in crate::client::secrets() {
        if secret.len() >= 4 {
            out = out.replace(&secret, "***");
        }
    }
    out
}
