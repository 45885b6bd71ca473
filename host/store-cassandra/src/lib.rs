//! Distributed storage backend of Vessel: Cassandra or ScyllaDB through the `scylla` driver.
//!
//! Selected with `--store cassandra://host1,host2:9042/?replication=...&consistency=...`
//! (options in [`config`]). One Vessel keyspace is one CQL keyspace; names are quoted, so they
//! keep their case.
//!
//! # Tables, and where they differ from Capillaries
//!
//! The layout follows Capillaries (data table `<name>_<run>` keyed by `rowid`, index tables
//! `(key, rowid)`, `wf_*` workflow tables), with these changes (the CQL is in [`schema`]):
//!
//! * **Cleaning a batch does not scan the table.** Capillaries finds a failed batch's rows by
//!   reading the whole data table. Here every write first records what it is about to write in
//!   `wf_batch_writes`, partitioned by (table, batch): the range of row ids and the index keys.
//!   [`vessel_store::Keyspace::delete_batch`] reads that one partition and deletes exactly those
//!   rows and keys, so its cost follows the batch, not the table. The record is written
//!   before the rows, so a worker that dies halfway leaves nothing its successor cannot find.
//! * **Row ids are deterministic:** `(batch_idx << 32) | n` for the batch's n-th row, instead of
//!   random numbers. Writing a batch again writes the same rows (writes are idempotent, so the
//!   driver may retry them), two batches can never collide, and a unique-key claim whose answer
//!   was lost can tell its own earlier success (the key holds its row id) from someone else's.
//!   Row tokens are Murmur3 hashes of the row id, so the rows of a batch still spread over the
//!   whole ring and the token-range split of the next node stays even.
//! * **Lightweight transactions only where two writers must not both win:** allocating a run
//!   id, recording run properties, claiming a unique key, taking over a batch (one per batch
//!   start, in its own partition, so no two batches contend) and claiming a marker. Run, node
//!   and batch history are plain appends (Capillaries' 2026 releases moved node and batch
//!   history off LWTs after contention errors; here run history is off them too). Each event
//!   is its own row clustered by `(ts, seq)`: the writer's time in milliseconds, never going
//!   back within a process, and a per-process sequence, so events of one process keep their
//!   order and events never overwrite each other.
//! * **Data rows are written without `IF NOT EXISTS`**: deterministic row ids make a collision
//!   impossible, which saves Capillaries' Paxos round per row.
//! * Writes are prepared statements (cached per statement text), token-aware, marked
//!   idempotent where they are, and kept at most `write_concurrency` in flight per call.
//!   Batches are token ranges of `token(rowid)`, read a page at a time from the last token seen.
//! * Index keys are text partition keys; because Cassandra refuses an empty partition key, an
//!   empty key is stored as `"\u{1}"` (and a key starting with `\u{1}` gets one more).
//!
//! # Atomicity
//!
//! Cassandra has no multi-row transactions, so the storage contract is batch-granular: a call
//! that fails on a duplicate unique key removes what it wrote before returning the error, and
//! any other failure (a crash, a lost connection) may leave part of a call behind, which
//! [`vessel_store::Keyspace::delete_batch`] removes before the batch is redone. Readers of
//! a node's table only run after the node completed, so they never see a partial batch.

pub mod config;
mod data;
mod error;
pub mod schema;
mod values;
mod workflow;

pub use config::{CassandraConfig, ConfigError, TlsOptions};

use async_trait::async_trait;
use error::Ctx;
use scylla::client::caching_session::CachingSession;
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::response::PagingState;
use scylla::response::query_result::QueryResult;
use scylla::serialize::row::SerializeRow;
use scylla::statement::unprepared::Statement;
use std::ops::ControlFlow;
use std::sync::Arc;
use vessel_store::{Keyspace, Result, Storage, StoreError, validate_keyspace_name};

/// Rows per page of paged reads.
const PAGE_SIZE: i32 = 5000;

/// A Cassandra or ScyllaDB cluster holding Vessel keyspaces.
pub struct CassandraStorage {
    db: Arc<Db>,
}

/// The session and the settings every keyspace shares.
pub(crate) struct Db {
    session: CachingSession,
    cfg: CassandraConfig,
}

impl CassandraStorage {
    /// Connects to the cluster.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when no contact point answers (the message names them);
    /// [`StoreError::Backend`] for bad TLS files or rejected credentials.
    pub async fn connect(cfg: CassandraConfig) -> Result<CassandraStorage> {
        let mut policy = DefaultPolicy::builder().token_aware(true);
        if let Some(dc) = &cfg.local_dc {
            policy = policy
                .prefer_datacenter(dc.clone())
                .permit_dc_failover(false);
        }
        let profile = ExecutionProfile::builder()
            .consistency(cfg.consistency)
            .serial_consistency(Some(cfg.serial_consistency))
            .request_timeout(Some(cfg.request_timeout))
            .load_balancing_policy(policy.build())
            .build();
        let mut builder = SessionBuilder::new()
            .known_nodes(&cfg.hosts)
            .connection_timeout(cfg.connect_timeout)
            .default_execution_profile_handle(profile.into_handle());
        if let (Some(user), Some(password)) = (&cfg.user, &cfg.password) {
            builder = builder.user(user, password);
        }
        if let Some(tls) = &cfg.tls {
            builder = builder.tls_context(Some(tls_context(tls)?));
        }
        let session = builder.build().await.map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot connect to Cassandra at {}: {e}",
                cfg.display()
            ))
        })?;
        tracing::debug!(store = %cfg.display(), "connected");
        Ok(CassandraStorage {
            db: Arc::new(Db {
                session: CachingSession::from(session, 4096),
                cfg,
            }),
        })
    }

    /// Connects to the cluster a URL names (see [`config`]).
    ///
    /// # Errors
    /// A bad URL ([`StoreError::Backend`] with the URL's complaint), or as
    /// [`CassandraStorage::connect`].
    pub async fn open(url: &str) -> Result<CassandraStorage> {
        let cfg = CassandraConfig::from_url(url).map_err(|e| StoreError::Backend(e.to_string()))?;
        Self::connect(cfg).await
    }

    /// The settings in use.
    pub fn config(&self) -> &CassandraConfig {
        &self.db.cfg
    }
}

fn tls_context(tls: &TlsOptions) -> Result<openssl::ssl::SslContext> {
    use openssl::ssl::{SslContextBuilder, SslFiletype, SslMethod, SslVerifyMode};
    let bad = |what: String| {
        move |e: openssl::error::ErrorStack| {
            StoreError::Backend(format!("TLS settings: {what}: {e}"))
        }
    };
    let mut b = SslContextBuilder::new(SslMethod::tls_client())
        .map_err(bad("cannot make a TLS context".into()))?;
    match &tls.ca {
        Some(ca) => b
            .set_ca_file(ca)
            .map_err(bad(format!("cannot read tls_ca {}", ca.display())))?,
        None => b.set_default_verify_paths().map_err(bad(
            "cannot load the system's certificate authorities".into(),
        ))?,
    }
    if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
        b.set_certificate_chain_file(cert)
            .map_err(bad(format!("cannot read tls_cert {}", cert.display())))?;
        b.set_private_key_file(key, SslFiletype::PEM)
            .map_err(bad(format!("cannot read tls_key {}", key.display())))?;
        b.check_private_key()
            .map_err(bad("tls_key does not belong to tls_cert".into()))?;
    }
    b.set_verify(if tls.verify {
        SslVerifyMode::PEER
    } else {
        SslVerifyMode::NONE
    });
    Ok(b.build())
}

impl Db {
    /// Runs a driver call with a limit of its own. The driver bounds each request by
    /// `request_timeout`, but not the preparation of a statement (a connection that stops
    /// answering during a prepare would hold the caller forever), and a call may prepare and
    /// then execute; so every call gets twice the request limit, and a call over it is
    /// [`StoreError::Unavailable`], which the engine retries.
    pub(crate) async fn guard<T>(
        &self,
        ctx: &Ctx<'_>,
        call: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let limit = self.cfg.request_timeout * 2;
        match tokio::time::timeout(limit, call).await {
            Ok(r) => r,
            Err(_) => Err(StoreError::Unavailable(format!(
                "{}: no answer within {} ms",
                ctx.what,
                limit.as_millis()
            ))),
        }
    }

    /// Runs one statement and returns its result (one page: for statements that return at
    /// most a bounded number of rows).
    pub(crate) async fn exec(
        &self,
        ctx: &Ctx<'_>,
        stmt: Statement,
        values: impl SerializeRow,
    ) -> Result<QueryResult> {
        self.guard(ctx, async {
            self.session
                .execute_unpaged(stmt, values)
                .await
                .map_err(|e| error::exec(ctx, &e))
        })
        .await
    }

    /// Runs one statement given as text (not idempotent: the driver does not retry it after
    /// a timeout).
    pub(crate) async fn run(
        &self,
        ctx: &Ctx<'_>,
        cql: impl Into<String>,
        values: impl SerializeRow,
    ) -> Result<QueryResult> {
        self.exec(ctx, Statement::new(cql.into()), values).await
    }

    /// Runs an idempotent statement: the driver may retry it.
    pub(crate) async fn run_idempotent(
        &self,
        ctx: &Ctx<'_>,
        cql: impl Into<String>,
        values: impl SerializeRow,
    ) -> Result<QueryResult> {
        let mut stmt = Statement::new(cql.into());
        stmt.set_is_idempotent(true);
        self.exec(ctx, stmt, values).await
    }

    /// Every row a read returns, page by page, decoded as `R`.
    pub(crate) async fn rows<R>(
        &self,
        ctx: &Ctx<'_>,
        cql: impl Into<String>,
        values: impl SerializeRow,
    ) -> Result<Vec<R>>
    where
        R: for<'f, 'm> scylla::deserialize::row::DeserializeRow<'f, 'm>,
    {
        let mut stmt = Statement::new(cql.into());
        stmt.set_is_idempotent(true);
        stmt.set_page_size(PAGE_SIZE);
        let mut state = PagingState::start();
        let mut out = Vec::new();
        loop {
            let (res, paging) = self
                .guard(ctx, async {
                    self.session
                        .execute_single_page(stmt.clone(), &values, state)
                        .await
                        .map_err(|e| error::exec(ctx, &e))
                })
                .await?;
            let rows = res
                .into_rows_result()
                .map_err(|e| error::shape(ctx.what, e))?;
            for r in rows.rows::<R>().map_err(|e| error::shape(ctx.what, e))? {
                out.push(r.map_err(|e| error::shape(ctx.what, e))?);
            }
            match paging.into_paging_control_flow() {
                ControlFlow::Break(()) => return Ok(out),
                ControlFlow::Continue(next) => state = next,
            }
        }
    }

    /// Names of the tables of keyspace `name`.
    pub(crate) async fn tables_of(&self, name: &str) -> Result<Vec<String>> {
        let what = format!("reading the tables of keyspace '{name}'");
        let ctx = Ctx {
            what: &what,
            table: None,
        };
        let found: Vec<(String,)> = self
            .rows(
                &ctx,
                "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?",
                (name,),
            )
            .await?;
        Ok(found.into_iter().map(|(t,)| t).collect())
    }
}

#[async_trait]
impl Storage for CassandraStorage {
    fn backend(&self) -> &'static str {
        "cassandra"
    }

    async fn list_keyspaces(&self) -> Result<Vec<String>> {
        let ctx = Ctx {
            what: "reading the list of keyspaces",
            table: None,
        };
        // A keyspace is Vessel's when it has the run counter table; other keyspaces of the
        // cluster are not listed.
        let tables: Vec<(String, String)> = self
            .db
            .rows(
                &ctx,
                "SELECT keyspace_name, table_name FROM system_schema.tables",
                (),
            )
            .await?;
        let mut out: Vec<String> = tables
            .into_iter()
            .filter(|(ks, t)| t == schema::WORKFLOW_TABLES[0] && !ks.starts_with("system"))
            .map(|(ks, _)| ks)
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    async fn open_keyspace(&self, name: &str, create: bool) -> Result<Arc<dyn Keyspace>> {
        validate_keyspace_name(name)?;
        let present = self.db.tables_of(name).await?;
        let complete = schema::WORKFLOW_TABLES
            .iter()
            .all(|t| present.iter().any(|p| p == t));
        if !complete {
            if !create && !present.iter().any(|p| p == schema::WORKFLOW_TABLES[0]) {
                return Err(StoreError::NoSuchKeyspace(name.to_string()));
            }
            let what = format!("creating keyspace '{name}'");
            let ctx = Ctx {
                what: &what,
                table: None,
            };
            self.db
                .run(
                    &ctx,
                    schema::keyspace_cql(name, &self.db.cfg.replication),
                    (),
                )
                .await?;
            for cql in schema::workflow_cql(name) {
                self.db.run(&ctx, cql, ()).await?;
            }
            self.db
                .run(
                    &ctx,
                    format!(
                        "INSERT INTO {}.wf_run_counter (ks, last_run) VALUES (?, 0) IF NOT EXISTS",
                        schema::quote(name)
                    ),
                    (name,),
                )
                .await?;
        }
        Ok(Arc::new(workflow::CassKeyspace::new(self.db.clone(), name)))
    }

    async fn drop_keyspace(&self, name: &str) -> Result<()> {
        validate_keyspace_name(name)?;
        let what = format!("dropping keyspace '{name}'");
        let ctx = Ctx {
            what: &what,
            table: None,
        };
        self.db
            .run(
                &ctx,
                format!("DROP KEYSPACE IF EXISTS {}", schema::quote(name)),
                (),
            )
            .await?;
        Ok(())
    }
}
