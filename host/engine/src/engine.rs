//! The engine context and the run lifecycle: start, publish, refresh statuses, stop, resume.

use crate::lookup_cache::LookupCache;
use crate::plugins::{LazyPlugins, PluginCatalog, PluginSettings, Plugins};
use crate::progress::{ProgressEvent, ProgressSink};
use crate::{EngineError, Result, ScriptCache, status};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vessel_queue::{BatchMessage, Queue};
use vessel_script::{Node, Reader, Script, Writer};
use vessel_store::{
    IndexDef, Keyspace, NodeEvent, NodeStatus, RunId, RunProperties, RunStatus, Storage, TableDef,
    TokenRange,
};

/// What to start: keyspace, script, params and start nodes.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// Keyspace (created if missing).
    pub keyspace: String,
    /// Script file.
    pub script: PathBuf,
    /// Params file.
    pub params: Option<PathBuf>,
    /// Start nodes; empty = every node without an upstream node.
    pub start_nodes: Vec<String>,
    /// Free text recorded with the run.
    pub description: String,
}

impl RunRequest {
    /// A request with no description.
    pub fn new(keyspace: &str, script: &Path, params: Option<&Path>, start: &[&str]) -> Self {
        RunRequest {
            keyspace: keyspace.to_string(),
            script: script.to_path_buf(),
            params: params.map(Path::to_path_buf),
            start_nodes: start.iter().map(|s| s.to_string()).collect(),
            description: String::new(),
        }
    }
}

/// Per-node figures of a run, for the CLI summary.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeSummary {
    /// Node name.
    pub node: String,
    /// Node status.
    pub status: &'static str,
    /// Batches of the node.
    pub batches_total: i64,
    /// Batches finished successfully.
    pub batches_ok: i64,
    /// Rows read.
    pub rows_in: u64,
    /// Rows written.
    pub rows_out: u64,
    /// Time from the first batch start to the last batch end.
    pub seconds: f64,
    /// First error, if any batch failed.
    pub error: Option<String>,
}

/// Outcome of a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunSummary {
    /// Keyspace.
    pub keyspace: String,
    /// Run id.
    pub run_id: RunId,
    /// Final run status.
    pub run_status: &'static str,
    /// One entry per affected node, in processing order.
    pub nodes: Vec<NodeSummary>,
}

impl RunSummary {
    /// True when every affected node succeeded.
    pub fn all_ok(&self) -> bool {
        self.nodes.iter().all(|n| n.status == "success")
    }
}

/// Tunables of the engine.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Delay before a message that must wait (dependencies not ready, batch in progress
    /// elsewhere) is delivered again.
    pub retry_delay: Duration,
    /// Memory for in-memory copies of lookup tables, shared by all workers of the process
    /// (estimated bytes; 0 turns the copies off and every lookup reads the store).
    pub lookup_cache_bytes: usize,
    /// Where processor plugins come from, their compile cache and their sandbox limits.
    pub plugins: PluginSettings,
    /// Memory for the buffers of the batches in progress (rows of `top` sorts, index entries
    /// waiting to be written), shared equally by `concurrent_batches`. Past its share a `top`
    /// sort spills sorted runs to disk and a table writer writes its index entries early.
    /// Lookup copies have their own budget, `lookup_cache_bytes`.
    pub memory_budget_bytes: usize,
    /// Batches this process works on at the same time (the worker count); the memory budget
    /// is split between them.
    pub concurrent_batches: usize,
    /// Lease time of workers (see [`crate::liveness`]): a batch left "started" by a process
    /// whose lease has not been renewed for this long is cleaned and redone by another.
    pub lease: Duration,
}

/// Default of [`Settings::memory_budget_bytes`]: 256 MiB.
pub const DEFAULT_MEMORY_BUDGET_BYTES: usize = 256 << 20;

/// A script cache whose loads open plugins through `plugins`.
fn scripts_with(plugins: &Arc<LazyPlugins>) -> ScriptCache {
    ScriptCache::with_options(vessel_script::LoadOptions {
        catalog: Some(Arc::new(PluginCatalog(plugins.clone()))),
        ..Default::default()
    })
}

/// Default of [`Settings::lookup_cache_bytes`]: 1 GiB.
pub const DEFAULT_LOOKUP_CACHE_BYTES: usize = 1 << 30;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            retry_delay: Duration::from_millis(500),
            lookup_cache_bytes: DEFAULT_LOOKUP_CACHE_BYTES,
            plugins: PluginSettings::default(),
            memory_budget_bytes: DEFAULT_MEMORY_BUDGET_BYTES,
            concurrent_batches: std::thread::available_parallelism().map_or(2, |n| n.get()),
            lease: crate::liveness::DEFAULT_LEASE,
        }
    }
}

/// Everything a worker or a run starter needs: storage, queue, script cache, identity.
pub struct Engine {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) queue: Arc<dyn Queue>,
    pub(crate) scripts: ScriptCache,
    pub(crate) instance: String,
    pub(crate) settings: Settings,
    pub(crate) progress: Option<Arc<dyn ProgressSink>>,
    /// Batches being processed by this process (`ks/run/node/batch`), to tell a batch left
    /// "started" by a dead worker of this process from one that is still running.
    pub(crate) in_flight: Mutex<HashSet<String>>,
    /// Lookup tables held in memory.
    pub(crate) lookup_cache: LookupCache,
    /// Processor plugins, started on first use.
    pub(crate) plugins: Arc<LazyPlugins>,
    /// Why this engine's workers stopped taking work, once one of them could not record a
    /// batch's outcome (see [`Engine::halted`]).
    pub(crate) halt: tokio::sync::watch::Sender<Option<String>>,
    /// This process's worker leases, and what it saw of others'.
    pub(crate) liveness: crate::liveness::Liveness,
    /// Counters and histograms of the workers.
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
}

impl Engine {
    /// An engine over a storage and a queue.
    pub fn new(storage: Arc<dyn Storage>, queue: Arc<dyn Queue>) -> Engine {
        let plugins = Arc::new(LazyPlugins::new(PluginSettings::default()));
        let instance = instance_id();
        let liveness = crate::liveness::Liveness::new(
            storage.clone(),
            instance.clone(),
            crate::liveness::DEFAULT_LEASE,
        );
        Engine {
            storage,
            queue,
            scripts: scripts_with(&plugins),
            instance,
            settings: Settings::default(),
            progress: None,
            in_flight: Mutex::new(HashSet::new()),
            lookup_cache: LookupCache::new(DEFAULT_LOOKUP_CACHE_BYTES),
            plugins,
            halt: tokio::sync::watch::Sender::new(None),
            liveness,
            metrics: Arc::new(crate::metrics::Metrics::new()),
        }
    }

    /// Sets the progress receiver.
    pub fn with_progress(mut self, sink: Arc<dyn ProgressSink>) -> Engine {
        self.progress = Some(sink);
        self
    }

    /// Sets the tunables.
    pub fn with_settings(mut self, settings: Settings) -> Engine {
        self.lookup_cache = LookupCache::new(settings.lookup_cache_bytes);
        self.plugins = Arc::new(LazyPlugins::new(settings.plugins.clone()));
        self.scripts = scripts_with(&self.plugins);
        self.liveness = crate::liveness::Liveness::new(
            self.storage.clone(),
            self.instance.clone(),
            settings.lease,
        );
        self.settings = settings;
        self
    }

    /// The memory one batch may use for its buffers: its share of
    /// [`Settings::memory_budget_bytes`].
    pub(crate) fn batch_memory_budget(&self) -> usize {
        self.settings.memory_budget_bytes / self.settings.concurrent_batches.max(1)
    }

    /// The processor plugins, started now if this is the first use.
    ///
    /// # Errors
    /// When the Wasm engine cannot be set up.
    pub fn plugins(&self) -> std::result::Result<Arc<Plugins>, String> {
        self.plugins.get()
    }

    /// The metrics of this engine's workers (Prometheus text with [`crate::metrics::Metrics::encode`]).
    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.metrics
    }

    /// The storage.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// This process's identity as written in batch history (`host/pid/random`).
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Gives up this process's worker leases where it holds no batch any more, so that other
    /// workers redo at once what it leaves unfinished instead of waiting for the leases to
    /// expire. Call it when the process leaves, after its workers stopped.
    pub async fn leave(&self) {
        self.liveness.leave().await;
    }

    /// Why the engine halted, if it did: a worker could not record a batch's outcome, or the
    /// machine failed under it (full disk, I/O error). The batch was handed back to the queue
    /// unfinished, every worker of this engine stops taking work, and the run stays
    /// unfinished so that `resume_run` can finish it once the cause is fixed.
    pub fn halted(&self) -> Option<String> {
        self.halt.borrow().clone()
    }

    /// Waits until the engine halts and returns the cause (see [`Engine::halted`]).
    pub async fn wait_halted(&self) -> String {
        let mut rx = self.halt.subscribe();
        match rx.wait_for(Option::is_some).await {
            Ok(cause) => cause.clone().unwrap_or_default(),
            // The engine owns the sender: it cannot be gone while `self` lives.
            Err(_) => std::future::pending().await,
        }
    }

    /// Halts the engine with `cause` (the first cause wins) and tells the worker to stop.
    pub(crate) fn halt(&self, cause: String) -> crate::worker::Outcome {
        tracing::error!(%cause, "workers stop taking work");
        self.halt.send_if_modified(|h| {
            if h.is_none() {
                *h = Some(cause.clone());
                true
            } else {
                false
            }
        });
        crate::worker::Outcome::Halt(cause)
    }

    pub(crate) fn report(&self, event: ProgressEvent) {
        if let Some(p) = &self.progress {
            p.event(event);
        }
    }

    /// Loads a script through the cache.
    ///
    /// # Errors
    /// [`EngineError::Script`] listing every problem of the script.
    pub async fn script(&self, script_url: &str, params_url: &str) -> Result<Arc<Script>> {
        self.scripts.get(script_url, params_url).await
    }

    /// Loads and validates the script of a run request (cached: [`Engine::start_run`] then
    /// uses the same copy); callers show its warnings.
    ///
    /// # Errors
    /// Script errors.
    pub async fn request_script(&self, req: &RunRequest) -> Result<Arc<Script>> {
        let (script_url, params_url) = request_urls(req)?;
        self.script(&script_url, &params_url).await
    }

    /// Starts a run: validates the script, records the run, creates the tables of the affected
    /// nodes, and publishes the batches of the nodes that can start now.
    ///
    /// # Errors
    /// Invalid keyspace name, script errors, unknown start nodes, storage or queue failures.
    pub async fn start_run(&self, req: &RunRequest) -> Result<RunId> {
        vessel_store::validate_keyspace_name(&req.keyspace)?;
        let (script_url, params_url) = request_urls(req)?;
        let script = self.script(&script_url, &params_url).await?;
        let start_nodes = if req.start_nodes.is_empty() {
            default_start_nodes(&script)
        } else {
            req.start_nodes.clone()
        };
        let affected = vessel_script::dag::affected_nodes(&script, &start_nodes)
            .map_err(|e| EngineError::Invalid(e.to_string()))?;
        let ks = self.storage.open_keyspace(&req.keyspace, true).await?;
        let run_id = ks.next_run_id().await?;
        ks.write_run_properties(&RunProperties {
            run_id,
            start_nodes: start_nodes.clone(),
            affected_nodes: affected.clone(),
            script_url: script_url.clone(),
            script_params_url: params_url.clone(),
            run_description: req.description.clone(),
        })
        .await?;
        for name in &affected {
            if let Some(def) = table_def(&script.nodes[name], run_id) {
                ks.create_table(&def).await?;
            }
        }
        ks.append_run_event(run_id, RunStatus::Start, &req.description)
            .await?;
        tracing::info!(keyspace = %req.keyspace, run_id, affected = ?affected, "run started");
        let props = RunProperties {
            run_id,
            start_nodes,
            affected_nodes: affected,
            script_url,
            script_params_url: params_url,
            run_description: req.description.clone(),
        };
        self.publish_ready(ks.as_ref(), &script, &props).await?;
        Ok(run_id)
    }

    /// Publishes the batches of every affected node whose affected upstream nodes are all
    /// finished and which was not published before.
    pub(crate) async fn publish_ready(
        &self,
        ks: &dyn Keyspace,
        script: &Script,
        props: &RunProperties,
    ) -> Result<()> {
        let run_events = ks.run_events(Some(&[props.run_id])).await?;
        if status::run_status_latest(&run_events, props.run_id) != RunStatus::Start {
            // A stopped run publishes nothing more.
            return Ok(());
        }
        let events = ks.node_events(Some(&[props.run_id])).await?;
        let statuses = status::node_statuses(&events, props.run_id);
        for name in &props.affected_nodes {
            if statuses.get(name).is_some_and(|s| *s != NodeStatus::None) {
                continue;
            }
            let ready = affected_parents(script, name, &props.affected_nodes)
                .iter()
                .all(|p| statuses.get(p).is_some_and(|s| s.is_terminal()));
            if !ready {
                continue;
            }
            // Published first, marked second: a publish that fails (the broker went away)
            // leaves the marker free, so the next refresh publishes again. Two workers that
            // both see the node ready before either marks it publish it twice, which is
            // harmless: a batch delivered twice is done once (see the worker).
            let marker = format!("publish/{}/{name}", props.run_id);
            if ks.marker_claimed(&marker).await? {
                continue;
            }
            let node = &script.nodes[name];
            let msgs = batch_messages(ks.name(), props, node);
            let n = msgs.len();
            self.queue.publish(msgs).await?;
            if ks.claim_marker(&marker).await? {
                self.report(ProgressEvent::NodePublished {
                    node: name.clone(),
                    batches: n,
                });
            }
        }
        Ok(())
    }

    /// Recomputes a node's status from its batches and records it when it changed to terminal;
    /// then publishes downstream nodes that became ready and completes the run if every
    /// affected node is terminal.
    pub(crate) async fn refresh(
        &self,
        ks: &dyn Keyspace,
        script: &Script,
        props: &RunProperties,
        node: &str,
        batch_idx: i32,
    ) -> Result<()> {
        let batches = ks.batch_events(props.run_id, Some(node)).await?;
        let total = script
            .nodes
            .get(node)
            .map_or(0, |n| n.batches_total().max(1));
        let node_status = status::node_status_from_batches(&batches, total);
        if node_status.is_terminal() {
            let events = ks.node_events(Some(&[props.run_id])).await?;
            let known = status::node_statuses(&events, props.run_id);
            if known.get(node).copied() != Some(node_status) {
                let ok = batches
                    .iter()
                    .filter(|b| b.status == NodeStatus::Success)
                    .count();
                ks.append_node_event(&NodeEvent {
                    ts: vessel_core::time::now(),
                    run_id: props.run_id,
                    node: node.to_string(),
                    written_by_batch_idx: batch_idx,
                    status: node_status,
                    comment: format!(
                        "marked completed by batch {batch_idx} / {total}: {ok} batches ok"
                    ),
                })
                .await?;
            }
            self.publish_ready(ks, script, props).await?;
        }
        self.refresh_run(ks, props, true).await
    }

    /// Marks the run complete when every affected node is terminal. With `claim`, only the
    /// first caller to claim the run's completion marker appends the event; a resume passes
    /// false, because a process that claimed the marker may have failed before appending.
    pub(crate) async fn refresh_run(
        &self,
        ks: &dyn Keyspace,
        props: &RunProperties,
        claim: bool,
    ) -> Result<()> {
        let events = ks.node_events(Some(&[props.run_id])).await?;
        let statuses = status::node_statuses(&events, props.run_id);
        let Some(combined) = status::combined_node_status(&statuses, &props.affected_nodes) else {
            return Ok(());
        };
        let run_events = ks.run_events(Some(&[props.run_id])).await?;
        if status::run_status_latest(&run_events, props.run_id) != RunStatus::Start {
            return Ok(());
        }
        if matches!(combined, NodeStatus::Success | NodeStatus::Fail)
            && (ks
                .claim_marker(&format!("complete/{}", props.run_id))
                .await?
                || !claim)
        {
            let comment: BTreeMap<&str, &str> = props
                .affected_nodes
                .iter()
                .map(|n| (n.as_str(), statuses[n].name()))
                .collect();
            let comment = serde_json::to_string(&comment).unwrap_or_default();
            ks.append_run_event(props.run_id, RunStatus::Complete, &comment)
                .await?;
            tracing::info!(keyspace = ks.name(), run_id = props.run_id, "run complete");
        }
        Ok(())
    }

    /// Stops a run: later deliveries of its batches are drained as `stopreceived`.
    ///
    /// # Errors
    /// Unknown keyspace or run; storage failures.
    pub async fn stop_run(&self, keyspace: &str, run_id: RunId, comment: &str) -> Result<()> {
        let ks = self.storage.open_keyspace(keyspace, false).await?;
        run_props(ks.as_ref(), run_id).await?;
        ks.append_run_event(run_id, RunStatus::Stop, comment)
            .await?;
        Ok(())
    }

    /// Resumes a run whose process died or whose engine halted: refreshes every node's status
    /// from its batches and publishes again the unfinished batches of every node that can run.
    /// Batches left "started" by the dead process (or by this engine before it halted) are
    /// cleaned and redone by the workers. A halt of this engine is lifted: resuming says the
    /// cause was fixed; start workers again afterwards.
    /// Returns the run id (the latest unfinished run when `run_id` is `None`).
    ///
    /// # Errors
    /// No unfinished run; storage or queue failures.
    pub async fn resume_run(&self, keyspace: &str, run_id: Option<RunId>) -> Result<RunId> {
        let ks = self.storage.open_keyspace(keyspace, false).await?;
        let run_events = ks.run_events(None).await?;
        let all = ks.run_properties().await?;
        let props = match run_id {
            Some(id) => run_props(ks.as_ref(), id).await?,
            None => all
                .iter()
                .rev()
                .find(|p| status::run_status_latest(&run_events, p.run_id) == RunStatus::Start)
                .cloned()
                .ok_or_else(|| {
                    EngineError::Invalid(format!(
                        "keyspace '{keyspace}' has no unfinished run to resume"
                    ))
                })?,
        };
        let latest = status::run_status_latest(&run_events, props.run_id);
        if latest != RunStatus::Start {
            return Err(EngineError::Invalid(format!(
                "run {} of keyspace '{keyspace}' is {}, there is nothing to resume",
                props.run_id,
                latest.name()
            )));
        }
        let script = self
            .script(&props.script_url, &props.script_params_url)
            .await?;
        self.halt.send_replace(None);
        for name in &props.affected_nodes {
            self.refresh(ks.as_ref(), &script, &props, name, -1).await?;
        }
        let events = ks.node_events(Some(&[props.run_id])).await?;
        let statuses = status::node_statuses(&events, props.run_id);
        for name in &props.affected_nodes {
            let st = statuses.get(name).copied().unwrap_or(NodeStatus::None);
            if st.is_terminal() || st == NodeStatus::None {
                // Not started nodes are published by publish_ready below.
                continue;
            }
            let batches = ks.batch_events(props.run_id, Some(name)).await?;
            let latest = status::latest_batch_statuses(&batches);
            let node = &script.nodes[name];
            let msgs: Vec<BatchMessage> = batch_messages(ks.name(), &props, node)
                .into_iter()
                .filter(|m| {
                    latest
                        .get(&m.batch_idx)
                        .is_none_or(|e| !e.status.is_terminal())
                })
                .collect();
            self.report(ProgressEvent::NodePublished {
                node: name.clone(),
                batches: node.batches_total(),
            });
            self.queue.publish(msgs).await?;
        }
        // Nodes that never started: the publish marker may have been claimed by the dead
        // process right before it died, so publish them without the marker.
        for name in &props.affected_nodes {
            if statuses.get(name).is_some_and(|s| *s != NodeStatus::None) {
                continue;
            }
            let ready = affected_parents(&script, name, &props.affected_nodes)
                .iter()
                .all(|p| statuses.get(p).is_some_and(|s| s.is_terminal()));
            if ready {
                let node = &script.nodes[name];
                ks.claim_marker(&format!("publish/{}/{name}", props.run_id))
                    .await?;
                self.report(ProgressEvent::NodePublished {
                    node: name.clone(),
                    batches: node.batches_total(),
                });
                self.queue
                    .publish(batch_messages(ks.name(), &props, node))
                    .await?;
            }
        }
        self.refresh_run(ks.as_ref(), &props, false).await?;
        Ok(props.run_id)
    }

    /// Latest status of a run.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn run_status(&self, keyspace: &str, run_id: RunId) -> Result<RunStatus> {
        let ks = self.storage.open_keyspace(keyspace, false).await?;
        let events = ks.run_events(Some(&[run_id])).await?;
        Ok(status::run_status_latest(&events, run_id))
    }

    /// Per-node figures of a run, from its batch history.
    ///
    /// # Errors
    /// Unknown run; storage failures.
    pub async fn summary(&self, keyspace: &str, run_id: RunId) -> Result<RunSummary> {
        let ks = self.storage.open_keyspace(keyspace, false).await?;
        let props = run_props(ks.as_ref(), run_id).await?;
        let run_events = ks.run_events(Some(&[run_id])).await?;
        let node_events = ks.node_events(Some(&[run_id])).await?;
        let statuses = status::node_statuses(&node_events, run_id);
        // Affected nodes are recorded in processing order, so the summary needs no script
        // (loading one may open plugins, which takes seconds for a Python one).
        let order = props.affected_nodes.clone();
        let mut nodes = Vec::new();
        for name in order {
            let batches = ks.batch_events(run_id, Some(&name)).await?;
            let latest = status::latest_batch_statuses(&batches);
            let mut s = NodeSummary {
                node: name.clone(),
                status: statuses
                    .get(&name)
                    .copied()
                    .unwrap_or(NodeStatus::None)
                    .name(),
                batches_total: batches.first().map_or(0, |b| b.batches_total as i64),
                batches_ok: 0,
                rows_in: 0,
                rows_out: 0,
                seconds: 0.0,
                error: None,
            };
            for e in latest.values() {
                match e.status {
                    NodeStatus::Success => {
                        s.batches_ok += 1;
                        let (i, o) = batch_rows(&e.comment);
                        s.rows_in += i;
                        s.rows_out += o;
                    }
                    NodeStatus::Fail if s.error.is_none() => s.error = Some(e.comment.clone()),
                    _ => {}
                }
            }
            if let (Some(first), Some(last)) = (
                batches.iter().map(|b| b.ts).min(),
                batches.iter().map(|b| b.ts).max(),
            ) {
                s.seconds = (last - first).num_milliseconds() as f64 / 1000.0;
            }
            nodes.push(s);
        }
        Ok(RunSummary {
            keyspace: keyspace.to_string(),
            run_id,
            run_status: status::run_status_latest(&run_events, run_id).name(),
            nodes,
        })
    }
}

/// The comment recorded with a successful batch: machine-readable counts first.
pub(crate) fn rows_comment(rows_in: u64, rows_out: u64, elapsed: Duration) -> String {
    format!(
        "rows_in={rows_in} rows_out={rows_out}; elapsed {:.3} s",
        elapsed.as_secs_f64()
    )
}

/// Rows read and written by a successful batch, from the comment of its history event.
pub fn batch_rows(c: &str) -> (u64, u64) {
    let mut i = 0;
    let mut o = 0;
    for part in c.split([' ', ';']) {
        if let Some(v) = part.strip_prefix("rows_in=") {
            i = v.parse().unwrap_or(0);
        } else if let Some(v) = part.strip_prefix("rows_out=") {
            o = v.parse().unwrap_or(0);
        }
    }
    (i, o)
}

pub(crate) async fn run_props(ks: &dyn Keyspace, run_id: RunId) -> Result<RunProperties> {
    ks.run_properties()
        .await?
        .into_iter()
        .find(|p| p.run_id == run_id)
        .ok_or_else(|| {
            EngineError::Invalid(format!(
                "keyspace '{}' has no run {run_id} (see `vessel history runs`)",
                ks.name()
            ))
        })
}

/// Nodes without an upstream node: what a run starts from when no start node is given.
pub fn default_start_nodes(script: &Script) -> Vec<String> {
    script
        .nodes
        .values()
        .filter(|n| parents(script, n).is_empty())
        .map(|n| n.name.clone())
        .collect()
}

/// Nodes that produce the tables a node reads (reader table, lookup table).
pub(crate) fn parents(script: &Script, node: &Node) -> Vec<String> {
    vessel_script::dag::dependencies(script, &node.name)
}

fn affected_parents(script: &Script, name: &str, affected: &[String]) -> Vec<String> {
    parents(script, &script.nodes[name])
        .into_iter()
        .filter(|p| affected.contains(p))
        .collect()
}

/// Storage definition of the table a node writes (none for file writers).
pub fn table_def(node: &Node, run_id: RunId) -> Option<TableDef> {
    match &node.writer {
        Writer::Table(w) => Some(TableDef {
            name: w.name.clone(),
            run_id,
            schema: w.schema.clone(),
            indexes: w
                .indexes
                .iter()
                .map(|i| IndexDef {
                    name: i.name.clone(),
                    unique: i.unique,
                })
                .collect(),
        }),
        Writer::File(_) => None,
    }
}

/// One message per batch of a node.
pub(crate) fn batch_messages(ks: &str, props: &RunProperties, node: &Node) -> Vec<BatchMessage> {
    let make = |i: usize, total: usize, first: i64, last: i64| BatchMessage {
        script_url: props.script_url.clone(),
        script_params_url: props.script_params_url.clone(),
        ..BatchMessage::new(
            ks,
            props.run_id,
            &node.name,
            i as i32,
            total as i32,
            first,
            last,
        )
    };
    match &node.reader {
        Reader::File(f) => (0..f.urls.len())
            .map(|i| make(i, f.urls.len(), i as i64, i as i64))
            .collect(),
        Reader::Table(t) => TokenRange::split(t.expected_batches_total)
            .into_iter()
            .enumerate()
            .map(|(i, r)| make(i, t.expected_batches_total, r.first, r.last))
            .collect(),
    }
}

/// Absolute script and params locations of a request, as runs record them.
fn request_urls(req: &RunRequest) -> Result<(String, String)> {
    let params = match &req.params {
        Some(p) => absolute(p)?,
        None => String::new(),
    };
    Ok((absolute(&req.script)?, params))
}

fn absolute(p: &Path) -> Result<String> {
    let abs = std::fs::canonicalize(p)
        .map_err(|e| EngineError::Invalid(format!("cannot open {}: {e}", p.display())))?;
    Ok(abs.to_string_lossy().into_owned())
}

/// `host/pid/random`: identifies this process in batch history. Only for people reading the
/// history: liveness never relies on it (see [`crate::liveness`]).
fn instance_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into());
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}/{}/{}", std::process::id(), &random[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_comment_round_trips() {
        let c = rows_comment(12, 7, Duration::from_millis(1500));
        assert_eq!(batch_rows(&c), (12, 7));
        assert_eq!(batch_rows("boom"), (0, 0));
    }

    #[test]
    fn instance_ids_differ_between_engines_of_one_process() {
        assert_ne!(instance_id(), instance_id());
        assert_eq!(instance_id().split('/').count(), 3);
    }
}
