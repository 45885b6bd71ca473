//! Progress events, for progress bars and logs.

use std::time::Duration;

/// What a worker reports as it goes.
#[derive(Debug, Clone)]
pub enum ProgressEvent {
    /// A node's batches were published.
    NodePublished {
        /// Node name.
        node: String,
        /// Number of batches.
        batches: usize,
    },
    /// A batch finished (successfully or not).
    BatchDone {
        /// Node name.
        node: String,
        /// Batch index.
        batch_idx: i32,
        /// True on success.
        ok: bool,
        /// Rows read.
        rows_in: u64,
        /// Rows written.
        rows_out: u64,
        /// Processing time.
        elapsed: Duration,
        /// Error text on failure.
        error: Option<String>,
    },
    /// Rows processed so far inside a running batch (sent every page).
    Rows {
        /// Node name.
        node: String,
        /// Rows read since the last event.
        rows_in: u64,
    },
}

/// Receives progress events; implemented by the CLI (progress bars) and tests.
pub trait ProgressSink: Send + Sync {
    /// Called for every event, from worker tasks.
    fn event(&self, event: ProgressEvent);
}
