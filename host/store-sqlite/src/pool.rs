//! Connections to one keyspace file: the pragmas every connection gets and a small pool.

use crate::sql::db_err;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use vessel_store::{Result, StoreError};

/// Idle connections kept per keyspace; more are opened on demand and closed when returned.
const MAX_IDLE: usize = 16;

/// Prepared statements cached per connection: a worker touches a data table, its index tables
/// and the workflow tables, and several workers share the pool.
const STATEMENT_CACHE: usize = 128;

/// Opens a connection to a keyspace file and configures it.
///
/// * WAL: readers run while one writer commits, from any number of processes.
/// * `synchronous=NORMAL`: durable against process crashes; a power loss may drop the last
///   commits but never corrupts the file.
/// * `wal_autocheckpoint=10000`: checkpoint every ~40 MB of WAL instead of every 4 MB, so B-tree
///   pages that successive batches touch are copied back once. (Checkpointing outside the
///   write lock every few commits, or every 160 MB, measured slower or no better.)
/// * 16 MiB page cache per connection and in-memory temp storage. The cache is the process's
///   own memory and every pooled connection fills its own, so it is kept small: a batch's
///   transaction larger than the cache spills dirty pages to the WAL, which measured no slower
///   for 1M-row loads than a 64 MiB cache.
/// * No memory-mapped reads. A 4 GiB map made random rowid fetches ~25% faster, but every page
///   read through it stays in the process's resident set, so a pass over a 2 GB table made the
///   process 2 GB large. Lookups that need speed read their in-memory copy instead (see the
///   engine's lookup cache).
/// * Busy timeout: a writer waits for another process's transaction instead of failing at once.
/// * Double-quoted strings are disabled, so a misspelled quoted column is an error and never a
///   string literal.
pub(crate) fn open_connection(
    path: &Path,
    busy_timeout: Duration,
    create: bool,
) -> Result<Connection> {
    let what = || format!("opening SQLite file '{}'", path.display());
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags).map_err(db_err(what()))?;
    conn.busy_timeout(busy_timeout).map_err(db_err(what()))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA cache_size = -16384;
         PRAGMA temp_store = MEMORY;
         PRAGMA wal_autocheckpoint = 10000;
         PRAGMA mmap_size = 0;",
    )
    .map_err(db_err(what()))?;
    for cfg in [
        DbConfig::SQLITE_DBCONFIG_DQS_DML,
        DbConfig::SQLITE_DBCONFIG_DQS_DDL,
    ] {
        conn.set_db_config(cfg, false).map_err(db_err(what()))?;
    }
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// A grow-on-demand pool of connections to one keyspace file.
pub(crate) struct Pool {
    keyspace: String,
    path: PathBuf,
    busy_timeout: Duration,
    idle: Mutex<Vec<Connection>>,
    closed: AtomicBool,
}

impl Pool {
    /// A pool starting with one open connection.
    pub(crate) fn new(
        keyspace: &str,
        path: PathBuf,
        busy_timeout: Duration,
        first: Connection,
    ) -> Pool {
        Pool {
            keyspace: keyspace.to_string(),
            path,
            busy_timeout,
            idle: Mutex::new(vec![first]),
            closed: AtomicBool::new(false),
        }
    }

    /// An idle connection, or a new one.
    ///
    /// New connections never create the file: if the keyspace was dropped (by this process or
    /// another one) the caller gets [`StoreError::NoSuchKeyspace`] instead of an empty keyspace.
    pub(crate) fn get(&self) -> Result<PooledConn<'_>> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::NoSuchKeyspace(self.keyspace.clone()));
        }
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(c) => c,
            None => {
                if !self.path.exists() {
                    return Err(StoreError::NoSuchKeyspace(self.keyspace.clone()));
                }
                open_connection(&self.path, self.busy_timeout, false)?
            }
        };
        Ok(PooledConn {
            pool: self,
            conn: Some(conn),
        })
    }

    /// Closes the idle connections and makes every later [`Pool::get`] fail; connections in use
    /// are closed when they are returned.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn put(&self, conn: Connection) {
        // A connection still inside a transaction (a panic mid-write) is not reused.
        if self.closed.load(Ordering::Acquire) || !conn.is_autocommit() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }
}

/// A connection borrowed from a [`Pool`], returned to it on drop.
pub(crate) struct PooledConn<'a> {
    pool: &'a Pool,
    conn: Option<Connection>,
}

impl Deref for PooledConn<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("connection present until drop")
    }
}

impl DerefMut for PooledConn<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("connection present until drop")
    }
}

impl Drop for PooledConn<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            self.pool.put(c);
        }
    }
}
