//! Errors of batch processing and run management.

use vessel_queue::QueueError;
use vessel_store::StoreError;

/// Everything the engine can fail with.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The queue failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The script or params could not be loaded or are invalid: every problem, each naming
    /// file, node and field.
    #[error("{0}")]
    Script(#[from] vessel_script::ScriptErrors),
    /// Reading or writing a data file failed.
    #[error(transparent)]
    File(#[from] crate::files::FileError),
    /// An expression failed on a row.
    #[error("node '{node}', {field}: {message}")]
    Eval {
        /// Node name.
        node: String,
        /// Which expression (`w.fields.total.expression`, `w.having`, ...).
        field: String,
        /// The error.
        message: String,
    },
    /// A processor plugin failed (its message names the plugin, node and batch).
    #[error("{0}")]
    Plugin(String),
    /// A request that cannot be honoured (unknown node, run, ...).
    #[error("{0}")]
    Invalid(String),
}

impl EngineError {
    /// True when retrying later may succeed (storage or broker unavailable).
    pub fn is_transient(&self) -> bool {
        match self {
            EngineError::Store(e) => e.is_transient(),
            EngineError::Queue(QueueError::Unavailable(_)) => true,
            _ => false,
        }
    }

    /// True when the machine failed (full disk, I/O error, unwritable file) rather than the
    /// script or its data: the batch must not be recorded as failed, so that the run can be
    /// resumed once the cause is fixed.
    pub fn is_environmental(&self) -> bool {
        match self {
            EngineError::Store(e) => e.is_environmental(),
            EngineError::File(e) => e.is_environmental(),
            _ => false,
        }
    }
}

/// Result of engine operations.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
