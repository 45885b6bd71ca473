//! `vessel start-run`: record a run and hand its first batches to the workers of a shared
//! queue (`vessel daemon`s), then return at once.

use crate::config::{BackendArgs, Config, QueueUrl};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use vessel_engine::{Engine, RunRequest};

/// Arguments of `vessel start-run`.
#[derive(Args)]
pub struct StartRunArgs {
    /// Script file (JSON or YAML).
    script: PathBuf,
    /// Params file (JSON or YAML) substituted into the script.
    #[arg(long)]
    params: Option<PathBuf>,
    /// Keyspace that holds the run's tables and state.
    #[arg(long)]
    keyspace: String,
    /// Comma-separated start nodes (default: every node without an upstream node).
    #[arg(long, value_delimiter = ',')]
    start_nodes: Vec<String>,
    /// Text recorded with the run.
    #[arg(long, default_value = "")]
    description: String,
    #[command(flatten)]
    backend: BackendArgs,
}

/// The request of `vessel run` and `vessel start-run`. Empty start node names (a trailing
/// comma, as Capillaries' own drivers write) are ignored, as Capillaries does.
pub fn request(
    keyspace: &str,
    script: PathBuf,
    params: Option<PathBuf>,
    start_nodes: &[String],
    description: &str,
) -> RunRequest {
    RunRequest {
        keyspace: keyspace.to_string(),
        script,
        params,
        start_nodes: start_nodes
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        description: description.to_string(),
    }
}

/// Loads the script (printing its warnings through `warn`) and starts the run.
///
/// # Errors
/// Script errors, unknown start nodes, storage or queue failures.
pub async fn start(
    engine: &Engine,
    req: &RunRequest,
    warn: impl Fn(&str),
) -> anyhow::Result<vessel_store::RunId> {
    // The same warnings as `vessel validate` (a misspelt key is otherwise silently ignored);
    // errors come from start_run below.
    if let Ok(script) = engine.request_script(req).await {
        for w in &script.warnings {
            warn(&format!("warning: {w}"));
        }
    }
    Ok(engine.start_run(req).await?)
}

pub fn main(args: StartRunArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let config = Config::load(&args.backend)?;
        let queue_url = config.queue_url()?;
        if queue_url == QueueUrl::Memory {
            anyhow::bail!(
                "start-run hands the run's batches to `vessel daemon` workers through a shared \
                 queue: give --queue amqp://user:pass@host:port/vhost (or VESSEL_QUEUE). To run \
                 a script in this process, use `vessel run`"
            );
        }
        let store = config.store_url(|| crate::default_data_dir(Some(&args.script)))?;
        let storage = crate::config::open_store(&store).await?;
        let queue = crate::config::open_queue(&queue_url, &config.queue_prefix()).await?;
        let engine = Engine::new(storage, queue);
        let req = request(
            &args.keyspace,
            args.script.clone(),
            args.params.clone(),
            &args.start_nodes,
            &args.description,
        );
        let run_id = start(&engine, &req, |w| eprintln!("{w}")).await?;
        eprintln!(
            "run {run_id} of keyspace {} started (queue {}); follow it with \
             `vessel wait --keyspace {} --run-id {run_id} --store {}`",
            args.keyspace,
            queue_url.display(),
            args.keyspace,
            store.display(),
        );
        outln!("{run_id}");
        Ok(ExitCode::SUCCESS)
    })
}
