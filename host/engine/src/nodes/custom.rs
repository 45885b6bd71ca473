//! `table_custom_tfm_table`: table rows → a processor plugin → writer fields over `r.*` and
//! `p.*` → table.

use super::{BatchCtx, BatchStats, TableSink, table_reader};
use crate::scripts::script_dir;
use crate::{EngineError, Result};
use std::sync::Arc;
use vessel_core::{RowSet, Schema};
use vessel_wasm::{OpenArgs, ProcessorInstance};

/// Row errors whose messages are logged per batch; the rest are only counted.
const LOGGED_ROW_ERRORS: usize = 5;

pub(crate) async fn run(ctx: &BatchCtx<'_>) -> Result<BatchStats> {
    let reader = table_reader(ctx.node)?;
    let proc = ctx.node.processor.as_ref().ok_or_else(|| {
        EngineError::Invalid(format!(
            "node '{}' has no custom processor section",
            ctx.node.name
        ))
    })?;
    let plugins = ctx.engine.plugins().map_err(EngineError::Plugin)?;
    let (ks, run_id, node) = (&ctx.msg.ks, ctx.msg.run_id, &ctx.node.name);

    let inst = match plugins.take_idle(ks, run_id, node) {
        Some(i) => i,
        None => {
            let plugins = plugins.clone();
            let proc_type = proc.proc_type.clone();
            let params = proc.params.clone();
            let base = script_dir(&ctx.msg.script_url).to_path_buf();
            let limits = plugins.limits_for(proc);
            let args = OpenArgs {
                params_json: String::new(),
                input_schema: reader.fields.clone(),
                keyspace: ks.clone(),
                run_id,
                node: node.clone(),
            };
            tokio::task::spawn_blocking(move || {
                plugins.open(&proc_type, &params, &base, args, limits)
            })
            .await
            .map_err(|e| EngineError::Plugin(format!("opening the plugin stopped: {e}")))?
            .map_err(|m| {
                EngineError::Plugin(format!("node '{node}': plugin '{}': {m}", proc.proc_type))
            })?
        }
    };
    let reads = projection(&inst, &reader.fields).map_err(|m| {
        EngineError::Plugin(format!("node '{node}': plugin '{}': {m}", proc.proc_type))
    })?;

    let mut sink = TableSink::new(ctx)?;
    let mut pages = ctx.pages(reader)?;
    let mut slot = Some(inst);
    let filled = async {
        while let Some(rows) = pages.next(ctx).await? {
            let input = project(&rows, &reads);
            let Some(mut i) = slot.take() else {
                return Err(EngineError::Plugin("plugin instance lost".into()));
            };
            let batch_idx = ctx.msg.batch_idx;
            let (i, result) = tokio::task::spawn_blocking(move || {
                let r = i.process(&input, batch_idx);
                (i, r)
            })
            .await
            .map_err(|e| EngineError::Plugin(format!("plugin call stopped: {e}")))?;
            slot = Some(i);
            ctx.engine.metrics.plugin_call(&proc.proc_type, &result);
            let out = result.map_err(|e| EngineError::Plugin(e.to_string()))?;
            if out.row_errors_total > 0 {
                report_row_errors(ctx, &proc.proc_type, &out)?;
            }
            // `out.len()`, not `out.output.len()`: a filter's output has no columns.
            let has_fields = !out.output.schema().is_empty();
            for j in 0..out.len() {
                let r = rows.row(out.input_row(j));
                let p = if has_fields {
                    out.output.row(j)
                } else {
                    Vec::new()
                };
                sink.add(r, &[], p).await?;
            }
        }
        Ok(pages.rows)
    }
    .await;
    if let Some(i) = slot.take() {
        // A failed call has already recycled the instance's store; it is fit for the next
        // batch either way.
        plugins.put_idle(ks, run_id, node, i);
    }
    let (rows_in, rows_out) = sink.close(filled).await?;
    Ok(BatchStats { rows_in, rows_out })
}

/// Positions in the reader schema of the fields the plugin reads.
fn projection(inst: &ProcessorInstance, input: &Schema) -> Result<Vec<usize>, String> {
    inst.binding()
        .reads
        .iter()
        .map(|f| {
            input.index_of(f).ok_or_else(|| {
                format!(
                    "reads field '{f}', which the input table does not have (it has: {})",
                    input
                        .fields()
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        })
        .collect()
}

/// The columns `cols` of `rows`, as a rowset of their own.
fn project(rows: &RowSet, cols: &[usize]) -> RowSet {
    let schema = Arc::new(Schema::new(
        cols.iter()
            .map(|&c| {
                let (name, t) = &rows.schema().fields()[c];
                (name.clone(), *t)
            })
            .collect(),
    ));
    let mut out = RowSet::with_capacity(schema, rows.len());
    for i in 0..rows.len() {
        out.push_row(cols.iter().map(|&c| rows.get(i, c)).collect());
    }
    out
}

/// Logs the first row errors of a batch; fails it when there are more than the limit.
fn report_row_errors(
    ctx: &BatchCtx<'_>,
    plugin: &str,
    out: &vessel_wasm::BatchOutput,
) -> Result<()> {
    for e in out.row_errors.iter().take(LOGGED_ROW_ERRORS) {
        tracing::warn!(
            keyspace = %ctx.msg.ks, run_id = ctx.msg.run_id, node = %ctx.node.name,
            batch = ctx.msg.batch_idx, plugin, row = e.row, field = e.field.as_deref().unwrap_or(""),
            "row skipped: {}", e.message
        );
    }
    let max = ctx
        .engine
        .plugins()
        .map(|p| p.limits().max_row_errors)
        .unwrap_or(usize::MAX) as u64;
    if out.row_errors_total > max {
        let first = out
            .row_errors
            .first()
            .map(|e| format!(" (first: row {}: {})", e.row, e.message))
            .unwrap_or_default();
        return Err(EngineError::Plugin(format!(
            "node '{}', batch {}: plugin '{plugin}' rejected {} rows, more than the limit of \
             {max}{first}",
            ctx.node.name, ctx.msg.batch_idx, out.row_errors_total
        )));
    }
    Ok(())
}
