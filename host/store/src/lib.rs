//! Storage traits of Vessel: keyspaces holding per-run data tables, index tables and the
//! workflow state (run counter, run properties, run / node / batch history).
//!
//! A backend implements [`Storage`] (keyspace management) and [`Keyspace`] (everything inside
//! one keyspace). The embedded default is `vessel-store-sqlite`; the distributed one is
//! `vessel-store-cassandra`. Both must pass the shared suite in `conformance`, written once as
//! generic functions over `Arc<dyn Storage>` (with the `test-support` feature, which keeps
//! test-only code out of the binaries).
//!
//! Naming follows Capillaries: the table that node output `orders` writes in run 3 is
//! `orders_00003`, and the index `idx_orders_id` of that run is `idx_orders_id_00003`
//! (see [`run_table_name`]).
//!
//! ```
//! assert_eq!(vessel_store::run_table_name("orders", 3), "orders_00003");
//! ```

#[cfg(feature = "test-support")]
pub mod conformance;
mod error;
#[cfg(feature = "test-support")]
pub mod faults;
mod model;

pub use error::StoreError;
pub use model::*;

use async_trait::async_trait;
use std::sync::Arc;
use vessel_core::{DateTime, RowSet, Schema};

/// Result of a storage operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Name of the per-run copy of a table or index: `<name>_<run_id %05d>`.
pub fn run_table_name(name: &str, run_id: RunId) -> String {
    format!("{name}_{run_id:05}")
}

/// Checks a keyspace name: `[A-Za-z0-9_]+`, at most 48 characters, not starting with `system`.
///
/// # Errors
/// [`StoreError::InvalidName`] saying what is wrong.
pub fn validate_keyspace_name(ks: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(StoreError::InvalidName {
            name: ks.to_string(),
            reason: why.to_string(),
        })
    };
    if ks.is_empty() {
        return bad("a keyspace name cannot be empty");
    }
    if ks.len() > 48 {
        return bad("a keyspace name has at most 48 characters");
    }
    if !ks.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return bad("use only letters, digits and '_'");
    }
    if ks.to_ascii_lowercase().starts_with("system") {
        return bad("names starting with 'system' are reserved");
    }
    Ok(())
}

/// A storage backend: creates, lists, opens and drops keyspaces.
#[async_trait]
pub trait Storage: Send + Sync {
    /// Short backend name for logs and errors (`sqlite`, `cassandra`).
    fn backend(&self) -> &'static str;

    /// Names of existing keyspaces, sorted.
    ///
    /// # Errors
    /// Backend failures.
    async fn list_keyspaces(&self) -> Result<Vec<String>>;

    /// Opens a keyspace, creating it and its workflow tables if `create` is set.
    ///
    /// # Errors
    /// [`StoreError::NoSuchKeyspace`] when it does not exist and `create` is false;
    /// [`StoreError::InvalidName`] for a bad name; backend failures.
    async fn open_keyspace(&self, name: &str, create: bool) -> Result<Arc<dyn Keyspace>>;

    /// Drops a keyspace and everything in it; dropping a missing keyspace is not an error.
    ///
    /// # Errors
    /// Backend failures.
    async fn drop_keyspace(&self, name: &str) -> Result<()>;
}

/// Everything inside one keyspace: workflow state and per-run data and index tables.
///
/// Workflow history tables are append-only event logs, as in Capillaries: every status change
/// is a new event, and readers aggregate events (see `vessel-engine`).
///
/// # Writes are batch-granular, not transactional
///
/// Stores without multi-row transactions (Cassandra) must fit this contract, so no write call
/// is atomic. What holds instead:
///
/// * a call refused with [`StoreError::DuplicateKey`] (or for a value that cannot be stored)
///   leaves nothing of itself behind;
/// * a call that fails otherwise, or is abandoned (its future dropped, its process killed), may
///   leave any part of its rows and index entries; [`Keyspace::delete_batch`] removes every
///   trace of the batch, without scanning the table, and the batch can then be written again
///   with the same unique keys;
/// * unique keys are claimed so that of two batches writing the same key, exactly one wins.
///
/// The engine relies on nothing more: a batch that did not finish is deleted before it is
/// redone, and readers of a table only run once the node that writes it has completed.
#[async_trait]
pub trait Keyspace: Send + Sync {
    /// The keyspace name.
    fn name(&self) -> &str;

    // ---- workflow state -------------------------------------------------------------------

    /// Allocates the next run id (the first is 1). Safe against concurrent callers, including
    /// other processes sharing the keyspace.
    ///
    /// # Errors
    /// Backend failures.
    async fn next_run_id(&self) -> Result<RunId>;

    /// Records the properties of a new run. Writing the same run twice is an error.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the run already has properties; backend failures.
    async fn write_run_properties(&self, props: &RunProperties) -> Result<()>;

    /// Properties of every run, ordered by run id.
    ///
    /// # Errors
    /// Backend failures.
    async fn run_properties(&self) -> Result<Vec<RunProperties>>;

    /// Appends a run status event.
    ///
    /// # Errors
    /// Backend failures.
    async fn append_run_event(&self, run_id: RunId, status: RunStatus, comment: &str)
    -> Result<()>;

    /// Run status events, for the given runs or all runs (`None`), ordered by time.
    ///
    /// # Errors
    /// Backend failures.
    async fn run_events(&self, run_ids: Option<&[RunId]>) -> Result<Vec<RunEvent>>;

    /// Appends a node status event.
    ///
    /// # Errors
    /// Backend failures.
    async fn append_node_event(&self, event: &NodeEvent) -> Result<()>;

    /// Node status events of the given runs (or all runs), ordered by time.
    ///
    /// # Errors
    /// Backend failures.
    async fn node_events(&self, run_ids: Option<&[RunId]>) -> Result<Vec<NodeEvent>>;

    /// Appends a batch status event.
    ///
    /// # Errors
    /// Backend failures.
    async fn append_batch_event(&self, event: &BatchEvent) -> Result<()>;

    /// Batch status events of one node of one run (or every node with `None`), ordered by time.
    ///
    /// # Errors
    /// Backend failures.
    async fn batch_events(&self, run_id: RunId, node: Option<&str>) -> Result<Vec<BatchEvent>>;

    /// Appends the start event of a batch's attempt number `attempt` (counted from 0) only if
    /// no one recorded that attempt yet, that is if the batch has exactly `attempt` start
    /// events; returns whether it was appended. This is how exactly one worker takes a batch
    /// that was delivered twice at the same time.
    ///
    /// # Errors
    /// Backend failures.
    async fn append_batch_start(&self, event: &BatchEvent, attempt: usize) -> Result<bool>;

    /// Records `marker` if no one recorded it before; returns true for the first caller only.
    /// The engine uses it so that exactly one worker publishes a node's batches.
    ///
    /// # Errors
    /// Backend failures.
    async fn claim_marker(&self, marker: &str) -> Result<bool>;

    /// Whether `marker` was claimed (by anyone).
    ///
    /// # Errors
    /// Backend failures.
    async fn marker_claimed(&self, marker: &str) -> Result<bool>;

    /// Renews the liveness lease of the worker process `instance` (`alive`), or removes it when
    /// the process leaves cleanly (`!alive`). Workers renew it while they hold batches of this
    /// keyspace, so that others can tell a batch left "started" by a dead process (its lease
    /// no longer changes) from one still in progress, without knowing where it runs.
    ///
    /// # Errors
    /// Backend failures.
    async fn heartbeat(&self, instance: &str, alive: bool) -> Result<()>;

    /// The time of `instance`'s latest lease renewal, by its own clock (`None` when it never
    /// renewed one here or left cleanly). Compare values of it over time rather than with
    /// another machine's clock.
    ///
    /// # Errors
    /// Backend failures.
    async fn last_heartbeat(&self, instance: &str) -> Result<Option<DateTime>>;

    // ---- data -----------------------------------------------------------------------------

    /// Creates a data table and its index tables for one run, if they do not exist.
    ///
    /// # Errors
    /// Backend failures.
    async fn create_table(&self, table: &TableDef) -> Result<()>;

    /// Reads up to `limit` rows of `table` whose token lies in `range`, after `cursor`
    /// (`None` = from the start of the range). Only the `fields` columns are returned, in that
    /// order. An empty page with `next == None` ends the scan.
    ///
    /// # Errors
    /// [`StoreError::NoSuchTable`]; backend failures.
    async fn read_page(
        &self,
        table: &TableRef,
        fields: &Arc<Schema>,
        range: TokenRange,
        cursor: Option<PageCursor>,
        limit: usize,
    ) -> Result<Page>;

    /// Writes rows of one batch with their index keys (see the contract above: a refused call
    /// leaves nothing, an interrupted one may leave part of itself until `delete_batch`).
    ///
    /// `keys[i][r]` is the key of row `r` for `table.indexes[i]`. In [`WriteMode::Normal`] a
    /// unique-index key that already exists for another row fails the call with
    /// [`StoreError::DuplicateKey`] and writes nothing of it. In [`WriteMode::DistinctFirst`]
    /// rows whose key of the first unique index exists are skipped.
    ///
    /// # Errors
    /// [`StoreError::DuplicateKey`]; [`StoreError::NoSuchTable`]; backend failures.
    async fn write_rows(
        &self,
        table: &TableDef,
        batch_idx: BatchIdx,
        rows: &RowSet,
        keys: &[Vec<String>],
        mode: WriteMode,
    ) -> Result<WriteStats>;

    /// Writes data rows of one batch without their index entries and returns each row's
    /// handle (its token in the SQLite backend, its row id in Cassandra), in row order, to be
    /// passed to [`Keyspace::write_index_entries`].
    ///
    /// This is the bulk path: the caller collects `(key, token)` pairs over many calls and
    /// hands them to [`Keyspace::write_index_entries`] in large sorted groups, so that an index
    /// is written in key order instead of one random position per row. A crash between the two
    /// leaves rows without entries; [`Keyspace::delete_batch`] removes both.
    ///
    /// # Errors
    /// [`StoreError::NoSuchTable`]; backend failures.
    async fn write_data(
        &self,
        table: &TableDef,
        batch_idx: BatchIdx,
        rows: RowSet,
    ) -> Result<Vec<i64>>;

    /// Writes index entries `(key, row handle)` of one batch to `table.indexes[index]`; the
    /// entries may come in any order. A key of a unique index that already exists
    /// fails the call with [`StoreError::DuplicateKey`] and writes nothing of it.
    ///
    /// # Errors
    /// [`StoreError::DuplicateKey`]; [`StoreError::NoSuchTable`]; backend failures.
    async fn write_index_entries(
        &self,
        table: &TableDef,
        index: usize,
        batch_idx: BatchIdx,
        entries: Vec<(String, i64)>,
    ) -> Result<u64>;

    /// Looks up right-side rows by index key. Returns, for every matching row, the position
    /// of its key in `keys` and the row's `fields`. Index entries whose data row is gone
    /// (orphans of a cleaned batch) are ignored.
    ///
    /// # Errors
    /// [`StoreError::NoSuchTable`]; backend failures.
    async fn lookup(
        &self,
        index: &IndexRef,
        right: &TableRef,
        keys: &[String],
        fields: &Arc<Schema>,
    ) -> Result<LookupResult>;

    /// Removes every row a batch wrote to `table`, with its index entries, so that the batch
    /// can be redone. Must not scan the whole table.
    ///
    /// # Errors
    /// Backend failures.
    async fn delete_batch(&self, table: &TableDef, batch_idx: BatchIdx) -> Result<u64>;

    /// Names of the data and index tables present in this keyspace (with run suffixes), sorted.
    ///
    /// # Errors
    /// Backend failures.
    async fn list_tables(&self) -> Result<Vec<String>>;

    /// Number of rows in a table (used by tests and `vessel history`).
    ///
    /// # Errors
    /// [`StoreError::NoSuchTable`]; backend failures.
    async fn count_rows(&self, table: &TableRef) -> Result<u64>;
}
