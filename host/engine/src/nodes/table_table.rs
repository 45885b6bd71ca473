//! `table_table` and `distinct_table`: table rows → writer fields → table.

use super::{BatchCtx, BatchStats, TableSink, table_reader};
use crate::Result;

pub(crate) async fn run(ctx: &BatchCtx<'_>) -> Result<BatchStats> {
    let reader = table_reader(ctx.node)?;
    let mut sink = TableSink::new(ctx)?;
    let mut pages = ctx.pages(reader)?;
    let filled = async {
        while let Some(rows) = pages.next(ctx).await? {
            for i in 0..rows.len() {
                sink.add(rows.row(i), &[], Vec::new()).await?;
            }
        }
        Ok(pages.rows)
    }
    .await;
    let (rows_in, rows_out) = sink.close(filled).await?;
    Ok(BatchStats { rows_in, rows_out })
}
