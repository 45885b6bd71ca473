//! `table_file`: table rows → file columns → one file per batch (optionally sorted by `top`).

use super::calls::{Calls, InputRow, any_calls};
use super::file_table::local_path;
use super::top_sort::TopSort;
use super::{BatchCtx, BatchStats, table_reader};
use crate::files::CsvWriter;
use crate::{EngineError, Result};
use vessel_core::Value;
use vessel_script::{FileFormat, FileWriter, Writer};

pub(crate) async fn run(ctx: &BatchCtx<'_>) -> Result<BatchStats> {
    let reader = table_reader(ctx.node)?;
    let Writer::File(writer) = &ctx.node.writer else {
        return Err(EngineError::Invalid(format!(
            "node '{}' is a table_file without a file writer",
            ctx.node.name
        )));
    };
    if writer.format == FileFormat::Parquet {
        return Err(EngineError::Invalid(format!(
            "node '{}': writing Parquet files is not supported yet",
            ctx.node.name
        )));
    }
    let url = writer
        .url_template
        .replace("{batch_idx}", &format!("{:05}", ctx.msg.batch_idx))
        .replace("{batch_idx|string}", &format!("{:05}", ctx.msg.batch_idx))
        .replace("{run_id}", &format!("{:05}", ctx.msg.run_id))
        .replace("{run_id|string}", &format!("{:05}", ctx.msg.run_id));
    let path = local_path(&ctx.msg.script_url, &url)?;
    // Written under a temporary name and renamed on success, so a crashed or failed batch
    // never leaves a partial file under the final name.
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("out"),
        std::process::id()
    ));
    let mut out = CsvWriter::create(&tmp, writer)?;
    // Spill runs go beside the output: on its disk, and not into a temp dir that may be a
    // tmpfs (memory).
    let spill_dir = path
        .parent()
        .map_or_else(std::path::PathBuf::new, |p| p.to_path_buf());
    // Half the batch's share for the rows: the rest is for the pages being read, the output
    // buffer, and memory the allocator keeps after a run is spilled.
    let mut sorted = writer.top.as_ref().map(|top| {
        TopSort::new(
            top,
            ctx.engine.batch_memory_budget() / 2,
            &spill_dir,
            &path.display().to_string(),
        )
    });
    let mut pages = ctx.pages(reader)?;
    let mut written = 0u64;
    let mut calls = any_calls(writer.columns.iter().map(|c| &c.expr)).then(|| Calls::new(ctx));
    let no_results: Vec<Vec<Value>> = Vec::new();
    while let Some(rows) = pages.next(ctx).await? {
        let inputs: Vec<Vec<Value>> = (0..rows.len()).map(|i| rows.row(i)).collect();
        // Per column: the results of its plugin function calls for every row of the page.
        let mut results: Vec<Vec<Vec<Value>>> = Vec::with_capacity(writer.columns.len());
        if let Some(calls) = calls.as_mut() {
            let envs: Vec<InputRow<'_>> = inputs.iter().map(|r| [r.as_slice(), &[], &[]]).collect();
            for c in &writer.columns {
                results.push(if c.expr.external_calls().is_empty() {
                    Vec::new()
                } else {
                    let field = format!("w.columns.{}", c.name);
                    calls.eval(&c.expr, &field, &envs).await?
                });
            }
        }
        for (i, r) in inputs.iter().enumerate() {
            let x: Vec<&[Value]> = if results.is_empty() {
                Vec::new()
            } else {
                (0..writer.columns.len())
                    .map(|c| {
                        results
                            .get(c)
                            .unwrap_or(&no_results)
                            .get(i)
                            .map_or(&[][..], Vec::as_slice)
                    })
                    .collect()
            };
            let Some(w) = eval_columns(ctx, writer, r, &x)? else {
                continue;
            };
            match sorted.as_mut() {
                Some(sorted) => sorted.push(w)?,
                None => {
                    out.write_row(&w)?;
                    written += 1;
                }
            }
        }
    }
    if let Some(sorted) = sorted {
        if sorted.spilled_runs() > 0 {
            tracing::debug!(
                node = %ctx.node.name,
                runs = sorted.spilled_runs(),
                "top sort went over its memory budget and spilled sorted runs to disk"
            );
        }
        // Stable: rows with equal keys keep their reading order.
        written += sorted.finish(&mut |w| out.write_row(&w))?;
    }
    if let Some(calls) = calls.take() {
        calls.release();
    }
    out.finish()?;
    std::fs::rename(&tmp, &path).map_err(|e| {
        EngineError::Invalid(format!(
            "cannot move {} to {}: {e}",
            tmp.display(),
            path.display()
        ))
    })?;
    Ok(BatchStats {
        rows_in: pages.rows,
        rows_out: written,
    })
}

/// Column values of one output row, or `None` when `having` rejects it. `x[c]` holds the
/// results of column `c`'s plugin function calls for this row.
fn eval_columns(
    ctx: &BatchCtx<'_>,
    writer: &FileWriter,
    r: &[Value],
    x: &[&[Value]],
) -> Result<Option<Vec<Value>>> {
    let mut w = Vec::with_capacity(writer.columns.len());
    for (i, c) in writer.columns.iter().enumerate() {
        let env: [&[Value]; 5] = [r, &[], &[], &[], x.get(i).copied().unwrap_or(&[])];
        let v = c
            .expr
            .eval(&env)
            .map_err(|e| ctx.eval_err(&format!("w.columns.{}", c.name), e))?;
        w.push(
            v.normalized_for(c.field_type)
                .unwrap_or_else(|| Value::zero(c.field_type)),
        );
    }
    if let Some(h) = &writer.having {
        let env: [&[Value]; 4] = [&[], &[], &[], &w];
        let keep = h.eval(&env).map_err(|e| ctx.eval_err("w.having", e))?;
        if keep.as_bool() != Some(true) {
            return Ok(None);
        }
    }
    Ok(Some(w))
}
