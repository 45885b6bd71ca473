//! `vessel run`: create a run (or resume one), process it to the end with workers in this
//! process, and wait for it: `start-run`, workers and `wait` in one command. With a shared
//! queue (`--queue amqp://...`), daemons elsewhere may take some of the batches too.

use crate::config::{BackendArgs, Config, QueueUrl, WorkerArgs};
use crate::progress::Bars;
use crate::wait::End;
use anyhow::{Context, bail};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use vessel_engine::{Engine, worker};

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
    /// Finish the latest unfinished run of the keyspace instead of starting a new one.
    #[arg(long)]
    resume: bool,
    /// Text recorded with the run.
    #[arg(long, default_value = "")]
    description: String,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    backend: BackendArgs,
    #[command(flatten)]
    worker: WorkerArgs,
}

pub fn main(args: RunArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.backend)?;
    let workers = config.workers(&args.worker)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(2))
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(run(args, config, workers))
}

async fn run(args: RunArgs, config: Config, workers: usize) -> anyhow::Result<ExitCode> {
    let keyspace = match (&args.script, args.resume) {
        (_, true) => match args.keyspace.clone() {
            Some(ks) => ks,
            None => bail!("--resume needs --keyspace (and --store unless it is the default)"),
        },
        (Some(script), false) => args
            .keyspace
            .clone()
            .unwrap_or_else(|| crate::default_keyspace(script)),
        (None, false) => bail!("give a script to run, or --resume --keyspace KS"),
    };
    let store = config.store_url(|| crate::default_data_dir(args.script.as_deref()))?;
    let storage = crate::config::open_store(&store).await?;
    let queue_url = config.queue_url()?;
    let queue = crate::config::open_queue(&queue_url, &config.queue_prefix()).await?;
    let bars = Arc::new(Bars::new());
    let mut engine = Engine::new(storage, queue.clone())
        .with_settings(config.engine_settings(&args.worker, &store)?);
    // Alone on the in-process queue, this process's workers report every batch (with rows as
    // they go); on a shared queue other processes do part of the work, so the bars are drawn
    // from storage instead.
    let local = queue_url == QueueUrl::Memory;
    if local {
        engine = engine.with_progress(bars.clone());
    }
    let engine = Arc::new(engine);

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let handles = worker::spawn_workers(&engine, workers, &stop_rx).await?;

    let run_id = if args.resume {
        let id = engine.resume_run(&keyspace, None).await?;
        bars.println(&format!("resuming run {id} of keyspace {keyspace}"));
        id
    } else {
        let script = args.script.clone().expect("checked above");
        let req = crate::start_run::request(
            &keyspace,
            script,
            args.params.clone(),
            &args.start_nodes,
            &args.description,
        );
        let id = crate::start_run::start(&engine, &req, |w| bars.println(w)).await?;
        bars.println(&format!(
            "run {id} of keyspace {keyspace} (store {})",
            store.display()
        ));
        id
    };

    let halt_engine = engine.clone();
    let end = crate::wait::follow(
        &engine,
        &keyspace,
        run_id,
        (!local).then_some(bars.as_ref()),
        None,
        async move {
            tokio::select! {
                // A halt leaves the run unfinished for good in this process.
                cause = halt_engine.wait_halted() => cause,
                _ = tokio::signal::ctrl_c() => String::new(),
            }
        },
    )
    .await?;
    let _ = stop_tx.send(true);
    for h in handles {
        let _ = h.await;
    }
    engine.leave().await;
    bars.finish();
    let resume = format!(
        "vessel run --resume --keyspace {keyspace} --store {}",
        store.display()
    );
    match end {
        End::Finished => {
            let summary = engine.summary(&keyspace, run_id).await?;
            crate::wait::report(&summary, args.json)
        }
        End::Stopped(cause) if !cause.is_empty() => {
            eprintln!("error: {cause}");
            eprintln!(
                "run {run_id} of keyspace {keyspace} is not finished; once the cause is fixed \
                 (free disk space, repair the file system), finish it with `{resume}`"
            );
            Ok(ExitCode::FAILURE)
        }
        End::Stopped(_) | End::TimedOut => {
            eprintln!("interrupted: finish the run with `{resume}`");
            Ok(ExitCode::from(130))
        }
    }
}
