//! Read-only views of a keyspace, as Capillaries' webapi returns them: the runs × nodes
//! matrix, a run's node history and a node's batch history.

use crate::AppState;
use crate::envelope::{ApiError, ok};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use vessel_core::DateTime;
use vessel_store::{Keyspace, RunEvent, RunId, RunProperties, RunStatus};

/// Timestamps as RFC 3339 with milliseconds, in UTC.
pub(crate) fn ts(t: &DateTime) -> String {
    t.with_timezone(&vessel_core::chrono::Utc)
        .to_rfc3339_opts(vessel_core::chrono::SecondsFormat::Millis, true)
}

/// `run_props` of the webapi.
#[derive(Serialize)]
pub(crate) struct RunProps {
    run_id: RunId,
    start_nodes: String,
    affected_nodes: String,
    script_url: String,
    script_params_url: String,
    run_description: String,
}

impl From<&RunProperties> for RunProps {
    fn from(p: &RunProperties) -> RunProps {
        RunProps {
            run_id: p.run_id,
            start_nodes: p.start_nodes.join(","),
            affected_nodes: p.affected_nodes.join(","),
            script_url: p.script_url.clone(),
            script_params_url: p.script_params_url.clone(),
            run_description: p.run_description.clone(),
        }
    }
}

/// `run_lifespan` of the webapi: when the run started, completed or was stopped, and its
/// final status (1 start, 2 complete, 3 stop).
#[derive(Serialize)]
pub(crate) struct RunLifespan {
    run_id: RunId,
    start_ts: Option<String>,
    start_comment: String,
    final_status: i16,
    final_status_name: &'static str,
    completed_ts: Option<String>,
    completed_comment: String,
    stopped_ts: Option<String>,
    stopped_comment: String,
}

pub(crate) fn lifespan(events: &[RunEvent], run_id: RunId) -> RunLifespan {
    let mut l = RunLifespan {
        run_id,
        start_ts: None,
        start_comment: String::new(),
        final_status: 0,
        final_status_name: "none",
        completed_ts: None,
        completed_comment: String::new(),
        stopped_ts: None,
        stopped_comment: String::new(),
    };
    for e in events.iter().filter(|e| e.run_id == run_id) {
        let slot = match e.status {
            RunStatus::Start => (&mut l.start_ts, &mut l.start_comment),
            RunStatus::Complete => (&mut l.completed_ts, &mut l.completed_comment),
            RunStatus::Stop => (&mut l.stopped_ts, &mut l.stopped_comment),
            RunStatus::None => continue,
        };
        if slot.0.is_none() {
            *slot.0 = Some(ts(&e.ts));
            *slot.1 = e.comment.clone();
        }
    }
    let status = vessel_engine::status::run_status_priority(events, run_id);
    l.final_status = status.code();
    l.final_status_name = status.name();
    l
}

/// The keyspace (404 when missing).
pub(crate) async fn keyspace(state: &AppState, name: &str) -> Result<Arc<dyn Keyspace>, ApiError> {
    vessel_store::validate_keyspace_name(name).map_err(ApiError::from)?;
    Ok(state.engine.storage().open_keyspace(name, false).await?)
}

/// A run's properties (404 when the run does not exist).
pub(crate) async fn run_props(ks: &dyn Keyspace, run_id: RunId) -> Result<RunProperties, ApiError> {
    ks.run_properties()
        .await?
        .into_iter()
        .find(|p| p.run_id == run_id)
        .ok_or_else(|| ApiError::not_found(format!("keyspace '{}' has no run {run_id}", ks.name())))
}

#[derive(Serialize)]
struct NodeStatusCell {
    run_id: RunId,
    status: i16,
    status_name: &'static str,
    ts: String,
}

#[derive(Serialize)]
struct NodeRow {
    node_name: String,
    node_desc: String,
    node_statuses: Vec<NodeStatusCell>,
}

/// `GET /ks/{ks}`: every run's lifespan and every node's status in each run.
pub(crate) async fn keyspace_matrix(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let ks = keyspace(&state, &name).await?;
    let props = ks.run_properties().await?;
    let run_events = ks.run_events(None).await?;
    let node_events = ks.node_events(None).await?;
    let lifespans: Vec<RunLifespan> = props
        .iter()
        .map(|p| lifespan(&run_events, p.run_id))
        .collect();
    // Per node: its latest event in each run, and its first start.
    let mut cells: BTreeMap<String, BTreeMap<RunId, (i16, &'static str, &DateTime)>> =
        BTreeMap::new();
    let mut first: BTreeMap<String, &DateTime> = BTreeMap::new();
    for e in &node_events {
        first.entry(e.node.clone()).or_insert(&e.ts);
        cells
            .entry(e.node.clone())
            .or_default()
            .insert(e.run_id, (e.status.code(), e.status.name(), &e.ts));
    }
    for p in &props {
        let statuses = vessel_engine::status::node_statuses(&node_events, p.run_id);
        for (node, status) in statuses {
            if let Some(cell) = cells.get_mut(&node).and_then(|c| c.get_mut(&p.run_id)) {
                cell.0 = status.code();
                cell.1 = status.name();
            }
        }
    }
    // Node descriptions from the newest run's script that can still be read.
    let mut desc: BTreeMap<String, String> = BTreeMap::new();
    for p in props.iter().rev() {
        if let Ok(script) = state
            .engine
            .script(&p.script_url, &p.script_params_url)
            .await
        {
            for (n, node) in &script.nodes {
                desc.entry(n.clone()).or_insert_with(|| node.desc.clone());
            }
        }
    }
    let mut nodes: Vec<NodeRow> = cells
        .into_iter()
        .map(|(node, runs)| NodeRow {
            node_desc: desc.get(&node).cloned().unwrap_or_default(),
            node_statuses: runs
                .into_iter()
                .map(|(run_id, (status, status_name, t))| NodeStatusCell {
                    run_id,
                    status,
                    status_name,
                    ts: ts(t),
                })
                .collect(),
            node_name: node,
        })
        .collect();
    nodes.sort_by(|a, b| {
        first
            .get(&a.node_name)
            .cmp(&first.get(&b.node_name))
            .then_with(|| a.node_name.cmp(&b.node_name))
    });
    Ok(ok(serde_json::json!({
        "run_lifespans": lifespans,
        "nodes": nodes,
    })))
}

/// `GET /ks/{ks}/run/{run_id}/node_history`.
pub(crate) async fn node_history(
    State(state): State<AppState>,
    Path((name, run_id)): Path<(String, RunId)>,
) -> Result<Response, ApiError> {
    let ks = keyspace(&state, &name).await?;
    let props = run_props(ks.as_ref(), run_id).await?;
    let run_events = ks.run_events(Some(&[run_id])).await?;
    let events = ks.node_events(Some(&[run_id])).await?;
    let rows: Vec<serde_json::Value> = events
        .iter()
        .map(|e| {
            serde_json::json!({
                "ts": ts(&e.ts),
                "run_id": e.run_id,
                "script_node": e.node,
                "written_by_batch_idx": e.written_by_batch_idx,
                "status": e.status.code(),
                "status_name": e.status.name(),
                "comment": e.comment,
            })
        })
        .collect();
    Ok(ok(serde_json::json!({
        "run_props": RunProps::from(&props),
        "run_lifespan": lifespan(&run_events, run_id),
        "node_history": rows,
    })))
}

/// `GET /ks/{ks}/run/{run_id}/node/{node}/batch_history`.
pub(crate) async fn batch_history(
    State(state): State<AppState>,
    Path((name, run_id, node)): Path<(String, RunId, String)>,
) -> Result<Response, ApiError> {
    let ks = keyspace(&state, &name).await?;
    let props = run_props(ks.as_ref(), run_id).await?;
    if !props.affected_nodes.contains(&node) {
        return Err(ApiError::not_found(format!(
            "run {run_id} of keyspace '{name}' does not process node '{node}' (its nodes: {})",
            props.affected_nodes.join(", ")
        )));
    }
    let run_events = ks.run_events(Some(&[run_id])).await?;
    let events = ks.batch_events(run_id, Some(&node)).await?;
    let rows: Vec<serde_json::Value> = events
        .iter()
        .map(|e| {
            serde_json::json!({
                "ts": ts(&e.ts),
                "run_id": e.run_id,
                "script_node": e.node,
                "batch_idx": e.batch_idx,
                "batches_total": e.batches_total,
                "status": e.status.code(),
                "status_name": e.status.name(),
                "first_token": e.first_token,
                "last_token": e.last_token,
                "instance": e.instance,
                "thread": e.thread,
                "comment": e.comment,
            })
        })
        .collect();
    Ok(ok(serde_json::json!({
        "run_props": RunProps::from(&props),
        "run_lifespan": lifespan(&run_events, run_id),
        "batch_history": rows,
    })))
}

/// Query of the picture endpoint.
#[derive(serde::Deserialize, Default)]
pub(crate) struct VizQuery {
    /// Colour the nodes by their status in this run.
    #[serde(default)]
    is_status: bool,
}

/// `GET /ks/{ks}/run/{run_id}/viz`: the run's script as an SVG DAG, coloured by node status
/// with `?is_status=true`.
pub(crate) async fn viz(
    State(state): State<AppState>,
    Path((name, run_id)): Path<(String, RunId)>,
    query: Result<axum::extract::Query<VizQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let axum::extract::Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let ks = keyspace(&state, &name).await?;
    let props = run_props(ks.as_ref(), run_id).await?;
    let script = state
        .engine
        .script(&props.script_url, &props.script_params_url)
        .await?;
    let statuses = if q.is_status {
        let events = ks.node_events(Some(&[run_id])).await?;
        Some(
            vessel_engine::status::node_statuses(&events, run_id)
                .into_iter()
                .map(|(n, s)| (n, s.name().to_string()))
                .collect(),
        )
    } else {
        None
    };
    let svg = vessel_script::draw::to_svg(&script, statuses.as_ref());
    Ok(([(axum::http::header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}
