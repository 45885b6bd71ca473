//! Node processors: one batch of each node type, from reading to writing.

mod calls;
mod custom;
mod file_table;
mod lookup;
mod table_file;
mod table_table;
mod top_sort;

use crate::engine::table_def;
use crate::progress::ProgressEvent;
use crate::{Engine, EngineError, Result};
use std::sync::Arc;
use vessel_core::{RowSet, Value};
use vessel_queue::BatchMessage;
use vessel_script::keys::row_key;
use vessel_script::{Node, NodeType, Reader, Script, TableReader, TableWriter, Writer};
use vessel_store::{Keyspace, TableDef, TableRef, TokenRange, WriteMode};

/// Everything a node processor needs for one batch.
pub(crate) struct BatchCtx<'a> {
    pub engine: &'a Engine,
    pub ks: &'a dyn Keyspace,
    /// The same keyspace, for work that outlives a borrow (writes in flight).
    pub ks_shared: &'a Arc<dyn Keyspace>,
    pub script: &'a Arc<Script>,
    pub node: &'a Node,
    pub msg: &'a BatchMessage,
    /// Run whose reader table to read (chosen by the dependency policy).
    pub reader_run: Option<i32>,
    /// Run whose lookup table to read.
    pub lookup_run: Option<i32>,
}

impl BatchCtx<'_> {
    pub fn eval_err(&self, field: &str, e: impl std::fmt::Display) -> EngineError {
        EngineError::Eval {
            node: self.node.name.clone(),
            field: field.to_string(),
            message: e.to_string(),
        }
    }

    fn report_rows(&self, n: usize) {
        self.engine.report(ProgressEvent::Rows {
            node: self.node.name.clone(),
            rows_in: n as u64,
        });
    }

    fn token_range(&self) -> TokenRange {
        TokenRange {
            first: self.msg.first_token,
            last: self.msg.last_token,
        }
    }

    fn source_table(&self, reader: &TableReader) -> Result<TableRef> {
        let run_id = self.reader_run.ok_or_else(|| {
            EngineError::Invalid(format!(
                "node '{}': no run produced table '{}'",
                self.node.name, reader.table
            ))
        })?;
        Ok(TableRef {
            name: reader.table.clone(),
            run_id,
        })
    }

    /// A page-by-page reader over the batch's token range of the reader table.
    fn pages(&self, reader: &'_ TableReader) -> Result<Pages> {
        Ok(Pages {
            table: self.source_table(reader)?,
            fields: reader.fields.clone(),
            range: self.token_range(),
            limit: reader.rowset_size,
            cursor: None,
            done: false,
            rows: 0,
        })
    }
}

/// Reads one batch's rows of a table, `rowset_size` at a time.
pub(crate) struct Pages {
    table: TableRef,
    fields: Arc<vessel_core::Schema>,
    range: TokenRange,
    limit: usize,
    cursor: Option<vessel_store::PageCursor>,
    done: bool,
    /// Rows returned so far.
    pub rows: u64,
}

impl Pages {
    /// The next non-empty page, or `None` at the end of the range.
    pub async fn next(&mut self, ctx: &BatchCtx<'_>) -> Result<Option<RowSet>> {
        while !self.done {
            let page = ctx
                .ks
                .read_page(
                    &self.table,
                    &self.fields,
                    self.range,
                    self.cursor.take(),
                    self.limit,
                )
                .await?;
            match page.next {
                Some(c) => self.cursor = Some(c),
                None => self.done = true,
            }
            if !page.rows.is_empty() {
                self.rows += page.rows.len() as u64;
                ctx.report_rows(page.rows.len());
                return Ok(Some(page.rows));
            }
        }
        Ok(None)
    }
}

/// Rows read and written by one batch.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct BatchStats {
    pub rows_in: u64,
    pub rows_out: u64,
}

/// Processes one batch of the context's node.
pub(crate) async fn process_batch(ctx: &BatchCtx<'_>) -> Result<BatchStats> {
    match ctx.node.node_type {
        NodeType::FileTable => file_table::run(ctx).await,
        NodeType::TableTable | NodeType::DistinctTable => table_table::run(ctx).await,
        NodeType::TableLookupTable => lookup::run(ctx).await,
        NodeType::TableFile => table_file::run(ctx).await,
        NodeType::TableCustomTfmTable => custom::run(ctx).await,
    }
}

fn table_reader(node: &Node) -> Result<&TableReader> {
    match &node.reader {
        Reader::Table(t) => Ok(t),
        Reader::File(_) => Err(EngineError::Invalid(format!(
            "node '{}' has a file reader where a table reader is expected",
            node.name
        ))),
    }
}

fn table_writer(node: &Node) -> Result<&TableWriter> {
    match &node.writer {
        Writer::Table(w) => Ok(w),
        Writer::File(_) => Err(EngineError::Invalid(format!(
            "node '{}' has a file writer where a table writer is expected",
            node.name
        ))),
    }
}

/// A data write running on its own task; yields the rows' tokens.
type WriteTask = tokio::task::JoinHandle<vessel_store::Result<Vec<i64>>>;

/// Rows buffered before one storage write. Large, because each write is one transaction and the
/// cost of a commit grows with the pages it dirties, not with the rows.
const WRITE_CHUNK: usize = 20_000;

/// Index entries are collected before they are written in one sorted call per index: writing
/// them in key order, in big groups, dirties each index page once per group instead of once per
/// row. They are written early when their estimated bytes pass this fraction (1/`N`) of the
/// batch's memory budget, so a huge batch's memory stays bounded.
const INDEX_BUDGET_DIVISOR: usize = 2;

/// Estimated heap bytes of one waiting index entry besides its key text: the tuple and the
/// allocator's overhead for the key.
const INDEX_ENTRY_OVERHEAD: usize = std::mem::size_of::<(String, i64)>() + 16;

/// Input rows a writer that calls plugin functions collects before calling them: one Wasm call
/// per call site for this many rows.
const CALL_ROWS: usize = 4096;

/// Input rows waiting for the plugin function calls of the writer's fields.
struct Waiting<'a> {
    rows: Vec<WaitingRow>,
    calls: calls::Calls<'a>,
}

/// One input row: `r`, `l`, `p`, and whether it is a left-join row without a match (its
/// fields that read `l.*` take their default value instead of being evaluated).
struct WaitingRow {
    env: [Vec<Value>; 3],
    unmatched: bool,
}

/// Evaluates writer fields, applies `having`, builds index keys and writes rows in chunks.
pub(crate) struct TableSink<'a> {
    ctx: &'a BatchCtx<'a>,
    writer: &'a TableWriter,
    def: TableDef,
    mode: WriteMode,
    out: RowSet,
    keys: Vec<Vec<String>>,
    /// Normal mode: `(key, token)` entries per index, not written yet.
    pending: Vec<Vec<(String, i64)>>,
    /// Estimated heap bytes of `pending`.
    pending_bytes: usize,
    /// Past this many `pending_bytes`, the entries are written.
    pending_budget: usize,
    /// Normal mode: the data write running while the next chunk is evaluated, with the keys of
    /// its rows.
    in_flight: Option<(WriteTask, Vec<Vec<String>>)>,
    written: u64,
    empty: Vec<Value>,
    /// Set when writer fields call plugin functions.
    waiting: Option<Waiting<'a>>,
}

impl<'a> TableSink<'a> {
    pub fn new(ctx: &'a BatchCtx<'a>) -> Result<TableSink<'a>> {
        let writer = table_writer(ctx.node)?;
        let def = table_def(ctx.node, ctx.msg.run_id).expect("table writer has a table");
        let mode = if ctx.node.node_type == NodeType::DistinctTable {
            WriteMode::DistinctFirst
        } else {
            WriteMode::Normal
        };
        Ok(TableSink {
            ctx,
            writer,
            out: RowSet::with_capacity(writer.schema.clone(), WRITE_CHUNK),
            keys: vec![Vec::with_capacity(WRITE_CHUNK); writer.indexes.len()],
            pending: vec![Vec::new(); writer.indexes.len()],
            pending_bytes: 0,
            pending_budget: ctx.engine.batch_memory_budget() / INDEX_BUDGET_DIVISOR,
            in_flight: None,
            def,
            mode,
            written: 0,
            empty: Vec::new(),
            waiting: calls::any_calls(writer.fields.iter().map(|f| &f.expr)).then(|| Waiting {
                rows: Vec::with_capacity(CALL_ROWS),
                calls: calls::Calls::new(ctx),
            }),
        })
    }

    /// The writer definition.
    pub fn writer(&self) -> &'a TableWriter {
        self.writer
    }

    /// Evaluates every writer field over `r`, `l`, `p`.
    pub fn eval_fields(&self, r: &[Value], l: &[Value], p: &[Value]) -> Result<Vec<Value>> {
        let env: [&[Value]; 4] = [r, l, p, &self.empty];
        self.writer
            .fields
            .iter()
            .map(|f| {
                f.expr
                    .eval(&env)
                    .map_err(|e| self.ctx.eval_err(&format!("w.fields.{}", f.name), e))
            })
            .collect()
    }

    /// Evaluates the writer fields over one input row and writes the result. A writer whose
    /// fields call plugin functions keeps the input until [`CALL_ROWS`] rows are waiting, then
    /// calls the plugins once for all of them.
    pub async fn add(&mut self, r: Vec<Value>, l: &[Value], p: Vec<Value>) -> Result<()> {
        match &mut self.waiting {
            None => {
                let w = self.eval_fields(&r, l, &p)?;
                self.push(w).await
            }
            Some(_) => self.wait(r, l.to_vec(), p, false).await,
        }
    }

    /// True when writer fields call plugin functions (rows then go through [`Self::add`] or
    /// [`Self::add_unmatched`]).
    pub fn calls_functions(&self) -> bool {
        self.waiting.is_some()
    }

    /// [`Self::add`] for a left-join row without a match: fields that read `l.*` take their
    /// default value, the others see `l_zero`.
    pub async fn add_unmatched(&mut self, r: Vec<Value>, l_zero: &[Value]) -> Result<()> {
        if self.waiting.is_some() {
            return self.wait(r, l_zero.to_vec(), Vec::new(), true).await;
        }
        let w = lookup::unmatched_fields(self.ctx, self.writer, &r, l_zero, &[])?;
        self.push(w).await
    }

    async fn wait(
        &mut self,
        r: Vec<Value>,
        l: Vec<Value>,
        p: Vec<Value>,
        unmatched: bool,
    ) -> Result<()> {
        let Some(waiting) = self.waiting.as_mut() else {
            return Ok(());
        };
        waiting.rows.push(WaitingRow {
            env: [r, l, p],
            unmatched,
        });
        if waiting.rows.len() >= CALL_ROWS {
            self.run_calls().await?;
        }
        Ok(())
    }

    /// Calls the plugin functions for the waiting rows, then evaluates and writes them.
    async fn run_calls(&mut self) -> Result<()> {
        let Some(mut waiting) = self.waiting.take() else {
            return Ok(());
        };
        let rows = std::mem::take(&mut waiting.rows);
        let done = self.eval_with_calls(&mut waiting.calls, &rows).await;
        self.waiting = Some(waiting);
        done
    }

    async fn eval_with_calls(
        &mut self,
        calls: &mut calls::Calls<'a>,
        rows: &[WaitingRow],
    ) -> Result<()> {
        let inputs: Vec<calls::InputRow<'_>> = rows
            .iter()
            .map(|w| {
                let [r, l, p] = &w.env;
                [r.as_slice(), l.as_slice(), p.as_slice()]
            })
            .collect();
        // Per field: the results of its calls for each row (empty where it is not evaluated).
        let mut results: Vec<Vec<Vec<Value>>> = Vec::with_capacity(self.writer.fields.len());
        for f in &self.writer.fields {
            if f.expr.external_calls().is_empty() {
                results.push(Vec::new());
                continue;
            }
            let evaluated: Vec<usize> = (0..rows.len())
                .filter(|&i| !(rows[i].unmatched && f.uses_lookup))
                .collect();
            let subset: Vec<calls::InputRow<'_>> = evaluated.iter().map(|&i| inputs[i]).collect();
            let field = format!("w.fields.{}", f.name);
            let got = calls.eval(&f.expr, &field, &subset).await?;
            let mut per_row = vec![Vec::new(); rows.len()];
            for (i, x) in evaluated.into_iter().zip(got) {
                per_row[i] = x;
            }
            results.push(per_row);
        }
        for (i, (input, row)) in inputs.iter().zip(rows).enumerate() {
            let x: Vec<&[Value]> = results
                .iter()
                .map(|r| r.get(i).map_or(&[][..], Vec::as_slice))
                .collect();
            let w = if row.unmatched {
                lookup::unmatched_fields(self.ctx, self.writer, input[0], input[1], &x)?
            } else {
                let mut w = Vec::with_capacity(self.writer.fields.len());
                for (f, x) in self.writer.fields.iter().zip(&x) {
                    let env: [&[Value]; 5] = [input[0], input[1], input[2], &self.empty, x];
                    w.push(
                        f.expr
                            .eval(&env)
                            .map_err(|e| self.ctx.eval_err(&format!("w.fields.{}", f.name), e))?,
                    );
                }
                w
            };
            self.push(w).await?;
        }
        Ok(())
    }

    /// Applies `having` and buffers the row; flushes when the buffer is full.
    pub async fn push(&mut self, w: Vec<Value>) -> Result<()> {
        let w: Vec<Value> = w
            .into_iter()
            .zip(self.writer.fields.iter())
            .map(|(v, f)| {
                v.normalized_for(f.field_type)
                    .unwrap_or_else(|| Value::zero(f.field_type))
            })
            .collect();
        if let Some(h) = &self.writer.having {
            let env: [&[Value]; 4] = [&self.empty, &self.empty, &self.empty, &w];
            let keep = h.eval(&env).map_err(|e| self.ctx.eval_err("w.having", e))?;
            if keep.as_bool() != Some(true) {
                return Ok(());
            }
        }
        for (i, idx) in self.writer.indexes.iter().enumerate() {
            self.keys[i].push(row_key(&idx.components, &w));
        }
        self.out.push_row(w);
        if self.out.len() >= WRITE_CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes buffered rows. In normal mode only the data rows are written here; their index
    /// entries wait in `pending` for [`TableSink::write_entries`].
    pub async fn flush(&mut self) -> Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let rows = std::mem::replace(
            &mut self.out,
            RowSet::with_capacity(self.writer.schema.clone(), WRITE_CHUNK),
        );
        let keys: Vec<Vec<String>> = self
            .keys
            .iter_mut()
            .map(|k| std::mem::replace(k, Vec::with_capacity(WRITE_CHUNK)))
            .collect();
        if self.mode == WriteMode::DistinctFirst {
            let stats = self
                .ctx
                .ks
                .write_rows(&self.def, self.ctx.msg.batch_idx, &rows, &keys, self.mode)
                .await
                .map_err(|e| self.store_err(e))?;
            self.written += stats.rows_written;
            return Ok(());
        }
        // One write in flight: wait for the previous chunk, then hand this one to a task and
        // go back to evaluating rows while it commits.
        self.settle().await?;
        let ks = self.ctx.ks_shared.clone();
        let def = self.def.clone();
        let batch_idx = self.ctx.msg.batch_idx;
        let task = tokio::spawn(async move { ks.write_data(&def, batch_idx, rows).await });
        self.in_flight = Some((task, keys));
        if self.pending_bytes > self.pending_budget {
            self.write_entries().await?;
        }
        Ok(())
    }

    /// Waits for the write in flight and queues the index entries of its rows.
    async fn settle(&mut self) -> Result<()> {
        let Some((task, keys)) = self.in_flight.take() else {
            return Ok(());
        };
        let tokens = task
            .await
            .map_err(|e| EngineError::Invalid(format!("table write stopped: {e}")))?
            .map_err(|e| self.store_err(e))?;
        self.written += tokens.len() as u64;
        for (pending, keys) in self.pending.iter_mut().zip(keys) {
            self.pending_bytes += keys
                .iter()
                .map(|k| k.capacity() + INDEX_ENTRY_OVERHEAD)
                .sum::<usize>();
            pending.extend(keys.into_iter().zip(tokens.iter().copied()));
        }
        Ok(())
    }

    /// Writes the index entries collected so far, one sorted call per index.
    async fn write_entries(&mut self) -> Result<()> {
        for i in 0..self.pending.len() {
            if self.pending[i].is_empty() {
                continue;
            }
            // Taken whole, so the next group starts with a small vector again.
            let entries = std::mem::take(&mut self.pending[i]);
            self.ctx
                .ks
                .write_index_entries(&self.def, i, self.ctx.msg.batch_idx, entries)
                .await
                .map_err(|e| self.store_err(e))?;
        }
        self.pending_bytes = 0;
        Ok(())
    }

    fn store_err(&self, e: vessel_store::StoreError) -> EngineError {
        match e {
            vessel_store::StoreError::DuplicateKey { index, key } => EngineError::Invalid(format!(
                "node '{}': duplicate key '{}' in unique index '{index}'; the data has two rows \
                 with the same key, or the index should be non_unique",
                self.ctx.node.name,
                key.trim_end()
            )),
            other => other.into(),
        }
    }

    /// Ends the batch's writing. After `filled` succeeded: flushes rows and index entries and
    /// returns the rows written. After it failed: waits for the write in flight, so that nothing
    /// of this batch lands after its cleanup, and returns the failure.
    pub async fn close<T>(mut self, filled: Result<T>) -> Result<(T, u64)> {
        let value = match filled {
            Ok(v) => v,
            Err(e) => {
                let _ = self.settle().await;
                self.release_calls();
                return Err(e);
            }
        };
        let done = async {
            self.run_calls().await?;
            self.flush().await?;
            self.settle().await?;
            self.write_entries().await
        };
        let done = done.await;
        self.release_calls();
        if let Err(e) = done {
            let _ = self.settle().await;
            return Err(e);
        }
        Ok((value, self.written))
    }

    /// Keeps the plugin function instances for the node run's next batch.
    fn release_calls(&mut self) {
        if let Some(w) = self.waiting.take() {
            w.calls.release();
        }
    }
}

/// Resolves a URL of a script to a local file; relative paths are relative to `base`.
///
/// # Errors
/// For URLs of other schemes (http, s3, sftp), which this deployment does not read.
pub(crate) fn local_path_in(base: &std::path::Path, url: &str) -> Result<std::path::PathBuf> {
    if let Some(rest) = url.strip_prefix("file://") {
        return Ok(std::path::PathBuf::from(rest));
    }
    if url.contains("://") {
        return Err(EngineError::Invalid(format!(
            "{url}: only local files are supported on this deployment (no http, s3 or sftp yet)"
        )));
    }
    let p = std::path::PathBuf::from(url);
    Ok(if p.is_absolute() { p } else { base.join(p) })
}

/// Shared row of zero values for a schema (left joins without a match).
pub(crate) fn zero_row(schema: &Arc<vessel_core::Schema>) -> Vec<Value> {
    schema
        .fields()
        .iter()
        .map(|(_, t)| Value::zero(*t))
        .collect()
}
