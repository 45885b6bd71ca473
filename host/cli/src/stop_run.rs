//! `vessel stop-run`: stop a running run, or invalidate a finished one.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use vessel_engine::Engine;
use vessel_queue::MemoryQueue;
use vessel_store_sqlite::SqliteStorage;

/// Arguments of `vessel stop-run`.
#[derive(Args)]
pub struct StopRunArgs {
    /// Keyspace.
    #[arg(long)]
    keyspace: String,
    /// Run to stop.
    #[arg(long)]
    run_id: i32,
    /// Data directory (default: ./vessel-data, or VESSEL_DATA_DIR).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Why, recorded with the run.
    #[arg(long, default_value = "stopped by operator")]
    comment: String,
}

pub fn main(args: StopRunArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let dir = args
            .data_dir
            .clone()
            .unwrap_or_else(|| crate::default_data_dir(None));
        let storage = Arc::new(SqliteStorage::open(&dir)?);
        // Stopping only writes a run event; no queue is involved.
        let engine = Engine::new(storage, Arc::new(MemoryQueue::new()));
        engine
            .stop_run(&args.keyspace, args.run_id, &args.comment)
            .await?;
        outln!("run {} of {} stopped", args.run_id, args.keyspace);
        Ok(ExitCode::SUCCESS)
    })
}
