//! Plain data carried across the storage traits.

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use vessel_core::{DateTime, RowSet, Schema};

/// Run number inside a keyspace (Capillaries keeps it within int16 in messages).
pub type RunId = i32;
/// Batch number inside a node of a run.
pub type BatchIdx = i32;

/// Status of a run (`wf_run_history.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(i16)]
pub enum RunStatus {
    /// No event recorded.
    None = 0,
    /// The run was started.
    Start = 1,
    /// Every affected node reached a terminal status.
    Complete = 2,
    /// The run was stopped (or invalidated after completion).
    Stop = 3,
}

impl RunStatus {
    /// Numeric code as stored.
    pub fn code(self) -> i16 {
        self as i16
    }
    /// From a stored code.
    pub fn from_code(c: i64) -> Option<RunStatus> {
        Some(match c {
            0 => RunStatus::None,
            1 => RunStatus::Start,
            2 => RunStatus::Complete,
            3 => RunStatus::Stop,
            _ => return None,
        })
    }
    /// Lower-case name (`start`, `complete`, ...).
    pub fn name(self) -> &'static str {
        match self {
            RunStatus::None => "none",
            RunStatus::Start => "start",
            RunStatus::Complete => "complete",
            RunStatus::Stop => "stop",
        }
    }
}

/// Status of a node or a batch (`wf_node_history` / `wf_batch_history`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(i16)]
pub enum NodeStatus {
    /// No event recorded.
    None = 0,
    /// Started, not finished.
    Start = 1,
    /// Finished successfully.
    Success = 2,
    /// Finished with an error.
    Fail = 3,
    /// The run was stopped before this batch ran.
    StopReceived = 104,
}

impl NodeStatus {
    /// Numeric code as stored.
    pub fn code(self) -> i16 {
        self as i16
    }
    /// From a stored code.
    pub fn from_code(c: i64) -> Option<NodeStatus> {
        Some(match c {
            0 => NodeStatus::None,
            1 => NodeStatus::Start,
            2 => NodeStatus::Success,
            3 => NodeStatus::Fail,
            104 => NodeStatus::StopReceived,
            _ => return None,
        })
    }
    /// True for success, fail and stopreceived.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            NodeStatus::Success | NodeStatus::Fail | NodeStatus::StopReceived
        )
    }
    /// Lower-case name (`start`, `success`, `fail`, `stopreceived`).
    pub fn name(self) -> &'static str {
        match self {
            NodeStatus::None => "none",
            NodeStatus::Start => "start",
            NodeStatus::Success => "success",
            NodeStatus::Fail => "fail",
            NodeStatus::StopReceived => "stopreceived",
        }
    }
}

/// `wf_run_properties` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunProperties {
    /// Run id.
    pub run_id: RunId,
    /// Start nodes, in the order given.
    pub start_nodes: Vec<String>,
    /// Start nodes plus the nodes downstream of them that the run processes.
    pub affected_nodes: Vec<String>,
    /// Script location.
    pub script_url: String,
    /// Params location (empty when none).
    pub script_params_url: String,
    /// Free text.
    pub run_description: String,
}

/// `wf_run_history` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEvent {
    /// When it was written.
    pub ts: DateTime,
    /// Run id.
    pub run_id: RunId,
    /// New status.
    pub status: RunStatus,
    /// Free text.
    pub comment: String,
}

/// `wf_node_history` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeEvent {
    /// When it was written (set by the backend on append).
    pub ts: DateTime,
    /// Run id.
    pub run_id: RunId,
    /// Node name.
    pub node: String,
    /// Batch that wrote this event (every batch writes its own `start`).
    pub written_by_batch_idx: BatchIdx,
    /// New status.
    pub status: NodeStatus,
    /// Free text.
    pub comment: String,
}

/// `wf_batch_history` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchEvent {
    /// When it was written (set by the backend on append).
    pub ts: DateTime,
    /// Run id.
    pub run_id: RunId,
    /// Node name.
    pub node: String,
    /// Batch index.
    pub batch_idx: BatchIdx,
    /// Number of batches of this node in this run.
    pub batches_total: BatchIdx,
    /// New status.
    pub status: NodeStatus,
    /// First token of the batch range (or file index).
    pub first_token: i64,
    /// Last token of the batch range (or file index).
    pub last_token: i64,
    /// Worker process that wrote the event (`host/pid/start time`).
    pub instance: String,
    /// Worker slot inside the process.
    pub thread: i64,
    /// Statistics or error text.
    pub comment: String,
}

/// An index of a data table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexDef {
    /// Index name without run suffix (`idx_orders_id`).
    pub name: String,
    /// Unique indexes hold one row per key.
    pub unique: bool,
}

/// A data table of one run with its indexes.
#[derive(Debug, Clone, PartialEq)]
pub struct TableDef {
    /// Table name without run suffix.
    pub name: String,
    /// Run that owns this copy.
    pub run_id: RunId,
    /// Columns (besides the implicit `rowid` and `batch_idx`).
    pub schema: Arc<Schema>,
    /// Indexes, in the order keys are passed to [`crate::Keyspace::write_rows`].
    pub indexes: Vec<IndexDef>,
}

impl TableDef {
    /// Reference to the data table.
    pub fn table_ref(&self) -> TableRef {
        TableRef {
            name: self.name.clone(),
            run_id: self.run_id,
        }
    }
}

/// A data table of one run.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableRef {
    /// Table name without run suffix.
    pub name: String,
    /// Run that owns this copy.
    pub run_id: RunId,
}

impl TableRef {
    /// Name with run suffix.
    pub fn full_name(&self) -> String {
        crate::run_table_name(&self.name, self.run_id)
    }
}

/// An index table of one run.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IndexRef {
    /// Index name without run suffix.
    pub name: String,
    /// Run that owns this copy.
    pub run_id: RunId,
    /// Whether it is a unique index.
    pub unique: bool,
}

impl IndexRef {
    /// Name with run suffix.
    pub fn full_name(&self) -> String {
        crate::run_table_name(&self.name, self.run_id)
    }
}

/// Inclusive interval of row tokens that one batch owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRange {
    /// First token (inclusive).
    pub first: i64,
    /// Last token (inclusive).
    pub last: i64,
}

impl TokenRange {
    /// The whole token space.
    pub const ALL: TokenRange = TokenRange {
        first: i64::MIN,
        last: i64::MAX,
    };

    /// Cuts the token space into `n` equal contiguous intervals as Capillaries does
    /// (width = ⌊MAX/n⌋ − ⌊MIN/n⌋, the last interval ends at `i64::MAX`).
    pub fn split(n: usize) -> Vec<TokenRange> {
        let n = n.max(1) as i64;
        let width = (i64::MAX / n) as i128 - (i64::MIN / n) as i128;
        let mut out = Vec::with_capacity(n as usize);
        let mut first = i64::MIN as i128;
        for i in 0..n {
            let last = if i == n - 1 {
                i64::MAX as i128
            } else {
                first + width - 1
            };
            out.push(TokenRange {
                first: first as i64,
                last: last as i64,
            });
            first = last + 1;
        }
        out
    }
}

/// Where the next page of a scan starts: the last token returned and the row ids with that
/// token already returned (tokens of different rows can coincide in some backends).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PageCursor {
    /// Last token returned.
    pub token: i64,
    /// Row ids returned with that token.
    pub seen: Vec<i64>,
}

/// One page of a table scan.
#[derive(Debug, Clone)]
pub struct Page {
    /// Rows in the requested field order.
    pub rows: RowSet,
    /// Cursor for the next page; `None` when the range is exhausted.
    pub next: Option<PageCursor>,
}

/// How [`crate::Keyspace::write_rows`] treats unique indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Data row first; a duplicate unique key fails the write.
    Normal,
    /// The first index (unique) first; rows whose key exists are skipped (`distinct_table`).
    DistinctFirst,
}

/// What a write did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Data rows inserted.
    pub rows_written: u64,
    /// Rows skipped as duplicates (distinct mode).
    pub rows_skipped: u64,
    /// Index entries inserted.
    pub index_entries: u64,
}

/// Rows found by [`crate::Keyspace::lookup`].
#[derive(Debug, Clone)]
pub struct LookupResult {
    /// For each row of `rows`, the position of its key in the requested keys.
    pub key_pos: Vec<usize>,
    /// Matching right-side rows.
    pub rows: RowSet,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_covers_the_token_space() {
        for n in [1usize, 2, 3, 10, 1000] {
            let r = TokenRange::split(n);
            assert_eq!(r.len(), n);
            assert_eq!(r[0].first, i64::MIN);
            assert_eq!(r[n - 1].last, i64::MAX);
            for w in r.windows(2) {
                assert_eq!(w[0].last + 1, w[1].first);
            }
        }
    }
}
