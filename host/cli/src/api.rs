//! `vessel api`: the web API, with in-process workers when the queue is the embedded one.

use crate::config::{BackendArgs, Config, QueueUrl, WorkerArgs};
use anyhow::{Context, bail};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use vessel_engine::{Engine, worker};

/// Arguments of `vessel api`.
#[derive(Args)]
pub struct ApiArgs {
    /// Address to listen on. Without --token-file only loopback addresses are accepted.
    #[arg(long, env = "VESSEL_API_LISTEN", default_value = "127.0.0.1:6543")]
    listen: SocketAddr,
    /// Folder that submitted scripts may read, write and load plugins from (repeatable;
    /// default: the working folder).
    #[arg(long = "allow-dir", value_name = "DIR")]
    allow_dirs: Vec<PathBuf>,
    /// File holding the bearer token that every endpoint but /healthz requires.
    #[arg(long, env = "VESSEL_API_TOKEN_FILE", value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Origin allowed to call the API from a browser page, e.g. https://ops.example.com
    /// (repeatable; default: none).
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    cors_origins: Vec<String>,
    /// Largest request body, in MiB.
    #[arg(long, default_value_t = 4)]
    max_body_mb: usize,
    /// Where scripts and params sent in request bodies are saved (default:
    /// vessel-submitted/ in the first allowed folder).
    #[arg(long, value_name = "DIR")]
    submit_dir: Option<PathBuf>,
    #[command(flatten)]
    backend: BackendArgs,
    #[command(flatten)]
    worker: WorkerArgs,
}

pub fn main(args: ApiArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.backend)?;
    let workers = config.workers(&args.worker)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(2))
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let code = rt.block_on(serve(args, config, workers));
    rt.shutdown_timeout(Duration::from_millis(500));
    code
}

async fn serve(args: ApiArgs, config: Config, workers: usize) -> anyhow::Result<ExitCode> {
    let token = match &args.token_file {
        Some(f) => {
            let t = std::fs::read_to_string(f)
                .with_context(|| format!("cannot read the token file {}", f.display()))?;
            let t = t.trim().to_string();
            if t.len() < 16 {
                bail!(
                    "the token in {} has {} characters; use at least 16 (for example the output \
                     of `openssl rand -hex 32`)",
                    f.display(),
                    t.len()
                );
            }
            Some(t)
        }
        None => None,
    };
    if token.is_none() && !args.listen.ip().is_loopback() {
        bail!(
            "refusing to listen on {} without authentication: give --token-file, or listen on \
             127.0.0.1",
            args.listen
        );
    }
    let cwd = std::env::current_dir().context("cannot read the working folder")?;
    let dirs = if args.allow_dirs.is_empty() {
        vec![cwd.clone()]
    } else {
        args.allow_dirs.clone()
    };
    let mut settings = vessel_api::ApiSettings::new(dirs[0].clone())?;
    settings.allowed = vessel_api::AllowedDirs::new(dirs)?;
    settings.token = token;
    settings.cors_origins = args.cors_origins.clone();
    settings.max_body_bytes = args.max_body_mb.max(1) << 20;
    if let Some(d) = &args.submit_dir {
        settings.submit_dir = d.clone();
    }

    let store = config.store_url(|| crate::default_data_dir(None))?;
    let storage = crate::config::open_store(&store).await?;
    let queue_url = config.queue_url()?;
    let queue = crate::config::open_queue(&queue_url, &config.queue_prefix()).await?;
    let engine = Arc::new(
        Engine::new(storage, queue).with_settings(config.engine_settings(&args.worker, &store)?),
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // With the embedded queue nobody else takes the batches: work them here.
    let handles = if queue_url == QueueUrl::Memory {
        worker::spawn_workers(&engine, workers, &stop_rx).await?
    } else {
        Vec::new()
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let auth = if settings.token.is_some() {
        "bearer token required"
    } else {
        "no token: loopback only"
    };
    let workers_note = if handles.is_empty() {
        format!("batches go to the daemons on {}", queue_url.display())
    } else {
        format!("{workers} workers in this process")
    };
    let app = vessel_api::router(engine.clone(), settings);
    eprintln!(
        "vessel api listening on http://{addr}/ ({auth}; {workers_note}; store {})",
        store.display()
    );
    let shutdown = async {
        match crate::daemon::signals().await {
            Ok(name) => eprintln!("{name}: stopping"),
            Err(e) => eprintln!("error: {e:#}"),
        }
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("the API server stopped")?;
    let _ = stop_tx.send(true);
    for h in handles {
        let _ = tokio::time::timeout(Duration::from_secs(5), h).await;
    }
    Ok(ExitCode::SUCCESS)
}
