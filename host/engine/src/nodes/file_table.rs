//! `file_table`: one input file (one batch) → writer fields → table.

use super::{BatchCtx, BatchStats, TableSink};
use crate::files::{FileError, read_csv};
use crate::scripts::script_dir;
use crate::{EngineError, Result};
use std::path::PathBuf;
use vessel_core::RowSet;
use vessel_script::{FileFormat, Reader};

pub(crate) async fn run(ctx: &BatchCtx<'_>) -> Result<BatchStats> {
    let Reader::File(reader) = &ctx.node.reader else {
        return Err(EngineError::Invalid(format!(
            "node '{}' is a file_table without a file reader",
            ctx.node.name
        )));
    };
    let idx = ctx.msg.batch_idx as usize;
    let url = reader.urls.get(idx).ok_or_else(|| {
        EngineError::Invalid(format!(
            "node '{}' has {} input files, batch {idx} has none",
            ctx.node.name,
            reader.urls.len()
        ))
    })?;
    let path = local_path(&ctx.msg.script_url, url)?;
    if reader.format == FileFormat::Parquet {
        return Err(EngineError::Invalid(format!(
            "node '{}': reading Parquet files is not supported yet ({url})",
            ctx.node.name
        )));
    }

    // Parsing runs on a blocking thread and hands over row sets while this task evaluates
    // and writes the previous ones.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<RowSet>(2);
    let node = ctx.node.name.clone();
    let script = ctx.script.clone();
    let display = url.clone();
    let rowset_size = 1000;
    let parse = tokio::task::spawn_blocking(move || {
        let Some(node) = script.nodes.get(&node) else {
            return Err(FileError::Sink(
                format!("node {node} is not in the script").into(),
            ));
        };
        let Reader::File(reader) = &node.reader else {
            return Err(FileError::Sink("not a file reader".into()));
        };
        let mut sink = |rs: RowSet| {
            tx.blocking_send(rs)
                .map_err(|_| FileError::Sink("batch processing stopped".into()))
        };
        read_csv(reader, &path, &display, rowset_size, &mut sink)
    });
    let mut sink = TableSink::new(ctx)?;
    let filled = async {
        let mut rows_in = 0u64;
        while let Some(rows) = rx.recv().await {
            rows_in += rows.len() as u64;
            ctx.report_rows(rows.len());
            for i in 0..rows.len() {
                sink.add(rows.row(i), &[], Vec::new()).await?;
            }
        }
        drop(rx);
        parse
            .await
            .map_err(|e| EngineError::Invalid(format!("CSV reader stopped: {e}")))??;
        Ok(rows_in)
    }
    .await;
    let (rows_in, rows_out) = sink.close(filled).await?;
    Ok(BatchStats { rows_in, rows_out })
}

/// Resolves a reader URL to a local file; relative paths are relative to the script's folder.
pub(crate) fn local_path(script_url: &str, url: &str) -> Result<PathBuf> {
    super::local_path_in(script_dir(script_url), url)
}
