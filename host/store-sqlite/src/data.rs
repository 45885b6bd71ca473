//! Per-run data and index tables: create, write, page through, look up, clean a batch.
//!
//! Layout, for table `t` and index `i` of run 3:
//!
//! ```sql
//! CREATE TABLE "t_00003" (rowid INTEGER PRIMARY KEY, batch_idx INTEGER NOT NULL, "f" <type>, ...);
//! CREATE INDEX "t_00003__batch_idx" ON "t_00003" (batch_idx);
//! -- unique index
//! CREATE TABLE "i_00003" (key TEXT PRIMARY KEY, rowid INTEGER NOT NULL,
//!                         batch_idx INTEGER NOT NULL) WITHOUT ROWID;
//! -- non-unique index
//! CREATE TABLE "i_00003" (key TEXT NOT NULL, rowid INTEGER NOT NULL, batch_idx INTEGER NOT NULL,
//!                         PRIMARY KEY (key, rowid)) WITHOUT ROWID;
//! CREATE INDEX "i_00003__batch_idx" ON "i_00003" (batch_idx);
//! ```
//!
//! A row's token is its rowid, drawn at random over the whole i64 range, so the data table is
//! clustered by token and a batch's token range is a contiguous B-tree range scan.

use crate::keyspace::{KsInner, TableInfo};
use crate::sql::{db_err, decl_type, decode, field_type_of_decl, float_bits, quote};
use crate::workflow::WORKFLOW_TABLES;
use rand::RngExt;
use rusqlite::{CachedStatement, Connection, Statement};
use std::collections::{HashMap, HashSet};
use vessel_core::{Column, RowSet, Schema, Value, decimal, time};
use vessel_store::{
    BatchIdx, IndexRef, LookupResult, Page, PageCursor, Result, StoreError, TableDef, TableRef,
    TokenRange, WriteMode, WriteStats,
};

/// Attempts at finding a free random rowid for one row (as Capillaries does). With 2^64 values a
/// second attempt is already astronomically rare; five only guard against a broken generator.
const ROWID_ATTEMPTS: usize = 5;

/// Rows that share one random start and take consecutive rowids after it.
///
/// A row's token is its rowid, and tokens must spread evenly over the i64 range so that any
/// number of batches splits a table into equal parts. One random draw per row gives that, but
/// every row of a write then lands on its own B-tree page: a 2,000-row transaction dirties
/// ~2,000 pages of the data table and as many of its batch index, and each one is written to
/// the WAL and again at checkpoint. Runs of 64 consecutive rowids keep the spread (a table of
/// n rows has n/64 runs scattered at random) while a run fills two or three pages.
const ROWID_RUN: u32 = 64;

/// Draws rowids in runs of [`ROWID_RUN`].
#[derive(Default)]
struct RowidRuns {
    next: i64,
    left: u32,
}

impl RowidRuns {
    fn draw(&mut self, rng: &mut impl rand::Rng) -> i64 {
        if self.left == 0 || self.next == i64::MAX {
            self.next = rng.random_range(i64::MIN..i64::MAX - i64::from(ROWID_RUN));
            self.left = ROWID_RUN;
        }
        let r = self.next;
        self.next += 1;
        self.left -= 1;
        r
    }
}

/// Key counts of lookup statements: a chunk of keys is padded (with a repeat of its first key,
/// which `IN` ignores) to the next size, so a handful of statements serve every lookup from
/// the statement cache.
const LOOKUP_CHUNKS: [usize; 4] = [1, 8, 64, 500];

/// Name of the index on `batch_idx` of a data or index table.
fn batch_index_name(table: &str) -> String {
    format!("{table}__batch_idx")
}

/// Creates a run's data table and index tables if they do not exist (one transaction, so two
/// processes racing see either nothing or everything), then checks that an existing data table
/// has the requested columns.
pub(crate) fn create_table(ks: &KsInner, conn: &mut Connection, def: &TableDef) -> Result<()> {
    let table = def.table_ref().full_name();
    for (name, _) in def.schema.fields() {
        if name.eq_ignore_ascii_case("rowid") || name.eq_ignore_ascii_case("batch_idx") {
            return Err(StoreError::InvalidName {
                name: name.clone(),
                reason: format!(
                    "field of table '{}' uses a column name that storage reserves; rename it",
                    def.name
                ),
            });
        }
    }
    let mut sql = format!(
        "CREATE TABLE IF NOT EXISTS {} (rowid INTEGER PRIMARY KEY, batch_idx INTEGER NOT NULL",
        quote(&table)
    );
    for (name, t) in def.schema.fields() {
        sql.push_str(&format!(", {} {}", quote(name), decl_type(*t)));
    }
    sql.push_str(");\n");
    // Why an index on batch_idx: a batch found "started" by a dead worker must be cleaned
    // before it is redone. Capillaries scans the whole table for that (DESIGN.md §7 names it a
    // known weakness); with this index, cleanup reads only the batch's own rows. It costs one
    // small B-tree insert per row.
    sql.push_str(&format!(
        "CREATE INDEX IF NOT EXISTS {} ON {} (batch_idx);\n",
        quote(&batch_index_name(&table)),
        quote(&table)
    ));
    for idx in &def.indexes {
        let name = vessel_store::run_table_name(&idx.name, def.run_id);
        if idx.unique {
            sql.push_str(&format!(
                "CREATE TABLE IF NOT EXISTS {} (key TEXT PRIMARY KEY, rowid INTEGER NOT NULL, \
                 batch_idx INTEGER NOT NULL) WITHOUT ROWID;\n",
                quote(&name)
            ));
        } else {
            sql.push_str(&format!(
                "CREATE TABLE IF NOT EXISTS {} (key TEXT NOT NULL, rowid INTEGER NOT NULL, \
                 batch_idx INTEGER NOT NULL, PRIMARY KEY (key, rowid)) WITHOUT ROWID;\n",
                quote(&name)
            ));
        }
        sql.push_str(&format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} (batch_idx);\n",
            quote(&batch_index_name(&name)),
            quote(&name)
        ));
    }
    let what = ks.ctx("creating", &table);
    ks.write_tx(conn, &what, |tx| {
        tx.execute_batch(&sql).map_err(db_err(&what))
    })?;
    let info = ks.table_info(conn, &table)?;
    check_fields(&info, &table, &def.schema).map_err(|e| match e {
        StoreError::Backend(m) => StoreError::Backend(format!(
            "table '{table}' exists with other columns than the script defines ({m}); drop the \
             keyspace or use a new run"
        )),
        other => other,
    })?;
    tracing::debug!(keyspace = %ks.name, table = %table, indexes = def.indexes.len(), "created table");
    Ok(())
}

/// Checks that `table` has every field of `fields` with the same type.
fn check_fields(info: &TableInfo, table: &str, fields: &Schema) -> Result<()> {
    for (name, t) in fields.fields() {
        let Some(decl) = info.columns.get(name) else {
            let mut have: Vec<&str> = info
                .columns
                .keys()
                .map(String::as_str)
                .filter(|c| *c != "rowid" && *c != "batch_idx")
                .collect();
            have.sort_unstable();
            return Err(StoreError::Backend(format!(
                "table '{table}' has no field '{name}' (its fields: {})",
                have.join(", ")
            )));
        };
        if field_type_of_decl(decl) != Some(*t) {
            let stored = field_type_of_decl(decl).map_or(decl.as_str(), |t| t.name());
            return Err(StoreError::Backend(format!(
                "field '{name}' of table '{table}' holds {stored} values, not {t}"
            )));
        }
    }
    Ok(())
}

/// Binds the fields of row `r` to parameters `3..`, in table column order.
fn bind_fields(
    stmt: &mut Statement<'_>,
    rows: &RowSet,
    colmap: &[usize],
    r: usize,
) -> rusqlite::Result<()> {
    for (j, &c) in colmap.iter().enumerate() {
        let p = j + 3;
        match rows.column(c) {
            Column::Int(v) => stmt.raw_bind_parameter(p, v[r])?,
            Column::Float(v) => stmt.raw_bind_parameter(p, float_bits(v[r]))?,
            Column::Decimal(v) => {
                // A decimal beyond the decimal2 range has no stored form: refuse the write
                // rather than store a clamped number.
                let cents = decimal::to_cents(v[r]).map_err(|e| {
                    let field = &rows.schema().fields()[c].0;
                    rusqlite::Error::ToSqlConversionFailure(format!("field '{field}': {e}").into())
                })?;
                stmt.raw_bind_parameter(p, cents)?
            }
            Column::Str(v) => stmt.raw_bind_parameter(p, v[r].as_str())?,
            Column::Bool(v) => stmt.raw_bind_parameter(p, i64::from(v[r]))?,
            Column::DateTime(v) => stmt.raw_bind_parameter(p, time::to_millis(&v[r]))?,
        }
    }
    Ok(())
}

/// The insert statement of one index and the keys written to it.
struct IndexWriter<'a> {
    stmt: CachedStatement<'a>,
    keys: &'a [String],
    unique: bool,
    name: &'a str,
}

/// Inserts an index entry; false when the key (unique) or key + rowid (non-unique) exists.
fn insert_key(
    stmt: &mut Statement<'_>,
    key: &str,
    rowid: i64,
    batch_idx: BatchIdx,
) -> rusqlite::Result<bool> {
    stmt.raw_bind_parameter(1, key)?;
    stmt.raw_bind_parameter(2, rowid)?;
    stmt.raw_bind_parameter(3, batch_idx)?;
    Ok(stmt.raw_execute()? == 1)
}

/// How rows of a rowset go into a data table.
struct DataInsert {
    /// Table column j takes rowset column `colmap[j]` (matched by name: the rowset may order its
    /// columns differently).
    colmap: Vec<usize>,
    /// `INSERT OR IGNORE` of one row: rowid, batch_idx, then the fields.
    sql: String,
}

/// Checks that `table` exists with the fields of `def` and that `rows` has them all.
fn data_insert(
    ks: &KsInner,
    conn: &Connection,
    table: &str,
    def: &TableDef,
    rows: &RowSet,
) -> Result<DataInsert> {
    let info = ks.table_info(conn, table)?;
    check_fields(&info, table, &def.schema)?;
    let mut colmap = Vec::with_capacity(def.schema.len());
    for (name, t) in def.schema.fields() {
        match rows.schema().index_of(name) {
            Some(c) if rows.schema().field_type(c) == *t => colmap.push(c),
            _ => {
                return Err(StoreError::Backend(format!(
                    "rows written to '{table}' lack field '{name}' of type {t}"
                )));
            }
        }
    }
    let mut sql = format!("INSERT OR IGNORE INTO {} (rowid, batch_idx", quote(table));
    for (name, _) in def.schema.fields() {
        sql.push_str(", ");
        sql.push_str(&quote(name));
    }
    sql.push_str(") VALUES (?1, ?2");
    for j in 0..def.schema.len() {
        sql.push_str(&format!(", ?{}", j + 3));
    }
    sql.push(')');
    Ok(DataInsert { colmap, sql })
}

/// Names of the index tables of `def`, each checked to exist.
fn index_tables(ks: &KsInner, conn: &Connection, def: &TableDef) -> Result<Vec<String>> {
    let names: Vec<String> = def
        .indexes
        .iter()
        .map(|i| vessel_store::run_table_name(&i.name, def.run_id))
        .collect();
    for name in &names {
        ks.table_info(conn, name)?;
    }
    Ok(names)
}

/// Writes data rows only and returns their rowids (tokens) in row order.
pub(crate) fn write_data(
    ks: &KsInner,
    conn: &mut Connection,
    def: &TableDef,
    batch_idx: BatchIdx,
    rows: &RowSet,
) -> Result<Vec<i64>> {
    let table = def.table_ref().full_name();
    let DataInsert { colmap, sql } = data_insert(ks, conn, &table, def, rows)?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut rng = rand::rng();
    let mut runs = RowidRuns::default();
    let mut order: Vec<(i64, usize)> = (0..rows.len()).map(|r| (runs.draw(&mut rng), r)).collect();
    order.sort_unstable();
    let what = ks.ctx("writing to", &table);
    let mut tokens = vec![0i64; rows.len()];
    ks.write_tx(conn, &what, |tx| {
        let err = || db_err(&what);
        let mut data = tx.prepare_cached(&sql).map_err(err())?;
        data.raw_bind_parameter(2, batch_idx).map_err(err())?;
        for &(first, r) in &order {
            bind_fields(&mut data, rows, &colmap, r).map_err(err())?;
            tokens[r] = insert_at_free_rowid(&mut data, first, &what, &mut rng, |_| Ok(()))?;
        }
        Ok(())
    })?;
    tracing::debug!(keyspace = %ks.name, table = %table, batch = batch_idx, rows = rows.len(), "wrote data rows");
    Ok(tokens)
}

/// Executes the bound data insert at `rowid`, drawing a random rowid again while the one tried
/// is taken (`moved` hears of each new rowid before it is tried). Returns the row's rowid.
fn insert_at_free_rowid(
    data: &mut CachedStatement<'_>,
    mut rowid: i64,
    what: &str,
    rng: &mut impl rand::Rng,
    mut moved: impl FnMut(i64) -> Result<(), StoreError>,
) -> Result<i64, StoreError> {
    let mut attempt = 1;
    loop {
        data.raw_bind_parameter(1, rowid).map_err(db_err(what))?;
        if data.raw_execute().map_err(db_err(what))? == 1 {
            return Ok(rowid);
        }
        if attempt == ROWID_ATTEMPTS {
            return Err(StoreError::Backend(format!(
                "{what}: no free rowid after {ROWID_ATTEMPTS} random draws"
            )));
        }
        attempt += 1;
        tracing::trace!(what, "rowid collision, drawing again");
        rowid = rng.random();
        moved(rowid)?;
    }
}

/// Writes index entries of one batch, in key order.
pub(crate) fn write_index_entries(
    ks: &KsInner,
    conn: &mut Connection,
    def: &TableDef,
    index: usize,
    batch_idx: BatchIdx,
    mut entries: Vec<(String, i64)>,
) -> Result<u64> {
    let Some(idx) = def.indexes.get(index) else {
        return Err(StoreError::Backend(format!(
            "table '{}' has {} indexes, not an index number {index}",
            def.name,
            def.indexes.len()
        )));
    };
    let name = vessel_store::run_table_name(&idx.name, def.run_id);
    ks.table_info(conn, &name)?;
    if entries.is_empty() {
        return Ok(0);
    }
    // Key order: consecutive inserts land on the same or the next B-tree page, so one call
    // dirties each page of the index at most once.
    entries.sort_unstable();
    let sql = format!(
        "INSERT OR IGNORE INTO {} (key, rowid, batch_idx) VALUES (?1, ?2, ?3)",
        quote(&name)
    );
    let what = ks.ctx("writing to", &name);
    let written = ks.write_tx(conn, &what, |tx| {
        let mut stmt = tx.prepare_cached(&sql).map_err(db_err(&what))?;
        let mut written = 0u64;
        for (key, rowid) in &entries {
            if insert_key(&mut stmt, key, *rowid, batch_idx).map_err(db_err(&what))? {
                written += 1;
            } else if idx.unique {
                // Returning the error drops the transaction: nothing of this call stays.
                return Err(StoreError::DuplicateKey {
                    index: name.clone(),
                    key: key.clone(),
                });
            }
        }
        Ok(written)
    })?;
    tracing::debug!(keyspace = %ks.name, index = %name, batch = batch_idx, entries = written, "wrote index entries");
    Ok(written)
}

/// Writes rows of one batch with their index keys in one IMMEDIATE transaction.
pub(crate) fn write_rows(
    ks: &KsInner,
    conn: &mut Connection,
    def: &TableDef,
    batch_idx: BatchIdx,
    rows: &RowSet,
    keys: &[Vec<String>],
    mode: WriteMode,
) -> Result<WriteStats> {
    let table = def.table_ref().full_name();
    if keys.len() != def.indexes.len() {
        return Err(StoreError::Backend(format!(
            "write to '{table}': {} key lists given for {} indexes",
            keys.len(),
            def.indexes.len()
        )));
    }
    if let Some((i, k)) = keys.iter().enumerate().find(|(_, k)| k.len() != rows.len()) {
        return Err(StoreError::Backend(format!(
            "write to '{table}': {} keys given for index '{}' but {} rows",
            k.len(),
            def.indexes[i].name,
            rows.len()
        )));
    }
    if mode == WriteMode::DistinctFirst && !def.indexes.first().is_some_and(|i| i.unique) {
        return Err(StoreError::Backend(format!(
            "distinct write to '{table}' needs a unique first index"
        )));
    }
    let DataInsert {
        colmap,
        sql: insert_sql,
    } = data_insert(ks, conn, &table, def, rows)?;
    let idx_names = index_tables(ks, conn, def)?;
    if rows.is_empty() {
        return Ok(WriteStats::default());
    }
    let idx_sql: Vec<String> = idx_names
        .iter()
        .map(|n| {
            format!(
                "INSERT OR IGNORE INTO {} (key, rowid, batch_idx) VALUES (?1, ?2, ?3)",
                quote(n)
            )
        })
        .collect();
    let move_sql = idx_names
        .first()
        .map(|n| format!("UPDATE {} SET rowid = ?2 WHERE key = ?1", quote(n)));

    // Draw the rowids first and insert in rowid order, so the rows of one call walk the data
    // table's B-tree in one direction instead of jumping around it (a few % faster). In
    // DistinctFirst mode a key repeated within the call keeps its first row (as Capillaries'
    // per-rowset set does), decided before the reordering.
    let mut rng = rand::rng();
    let mut repeated = 0;
    let mut order: Vec<(i64, usize)> = Vec::with_capacity(rows.len());
    let mut next = RowidRuns::default();
    match mode {
        WriteMode::Normal => order.extend((0..rows.len()).map(|r| (next.draw(&mut rng), r))),
        WriteMode::DistinctFirst => {
            let mut seen = HashSet::with_capacity(rows.len());
            for (r, key) in keys[0].iter().enumerate() {
                if seen.insert(key.as_str()) {
                    order.push((next.draw(&mut rng), r));
                } else {
                    repeated += 1;
                }
            }
        }
    }
    order.sort_unstable();

    let what = ks.ctx("writing to", &table);
    let stats = ks.write_tx(conn, &what, |tx| {
        let err = || db_err(&what);
        let mut data = tx.prepare_cached(&insert_sql).map_err(err())?;
        let mut idx = Vec::with_capacity(idx_sql.len());
        for (i, sql) in idx_sql.iter().enumerate() {
            idx.push(IndexWriter {
                stmt: tx.prepare_cached(sql).map_err(err())?,
                keys: &keys[i],
                unique: def.indexes[i].unique,
                name: &idx_names[i],
            });
        }
        let mut stats = WriteStats {
            rows_skipped: repeated,
            ..WriteStats::default()
        };
        data.raw_bind_parameter(2, batch_idx).map_err(err())?;
        for &(first_rowid, r) in &order {
            let mut rowid = first_rowid;
            let first_idx = match mode {
                WriteMode::Normal => 0,
                WriteMode::DistinctFirst => {
                    // Unique key first: if it exists the row is not distinct.
                    let w = &mut idx[0];
                    if !insert_key(&mut w.stmt, &w.keys[r], rowid, batch_idx).map_err(err())? {
                        stats.rows_skipped += 1;
                        continue;
                    }
                    stats.index_entries += 1;
                    1
                }
            };
            bind_fields(&mut data, rows, &colmap, r).map_err(err())?;
            rowid = insert_at_free_rowid(&mut data, rowid, &what, &mut rng, |moved| {
                if first_idx == 1 {
                    // The unique entry written above points at the taken rowid: move it.
                    let mut mv = tx
                        .prepare_cached(move_sql.as_deref().unwrap_or_default())
                        .map_err(err())?;
                    mv.execute(rusqlite::params![idx[0].keys[r], moved])
                        .map_err(err())?;
                }
                Ok(())
            })?;
            stats.rows_written += 1;
            for w in &mut idx[first_idx..] {
                if insert_key(&mut w.stmt, &w.keys[r], rowid, batch_idx).map_err(err())? {
                    stats.index_entries += 1;
                } else if w.unique {
                    // Returning the error drops the transaction: nothing of this call stays.
                    return Err(StoreError::DuplicateKey {
                        index: w.name.to_string(),
                        key: w.keys[r].clone(),
                    });
                }
            }
        }
        Ok(stats)
    })?;
    tracing::debug!(
        keyspace = %ks.name, table = %table, batch = batch_idx,
        rows = stats.rows_written, skipped = stats.rows_skipped, "wrote rows"
    );
    Ok(stats)
}

/// The SELECT list `t."f1", t."f2", ...` of `fields`.
fn select_list(alias: &str, fields: &Schema) -> String {
    let mut s = String::new();
    for (name, _) in fields.fields() {
        s.push_str(", ");
        s.push_str(alias);
        s.push('.');
        s.push_str(&quote(name));
    }
    s
}

/// Decodes columns `first..` of a result row as `fields`.
fn decode_row(
    row: &rusqlite::Row<'_>,
    first: usize,
    fields: &Schema,
    table: &str,
) -> Result<Vec<Value>> {
    let mut out = Vec::with_capacity(fields.len());
    for (j, (name, t)) in fields.fields().iter().enumerate() {
        let v = row
            .get_ref(first + j)
            .map_err(db_err(format_args!("reading table '{table}'")))?;
        match decode(*t, v) {
            Some(v) => out.push(v),
            None => {
                return Err(StoreError::Backend(format!(
                    "field '{name}' of table '{table}' holds a {} value where {t} was written",
                    v.data_type()
                )));
            }
        }
    }
    Ok(out)
}

/// Reads up to `limit` rows whose rowid lies in `range`, after `cursor`, in rowid order.
pub(crate) fn read_page(
    ks: &KsInner,
    conn: &mut Connection,
    table: &TableRef,
    fields: &std::sync::Arc<Schema>,
    range: TokenRange,
    cursor: Option<PageCursor>,
    limit: usize,
) -> Result<Page> {
    let name = table.full_name();
    let info = ks.table_info(conn, &name)?;
    check_fields(&info, &name, fields)?;
    let mut rows = RowSet::with_capacity(fields.clone(), limit.min(65_536));
    // Tokens are unique rowids, so a cursor's `seen` can only hold its own token; honour it
    // anyway rather than assume, so a cursor built by generic code works too.
    let start = match &cursor {
        None => Some(range.first),
        Some(c) if c.seen.contains(&c.token) => c.token.checked_add(1),
        Some(c) => Some(c.token),
    };
    let first = match start {
        Some(s) if s.max(range.first) <= range.last => s.max(range.first),
        _ => return Ok(Page { rows, next: None }),
    };
    let limit = limit.max(1);
    let sql = format!(
        "SELECT rowid{} FROM {} AS t WHERE rowid BETWEEN ?1 AND ?2 ORDER BY rowid LIMIT ?3",
        select_list("t", fields),
        quote(&name)
    );
    let what = ks.ctx("reading", &name);
    let mut stmt = conn.prepare_cached(&sql).map_err(db_err(&what))?;
    let mut q = stmt
        .query(rusqlite::params![
            first,
            range.last,
            i64::try_from(limit).unwrap_or(i64::MAX)
        ])
        .map_err(db_err(&what))?;
    let mut last = None;
    while let Some(row) = q.next().map_err(db_err(&what))? {
        last = Some(row.get::<_, i64>(0).map_err(db_err(&what))?);
        rows.push_row(decode_row(row, 1, fields, &name)?);
    }
    let next = match last {
        Some(t) if rows.len() == limit && t < range.last => Some(PageCursor {
            token: t,
            seen: vec![t],
        }),
        _ => None,
    };
    Ok(Page { rows, next })
}

/// Looks up right rows by index key, joining index and data table in one query per chunk.
///
/// Keys must be distinct (lookups pass the distinct keys of a page); a repeated key is reported
/// at its first position only.
pub(crate) fn lookup(
    ks: &KsInner,
    conn: &mut Connection,
    index: &IndexRef,
    right: &TableRef,
    keys: &[String],
    fields: &std::sync::Arc<Schema>,
) -> Result<LookupResult> {
    let idx_name = index.full_name();
    let name = right.full_name();
    ks.table_info(conn, &idx_name)?;
    let info = ks.table_info(conn, &name)?;
    check_fields(&info, &name, fields)?;

    let mut pos: HashMap<&str, usize> = HashMap::with_capacity(keys.len());
    let mut distinct: Vec<&str> = Vec::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        pos.entry(k.as_str()).or_insert_with(|| {
            distinct.push(k);
            i
        });
    }
    let what = ks.ctx("looking up", &idx_name);
    let select = select_list("t", fields);
    let mut found: Vec<(usize, i64, Vec<Value>)> = Vec::new();
    for chunk in distinct.chunks(LOOKUP_CHUNKS[LOOKUP_CHUNKS.len() - 1]) {
        let size = LOOKUP_CHUNKS
            .into_iter()
            .find(|s| *s >= chunk.len())
            .unwrap_or(chunk.len());
        let marks = (1..=size)
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(",");
        // CROSS JOIN fixes the loop order: probe the index for each key, then fetch each data
        // row by rowid. Index entries without a data row (orphans) drop out of the join.
        let sql = format!(
            "SELECT i.key, i.rowid{select} FROM {} AS i CROSS JOIN {} AS t \
             WHERE i.key IN ({marks}) AND t.rowid = i.rowid",
            quote(&idx_name),
            quote(&name)
        );
        let mut stmt = conn.prepare_cached(&sql).map_err(db_err(&what))?;
        for p in 0..size {
            let k = chunk.get(p).unwrap_or(&chunk[0]);
            stmt.raw_bind_parameter(p + 1, *k).map_err(db_err(&what))?;
        }
        let mut q = stmt.raw_query();
        while let Some(row) = q.next().map_err(db_err(&what))? {
            let key = row.get_ref(0).ok().and_then(|k| k.as_str().ok());
            let Some(&p) = key.and_then(|k| pos.get(k)) else {
                continue;
            };
            let rowid = row.get::<_, i64>(1).map_err(db_err(&what))?;
            found.push((p, rowid, decode_row(row, 2, fields, &name)?));
        }
    }
    found.sort_unstable_by_key(|(p, rowid, _)| (*p, *rowid));
    let mut rows = RowSet::with_capacity(fields.clone(), found.len());
    let mut key_pos = Vec::with_capacity(found.len());
    for (p, _, values) in found {
        key_pos.push(p);
        rows.push_row(values);
    }
    Ok(LookupResult { key_pos, rows })
}

/// Deletes a batch's data rows and index entries through the `batch_idx` indexes.
pub(crate) fn delete_batch(
    ks: &KsInner,
    conn: &mut Connection,
    def: &TableDef,
    batch_idx: BatchIdx,
) -> Result<u64> {
    let table = def.table_ref().full_name();
    ks.table_info(conn, &table)?;
    let idx_names: Vec<String> = def
        .indexes
        .iter()
        .map(|i| vessel_store::run_table_name(&i.name, def.run_id))
        .collect();
    for n in &idx_names {
        ks.table_info(conn, n)?;
    }
    let what = ks.ctx("cleaning a batch of", &table);
    let deleted = ks.write_tx(conn, &what, |tx| {
        let mut deleted = 0;
        for (i, n) in std::iter::once(&table).chain(&idx_names).enumerate() {
            let sql = format!("DELETE FROM {} WHERE batch_idx = ?1", quote(n));
            let count = tx
                .prepare_cached(&sql)
                .and_then(|mut s| s.execute([batch_idx]))
                .map_err(db_err(&what))?;
            if i == 0 {
                deleted = count as u64;
            }
        }
        Ok(deleted)
    })?;
    tracing::debug!(keyspace = %ks.name, table = %table, batch = batch_idx, rows = deleted, "cleaned batch");
    Ok(deleted)
}

/// Data and index tables of the keyspace, sorted.
pub(crate) fn list_tables(ks: &KsInner, conn: &mut Connection) -> Result<Vec<String>> {
    let what = format!("listing the tables of keyspace '{}'", ks.name);
    let mut stmt = conn
        .prepare_cached(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' ESCAPE '!'",
        )
        .map_err(db_err(&what))?;
    let mut names: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(db_err(&what))?;
    names.retain(|n| !WORKFLOW_TABLES.contains(&n.as_str()));
    names.sort_unstable();
    Ok(names)
}

/// Number of rows of a data table.
pub(crate) fn count_rows(ks: &KsInner, conn: &mut Connection, table: &TableRef) -> Result<u64> {
    let name = table.full_name();
    ks.table_info(conn, &name)?;
    let what = ks.ctx("counting rows of", &name);
    let n: i64 = conn
        .prepare_cached(&format!("SELECT COUNT(*) FROM {}", quote(&name)))
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(db_err(&what))?;
    Ok(u64::try_from(n).unwrap_or(0))
}
