//! Data and index tables: writes with their batch record, token-range reads, lookups and
//! batch cleanup.

use crate::error::{self, Ctx};
use crate::schema::quote;
use crate::values::{check_rows, cql_value, stored_key, value_of};
use crate::workflow::CassKeyspace;
use futures::{StreamExt, TryStreamExt};
use scylla::response::query_result::QueryResult;
use scylla::serialize::row::SerializeRow;
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::unprepared::Statement;
use scylla::value::{CqlValue, Row};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use vessel_core::{RowSet, Schema};
use vessel_store::{
    BatchIdx, IndexRef, LookupResult, Page, PageCursor, Result, StoreError, TableDef, TableRef,
    TokenRange, WriteMode, WriteStats,
};

/// Largest `keys` blob of one batch record row; bigger sets of keys take several rows.
const RECORD_CHUNK_BYTES: usize = 512 * 1024;
/// Row ids per `IN` list when cleaning a batch.
const IN_CHUNK: usize = 100;
/// Row-id counters kept per keyspace before the oldest are forgotten (they are re-read from
/// the batch record when needed again).
const MAX_COUNTERS: usize = 50_000;

/// The next row number of each (table, batch) this process writes, so that consecutive calls
/// of one batch get consecutive row ids. A counter missing here is rebuilt from the batch
/// record, so forgetting one is always safe.
#[derive(Default)]
pub(crate) struct RowIds {
    next: tokio::sync::Mutex<HashMap<(String, BatchIdx), u32>>,
}

/// The row id of a batch's `n`-th row.
fn rowid(batch: BatchIdx, n: u32) -> i64 {
    (i64::from(batch) << 32) | i64::from(n)
}

/// A row as named columns.
pub(crate) type NamedRow = Vec<(String, Option<CqlValue>)>;

/// A batch record row: first row id, row count, keys.
type Record = (Option<i64>, Option<i32>, Option<Vec<u8>>);

/// A query result's `[applied]` column and, when not applied, the row that is there.
pub(crate) fn applied(ctx: &Ctx<'_>, res: QueryResult) -> Result<(bool, Option<NamedRow>)> {
    let rows = res
        .into_rows_result()
        .map_err(|e| error::shape(ctx.what, e))?;
    let names: Vec<String> = rows
        .column_specs()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let row: Row = rows
        .first_row::<Row>()
        .map_err(|e| error::shape(ctx.what, e))?;
    let applied = matches!(row.columns.first(), Some(Some(CqlValue::Boolean(true))));
    let existing = (!applied).then(|| names.into_iter().zip(row.columns).collect());
    Ok((applied, existing))
}

/// A text column of a row returned by a conditional statement.
pub(crate) fn column_text(row: &[(String, Option<CqlValue>)], name: &str) -> Option<String> {
    row.iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| match v {
            Some(CqlValue::Text(s)) => Some(s.clone()),
            _ => None,
        })
}

pub(crate) fn column_i64(row: &[(String, Option<CqlValue>)], name: &str) -> Option<i64> {
    row.iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| match v {
            Some(CqlValue::BigInt(i)) => Some(*i),
            _ => None,
        })
}

impl CassKeyspace {
    async fn prepare(
        &self,
        ctx: &Ctx<'_>,
        cql: String,
        idempotent: bool,
    ) -> Result<PreparedStatement> {
        let mut stmt = Statement::new(cql);
        stmt.set_is_idempotent(idempotent);
        self.db
            .guard(ctx, async {
                self.db
                    .session
                    .add_prepared_statement(&stmt)
                    .await
                    .map_err(|e| error::prepare(ctx, &e))
            })
            .await
    }

    async fn execute(
        &self,
        ctx: &Ctx<'_>,
        stmt: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<QueryResult> {
        self.db
            .guard(ctx, async {
                self.db
                    .session
                    .get_session()
                    .execute_unpaged(stmt, values)
                    .await
                    .map_err(|e| error::exec(ctx, &e))
            })
            .await
    }

    fn concurrency(&self) -> usize {
        self.db.cfg.write_concurrency
    }

    /// Reserves `n` consecutive row numbers of `(table, batch)`.
    async fn alloc(&self, table: &str, batch: BatchIdx, n: usize) -> Result<u32> {
        if batch < 0 {
            return Err(StoreError::Backend(format!(
                "batch index {batch} of table '{table}' is negative"
            )));
        }
        let mut map = self.rowids.next.lock().await;
        let key = (table.to_string(), batch);
        let next = match map.get(&key) {
            Some(n) => *n,
            None => {
                let what = self.what(&format!("reading the record of batch {batch} of '{table}'"));
                let ctx = Ctx {
                    what: &what,
                    table: None,
                };
                let recs: Vec<(Option<i64>, Option<i32>)> = self
                    .db
                    .rows(
                        &ctx,
                        format!(
                            "SELECT first_rowid, row_count FROM {}.wf_batch_writes \
                             WHERE tbl = ? AND batch_idx = ?",
                            self.q
                        ),
                        (table, batch),
                    )
                    .await?;
                recs.iter()
                    .filter_map(|(f, c)| Some((f.as_ref()? & 0xFFFF_FFFF) + i64::from((*c)?)))
                    .max()
                    .map_or(0, |m| u32::try_from(m).unwrap_or(u32::MAX))
            }
        };
        let end = u64::from(next) + n as u64;
        if end > u64::from(u32::MAX) {
            return Err(StoreError::Backend(format!(
                "batch {batch} of table '{table}' holds more than {} rows; use more batches",
                u32::MAX
            )));
        }
        if map.len() >= MAX_COUNTERS {
            map.clear();
        }
        map.insert(key, end as u32);
        Ok(next)
    }

    /// Records, before writing, the rows `first..first+count` and the index keys a call is
    /// about to write, so that `delete_batch` finds them. Returns the record's entries.
    async fn record(
        &self,
        table: &str,
        batch: BatchIdx,
        rows: Option<(i64, usize)>,
        keys: &[(u16, i64, &str)],
    ) -> Result<Vec<i64>> {
        let what = self.what(&format!(
            "recording the writes of batch {batch} of '{table}'"
        ));
        let ctx = Ctx {
            what: &what,
            table: None,
        };
        let mut blobs: Vec<Vec<u8>> = vec![Vec::new()];
        for (idx, rowid, key) in keys {
            let last = blobs.last_mut().expect("one blob at least");
            if last.len() + key.len() + 14 > RECORD_CHUNK_BYTES && !last.is_empty() {
                blobs.push(Vec::new());
            }
            let last = blobs.last_mut().expect("one blob at least");
            last.extend_from_slice(&idx.to_be_bytes());
            last.extend_from_slice(&rowid.to_be_bytes());
            last.extend_from_slice(&(key.len() as u32).to_be_bytes());
            last.extend_from_slice(key.as_bytes());
        }
        let insert = format!(
            "INSERT INTO {}.wf_batch_writes (tbl, batch_idx, entry, first_rowid, row_count, keys) \
             VALUES (?, ?, ?, ?, ?, ?)",
            self.q
        );
        let mut entries = Vec::with_capacity(blobs.len());
        for (i, blob) in blobs.into_iter().enumerate() {
            let entry = rand::random::<i64>();
            let (first, count) = match (i, rows) {
                (0, Some((f, c))) => (Some(f), Some(i32::try_from(c).unwrap_or(i32::MAX))),
                _ => (None, None),
            };
            self.db
                .run_idempotent(
                    &ctx,
                    insert.clone(),
                    (table, batch, entry, first, count, blob),
                )
                .await?;
            entries.push(entry);
        }
        Ok(entries)
    }

    async fn forget_record(&self, table: &str, batch: BatchIdx, entries: &[i64]) -> Result<()> {
        let what = self.what(&format!("removing a record of batch {batch} of '{table}'"));
        let ctx = Ctx {
            what: &what,
            table: None,
        };
        for e in entries {
            self.db
                .run_idempotent(
                    &ctx,
                    format!(
                        "DELETE FROM {}.wf_batch_writes WHERE tbl = ? AND batch_idx = ? AND entry = ?",
                        self.q
                    ),
                    (table, batch, *e),
                )
                .await?;
        }
        Ok(())
    }

    /// The data insert of a table, prepared (this also tells a missing table early).
    async fn data_insert(&self, def: &TableDef, ctx: &Ctx<'_>) -> Result<PreparedStatement> {
        let mut cols = vec!["rowid".to_string(), "batch_idx".to_string()];
        cols.extend(def.schema.fields().iter().map(|(n, _)| quote(n)));
        let marks = vec!["?"; cols.len()].join(", ");
        self.prepare(
            ctx,
            format!(
                "INSERT INTO {}.{} ({}) VALUES ({marks})",
                self.q,
                quote(&def.table_ref().full_name()),
                cols.join(", ")
            ),
            true,
        )
        .await
    }

    /// Writes rows `which` of `rows` with the given row ids.
    async fn insert_rows(
        &self,
        ctx: &Ctx<'_>,
        stmt: &PreparedStatement,
        batch: BatchIdx,
        rows: &RowSet,
        which: &[(usize, i64)],
    ) -> Result<()> {
        let width = rows.schema().len();
        futures::stream::iter(which.iter().copied())
            .map(|(r, id)| async move {
                let mut values = Vec::with_capacity(width + 2);
                values.push(CqlValue::BigInt(id));
                values.push(CqlValue::Int(batch));
                for c in 0..width {
                    values.push(cql_value(rows, c, r)?);
                }
                self.execute(ctx, stmt, values).await.map(|_| ())
            })
            .buffer_unordered(self.concurrency())
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// Writes non-unique index entries.
    async fn insert_entries(
        &self,
        ctx: &Ctx<'_>,
        index: &str,
        entries: Vec<(String, i64)>,
    ) -> Result<u64> {
        let stmt = self
            .prepare(
                ctx,
                format!(
                    "INSERT INTO {}.{} (key, rowid) VALUES (?, ?)",
                    self.q,
                    quote(index)
                ),
                true,
            )
            .await?;
        let n = futures::stream::iter(entries)
            .map(|(key, id)| {
                let stmt = &stmt;
                async move { self.execute(ctx, stmt, (key, id)).await.map(|_| 1u64) }
            })
            .buffer_unordered(self.concurrency())
            .try_fold(0u64, |a, b| async move { Ok(a + b) })
            .await?;
        Ok(n)
    }

    /// Claims unique keys; returns, in order, whether each is now this row's.
    async fn claim(&self, ctx: &Ctx<'_>, index: &str, keys: &[(String, i64)]) -> Result<Vec<bool>> {
        let stmt = self
            .prepare(
                ctx,
                format!(
                    "INSERT INTO {}.{} (key, rowid) VALUES (?, ?) IF NOT EXISTS",
                    self.q,
                    quote(index)
                ),
                false,
            )
            .await?;
        futures::stream::iter(keys.to_vec())
            .map(|(key, id)| {
                let stmt = &stmt;
                async move {
                    let res = self.execute(ctx, stmt, (key, id)).await?;
                    let (applied, existing) = applied(ctx, res)?;
                    // Not applied but holding our row id: our own earlier claim, whose answer
                    // was lost and retried.
                    Ok(
                        applied
                            || existing.is_some_and(|row| column_i64(&row, "rowid") == Some(id)),
                    )
                }
            })
            .buffered(self.concurrency())
            .try_collect()
            .await
    }

    /// Gives back unique keys this call claimed (only where they still hold its row ids).
    async fn release(&self, ctx: &Ctx<'_>, index: &str, keys: &[(String, i64)]) -> Result<()> {
        let stmt = self
            .prepare(
                ctx,
                format!(
                    "DELETE FROM {}.{} WHERE key = ? IF rowid = ?",
                    self.q,
                    quote(index)
                ),
                false,
            )
            .await?;
        futures::stream::iter(keys.to_vec())
            .map(|(key, id)| {
                let stmt = &stmt;
                async move { self.execute(ctx, stmt, (key, id)).await.map(|_| ()) }
            })
            .buffer_unordered(self.concurrency())
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }
}

fn index_name(def: &TableDef, i: usize) -> String {
    vessel_store::run_table_name(&def.indexes[i].name, def.run_id)
}

/// The first key repeated within one call of a unique index.
fn repeated<'a>(keys: impl Iterator<Item = &'a String>) -> Option<&'a String> {
    let mut seen = HashSet::new();
    keys.into_iter().find(|k| !seen.insert(k.as_str()))
}

pub(crate) async fn create_table(ks: &CassKeyspace, def: &TableDef) -> Result<()> {
    let name = def.table_ref().full_name();
    let what = ks.what(&format!("creating table '{name}'"));
    let ctx = Ctx {
        what: &what,
        table: None,
    };
    for cql in crate::schema::table_cql(&ks.name, def)? {
        ks.db.run(&ctx, cql, ()).await?;
    }
    Ok(())
}

/// Claims the unique keys of `rows` (positions into `keys`) for every unique index from
/// `from_index` on; on a duplicate gives back what was claimed and returns the error.
async fn claim_unique(
    ks: &CassKeyspace,
    ctx: &Ctx<'_>,
    def: &TableDef,
    keys: &[Vec<String>],
    rows: &[(usize, i64)],
    from_index: usize,
    claimed: &mut Vec<(String, Vec<(String, i64)>)>,
) -> Result<()> {
    for (i, idx) in def.indexes.iter().enumerate().skip(from_index) {
        if !idx.unique {
            continue;
        }
        let index = index_name(def, i);
        if let Some(k) = repeated(rows.iter().map(|(r, _)| &keys[i][*r])) {
            return Err(StoreError::DuplicateKey {
                index,
                key: k.clone(),
            });
        }
        let wanted: Vec<(String, i64)> = rows
            .iter()
            .map(|(r, id)| (stored_key(&keys[i][*r]), *id))
            .collect();
        let won = ks.claim(ctx, &index, &wanted).await?;
        let lost = won.iter().position(|w| !w);
        let mine: Vec<(String, i64)> = wanted
            .iter()
            .zip(&won)
            .filter(|(_, w)| **w)
            .map(|(k, _)| k.clone())
            .collect();
        claimed.push((index.clone(), mine));
        if let Some(p) = lost {
            return Err(StoreError::DuplicateKey {
                index,
                key: keys[i][rows[p].0].clone(),
            });
        }
    }
    Ok(())
}

pub(crate) async fn write_rows(
    ks: &CassKeyspace,
    def: &TableDef,
    batch: BatchIdx,
    rows: &RowSet,
    keys: &[Vec<String>],
    mode: WriteMode,
) -> Result<WriteStats> {
    let table = def.table_ref().full_name();
    let what = ks.what(&format!("writing batch {batch} to '{table}'"));
    let ctx = Ctx {
        what: &what,
        table: Some(&table),
    };
    if keys.len() != def.indexes.len() || keys.iter().any(|k| k.len() != rows.len()) {
        return Err(StoreError::Backend(format!(
            "{what}: {} key lists for {} indexes and {} rows",
            keys.len(),
            def.indexes.len(),
            rows.len()
        )));
    }
    check_rows(rows)?;
    let insert = ks.data_insert(def, &ctx).await?;
    let n = rows.len();
    if n == 0 {
        return Ok(WriteStats::default());
    }
    // Candidates: every row, or in distinct mode the first row of each first-index key.
    let candidates: Vec<usize> = match mode {
        WriteMode::Normal => (0..n).collect(),
        WriteMode::DistinctFirst => {
            let mut seen = HashSet::new();
            (0..n)
                .filter(|r| seen.insert(keys[0][*r].as_str()))
                .collect()
        }
    };
    if mode == WriteMode::Normal {
        // A key repeated inside the call fails it before anything is written.
        for (i, idx) in def.indexes.iter().enumerate() {
            if idx.unique
                && let Some(k) = repeated(keys[i].iter())
            {
                return Err(StoreError::DuplicateKey {
                    index: index_name(def, i),
                    key: k.clone(),
                });
            }
        }
    }
    let first = ks.alloc(&table, batch, n).await?;
    let ids: Vec<(usize, i64)> = candidates
        .iter()
        .map(|&r| (r, rowid(batch, first + r as u32)))
        .collect();
    let record_keys: Vec<(u16, i64, String)> = (0..def.indexes.len())
        .flat_map(|i| {
            ids.iter()
                .map(move |&(r, id)| (i as u16, id, stored_key(&keys[i][r])))
        })
        .collect();
    let borrowed: Vec<(u16, i64, &str)> = record_keys
        .iter()
        .map(|(i, id, k)| (*i, *id, k.as_str()))
        .collect();
    let entries = ks
        .record(&table, batch, Some((rowid(batch, first), n)), &borrowed)
        .await?;

    let mut claimed = Vec::new();
    let mut kept = ids.clone();
    let outcome = async {
        if mode == WriteMode::DistinctFirst && def.indexes.first().is_some_and(|i| i.unique) {
            let index = index_name(def, 0);
            let wanted: Vec<(String, i64)> = ids
                .iter()
                .map(|(r, id)| (stored_key(&keys[0][*r]), *id))
                .collect();
            let won = ks.claim(&ctx, &index, &wanted).await?;
            claimed.push((
                index,
                wanted
                    .iter()
                    .zip(&won)
                    .filter(|(_, w)| **w)
                    .map(|(k, _)| k.clone())
                    .collect(),
            ));
            kept = ids
                .iter()
                .zip(&won)
                .filter(|(_, w)| **w)
                .map(|(x, _)| *x)
                .collect();
            claim_unique(ks, &ctx, def, keys, &kept, 1, &mut claimed).await
        } else {
            claim_unique(ks, &ctx, def, keys, &kept, 0, &mut claimed).await
        }
    }
    .await;
    if let Err(e) = outcome {
        if matches!(e, StoreError::DuplicateKey { .. }) {
            // Nothing of a refused call stays.
            for (index, mine) in &claimed {
                ks.release(&ctx, index, mine).await?;
            }
            ks.forget_record(&table, batch, &entries).await?;
        }
        return Err(e);
    }
    ks.insert_rows(&ctx, &insert, batch, rows, &kept).await?;
    let mut index_entries =
        kept.len() as u64 * def.indexes.iter().filter(|i| i.unique).count() as u64;
    for (i, idx) in def.indexes.iter().enumerate() {
        if !idx.unique {
            index_entries += ks
                .insert_entries(
                    &ctx,
                    &index_name(def, i),
                    kept.iter()
                        .map(|(r, id)| (stored_key(&keys[i][*r]), *id))
                        .collect(),
                )
                .await?;
        }
    }
    Ok(WriteStats {
        rows_written: kept.len() as u64,
        rows_skipped: (n - kept.len()) as u64,
        index_entries,
    })
}

pub(crate) async fn write_data(
    ks: &CassKeyspace,
    def: &TableDef,
    batch: BatchIdx,
    rows: &RowSet,
) -> Result<Vec<i64>> {
    let table = def.table_ref().full_name();
    let what = ks.what(&format!("writing batch {batch} to '{table}'"));
    let ctx = Ctx {
        what: &what,
        table: Some(&table),
    };
    check_rows(rows)?;
    let insert = ks.data_insert(def, &ctx).await?;
    let n = rows.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    let first = ks.alloc(&table, batch, n).await?;
    let ids: Vec<(usize, i64)> = (0..n)
        .map(|r| (r, rowid(batch, first + r as u32)))
        .collect();
    ks.record(&table, batch, Some((rowid(batch, first), n)), &[])
        .await?;
    ks.insert_rows(&ctx, &insert, batch, rows, &ids).await?;
    Ok(ids.into_iter().map(|(_, id)| id).collect())
}

pub(crate) async fn write_index_entries(
    ks: &CassKeyspace,
    def: &TableDef,
    index: usize,
    batch: BatchIdx,
    entries: Vec<(String, i64)>,
) -> Result<u64> {
    let table = def.table_ref().full_name();
    let Some(idx) = def.indexes.get(index) else {
        return Err(StoreError::NoSuchTable(format!(
            "index number {index} of '{table}' (it has {})",
            def.indexes.len()
        )));
    };
    let name = index_name(def, index);
    let what = ks.what(&format!(
        "writing index entries of batch {batch} to '{name}'"
    ));
    let ctx = Ctx {
        what: &what,
        table: Some(&name),
    };
    if entries.is_empty() {
        return Ok(0);
    }
    if idx.unique
        && let Some(k) = repeated(entries.iter().map(|(k, _)| k))
    {
        return Err(StoreError::DuplicateKey {
            index: name,
            key: k.clone(),
        });
    }
    let stored: Vec<(String, i64)> = entries.iter().map(|(k, id)| (stored_key(k), *id)).collect();
    let borrowed: Vec<(u16, i64, &str)> = stored
        .iter()
        .map(|(k, id)| (index as u16, *id, k.as_str()))
        .collect();
    let rec = ks.record(&table, batch, None, &borrowed).await?;
    if idx.unique {
        let won = ks.claim(&ctx, &name, &stored).await?;
        if let Some(p) = won.iter().position(|w| !w) {
            let mine: Vec<(String, i64)> = stored
                .iter()
                .zip(&won)
                .filter(|(_, w)| **w)
                .map(|(k, _)| k.clone())
                .collect();
            ks.release(&ctx, &name, &mine).await?;
            ks.forget_record(&table, batch, &rec).await?;
            return Err(StoreError::DuplicateKey {
                index: name,
                key: entries[p].0.clone(),
            });
        }
        Ok(stored.len() as u64)
    } else {
        ks.insert_entries(&ctx, &name, stored).await
    }
}

/// The select list of `fields`, quoted.
fn select_list(fields: &Schema) -> String {
    fields
        .fields()
        .iter()
        .map(|(n, _)| quote(n))
        .collect::<Vec<_>>()
        .join(", ")
}

fn decode(fields: &Arc<Schema>, cols: Vec<Option<CqlValue>>, out: &mut RowSet) -> Result<()> {
    let mut values = Vec::with_capacity(cols.len());
    for ((name, t), v) in fields.fields().iter().zip(cols) {
        values.push(value_of(v, *t, name)?);
    }
    out.push_row(values);
    Ok(())
}

pub(crate) async fn read_page(
    ks: &CassKeyspace,
    table: &TableRef,
    fields: &Arc<Schema>,
    range: TokenRange,
    cursor: Option<PageCursor>,
    limit: usize,
) -> Result<Page> {
    let name = table.full_name();
    let what = ks.what(&format!("reading '{name}'"));
    let ctx = Ctx {
        what: &what,
        table: Some(&name),
    };
    let list = select_list(fields);
    let sep = if list.is_empty() { "" } else { ", " };
    let stmt = ks
        .prepare(
            &ctx,
            format!(
                "SELECT rowid, token(rowid){sep}{list} FROM {}.{} \
                 WHERE token(rowid) >= ? AND token(rowid) <= ? LIMIT ?",
                ks.q,
                quote(&name)
            ),
            true,
        )
        .await?;
    let limit = limit.max(1);
    let (start, seen) = match &cursor {
        Some(c) => (c.token, c.seen.clone()),
        None => (range.first, Vec::new()),
    };
    let mut ask = limit;
    loop {
        let res = ks
            .execute(
                &ctx,
                &stmt,
                (start, range.last, i32::try_from(ask).unwrap_or(i32::MAX)),
            )
            .await?;
        let rows = res.into_rows_result().map_err(|e| error::shape(&what, e))?;
        let mut got: Vec<(i64, i64, Vec<Option<CqlValue>>)> = Vec::new();
        for r in rows.rows::<Row>().map_err(|e| error::shape(&what, e))? {
            let mut cols = r.map_err(|e| error::shape(&what, e))?.columns;
            let rest = cols.split_off(2);
            let id = match cols[0] {
                Some(CqlValue::BigInt(i)) => i,
                _ => return Err(error::shape(&what, "rowid is not a bigint")),
            };
            let token = match cols[1] {
                Some(CqlValue::BigInt(t)) => t,
                _ => return Err(error::shape(&what, "token is not a bigint")),
            };
            got.push((id, token, rest));
        }
        let full = got.len() >= ask;
        let fresh: Vec<_> = got
            .into_iter()
            .filter(|(id, t, _)| !(cursor.is_some() && *t == start && seen.contains(id)))
            .collect();
        if fresh.is_empty() && full {
            // Every row returned was seen already (many rows share the token): ask for more.
            ask = ask.saturating_mul(2);
            continue;
        }
        let mut out = RowSet::with_capacity(fields.clone(), fresh.len());
        let next = match fresh.last() {
            None => None,
            Some(_) if !full => None,
            Some(&(_, last_token, _)) => {
                let mut same: Vec<i64> = if last_token == start {
                    seen.clone()
                } else {
                    Vec::new()
                };
                same.extend(fresh.iter().filter(|r| r.1 == last_token).map(|r| r.0));
                Some(PageCursor {
                    token: last_token,
                    seen: same,
                })
            }
        };
        for (_, _, cols) in fresh {
            decode(fields, cols, &mut out)?;
        }
        return Ok(Page { rows: out, next });
    }
}

pub(crate) async fn lookup(
    ks: &CassKeyspace,
    index: &IndexRef,
    right: &TableRef,
    keys: &[String],
    fields: &Arc<Schema>,
) -> Result<LookupResult> {
    let idx_name = index.full_name();
    let name = right.full_name();
    let what = ks.what(&format!("looking up '{idx_name}'"));
    let idx_ctx = Ctx {
        what: &what,
        table: Some(&idx_name),
    };
    let row_ctx = Ctx {
        what: &what,
        table: Some(&name),
    };
    let by_key = ks
        .prepare(
            &idx_ctx,
            format!(
                "SELECT rowid FROM {}.{} WHERE key = ?",
                ks.q,
                quote(&idx_name)
            ),
            true,
        )
        .await?;
    let list = select_list(fields);
    let sep = if list.is_empty() { "" } else { ", " };
    let by_id = ks
        .prepare(
            &row_ctx,
            format!(
                "SELECT rowid{sep}{list} FROM {}.{} WHERE rowid = ?",
                ks.q,
                quote(&name)
            ),
            true,
        )
        .await?;
    let mut first_pos: HashMap<&str, usize> = HashMap::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        first_pos.entry(k.as_str()).or_insert(i);
    }
    let distinct: Vec<(String, usize)> = first_pos
        .iter()
        .map(|(k, p)| ((*k).to_string(), *p))
        .collect();
    let hits: Vec<Vec<(usize, i64)>> = futures::stream::iter(distinct)
        .map(|(key, pos)| {
            let (by_key, ctx) = (&by_key, &idx_ctx);
            async move {
                let res = ks.execute(ctx, by_key, (stored_key(&key),)).await?;
                let rows = res
                    .into_rows_result()
                    .map_err(|e| error::shape(ctx.what, e))?;
                rows.rows::<(i64,)>()
                    .map_err(|e| error::shape(ctx.what, e))?
                    .map(|r| {
                        r.map(|(id,)| (pos, id))
                            .map_err(|e| error::shape(ctx.what, e))
                    })
                    .collect::<Result<Vec<_>>>()
            }
        })
        .buffer_unordered(ks.concurrency())
        .try_collect()
        .await?;
    let hits: Vec<(usize, i64)> = hits.into_iter().flatten().collect();
    let ids: Vec<i64> = hits
        .iter()
        .map(|h| h.1)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let found: Vec<Option<(i64, Vec<Option<CqlValue>>)>> = futures::stream::iter(ids)
        .map(|id| {
            let (by_id, ctx) = (&by_id, &row_ctx);
            async move {
                let res = ks.execute(ctx, by_id, (id,)).await?;
                let rows = res
                    .into_rows_result()
                    .map_err(|e| error::shape(ctx.what, e))?;
                let row = rows
                    .maybe_first_row::<Row>()
                    .map_err(|e| error::shape(ctx.what, e))?;
                Ok::<_, StoreError>(row.map(|mut r| (id, r.columns.split_off(1))))
            }
        })
        .buffer_unordered(ks.concurrency())
        .try_collect()
        .await?;
    // Index entries whose row is gone (a cleaned batch) drop out here.
    let rows_by_id: HashMap<i64, Vec<Option<CqlValue>>> = found.into_iter().flatten().collect();
    let mut hits: Vec<(usize, i64)> = hits
        .into_iter()
        .filter(|(_, id)| rows_by_id.contains_key(id))
        .collect();
    hits.sort_unstable();
    let mut rows = RowSet::with_capacity(fields.clone(), hits.len());
    let mut key_pos = Vec::with_capacity(hits.len());
    for (pos, id) in hits {
        decode(fields, rows_by_id[&id].clone(), &mut rows)?;
        key_pos.push(pos);
    }
    Ok(LookupResult { key_pos, rows })
}

pub(crate) async fn delete_batch(
    ks: &CassKeyspace,
    def: &TableDef,
    batch: BatchIdx,
) -> Result<u64> {
    let table = def.table_ref().full_name();
    let what = ks.what(&format!("cleaning batch {batch} of '{table}'"));
    let ctx = Ctx {
        what: &what,
        table: Some(&table),
    };
    let rec_ctx = Ctx {
        what: &what,
        table: None,
    };
    let records: Vec<Record> = ks
        .db
        .rows(
            &rec_ctx,
            format!(
                "SELECT first_rowid, row_count, keys FROM {}.wf_batch_writes \
                 WHERE tbl = ? AND batch_idx = ?",
                ks.q
            ),
            (&table, batch),
        )
        .await?;
    let mut ids: Vec<i64> = Vec::new();
    // (index position) -> (stored key, row id)
    let mut keys: BTreeMap<u16, Vec<(String, i64)>> = BTreeMap::new();
    for (first, count, blob) in records {
        if let (Some(f), Some(c)) = (first, count) {
            ids.extend((0..i64::from(c.max(0))).map(|i| f + i));
        }
        let blob = blob.unwrap_or_default();
        let mut p = 0;
        while p + 14 <= blob.len() {
            let idx = u16::from_be_bytes([blob[p], blob[p + 1]]);
            let id = i64::from_be_bytes(blob[p + 2..p + 10].try_into().expect("8 bytes"));
            let len =
                u32::from_be_bytes(blob[p + 10..p + 14].try_into().expect("4 bytes")) as usize;
            let Some(key) = blob.get(p + 14..p + 14 + len) else {
                return Err(error::shape(&what, "a batch record is cut short"));
            };
            keys.entry(idx)
                .or_default()
                .push((String::from_utf8_lossy(key).into_owned(), id));
            p += 14 + len;
        }
    }
    ids.sort_unstable();
    ids.dedup();

    // Which of the recorded rows exist (a crash may have stopped before some were written).
    let q = quote(&table);
    let present = ks
        .prepare(
            &ctx,
            format!("SELECT rowid FROM {}.{q} WHERE rowid IN ?", ks.q),
            true,
        )
        .await?;
    let chunks: Vec<Vec<i64>> = ids.chunks(IN_CHUNK).map(<[i64]>::to_vec).collect();
    let existing: Vec<Vec<i64>> = futures::stream::iter(chunks)
        .map(|chunk| {
            let (present, ctx) = (&present, &ctx);
            async move {
                let res = ks.execute(ctx, present, (chunk,)).await?;
                let rows = res
                    .into_rows_result()
                    .map_err(|e| error::shape(ctx.what, e))?;
                rows.rows::<(i64,)>()
                    .map_err(|e| error::shape(ctx.what, e))?
                    .map(|r| r.map(|(id,)| id).map_err(|e| error::shape(ctx.what, e)))
                    .collect::<Result<Vec<i64>>>()
            }
        })
        .buffer_unordered(ks.concurrency())
        .try_collect()
        .await?;
    let existing: Vec<i64> = existing.into_iter().flatten().collect();
    let delete_row = ks
        .prepare(
            &ctx,
            format!("DELETE FROM {}.{q} WHERE rowid = ?", ks.q),
            true,
        )
        .await?;
    futures::stream::iter(existing.iter().copied())
        .map(|id| {
            let (stmt, ctx) = (&delete_row, &ctx);
            async move { ks.execute(ctx, stmt, (id,)).await.map(|_| ()) }
        })
        .buffer_unordered(ks.concurrency())
        .try_collect::<Vec<()>>()
        .await?;

    for (pos, entries) in keys {
        let Some(idx) = def.indexes.get(usize::from(pos)) else {
            continue;
        };
        let name = vessel_store::run_table_name(&idx.name, def.run_id);
        let ictx = Ctx {
            what: &what,
            table: Some(&name),
        };
        let iq = quote(&name);
        if idx.unique {
            // A key is removed only while it holds this batch's row: a key another batch
            // won stays. Nobody else can claim a key before it is removed, so reading then
            // deleting needs no transaction.
            let read = ks
                .prepare(
                    &ictx,
                    format!("SELECT rowid FROM {}.{iq} WHERE key = ?", ks.q),
                    true,
                )
                .await?;
            let delete = ks
                .prepare(
                    &ictx,
                    format!("DELETE FROM {}.{iq} WHERE key = ?", ks.q),
                    true,
                )
                .await?;
            futures::stream::iter(entries)
                .map(|(key, id)| {
                    let (read, delete, ctx) = (&read, &delete, &ictx);
                    async move {
                        let res = ks.execute(ctx, read, (&key,)).await?;
                        let holder = res
                            .into_rows_result()
                            .map_err(|e| error::shape(ctx.what, e))?
                            .maybe_first_row::<(i64,)>()
                            .map_err(|e| error::shape(ctx.what, e))?;
                        if holder == Some((id,)) {
                            ks.execute(ctx, delete, (&key,)).await?;
                        }
                        Ok::<(), StoreError>(())
                    }
                })
                .buffer_unordered(ks.concurrency())
                .try_collect::<Vec<()>>()
                .await?;
        } else {
            let delete = ks
                .prepare(
                    &ictx,
                    format!("DELETE FROM {}.{iq} WHERE key = ? AND rowid = ?", ks.q),
                    true,
                )
                .await?;
            futures::stream::iter(entries)
                .map(|(key, id)| {
                    let (delete, ctx) = (&delete, &ictx);
                    async move { ks.execute(ctx, delete, (key, id)).await.map(|_| ()) }
                })
                .buffer_unordered(ks.concurrency())
                .try_collect::<Vec<()>>()
                .await?;
        }
    }
    ks.db
        .run_idempotent(
            &rec_ctx,
            format!(
                "DELETE FROM {}.wf_batch_writes WHERE tbl = ? AND batch_idx = ?",
                ks.q
            ),
            (&table, batch),
        )
        .await?;
    ks.rowids.next.lock().await.remove(&(table, batch));
    Ok(existing.len() as u64)
}
