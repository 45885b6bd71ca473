//! The shapes of request and response bodies, with their OpenAPI schemas.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vessel_store::RunId;

/// Every JSON answer: `data` and an empty `error` on success.
#[derive(Serialize, ToSchema)]
pub struct Envelope<T> {
    /// The answer.
    pub data: T,
    /// Empty on success.
    pub error: String,
}

/// Every failure: `data` is null and `error` says what is wrong.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// Always null.
    pub data: Option<String>,
    /// What went wrong and, where it helps, how to fix it.
    pub error: String,
}

/// The id of a started run.
#[derive(Serialize, ToSchema)]
pub struct RunIdData {
    /// Run id in the keyspace.
    pub run_id: RunId,
}

/// `run_props` of Capillaries' webapi.
#[derive(Serialize, ToSchema)]
pub struct RunProps {
    /// Run id.
    pub run_id: RunId,
    /// Start nodes, comma-separated.
    pub start_nodes: String,
    /// Nodes the run processes, comma-separated.
    pub affected_nodes: String,
    /// Script location.
    pub script_url: String,
    /// Params location (empty when none).
    pub script_params_url: String,
    /// Free text given at start.
    pub run_description: String,
}

/// When a run started, completed or was stopped, and its final status.
#[derive(Serialize, ToSchema)]
pub struct RunLifespan {
    /// Run id.
    pub run_id: RunId,
    /// Start time (RFC 3339).
    pub start_ts: Option<String>,
    /// Comment of the start.
    pub start_comment: String,
    /// 1 start, 2 complete, 3 stop.
    pub final_status: i16,
    /// `start`, `complete`, `stop` (or `none`).
    pub final_status_name: String,
    /// Completion time, if complete.
    pub completed_ts: Option<String>,
    /// Comment of the completion.
    pub completed_comment: String,
    /// Stop time, if stopped.
    pub stopped_ts: Option<String>,
    /// Comment of the stop.
    pub stopped_comment: String,
}

/// A node's status in one run.
#[derive(Serialize, ToSchema)]
pub struct NodeStatusCell {
    /// Run id.
    pub run_id: RunId,
    /// 1 start, 2 success, 3 fail, 104 stopreceived.
    pub status: i16,
    /// The status's name.
    pub status_name: String,
    /// Time of the node's latest event in the run.
    pub ts: String,
}

/// A node and its status in each run.
#[derive(Serialize, ToSchema)]
pub struct NodeRow {
    /// Node name.
    pub node_name: String,
    /// Node description from the script.
    pub node_desc: String,
    /// Status per run.
    pub node_statuses: Vec<NodeStatusCell>,
}

/// The keyspace's runs × nodes matrix.
#[derive(Serialize, ToSchema)]
pub struct Matrix {
    /// Every run.
    pub run_lifespans: Vec<RunLifespan>,
    /// Every node, by first start then name.
    pub nodes: Vec<NodeRow>,
}

/// A node status event.
#[derive(Serialize, ToSchema)]
pub struct NodeEventRow {
    /// Time (RFC 3339).
    pub ts: String,
    /// Run id.
    pub run_id: RunId,
    /// Node name.
    pub script_node: String,
    /// Batch that wrote the event.
    pub written_by_batch_idx: i32,
    /// 1 start, 2 success, 3 fail, 104 stopreceived.
    pub status: i16,
    /// The status's name.
    pub status_name: String,
    /// Free text.
    pub comment: String,
}

/// A batch status event.
#[derive(Serialize, ToSchema)]
pub struct BatchEventRow {
    /// Time (RFC 3339).
    pub ts: String,
    /// Run id.
    pub run_id: RunId,
    /// Node name.
    pub script_node: String,
    /// Batch index.
    pub batch_idx: i32,
    /// Batches of the node in the run.
    pub batches_total: i32,
    /// 1 start, 2 success, 3 fail, 104 stopreceived.
    pub status: i16,
    /// The status's name.
    pub status_name: String,
    /// First token of the batch's range (or file index).
    pub first_token: i64,
    /// Last token of the batch's range (or file index).
    pub last_token: i64,
    /// Worker process.
    pub instance: String,
    /// Worker slot.
    pub thread: i64,
    /// Statistics or the error.
    pub comment: String,
}

/// A run's properties, lifespan and node history.
#[derive(Serialize, ToSchema)]
pub struct NodeHistory {
    /// Properties.
    pub run_props: RunProps,
    /// Lifespan.
    pub run_lifespan: RunLifespan,
    /// Node status events in time order.
    pub node_history: Vec<NodeEventRow>,
}

/// A run's properties, lifespan and one node's batch history.
#[derive(Serialize, ToSchema)]
pub struct BatchHistory {
    /// Properties.
    pub run_props: RunProps,
    /// Lifespan.
    pub run_lifespan: RunLifespan,
    /// Batch status events in time order.
    pub batch_history: Vec<BatchEventRow>,
}

/// Figures of one node of a run (as `vessel run` prints them).
#[derive(Serialize, ToSchema)]
pub struct NodeSummaryDoc {
    /// Node name.
    pub node: String,
    /// Node status.
    pub status: String,
    /// Batches of the node.
    pub batches_total: i64,
    /// Batches finished successfully.
    pub batches_ok: i64,
    /// Rows read.
    pub rows_in: u64,
    /// Rows written.
    pub rows_out: u64,
    /// Seconds from the first batch start to the last batch end.
    pub seconds: f64,
    /// First error, if a batch failed.
    pub error: Option<String>,
}

/// A run's summary.
#[derive(Serialize, ToSchema)]
pub struct RunSummaryDoc {
    /// Keyspace.
    pub keyspace: String,
    /// Run id.
    pub run_id: RunId,
    /// `start`, `complete` or `stop`.
    pub run_status: String,
    /// One entry per affected node, in processing order.
    pub nodes: Vec<NodeSummaryDoc>,
}

/// A node of a validated script.
#[derive(Serialize, ToSchema)]
pub struct ValidNode {
    /// Node name.
    pub name: String,
    /// Node type.
    #[serde(rename = "type")]
    pub node_type: String,
    /// Description.
    pub desc: String,
    /// Nodes whose tables it reads.
    pub depends_on: Vec<String>,
}

/// A validated script.
#[derive(Serialize, ToSchema)]
pub struct Validation {
    /// Nodes in processing order.
    pub nodes: Vec<ValidNode>,
    /// Warnings (unknown keys, most often a misspelt one).
    pub warnings: Vec<String>,
}

/// A script and params, by location (as Capillaries sends them) or in the body.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScriptSource {
    /// The script: a file on the server (absolute, or relative to the server's folder).
    #[serde(default)]
    pub script_url: String,
    /// Its params file.
    #[serde(default)]
    pub script_params_url: String,
    /// Instead of `script_url`: the script itself, as an object or JSON / YAML text.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub script: Option<serde_json::Value>,
    /// Instead of `script_params_url`: the params themselves.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub params: Option<serde_json::Value>,
    /// Start nodes: `"a,b"` or a list (default: every node without an upstream node).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub start_nodes: StartNodes,
    /// Free text kept with the run.
    #[serde(default)]
    pub run_description: String,
}

/// Start nodes as Capillaries sends them (`"a,b"`) or as a list.
#[derive(Deserialize, Default)]
#[serde(untagged)]
pub enum StartNodes {
    /// None given.
    #[default]
    None,
    /// Comma-separated.
    Text(String),
    /// A list.
    List(Vec<String>),
}

impl StartNodes {
    /// The names, without empty ones (a trailing comma names no node, as in Capillaries).
    pub fn names(&self) -> Vec<String> {
        let all: Vec<String> = match self {
            StartNodes::None => Vec::new(),
            StartNodes::Text(t) => t.split(',').map(str::to_string).collect(),
            StartNodes::List(l) => l.clone(),
        };
        all.into_iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }
}

/// Body of a stop.
#[derive(Deserialize, Default, ToSchema)]
pub struct StopBody {
    /// Why the run is stopped or invalidated.
    #[serde(default)]
    pub comment: String,
}
