//! `vessel run`: create a run (or resume one) and process it to the end in this process.

use crate::progress::Bars;
use anyhow::{Context, bail};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use vessel_engine::{
    DEFAULT_LOOKUP_CACHE_BYTES, DEFAULT_MEMORY_BUDGET_BYTES, Engine, RunRequest, RunSummary,
    Settings, worker,
};
use vessel_queue::{MemoryQueue, Queue};
use vessel_store::RunStatus;
use vessel_store_sqlite::SqliteStorage;

/// Arguments of `vessel run`.
#[derive(Args)]
pub struct RunArgs {
    /// Script file (JSON or YAML). Not needed with --resume.
    script: Option<PathBuf>,
    /// Params file (JSON or YAML) substituted into the script.
    #[arg(long)]
    params: Option<PathBuf>,
    /// Keyspace that holds the run's tables and state (default: derived from the script name).
    #[arg(long)]
    keyspace: Option<String>,
    /// Comma-separated start nodes (default: every node that reads files).
    #[arg(long, value_delimiter = ',')]
    start_nodes: Vec<String>,
    /// Where keyspaces are stored (default: `vessel-data` beside the script).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Batches processed in parallel (default: number of cores).
    #[arg(long)]
    workers: Option<usize>,
    /// Finish the latest unfinished run of the keyspace instead of starting a new one.
    #[arg(long)]
    resume: bool,
    /// Text recorded with the run.
    #[arg(long, default_value = "")]
    description: String,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Memory for in-memory copies of lookup tables, in MiB, shared by all workers; a lookup
    /// table that does not fit is read from storage. 0 turns the copies off.
    #[arg(long, env = "VESSEL_LOOKUP_CACHE_MB", default_value_t = (DEFAULT_LOOKUP_CACHE_BYTES >> 20) as u64)]
    lookup_cache_mb: u64,
    /// Memory for the buffers of the batches in progress, in MiB, shared by all workers: past
    /// it, sorted (`top`) file writers spill to temporary files beside their output and table
    /// writers write their index entries early.
    #[arg(long, env = "VESSEL_MEMORY_BUDGET", default_value_t = (DEFAULT_MEMORY_BUDGET_BYTES >> 20) as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    memory_budget: u64,
}

pub fn main(args: RunArgs) -> anyhow::Result<ExitCode> {
    let workers = args
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(2))
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(run(args, workers))
}

async fn run(args: RunArgs, workers: usize) -> anyhow::Result<ExitCode> {
    let (keyspace, data_dir) = match (&args.script, args.resume) {
        (_, true) => {
            let Some(ks) = args.keyspace.clone() else {
                bail!("--resume needs --keyspace (and --data-dir unless it is the default)");
            };
            let dir = args
                .data_dir
                .clone()
                .unwrap_or_else(|| crate::default_data_dir(args.script.as_deref()));
            (ks, dir)
        }
        (Some(script), false) => (
            args.keyspace
                .clone()
                .unwrap_or_else(|| crate::default_keyspace(script)),
            args.data_dir
                .clone()
                .unwrap_or_else(|| crate::default_data_dir(Some(script))),
        ),
        (None, false) => bail!("give a script to run, or --resume --keyspace KS"),
    };
    let storage = Arc::new(
        SqliteStorage::open(&data_dir)
            .with_context(|| format!("cannot open data directory {}", data_dir.display()))?,
    );
    let queue = MemoryQueue::new();
    let bars = Arc::new(Bars::new());
    let engine = Arc::new(
        Engine::new(storage, Arc::new(queue.clone()) as Arc<dyn Queue>)
            .with_progress(bars.clone())
            .with_settings(Settings {
                lookup_cache_bytes: usize::try_from(args.lookup_cache_mb.saturating_mul(1 << 20))
                    .unwrap_or(usize::MAX),
                plugins: crate::plugin_settings(&data_dir)?,
                memory_budget_bytes: usize::try_from(args.memory_budget.saturating_mul(1 << 20))
                    .unwrap_or(usize::MAX),
                concurrent_batches: workers,
                ..Settings::default()
            }),
    );

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut handles = Vec::new();
    for slot in 0..workers {
        let consumer = queue.consumer().await?;
        handles.push(tokio::spawn(worker::run_worker(
            engine.clone(),
            slot,
            consumer,
            stop_rx.clone(),
        )));
    }

    let run_id = if args.resume {
        let id = engine.resume_run(&keyspace, None).await?;
        bars.println(&format!("resuming run {id} of keyspace {keyspace}"));
        id
    } else {
        let script = args.script.as_ref().expect("checked above");
        let req = RunRequest {
            keyspace: keyspace.clone(),
            script: script.clone(),
            params: args.params.clone(),
            start_nodes: args.start_nodes.clone(),
            description: args.description.clone(),
        };
        // The same warnings as `vessel validate` (a misspelt key is otherwise silently
        // ignored); errors come from start_run below.
        if let Ok(script) = engine.request_script(&req).await {
            for w in &script.warnings {
                bars.println(&format!("warning: {w}"));
            }
        }
        let id = engine.start_run(&req).await?;
        bars.println(&format!(
            "run {id} of keyspace {keyspace} (data in {})",
            data_dir.display()
        ));
        id
    };

    let mut interrupted = false;
    let mut halted = None;
    loop {
        // A halt leaves the run unfinished for good in this process: stop waiting for it.
        if let Some(cause) = engine.halted() {
            halted = Some(cause);
            break;
        }
        let st = engine.run_status(&keyspace, run_id).await?;
        if matches!(st, RunStatus::Complete | RunStatus::Stop) {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            cause = engine.wait_halted() => { halted = Some(cause); break; }
            _ = tokio::signal::ctrl_c() => { interrupted = true; break; }
        }
    }
    let _ = stop_tx.send(interrupted || halted.is_some());
    queue.close();
    for h in handles {
        let _ = h.await;
    }
    bars.finish();
    let resume = format!(
        "vessel run --resume --keyspace {keyspace} --data-dir {}",
        data_dir.display()
    );
    if let Some(cause) = halted {
        eprintln!("error: {cause}");
        eprintln!(
            "run {run_id} of keyspace {keyspace} is not finished; once the cause is fixed \
             (free disk space, repair the file system), finish it with `{resume}`"
        );
        return Ok(ExitCode::FAILURE);
    }
    if interrupted {
        eprintln!("interrupted: finish the run with `{resume}`");
        return Ok(ExitCode::from(130));
    }
    let summary = engine.summary(&keyspace, run_id).await?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        // The exit code tells the outcome even when nobody reads the summary any more.
        if let Err(e) = print_summary(&summary)
            && e.kind() != std::io::ErrorKind::BrokenPipe
        {
            return Err(e.into());
        }
    }
    Ok(if summary.all_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_summary(s: &RunSummary) -> std::io::Result<()> {
    let w = s
        .nodes
        .iter()
        .map(|n| n.node.len())
        .max()
        .unwrap_or(4)
        .max(4);
    outln!(
        "{:<w$}  {:<12}  {:>9}  {:>10}  {:>10}  {:>8}",
        "node",
        "status",
        "batches",
        "rows in",
        "rows out",
        "time"
    );
    for n in &s.nodes {
        outln!(
            "{:<w$}  {:<12}  {:>9}  {:>10}  {:>10}  {:>7.2}s",
            n.node,
            n.status,
            format!("{}/{}", n.batches_ok, n.batches_total),
            n.rows_in,
            n.rows_out,
            n.seconds
        );
    }
    outln!("run {} of {}: {}", s.run_id, s.keyspace, s.run_status);
    for n in s.nodes.iter().filter(|n| n.error.is_some()) {
        outln!(
            "{} failed: {}",
            n.node,
            n.error.as_deref().unwrap_or_default()
        );
    }
    Ok(())
}
