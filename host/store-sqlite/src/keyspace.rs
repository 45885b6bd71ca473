//! One keyspace: its connection pool, write serialisation and the async [`Keyspace`] impl.

use crate::pool::{Pool, open_connection};
use crate::sql::{db_err, quote};
use crate::{data, workflow};
use async_trait::async_trait;
use rusqlite::{Connection, Transaction, TransactionBehavior};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vessel_core::{DateTime, RowSet, Schema};
use vessel_store::{
    BatchEvent, BatchIdx, IndexRef, Keyspace, LookupResult, NodeEvent, Page, PageCursor, Result,
    RunEvent, RunId, RunProperties, RunStatus, StoreError, TableDef, TableRef, TokenRange,
    WriteMode, WriteStats,
};

/// Columns of an existing table: name → declared type (upper case).
pub(crate) struct TableInfo {
    pub(crate) columns: HashMap<String, String>,
}

/// State shared by every handle of one open keyspace.
pub(crate) struct KsInner {
    pub(crate) name: String,
    pub(crate) pool: Pool,
    /// Serialises this process's write transactions. SQLite admits one writer per file anyway;
    /// queueing on a mutex wakes the next writer as soon as the previous one commits, where
    /// waiting in SQLite's busy handler would sleep and poll. Other processes still wait on the
    /// file lock (the busy timeout).
    write_lock: Mutex<()>,
    /// Columns of tables seen so far. Tables are created once per run and never altered or
    /// dropped on their own (only with the whole keyspace), so entries never go stale; missing
    /// tables are not cached because another worker may create them.
    tables: Mutex<HashMap<String, Arc<TableInfo>>>,
}

impl KsInner {
    /// Opens (or with `create`, creates) the keyspace file and its workflow tables.
    ///
    /// Runs blocking SQLite work: call it from a blocking thread.
    pub(crate) fn open(
        name: &str,
        path: PathBuf,
        busy_timeout: Duration,
        create: bool,
    ) -> Result<KsInner> {
        if !create && !path.exists() {
            return Err(StoreError::NoSuchKeyspace(name.to_string()));
        }
        let mut conn = match open_connection(&path, busy_timeout, create) {
            Err(StoreError::Backend(_) | StoreError::Environment(_))
                if !create && !path.exists() =>
            {
                return Err(StoreError::NoSuchKeyspace(name.to_string()));
            }
            other => other?,
        };
        // Also for `create == false`: the file may have just been created by another process
        // that has not yet created the tables (every statement is IF NOT EXISTS).
        workflow::create_workflow_tables(name, &mut conn)?;
        Ok(KsInner {
            name: name.to_string(),
            pool: Pool::new(name, path, busy_timeout, conn),
            write_lock: Mutex::new(()),
            tables: Mutex::new(HashMap::new()),
        })
    }

    /// Runs `f` in an IMMEDIATE transaction and commits it if `f` succeeds (rolls back
    /// otherwise).
    ///
    /// IMMEDIATE takes the file's write lock up front, so a transaction never has to upgrade a
    /// read snapshot to a write lock midway — the upgrade SQLite cannot wait for, which fails
    /// at once with SQLITE_BUSY when another process committed in between.
    pub(crate) fn write_tx<T>(
        &self,
        conn: &mut Connection,
        what: &str,
        f: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let _guard = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        // Data operations name the keyspace already (see `ctx`); workflow ones do not.
        let what = if what.contains(" in keyspace '") {
            what.to_string()
        } else {
            format!("{what} in keyspace '{}'", self.name)
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err(&what))?;
        let out = f(&tx)?;
        tx.commit()
            .map_err(db_err(format_args!("{what} (commit)")))?;
        Ok(out)
    }

    /// Columns of table `name`.
    ///
    /// # Errors
    /// [`StoreError::NoSuchTable`] when it does not exist.
    pub(crate) fn table_info(&self, conn: &Connection, name: &str) -> Result<Arc<TableInfo>> {
        if let Some(t) = self.lock_tables().get(name) {
            return Ok(t.clone());
        }
        let what = || {
            format!(
                "reading the columns of table '{name}' in keyspace '{}'",
                self.name
            )
        };
        let mut stmt = conn
            .prepare_cached("SELECT name, type FROM pragma_table_info(?1)")
            .map_err(db_err(what()))?;
        let columns = stmt
            .query_map([name], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?.to_ascii_uppercase(),
                ))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<HashMap<_, _>>>())
            .map_err(db_err(what()))?;
        if columns.is_empty() {
            return Err(StoreError::NoSuchTable(name.to_string()));
        }
        let info = Arc::new(TableInfo { columns });
        self.lock_tables().insert(name.to_string(), info.clone());
        Ok(info)
    }

    fn lock_tables(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<TableInfo>>> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Message context naming a table of this keyspace.
    pub(crate) fn ctx(&self, what: &str, table: &str) -> String {
        format!("{what} table {} in keyspace '{}'", quote(table), self.name)
    }
}

/// A keyspace handle (cheap to clone through `Arc`).
pub(crate) struct SqliteKeyspace {
    pub(crate) inner: Arc<KsInner>,
}

impl SqliteKeyspace {
    /// Runs blocking SQLite work on tokio's blocking pool with a pooled connection.
    async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&KsInner, &mut Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.pool.get()?;
            f(&inner, &mut conn)
        })
        .await
        .map_err(|e| {
            StoreError::Backend(format!(
                "SQLite task of keyspace '{}' failed: {e}",
                self.inner.name
            ))
        })?
    }
}

#[async_trait]
impl Keyspace for SqliteKeyspace {
    fn name(&self) -> &str {
        &self.inner.name
    }

    async fn next_run_id(&self) -> Result<RunId> {
        self.blocking(workflow::next_run_id).await
    }

    async fn write_run_properties(&self, props: &RunProperties) -> Result<()> {
        let props = props.clone();
        self.blocking(move |ks, c| workflow::write_run_properties(ks, c, &props))
            .await
    }

    async fn run_properties(&self) -> Result<Vec<RunProperties>> {
        self.blocking(workflow::run_properties).await
    }

    async fn append_run_event(
        &self,
        run_id: RunId,
        status: RunStatus,
        comment: &str,
    ) -> Result<()> {
        let comment = comment.to_string();
        self.blocking(move |ks, c| workflow::append_run_event(ks, c, run_id, status, &comment))
            .await
    }

    async fn run_events(&self, run_ids: Option<&[RunId]>) -> Result<Vec<RunEvent>> {
        let run_ids = run_ids.map(<[RunId]>::to_vec);
        self.blocking(move |ks, c| workflow::run_events(ks, c, run_ids.as_deref()))
            .await
    }

    async fn append_node_event(&self, event: &NodeEvent) -> Result<()> {
        let event = event.clone();
        self.blocking(move |ks, c| workflow::append_node_event(ks, c, &event))
            .await
    }

    async fn node_events(&self, run_ids: Option<&[RunId]>) -> Result<Vec<NodeEvent>> {
        let run_ids = run_ids.map(<[RunId]>::to_vec);
        self.blocking(move |ks, c| workflow::node_events(ks, c, run_ids.as_deref()))
            .await
    }

    async fn append_batch_event(&self, event: &BatchEvent) -> Result<()> {
        let event = event.clone();
        self.blocking(move |ks, c| workflow::append_batch_event(ks, c, &event))
            .await
    }

    async fn append_batch_start(&self, event: &BatchEvent, attempt: usize) -> Result<bool> {
        let event = event.clone();
        self.blocking(move |ks, c| workflow::append_batch_start(ks, c, &event, attempt))
            .await
    }

    async fn batch_events(&self, run_id: RunId, node: Option<&str>) -> Result<Vec<BatchEvent>> {
        let node = node.map(str::to_string);
        self.blocking(move |ks, c| workflow::batch_events(ks, c, run_id, node.as_deref()))
            .await
    }

    async fn claim_marker(&self, marker: &str) -> Result<bool> {
        let marker = marker.to_string();
        self.blocking(move |ks, c| workflow::claim_marker(ks, c, &marker))
            .await
    }

    async fn marker_claimed(&self, marker: &str) -> Result<bool> {
        let marker = marker.to_string();
        self.blocking(move |_, c| workflow::marker_claimed(c, &marker))
            .await
    }

    async fn heartbeat(&self, instance: &str, alive: bool) -> Result<()> {
        let instance = instance.to_string();
        self.blocking(move |ks, c| workflow::heartbeat(ks, c, &instance, alive))
            .await
    }

    async fn last_heartbeat(&self, instance: &str) -> Result<Option<DateTime>> {
        let instance = instance.to_string();
        self.blocking(move |_, c| workflow::last_heartbeat(c, &instance))
            .await
    }

    async fn create_table(&self, table: &TableDef) -> Result<()> {
        let table = table.clone();
        self.blocking(move |ks, c| data::create_table(ks, c, &table))
            .await
    }

    async fn read_page(
        &self,
        table: &TableRef,
        fields: &Arc<Schema>,
        range: TokenRange,
        cursor: Option<PageCursor>,
        limit: usize,
    ) -> Result<Page> {
        let table = table.clone();
        let fields = fields.clone();
        self.blocking(move |ks, c| data::read_page(ks, c, &table, &fields, range, cursor, limit))
            .await
    }

    async fn write_rows(
        &self,
        table: &TableDef,
        batch_idx: BatchIdx,
        rows: &RowSet,
        keys: &[Vec<String>],
        mode: WriteMode,
    ) -> Result<WriteStats> {
        // spawn_blocking needs owned data: one copy of the batch, cheap next to the inserts.
        let table = table.clone();
        let rows = rows.clone();
        let keys = keys.to_vec();
        self.blocking(move |ks, c| data::write_rows(ks, c, &table, batch_idx, &rows, &keys, mode))
            .await
    }

    async fn write_data(
        &self,
        table: &TableDef,
        batch_idx: BatchIdx,
        rows: RowSet,
    ) -> Result<Vec<i64>> {
        let table = table.clone();
        self.blocking(move |ks, c| data::write_data(ks, c, &table, batch_idx, &rows))
            .await
    }

    async fn write_index_entries(
        &self,
        table: &TableDef,
        index: usize,
        batch_idx: BatchIdx,
        entries: Vec<(String, i64)>,
    ) -> Result<u64> {
        let table = table.clone();
        self.blocking(move |ks, c| {
            data::write_index_entries(ks, c, &table, index, batch_idx, entries)
        })
        .await
    }

    async fn lookup(
        &self,
        index: &IndexRef,
        right: &TableRef,
        keys: &[String],
        fields: &Arc<Schema>,
    ) -> Result<LookupResult> {
        let index = index.clone();
        let right = right.clone();
        let keys = keys.to_vec();
        let fields = fields.clone();
        self.blocking(move |ks, c| data::lookup(ks, c, &index, &right, &keys, &fields))
            .await
    }

    async fn delete_batch(&self, table: &TableDef, batch_idx: BatchIdx) -> Result<u64> {
        let table = table.clone();
        self.blocking(move |ks, c| data::delete_batch(ks, c, &table, batch_idx))
            .await
    }

    async fn list_tables(&self) -> Result<Vec<String>> {
        self.blocking(data::list_tables).await
    }

    async fn count_rows(&self, table: &TableRef) -> Result<u64> {
        let table = table.clone();
        self.blocking(move |ks, c| data::count_rows(ks, c, &table))
            .await
    }
}
