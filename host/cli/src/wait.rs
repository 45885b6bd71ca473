//! `vessel wait`: follow a run, wherever its batches are processed, until it ends.
//!
//! Everything is read from storage (run, node and batch history), so any process that reaches
//! the store can follow any run, and the progress bars show the work of every worker.

use crate::config::{BackendArgs, Config};
use crate::progress::Bars;
use clap::Args;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;
use vessel_engine::progress::{ProgressEvent, ProgressSink as _};
use vessel_engine::{Engine, RunSummary};
use vessel_store::{NodeStatus, RunId, RunStatus};

/// Exit code of `vessel wait` when `--timeout` passes first (as `timeout` has it).
pub const TIMED_OUT: u8 = 124;

/// Arguments of `vessel wait`.
#[derive(Args)]
pub struct WaitArgs {
    /// Keyspace of the run.
    #[arg(long)]
    keyspace: String,
    /// The run to follow.
    #[arg(long)]
    run_id: RunId,
    /// Give up after this many seconds (exit code 124); the run goes on.
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<f64>,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    backend: BackendArgs,
}

/// How following a run ended.
#[derive(Debug)]
pub enum End {
    /// The run completed or was stopped.
    Finished,
    /// The timeout passed first.
    TimedOut,
    /// The caller's stop condition came first (with its reason).
    Stopped(String),
}

pub fn main(args: WaitArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let config = Config::load(&args.backend)?;
        let store = config.store_url(|| crate::default_data_dir(None))?;
        let storage = crate::config::open_store(&store).await?;
        // Following reads storage only; the queue is never used.
        let queue = crate::config::open_queue(&crate::config::QueueUrl::Memory, "").await?;
        let engine = Engine::new(storage, queue);
        // An unknown keyspace or run is a usage error, said before any waiting.
        engine.summary(&args.keyspace, args.run_id).await?;
        let timeout = match args.timeout {
            Some(s) if s.is_finite() && s >= 0.0 => Some(Duration::from_secs_f64(s)),
            Some(s) => anyhow::bail!("--timeout must be a number of seconds, not {s}"),
            None => None,
        };
        let bars = Bars::new();
        let end = follow(
            &engine,
            &args.keyspace,
            args.run_id,
            Some(&bars),
            timeout,
            async {
                let _ = tokio::signal::ctrl_c().await;
                "interrupted".to_string()
            },
        )
        .await?;
        bars.finish();
        match end {
            End::Finished => {
                let summary = engine.summary(&args.keyspace, args.run_id).await?;
                report(&summary, args.json)
            }
            End::TimedOut => {
                eprintln!(
                    "run {} of {} is not finished after {:.0} s; it goes on (follow it again \
                     with the same command)",
                    args.run_id,
                    args.keyspace,
                    timeout.unwrap_or_default().as_secs_f64()
                );
                Ok(ExitCode::from(TIMED_OUT))
            }
            End::Stopped(why) => {
                eprintln!("{why}: the run goes on");
                Ok(ExitCode::from(130))
            }
        }
    })
}

/// Prints the summary (JSON or a table) and returns the exit code it calls for: 0 when every
/// affected node succeeded, 1 otherwise.
pub fn report(summary: &RunSummary, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        outln!("{}", serde_json::to_string_pretty(summary)?);
    } else if let Err(e) = print_summary(summary)
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        // The exit code tells the outcome even when nobody reads the summary any more.
        return Err(e.into());
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

/// How often storage is read while following.
const POLL: Duration = Duration::from_millis(250);

/// Follows a run from storage until it completes or is stopped, `timeout` passes, or `stop`
/// resolves. With `bars`, draws one progress bar per node from batch history.
///
/// # Errors
/// Storage failures.
pub async fn follow(
    engine: &Engine,
    keyspace: &str,
    run_id: RunId,
    bars: Option<&Bars>,
    timeout: Option<Duration>,
    stop: impl Future<Output = String>,
) -> anyhow::Result<End> {
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    let ks = engine.storage().open_keyspace(keyspace, false).await?;
    let mut drawn = Drawn::default();
    tokio::pin!(stop);
    loop {
        // History first, status second: a run seen finished has all its batches drawn.
        if let Some(bars) = bars {
            drawn.update(ks.as_ref(), run_id, bars).await?;
        }
        let events = ks.run_events(Some(&[run_id])).await?;
        let status = vessel_engine::status::run_status_latest(&events, run_id);
        if matches!(status, RunStatus::Complete | RunStatus::Stop) {
            return Ok(End::Finished);
        }
        let sleep = tokio::time::sleep(POLL);
        tokio::select! {
            _ = sleep => {}
            why = &mut stop => return Ok(End::Stopped(why)),
            _ = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            } => return Ok(End::TimedOut),
        }
    }
}

/// What the progress bars already show.
#[derive(Default)]
struct Drawn {
    nodes: HashSet<String>,
    batches: HashSet<(String, i32)>,
}

impl Drawn {
    async fn update(
        &mut self,
        ks: &dyn vessel_store::Keyspace,
        run_id: RunId,
        bars: &Bars,
    ) -> anyhow::Result<()> {
        let events = ks.batch_events(run_id, None).await?;
        let mut by_node: HashMap<&str, Vec<vessel_store::BatchEvent>> = HashMap::new();
        for e in &events {
            by_node.entry(&e.node).or_default().push(e.clone());
        }
        let mut names: Vec<&str> = by_node.keys().copied().collect();
        // Bars appear in the order nodes started.
        names.sort_by_key(|n| by_node[n].first().map(|e| e.ts));
        for node in names {
            let batches = &by_node[node];
            if self.nodes.insert(node.to_string()) {
                bars.event(ProgressEvent::NodePublished {
                    node: node.to_string(),
                    batches: batches
                        .first()
                        .map_or(0, |b| usize::try_from(b.batches_total).unwrap_or(0)),
                });
            }
            let latest = vessel_engine::status::latest_batch_statuses(batches);
            let mut done: Vec<_> = latest
                .values()
                .filter(|e| e.status.is_terminal())
                .filter(|e| !self.batches.contains(&(node.to_string(), e.batch_idx)))
                .collect();
            done.sort_by_key(|e| e.ts);
            for e in done {
                self.batches.insert((node.to_string(), e.batch_idx));
                let ok = e.status == NodeStatus::Success;
                let (rows_in, rows_out) = vessel_engine::batch_rows(&e.comment);
                if ok {
                    bars.event(ProgressEvent::Rows {
                        node: node.to_string(),
                        rows_in,
                    });
                }
                bars.event(ProgressEvent::BatchDone {
                    node: node.to_string(),
                    batch_idx: e.batch_idx,
                    ok,
                    rows_in,
                    rows_out,
                    elapsed: Duration::ZERO,
                    error: (!ok).then(|| format!("{node} batch {}: {}", e.batch_idx, e.comment)),
                });
            }
        }
        Ok(())
    }
}
