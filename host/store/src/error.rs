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
    /// The machine the storage lives on failed: the disk is full, an I/O error occurred, the
    /// file cannot be opened or is read-only. Nothing is wrong with the data or the script:
    /// the same work succeeds once the operator fixes the cause, so a run that meets this
    /// error must stay resumable rather than be recorded as failed.
    #[error("storage environment failure: {0}")]
    Environment(String),
    /// Any other backend failure.
    #[error("storage error: {0}")]
    Backend(String),
}

impl StoreError {
    /// True when retrying later may succeed (connection problems, lock timeouts).
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }

    /// True when the failure lies in the machine (full disk, I/O error, unopenable or
    /// read-only file) and not in the request: retrying soon will not help, but the work can
    /// be done again once the operator has fixed the cause.
    pub fn is_environmental(&self) -> bool {
        matches!(self, StoreError::Environment(_))
    }
}
