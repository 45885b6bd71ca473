//! `vessel stop-run`: stop a running run, or invalidate a finished one.

use crate::config::{BackendArgs, Config, QueueUrl};
use clap::Args;
use std::process::ExitCode;
use vessel_engine::Engine;

/// Arguments of `vessel stop-run`.
#[derive(Args)]
pub struct StopRunArgs {
    /// Keyspace.
    #[arg(long)]
    keyspace: String,
    /// Run to stop.
    #[arg(long)]
    run_id: i32,
    /// Why, recorded with the run.
    #[arg(long, default_value = "stopped by operator")]
    comment: String,
    #[command(flatten)]
    backend: BackendArgs,
}

pub fn main(args: StopRunArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let config = Config::load(&args.backend)?;
        let store = config.store_url(|| crate::default_data_dir(None))?;
        let storage = crate::config::open_store(&store).await?;
        // Stopping only writes a run event, which workers read before each batch; the
        // queue is not involved.
        let queue = crate::config::open_queue(&QueueUrl::Memory, "").await?;
        let engine = Engine::new(storage, queue);
        engine
            .stop_run(&args.keyspace, args.run_id, &args.comment)
            .await?;
        outln!("run {} of {} stopped", args.run_id, args.keyspace);
        Ok(ExitCode::SUCCESS)
    })
}
