//! Errors of storage operations.

/// Everything a storage backend can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A keyspace, table or index name that the backend cannot use.
    #[error("invalid name '{name}': {reason}")]
    InvalidName {
        /// The offending name.
        name: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The keyspace does not exist.
    #[error("keyspace '{0}' does not exist (start a run to create it, or check --keyspace)")]
    NoSuchKeyspace(String),
    /// The table does not exist in this keyspace.
    #[error("table '{0}' does not exist in this keyspace")]
    NoSuchTable(String),
    /// A unique index already holds this key for another row.
    #[error("duplicate key '{key}' in unique index '{index}'")]
    DuplicateKey {
        /// Index name with run suffix.
        index: String,
        /// The key, as encoded.
        key: String,
    },
    /// A write that must happen once happened already.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The backend is unreachable or busy; the operation may succeed if retried later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Any other backend failure.
    #[error("storage error: {0}")]
    Backend(String),
}

impl StoreError {
    /// True when retrying later may succeed (connection problems, lock timeouts).
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}
