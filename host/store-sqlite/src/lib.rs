//! Embedded storage backend of Vessel: one SQLite file per keyspace.
//!
//! [`SqliteStorage`] implements [`vessel_store::Storage`] over a data directory. Keyspace `ks`
//! lives in `<data_dir>/ks.sqlite` (plus SQLite's `-wal` and `-shm` files while it is in use);
//! listing keyspaces lists those files and dropping one deletes them. Inside a file:
//!
//! * the Capillaries workflow tables (`wf_run_counter`, `wf_run_properties`, `wf_run_history`,
//!   `wf_node_history`, `wf_batch_history`) plus `wf_markers`, created with the keyspace;
//! * per run, the data table `<name>_<run %05d>` keyed by a random rowid that is also the row's
//!   token, so a batch's token range is a range scan of the table's B-tree;
//! * per run, one table per index, `<index>_<run %05d>` (key → rowid);
//! * on every data and index table an index on `batch_idx`, so that cleaning up a crashed batch
//!   touches only that batch's rows.
//!
//! Values keep their exact types: `float` is stored as its IEEE 754 bits in an integer (so NaN,
//! ±Inf and -0.0 survive, which SQLite's REAL does not guarantee), `decimal2` as integer cents,
//! `datetime` as UTC milliseconds, `bool` as 0/1; a table's column types say which
//! (`INTEGER_F64_BITS`, `INTEGER_CENTS`, `INTEGER_MS`, `INTEGER_BOOL`), and reading a field as another type than it was written is an
//! error. Fields may not be named `rowid` or `batch_idx`. [`Keyspace::lookup`] expects distinct
//! keys (a repeated key's rows are reported at its first position only).
//!
//! # Several workers, several processes
//!
//! Each keyspace has a small pool of connections, so workers of one process read in parallel;
//! writes of one process queue on a mutex. Several processes on one machine may share a data
//! directory (`vessel daemon` ×N): files are in WAL mode, every write is a `BEGIN IMMEDIATE`
//! transaction, and a writer waits up to the busy timeout (30 s by default) for another
//! process's transaction before failing with [`StoreError::Unavailable`], which callers
//! retry later. Run ids and markers are allocated atomically across processes. The data
//! directory must be on a local file system (SQLite's locks do not work over NFS).
//!
//! All SQLite calls run on tokio's blocking thread pool, so a tokio runtime is required.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use vessel_core::{FieldType, RowSet, Schema, Value};
//! use vessel_store::{IndexDef, Storage, TableDef, TokenRange, WriteMode};
//! use vessel_store_sqlite::SqliteStorage;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), vessel_store::StoreError> {
//! # let dir = tempfile::tempdir().unwrap();
//! let storage = SqliteStorage::open(dir.path())?;
//! let ks = storage.open_keyspace("demo", true).await?; // creates <dir>/demo.sqlite
//! let run_id = ks.next_run_id().await?;
//!
//! let schema = Arc::new(Schema::new(vec![
//!     ("id".into(), FieldType::Int),
//!     ("name".into(), FieldType::String),
//! ]));
//! let people = TableDef {
//!     name: "people".into(),
//!     run_id,
//!     schema: schema.clone(),
//!     indexes: vec![IndexDef { name: "idx_people_id".into(), unique: true }],
//! };
//! ks.create_table(&people).await?; // people_00001 and idx_people_id_00001
//!
//! let mut rows = RowSet::new(schema.clone());
//! rows.push_row(vec![Value::Int(7), Value::Str("Ada".into())]);
//! let keys = vec![vec!["7".to_string()]]; // one key list per index
//! ks.write_rows(&people, 0, &rows, &keys, WriteMode::Normal).await?;
//!
//! let page = ks
//!     .read_page(&people.table_ref(), &schema, TokenRange::ALL, None, 1000)
//!     .await?;
//! assert_eq!(page.rows.row(0), vec![Value::Int(7), Value::Str("Ada".into())]);
//! assert_eq!(storage.list_keyspaces().await?, vec!["demo".to_string()]);
//! # Ok(())
//! # }
//! ```

mod data;
mod keyspace;
mod pool;
mod sql;
mod workflow;

use async_trait::async_trait;
use keyspace::{KsInner, SqliteKeyspace};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use vessel_store::{Keyspace, Result, Storage, StoreError, validate_keyspace_name};

/// File name extension of keyspace files.
const EXTENSION: &str = "sqlite";

/// How long a writer waits for another process's transaction by default.
const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Storage in a directory of SQLite files, one per keyspace.
///
/// Open keyspaces are cached: every [`Storage::open_keyspace`] of the same name returns a
/// handle on the same connection pool.
pub struct SqliteStorage {
    dir: PathBuf,
    busy_timeout: Duration,
    open: Mutex<HashMap<String, Arc<KsInner>>>,
}

impl SqliteStorage {
    /// Storage in `data_dir`. The directory is created with the first keyspace, so that a
    /// command that fails before writing anything (a missing script, say) leaves nothing
    /// behind.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when `data_dir` exists and is not a directory.
    pub fn open(data_dir: impl AsRef<Path>) -> Result<SqliteStorage> {
        let dir = data_dir.as_ref().to_path_buf();
        if dir.exists() && !dir.is_dir() {
            return Err(StoreError::Backend(format!(
                "the data directory '{}' is a file; give a directory",
                dir.display()
            )));
        }
        Ok(SqliteStorage {
            dir,
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Sets how long a write waits for another process's transaction before failing with
    /// [`StoreError::Unavailable`] (30 s by default). Applies to keyspaces opened afterwards.
    pub fn with_busy_timeout(mut self, timeout: Duration) -> SqliteStorage {
        self.busy_timeout = timeout;
        self
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the SQLite file of keyspace `name` (which may not exist).
    pub fn keyspace_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.{EXTENSION}"))
    }

    fn lock_open(&self) -> MutexGuard<'_, HashMap<String, Arc<KsInner>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStorage")
            .field("dir", &self.dir)
            .field("busy_timeout", &self.busy_timeout)
            .finish_non_exhaustive()
    }
}

fn join_error(e: tokio::task::JoinError) -> StoreError {
    StoreError::Backend(format!("SQLite task failed: {e}"))
}

#[async_trait]
impl Storage for SqliteStorage {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn list_keyspaces(&self) -> Result<Vec<String>> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            if !dir.exists() {
                return Ok(Vec::new());
            }
            let entries = std::fs::read_dir(&dir).map_err(|e| {
                StoreError::Backend(format!(
                    "cannot list the data directory '{}': {e}",
                    dir.display()
                ))
            })?;
            let mut names = Vec::new();
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().and_then(|e| e.to_str()) != Some(EXTENSION) {
                    continue;
                }
                if let Some(stem) = path.file_stem().and_then(|s| s.to_str())
                    && validate_keyspace_name(stem).is_ok()
                {
                    names.push(stem.to_string());
                }
            }
            names.sort_unstable();
            Ok(names)
        })
        .await
        .map_err(join_error)?
    }

    async fn open_keyspace(&self, name: &str, create: bool) -> Result<Arc<dyn Keyspace>> {
        validate_keyspace_name(name)?;
        let path = self.keyspace_path(name);
        {
            let mut open = self.lock_open();
            if let Some(inner) = open.get(name) {
                if path.exists() {
                    return Ok(Arc::new(SqliteKeyspace {
                        inner: inner.clone(),
                    }));
                }
                // Dropped by another process: forget the stale connections.
                inner.pool.close();
                open.remove(name);
            }
        }
        let (ks_name, timeout, dir) = (name.to_string(), self.busy_timeout, self.dir.clone());
        let inner = tokio::task::spawn_blocking(move || {
            if create {
                std::fs::create_dir_all(&dir).map_err(|e| {
                    StoreError::Backend(format!(
                        "cannot create the data directory '{}': {e}",
                        dir.display()
                    ))
                })?;
            }
            KsInner::open(&ks_name, path, timeout, create)
        })
        .await
        .map_err(join_error)??;
        tracing::debug!(keyspace = %name, create, "opened keyspace");
        // Another task may have opened it meanwhile: keep the first pool.
        let inner = self
            .lock_open()
            .entry(name.to_string())
            .or_insert_with(|| Arc::new(inner))
            .clone();
        Ok(Arc::new(SqliteKeyspace { inner }))
    }

    async fn drop_keyspace(&self, name: &str) -> Result<()> {
        validate_keyspace_name(name)?;
        if let Some(inner) = self.lock_open().remove(name) {
            // Handles still held elsewhere fail with NoSuchKeyspace from now on.
            inner.pool.close();
        }
        let path = self.keyspace_path(name);
        tokio::task::spawn_blocking(move || {
            let base = path.as_os_str().to_owned();
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let mut p = base.clone();
                p.push(suffix);
                match std::fs::remove_file(&p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(StoreError::Backend(format!(
                            "cannot delete '{}': {e}",
                            PathBuf::from(p).display()
                        )));
                    }
                }
            }
            Ok(())
        })
        .await
        .map_err(join_error)??;
        tracing::debug!(keyspace = %name, "dropped keyspace");
        Ok(())
    }
}
