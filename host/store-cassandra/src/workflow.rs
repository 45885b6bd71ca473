//! The keyspace: workflow state here, data tables in `data.rs`.

use crate::error::Ctx;
use crate::schema::quote;
use crate::{Db, data};
use async_trait::async_trait;
use scylla::value::CqlTimestamp;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use vessel_core::{DateTime, RowSet, Schema, time};
use vessel_store::{
    BatchEvent, BatchIdx, IndexRef, Keyspace, LookupResult, NodeEvent, NodeStatus, Page,
    PageCursor, Result, RunEvent, RunId, RunProperties, RunStatus, StoreError, TableDef, TableRef,
    TokenRange, WriteMode, WriteStats,
};

/// Optimistic attempts at allocating a run id before giving up.
const RUN_ID_ATTEMPTS: u32 = 100;

/// A Vessel keyspace in Cassandra.
pub(crate) struct CassKeyspace {
    pub(crate) db: Arc<Db>,
    pub(crate) name: String,
    /// The keyspace name, quoted for statements.
    pub(crate) q: String,
    pub(crate) rowids: data::RowIds,
}

impl CassKeyspace {
    pub(crate) fn new(db: Arc<Db>, name: &str) -> CassKeyspace {
        CassKeyspace {
            db,
            name: name.to_string(),
            q: quote(name),
            rowids: data::RowIds::default(),
        }
    }

    pub(crate) fn what(&self, doing: &str) -> String {
        format!("{doing} in keyspace '{}'", self.name)
    }
}

/// The time and sequence of a new event: milliseconds that never go back within this process,
/// and a sequence whose high bits are random per process (so two processes writing in the same
/// millisecond do not overwrite each other) and whose low bits count events.
fn event_stamp() -> (CqlTimestamp, i64) {
    static LAST_MS: AtomicI64 = AtomicI64::new(i64::MIN);
    static SEQ: AtomicI64 = AtomicI64::new(0);
    static PREFIX: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let prefix = *PREFIX.get_or_init(|| i64::from(rand::random::<u32>() >> 9) << 40);
    let now = time::to_millis(&time::now());
    let ms = LAST_MS.fetch_max(now, Ordering::SeqCst).max(now);
    let seq = prefix | (SEQ.fetch_add(1, Ordering::SeqCst) & ((1 << 40) - 1));
    (CqlTimestamp(ms), seq)
}

fn names(list: &str) -> Vec<String> {
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn run_status(code: i8) -> Result<RunStatus> {
    RunStatus::from_code(i64::from(code))
        .ok_or_else(|| StoreError::Backend(format!("unknown run status code {code} in storage")))
}

fn node_status(code: i8) -> Result<NodeStatus> {
    NodeStatus::from_code(i64::from(code))
        .ok_or_else(|| StoreError::Backend(format!("unknown node status code {code} in storage")))
}

fn code(c: i16) -> i8 {
    i8::try_from(c).unwrap_or(i8::MAX)
}

type BatchRow = (
    i32,
    String,
    CqlTimestamp,
    i64,
    i32,
    i32,
    i8,
    i64,
    i64,
    String,
    i64,
    String,
);

const BATCH_COLUMNS: &str = "run_id, script_node, ts, seq, batch_idx, batches_total, status, \
                             first_token, last_token, instance, thread, comment";

impl CassKeyspace {
    async fn insert_batch_event(&self, e: &BatchEvent) -> Result<()> {
        let what = self.what("recording a batch event");
        let ctx = Ctx {
            what: &what,
            table: None,
        };
        let (ts, seq) = event_stamp();
        self.db
            .run_idempotent(
                &ctx,
                format!(
                    "INSERT INTO {}.wf_batch_history ({BATCH_COLUMNS}) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    self.q
                ),
                (
                    e.run_id,
                    &e.node,
                    ts,
                    seq,
                    e.batch_idx,
                    e.batches_total,
                    code(e.status.code()),
                    e.first_token,
                    e.last_token,
                    &e.instance,
                    e.thread,
                    &e.comment,
                ),
            )
            .await?;
        Ok(())
    }
}

#[async_trait]
impl Keyspace for CassKeyspace {
    fn name(&self) -> &str {
        &self.name
    }

    async fn next_run_id(&self) -> Result<RunId> {
        let what = self.what("allocating a run id");
        let ctx = Ctx {
            what: &what,
            table: None,
        };
        let read = format!(
            "SELECT last_run FROM {}.wf_run_counter WHERE ks = ?",
            self.q
        );
        let update = format!(
            "UPDATE {}.wf_run_counter SET last_run = ? WHERE ks = ? IF last_run = ?",
            self.q
        );
        for attempt in 0..RUN_ID_ATTEMPTS {
            let got: Vec<(Option<i32>,)> = self.db.rows(&ctx, read.clone(), (&self.name,)).await?;
            let Some(last) = got.first().map(|r| r.0.unwrap_or(0)) else {
                // A keyspace whose tables were made ahead (`vessel table-cql`) has no counter
                // yet; whoever gets here first starts it at 0.
                self.db
                    .run(
                        &ctx,
                        format!(
                            "INSERT INTO {}.wf_run_counter (ks, last_run) VALUES (?, 0) \
                             IF NOT EXISTS",
                            self.q
                        ),
                        (&self.name,),
                    )
                    .await?;
                continue;
            };
            let res = self
                .db
                .run(&ctx, update.clone(), (last + 1, &self.name, last))
                .await?;
            if data::applied(&ctx, res)?.0 {
                return Ok(last + 1);
            }
            // Someone else took `last + 1`: back off a little, more each time.
            let ms = 1 + u64::from(attempt) * 2 + u64::from(rand::random::<u8>() % 8);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        Err(StoreError::Unavailable(format!(
            "{what}: {RUN_ID_ATTEMPTS} attempts lost to other writers"
        )))
    }

    async fn write_run_properties(&self, p: &RunProperties) -> Result<()> {
        let what = self.what(&format!("recording the properties of run {}", p.run_id));
        let ctx = Ctx {
            what: &what,
            table: None,
        };
        let res = self
            .db
            .run(
                &ctx,
                format!(
                    "INSERT INTO {}.wf_run_properties (run_id, start_nodes, affected_nodes, \
                     script_url, script_params_url, run_description) VALUES (?, ?, ?, ?, ?, ?) \
                     IF NOT EXISTS",
                    self.q
                ),
                (
                    p.run_id,
                    p.start_nodes.join(","),
                    p.affected_nodes.join(","),
                    &p.script_url,
                    &p.script_params_url,
                    &p.run_description,
                ),
            )
            .await?;
        if !data::applied(&ctx, res)?.0 {
            return Err(StoreError::Conflict(format!(
                "run {} of keyspace '{}' already has properties",
                p.run_id, self.name
            )));
        }
        Ok(())
    }

    async fn run_properties(&self) -> Result<Vec<RunProperties>> {
        let what = self.what("reading run properties");
        let ctx = Ctx {
            what: &what,
            table: None,
        };
        type Row = (
            i32,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<Row> = self
            .db
            .rows(
                &ctx,
                format!(
                    "SELECT run_id, start_nodes, affected_nodes, script_url, script_params_url, \
                     run_description FROM {}.wf_run_properties",
                    self.q
                ),
                (),
            )
            .await?;
        let mut out: Vec<RunProperties> = rows
            .into_iter()
            .map(|(run_id, s, a, u, pu, d)| RunProperties {
                run_id,
                start_nodes: names(&s.unwrap_or_default()),
                affected_nodes: names(&a.unwrap_or_default()),
                script_url: u.unwrap_or_default(),
                script_params_url: pu.unwrap_or_default(),
                run_description: d.unwrap_or_default(),
            })
            .collect();
        out.sort_by_key(|p| p.run_id);
        Ok(out)
    }

    async fn append_run_event(
        &self,
        run_id: RunId,
        status: RunStatus,
        comment: &str,
    ) -> Result<()> {
        let what = self.what(&format!("recording a status of run {run_id}"));
        let ctx = Ctx {
            what: &what,
            table: None,
        };
        let (ts, seq) = event_stamp();
        self.db
            .run_idempotent(
                &ctx,
                format!(
                    "INSERT INTO {}.wf_run_history (run_id, ts, seq, status, comment) \
                     VALUES (?, ?, ?, ?, ?)",
                    self.q
                ),
                (run_id, ts, seq, code(status.code()), comment),
            )
            .await?;
        Ok(())
    }

    async fn run_events(&self, run_ids: Option<&[RunId]>) -> Result<Vec<RunEvent>> {
        let what = self.what("reading run history");
        let ctx = Ctx {
            what: &what,
            table: None,
        };
        let select = format!(
            "SELECT run_id, ts, seq, status, comment FROM {}.wf_run_history",
            self.q
        );
        type Row = (i32, CqlTimestamp, i64, i8, Option<String>);
        let rows: Vec<Row> = match run_ids {
            None => self.db.rows(&ctx, select, ()).await?,
            Some(ids) => {
                self.db
                    .rows(&ctx, format!("{select} WHERE run_id IN ?"), (ids.to_vec(),))
                    .await?
            }
        };
        let mut rows: Vec<(i64, i64, RunEvent)> = rows
            .into_iter()
            .map(|(run_id, ts, seq, status, comment)| {
                Ok((
                    ts.0,
                    seq,
                    RunEvent {
                        ts: time::from_millis(ts.0),
                        run_id,
                        status: run_status(status)?,
                        comment: comment.unwrap_or_default(),
                    },
                ))
            })
            .collect::<Result<_>>()?;
        rows.sort_by_key(|(ts, seq, _)| (*ts, *seq));
        Ok(rows.into_iter().map(|r| r.2).collect())
    }

    async fn append_node_event(&self, e: &NodeEvent) -> Result<()> {
        let what = self.what(&format!("recording a status of node '{}'", e.node));
        let ctx = Ctx {
            what: &what,
            table: None,
        };
        let (ts, seq) = event_stamp();
        self.db
            .run_idempotent(
                &ctx,
                format!(
                    "INSERT INTO {}.wf_node_history (run_id, ts, seq, script_node, \
                     written_by_batch_idx, status, comment) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    self.q
                ),
                (
                    e.run_id,
                    ts,
                    seq,
                    &e.node,
                    e.written_by_batch_idx,
                    code(e.status.code()),
                    &e.comment,
                ),
            )
            .await?;
        Ok(())
    }

    async fn node_events(&self, run_ids: Option<&[RunId]>) -> Result<Vec<NodeEvent>> {
        let what = self.what("reading node history");
        let ctx = Ctx {
            what: &what,
            table: None,
        };
        let select = format!(
            "SELECT run_id, ts, seq, script_node, written_by_batch_idx, status, comment \
             FROM {}.wf_node_history",
            self.q
        );
        type Row = (i32, CqlTimestamp, i64, String, i32, i8, Option<String>);
        let rows: Vec<Row> = match run_ids {
            None => self.db.rows(&ctx, select, ()).await?,
            Some(ids) => {
                self.db
                    .rows(&ctx, format!("{select} WHERE run_id IN ?"), (ids.to_vec(),))
                    .await?
            }
        };
        let mut rows: Vec<(i64, i64, NodeEvent)> = rows
            .into_iter()
            .map(|(run_id, ts, seq, node, by, status, comment)| {
                Ok((
                    ts.0,
                    seq,
                    NodeEvent {
                        ts: time::from_millis(ts.0),
                        run_id,
                        node,
                        written_by_batch_idx: by,
                        status: node_status(status)?,
                        comment: comment.unwrap_or_default(),
                    },
                ))
            })
            .collect::<Result<_>>()?;
        rows.sort_by_key(|(ts, seq, _)| (*ts, *seq));
        Ok(rows.into_iter().map(|r| r.2).collect())
    }

    async fn append_batch_event(&self, e: &BatchEvent) -> Result<()> {
        self.insert_batch_event(e).await
    }

    async fn batch_events(&self, run_id: RunId, node: Option<&str>) -> Result<Vec<BatchEvent>> {
        let what = self.what(&format!("reading batch history of run {run_id}"));
        let ctx = Ctx {
            what: &what,
            table: None,
        };
        let select = format!(
            "SELECT {BATCH_COLUMNS} FROM {}.wf_batch_history WHERE run_id = ?",
            self.q
        );
        let rows: Vec<BatchRow> = match node {
            None => self.db.rows(&ctx, select, (run_id,)).await?,
            Some(n) => {
                self.db
                    .rows(&ctx, format!("{select} AND script_node = ?"), (run_id, n))
                    .await?
            }
        };
        let mut rows: Vec<(i64, i64, BatchEvent)> = rows
            .into_iter()
            .map(|r| {
                let (run_id, node, ts, seq, batch_idx, total, status, first, last, inst, th, c) = r;
                Ok((
                    ts.0,
                    seq,
                    BatchEvent {
                        ts: time::from_millis(ts.0),
                        run_id,
                        node,
                        batch_idx,
                        batches_total: total,
                        status: node_status(status)?,
                        first_token: first,
                        last_token: last,
                        instance: inst,
                        thread: th,
                        comment: c,
                    },
                ))
            })
            .collect::<Result<_>>()?;
        rows.sort_by_key(|(ts, seq, _)| (*ts, *seq));
        Ok(rows.into_iter().map(|r| r.2).collect())
    }

    async fn append_batch_start(&self, e: &BatchEvent, attempt: usize) -> Result<bool> {
        let what = self.what(&format!(
            "taking batch {} of node '{}' of run {}",
            e.batch_idx, e.node, e.run_id
        ));
        let ctx = Ctx {
            what: &what,
            table: None,
        };
        let attempt = i32::try_from(attempt)
            .map_err(|_| StoreError::Backend(format!("{what}: attempt {attempt} is too large")))?;
        let starts: Vec<(i32,)> = self
            .db
            .rows(
                &ctx,
                format!(
                    "SELECT attempt FROM {}.wf_batch_starts \
                     WHERE run_id = ? AND script_node = ? AND batch_idx = ?",
                    self.q
                ),
                (e.run_id, &e.node, e.batch_idx),
            )
            .await?;
        if starts.len() != attempt as usize {
            return Ok(false);
        }
        // Exactly one of the workers that saw `attempt` starts records the next one.
        let res = self
            .db
            .run(
                &ctx,
                format!(
                    "INSERT INTO {}.wf_batch_starts (run_id, script_node, batch_idx, attempt, \
                     instance, thread) VALUES (?, ?, ?, ?, ?, ?) IF NOT EXISTS",
                    self.q
                ),
                (
                    e.run_id,
                    &e.node,
                    e.batch_idx,
                    attempt,
                    &e.instance,
                    e.thread,
                ),
            )
            .await?;
        let (applied, existing) = data::applied(&ctx, res)?;
        // A lost answer retried by this same worker slot finds its own record.
        let mine = existing.is_some_and(|row| {
            data::column_text(&row, "instance").as_deref() == Some(e.instance.as_str())
                && data::column_i64(&row, "thread") == Some(e.thread)
        });
        if !applied && !mine {
            return Ok(false);
        }
        self.insert_batch_event(e).await?;
        Ok(true)
    }

    async fn claim_marker(&self, marker: &str) -> Result<bool> {
        let what = self.what(&format!("claiming '{marker}'"));
        let ctx = Ctx {
            what: &what,
            table: None,
        };
        let res = self
            .db
            .run(
                &ctx,
                format!(
                    "INSERT INTO {}.wf_markers (marker, claimed_at) VALUES (?, ?) IF NOT EXISTS",
                    self.q
                ),
                (marker, event_stamp().0),
            )
            .await?;
        Ok(data::applied(&ctx, res)?.0)
    }

    async fn marker_claimed(&self, marker: &str) -> Result<bool> {
        let what = self.what(&format!("reading '{marker}'"));
        let ctx = Ctx {
            what: &what,
            table: None,
        };
        let got: Vec<(String,)> = self
            .db
            .rows(
                &ctx,
                format!("SELECT marker FROM {}.wf_markers WHERE marker = ?", self.q),
                (marker,),
            )
            .await?;
        Ok(!got.is_empty())
    }

    async fn heartbeat(&self, instance: &str, alive: bool) -> Result<()> {
        let what = self.what("renewing a worker lease");
        let ctx = Ctx {
            what: &what,
            table: None,
        };
        if alive {
            self.db
                .run_idempotent(
                    &ctx,
                    format!(
                        "INSERT INTO {}.wf_leases (instance, renewed) VALUES (?, ?)",
                        self.q
                    ),
                    (instance, event_stamp().0),
                )
                .await?;
        } else {
            self.db
                .run_idempotent(
                    &ctx,
                    format!("DELETE FROM {}.wf_leases WHERE instance = ?", self.q),
                    (instance,),
                )
                .await?;
        }
        Ok(())
    }

    async fn last_heartbeat(&self, instance: &str) -> Result<Option<DateTime>> {
        let what = self.what("reading a worker lease");
        let ctx = Ctx {
            what: &what,
            table: None,
        };
        let got: Vec<(Option<CqlTimestamp>,)> = self
            .db
            .rows(
                &ctx,
                format!(
                    "SELECT renewed FROM {}.wf_leases WHERE instance = ?",
                    self.q
                ),
                (instance,),
            )
            .await?;
        Ok(got
            .first()
            .and_then(|r| r.0)
            .map(|ts| time::from_millis(ts.0)))
    }

    async fn create_table(&self, table: &TableDef) -> Result<()> {
        data::create_table(self, table).await
    }

    async fn read_page(
        &self,
        table: &TableRef,
        fields: &Arc<Schema>,
        range: TokenRange,
        cursor: Option<PageCursor>,
        limit: usize,
    ) -> Result<Page> {
        data::read_page(self, table, fields, range, cursor, limit).await
    }

    async fn write_rows(
        &self,
        table: &TableDef,
        batch_idx: BatchIdx,
        rows: &RowSet,
        keys: &[Vec<String>],
        mode: WriteMode,
    ) -> Result<WriteStats> {
        data::write_rows(self, table, batch_idx, rows, keys, mode).await
    }

    async fn write_data(
        &self,
        table: &TableDef,
        batch_idx: BatchIdx,
        rows: RowSet,
    ) -> Result<Vec<i64>> {
        data::write_data(self, table, batch_idx, &rows).await
    }

    async fn write_index_entries(
        &self,
        table: &TableDef,
        index: usize,
        batch_idx: BatchIdx,
        entries: Vec<(String, i64)>,
    ) -> Result<u64> {
        data::write_index_entries(self, table, index, batch_idx, entries).await
    }

    async fn lookup(
        &self,
        index: &IndexRef,
        right: &TableRef,
        keys: &[String],
        fields: &Arc<Schema>,
    ) -> Result<LookupResult> {
        data::lookup(self, index, right, keys, fields).await
    }

    async fn delete_batch(&self, table: &TableDef, batch_idx: BatchIdx) -> Result<u64> {
        data::delete_batch(self, table, batch_idx).await
    }

    async fn list_tables(&self) -> Result<Vec<String>> {
        let mut out: Vec<String> = self
            .db
            .tables_of(&self.name)
            .await?
            .into_iter()
            .filter(|t| crate::schema::is_run_table(t))
            .collect();
        out.sort();
        Ok(out)
    }

    async fn count_rows(&self, table: &TableRef) -> Result<u64> {
        let name = table.full_name();
        let what = self.what(&format!("counting the rows of '{name}'"));
        let ctx = Ctx {
            what: &what,
            table: Some(&name),
        };
        let got: Vec<(i64,)> = self
            .db
            .rows(
                &ctx,
                format!("SELECT COUNT(*) FROM {}.{}", self.q, quote(&name)),
                (),
            )
            .await?;
        Ok(got.first().map_or(0, |r| u64::try_from(r.0).unwrap_or(0)))
    }
}
