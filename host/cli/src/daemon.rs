//! `vessel daemon`: workers that take the batches of any keyspace and run from a shared queue
//! until SIGINT or SIGTERM.
//!
//! On a signal the daemon stops taking messages, lets the batches in progress finish within
//! the grace period, and exits 0; batches still in progress after it are handed back to the
//! broker (their worker leases expire, and another daemon cleans and redoes them). A daemon
//! whose engine halts (it cannot record a batch's outcome: a full disk, a broken store) stops
//! taking work the same way and exits 1, so that a supervisor can restart it once the cause is
//! fixed.

use crate::config::{BackendArgs, Config, QueueUrl, WorkerArgs};
use anyhow::{Context, bail};
use clap::Args;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use vessel_engine::{Engine, worker};

/// Arguments of `vessel daemon`.
#[derive(Args)]
pub struct DaemonArgs {
    #[command(flatten)]
    backend: BackendArgs,
    #[command(flatten)]
    worker: WorkerArgs,
    /// Serve Prometheus metrics at http://HOST:PORT/metrics.
    #[arg(long, env = "VESSEL_METRICS_ADDR", value_name = "HOST:PORT")]
    metrics_addr: Option<String>,
    /// Seconds that batches in progress get to finish after SIGINT or SIGTERM before they are
    /// handed back to the broker (default: 30).
    #[arg(long, env = "VESSEL_GRACE_PERIOD", value_name = "SECONDS")]
    grace_period: Option<f64>,
}

pub fn main(args: DaemonArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.backend)?;
    let workers = config.workers(&args.worker)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(2))
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let code = rt.block_on(daemon(args, config, workers));
    // Plugin calls of batches handed back may still run on blocking threads: do not wait for
    // them, the process ends here.
    rt.shutdown_timeout(Duration::from_millis(500));
    code
}

/// Why the daemon stops.
enum Stop {
    Signal(&'static str),
    Halt(String),
}

async fn daemon(args: DaemonArgs, config: Config, workers: usize) -> anyhow::Result<ExitCode> {
    let queue_url = config.queue_url()?;
    if queue_url == QueueUrl::Memory {
        bail!(
            "vessel daemon takes batches from a shared queue: give --queue \
             amqp://user:pass@host:port/vhost (or VESSEL_QUEUE, or queue in the settings file)"
        );
    }
    let grace = config.grace_period(args.grace_period)?;
    let metrics_addr = config.metrics_addr(args.metrics_addr.as_deref())?;
    let store = config.store_url(|| crate::default_data_dir(None))?;
    let storage = crate::config::open_store(&store).await?;
    let queue = crate::config::open_queue(&queue_url, &config.queue_prefix()).await?;
    let engine = Arc::new(
        Engine::new(storage, queue.clone())
            .with_settings(config.engine_settings(&args.worker, &store)?),
    );
    let served = match metrics_addr {
        Some(addr) => Some(serve_metrics(addr, engine.clone()).await?),
        None => None,
    };

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut handles = worker::spawn_workers(&engine, workers, &stop_rx).await?;
    eprintln!(
        "vessel daemon {}: {workers} workers on queue {} (prefix {}), store {}{}",
        engine.instance(),
        queue_url.display(),
        config.queue_prefix(),
        store.display(),
        served.map_or(String::new(), |a| format!(
            ", metrics at http://{a}/metrics"
        )),
    );
    tracing::info!(instance = engine.instance(), workers, "daemon started");

    let stop = tokio::select! {
        s = signals() => Stop::Signal(s?),
        cause = engine.wait_halted() => Stop::Halt(cause),
    };
    match &stop {
        Stop::Signal(name) => eprintln!(
            "{name}: taking no more batches; waiting up to {:.0} s for the batches in progress",
            grace.as_secs_f64()
        ),
        Stop::Halt(cause) => eprintln!("error: {cause}\nthe daemon takes no more batches"),
    }
    let _ = stop_tx.send(true);
    let deadline = tokio::time::Instant::now() + grace;
    let mut released = 0;
    for h in &mut handles {
        if tokio::time::timeout_at(deadline, &mut *h).await.is_err() {
            h.abort();
            released += 1;
        }
    }
    if released == 0 {
        // Nothing of this daemon is in progress: others may redo at once whatever it left.
        engine.leave().await;
    } else {
        eprintln!(
            "{released} batches did not finish within the grace period; they are handed back \
             to the broker and redone elsewhere once this daemon's lease expires"
        );
    }
    match stop {
        Stop::Signal(_) => {
            eprintln!("vessel daemon {} stopped", engine.instance());
            Ok(ExitCode::SUCCESS)
        }
        Stop::Halt(_) => Ok(ExitCode::FAILURE),
    }
}

/// Waits for SIGINT or SIGTERM and names it.
pub(crate) async fn signals() -> anyhow::Result<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
        tokio::select! {
            _ = term.recv() => Ok("SIGTERM"),
            _ = int.recv() => Ok("SIGINT"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .context("cannot watch Ctrl-C")?;
        Ok("Ctrl-C")
    }
}

/// Serves `/metrics` on `addr` in the background; returns the bound address.
async fn serve_metrics(addr: SocketAddr, engine: Arc<Engine>) -> anyhow::Result<SocketAddr> {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot serve metrics on {addr}"))?;
    let bound = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let engine = engine.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    engine.metrics().encode(),
                )
            }
        }),
    );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the metrics server stopped");
        }
    });
    Ok(bound)
}
